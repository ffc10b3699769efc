"""The fast header reader agrees with pydicom, field by field, on every file it accepts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom
import pytest
from io_helpers import OBLIQUE, make_volume

from bonenet import DicomError, io
from bonenet.io._fastheader import fast_header
from bonenet.io._headers import read_header

_ROOTS = [Path(pydicom.__file__).parent / "data" / "test_files"]
try:
    import data_store

    _ROOTS.append(Path(data_store.__file__).parent / "data")
except ImportError:  # pragma: no cover - pydicom-data optional
    pass
FILES = sorted(p for r in _ROOTS for p in r.rglob("*") if p.is_file() and p.stat().st_size < 3_000_000)


def _compare(path: Path) -> bool:
    fast = fast_header(path, with_patient=True)
    if fast is None:
        return False
    try:
        slow = read_header(path, with_patient=True, fast=False)
    except DicomError:
        pytest.skip(f"{path.name}: pydicom stops at the damage and returns an empty data set")
    assert slow is not None, path
    a, b = dataclasses.asdict(fast), dataclasses.asdict(slow)
    if b["pixel_offset"] is None:  # pydicom read a small pixel value eagerly: no offset to compare
        a["pixel_offset"] = a["pixel_length"] = b["pixel_length"] = None
    assert a == b, {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    return True


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_fast_header_matches_pydicom(path):
    _compare(path)


def test_fast_header_used_for_written_series(tmp_path):
    out = io.save(make_volume((3, 8, 8), direction=OBLIQUE), tmp_path / "s", patient_id="P7")
    for f in sorted(out.glob("*.dcm")):
        assert _compare(f)
        assert fast_header(f).patient_id == ""  # identifiers only when asked for

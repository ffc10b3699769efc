"""NRRD and MetaImage through SimpleITK keep geometry, values and units."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import OBLIQUE, make_volume

from bonenet import ImageFormatError, io


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_nrrd_mha_roundtrip(tmp_path, suffix):
    v = make_volume((4, 6, 5), direction=OBLIQUE)
    out = io.save(v, tmp_path / f"v{suffix}")
    back = io.load(out)
    np.testing.assert_array_equal(back.array, v.array)
    np.testing.assert_allclose(back.affine, v.affine, atol=1e-6)
    assert back.units == "HU" and back.modality == "CT"
    assert io.load(out, units="raw").units == "raw"


def test_sitk_format_errors(tmp_path):
    bad = tmp_path / "bad.mha"
    bad.write_text("garbage")
    with pytest.raises(ImageFormatError, match=r"bad\.mha"):
        io.load(bad)
    with pytest.raises(ImageFormatError, match="cannot choose a writer"):
        io.save(make_volume((1, 2, 2)), tmp_path / "x.png")

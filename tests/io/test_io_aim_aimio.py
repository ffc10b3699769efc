"""bonenet's AIM reader and writer against aimio-py (Numerics88 AimIO), the independent reference.

For every AIM in the test data both readers give identical arrays, spacing and position; every
file bonenet's encoder writes decodes in aimio-py to the array it was given (which validates the
encoder against the reference), and every mask aimio-py writes decodes in bonenet.
"""

from __future__ import annotations

import numpy as np
import pytest
from scanco_fixtures import HERE, SPACING, phantom

from bonenet import io
from bonenet.io import aim

py_aimio = pytest.importorskip("py_aimio", reason="aimio-py (the dev extra) is the reference reader")

FILES = sorted(p for p in HERE.iterdir() if p.suffix.lower() == ".aim")


def test_the_test_data_has_every_kind():
    codes = {aim.read_aim_header(p).type_code for p in FILES}
    assert {0x00020002, 0x00150001, 0x00080002, 0x00060001, 0x00040004} <= codes
    assert {aim.read_aim_header(p).version for p in FILES} == {"v020", "v030"}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_same_array_spacing_position_as_aimio(path):
    ref, meta = py_aimio.read_aim(str(path))
    mine, hdr = aim.read_aim_array(path)
    assert mine.dtype == ref.dtype or (mine.dtype.kind == ref.dtype.kind and mine.dtype.itemsize == ref.dtype.itemsize)
    np.testing.assert_array_equal(mine, ref)
    assert hdr.position == tuple(meta["position"]) and hdr.dimensions == tuple(meta["dimensions"])
    assert hdr.offset == tuple(meta["offset"]) == (0, 0, 0)
    np.testing.assert_array_equal(np.float32(hdr.element_size_mm), np.float32(meta["element_size"]))
    vol = io.load(path, native=True)
    np.testing.assert_array_equal(vol.array, ref.astype(np.float32))
    np.testing.assert_allclose(vol.spacing[::-1], meta["spacing"], rtol=1e-6)
    np.testing.assert_allclose(vol.origin, meta["origin"], rtol=1e-6, atol=1e-9)


def test_density_matches_aimio_calibration():
    vol = io.load(HERE / "C0000001.AIM")
    ref, _ = py_aimio.read_aim(str(HERE / "C0000001.AIM"), density=True)
    np.testing.assert_allclose(vol.array, ref, atol=2e-3)
    np.testing.assert_allclose(vol.array, phantom()["density"], atol=0.2)  # one native unit ≈ 0.196


@pytest.mark.parametrize("version", ["v020", "v030"])
@pytest.mark.parametrize("storage", ["bincmp", "charcmp", "bit8", "char"])
def test_bonenet_encoder_decodes_in_aimio(tmp_path, storage, version):
    rng = np.random.default_rng(11)
    m = np.zeros((5, 9, 700), bool)                     # long runs (> 254 and > 255 voxels)
    m[1:4, 2:8, 20:650] = True
    m |= rng.random(m.shape) > 0.995
    p = aim.write_aim_mask(m, tmp_path / "m.aim", spacing_mm=(SPACING,) * 3, position=(3, 4, 5),
                           storage=storage, version=version)
    ref, meta = py_aimio.read_aim(str(p))
    np.testing.assert_array_equal(ref, np.where(m, 127, 0).astype(np.int8))
    assert tuple(meta["position"]) == (3, 4, 5)
    np.testing.assert_array_equal(aim.read_aim_array(p)[0], ref)


def test_bonenet_label_encoder_decodes_in_aimio(tmp_path):
    lab = np.random.default_rng(4).integers(-4, 5, size=(4, 6, 300)).astype(np.int8)
    lab[0, 0, 0] = 3                                    # first voxel non-zero (see docs/hrpqct.md)
    p = aim.write_aim_mask(lab, tmp_path / "l.aim", spacing_mm=(SPACING,) * 3, storage="charcmp")
    ref, _ = py_aimio.read_aim(str(p))
    np.testing.assert_array_equal(ref, lab)


@pytest.mark.parametrize("kind", ["binary", "labels", "short", "float"])
def test_aimio_written_files_decode_in_bonenet(tmp_path, kind):
    rng = np.random.default_rng(9)
    if kind == "binary":
        arr = np.where(rng.random((6, 7, 520)) > 0.3, 127, 0).astype(np.int8)
    elif kind == "labels":
        arr = rng.integers(-3, 4, size=(6, 7, 520)).astype(np.int8)
    elif kind == "short":
        arr = rng.integers(-3000, 9000, size=(6, 7, 8)).astype(np.int16)
    else:
        arr = rng.normal(0, 1e3, size=(6, 7, 8)).astype(np.float32)
    arr.flat[0] = 0                                     # aimio-py's char run-length writer needs this
    p = tmp_path / "a.aim"
    py_aimio.write_aim(str(p), arr, {"element_size": (0.082, 0.082, 0.082), "position": (11, 12, 13)})
    mine, hdr = aim.read_aim_array(p)
    np.testing.assert_array_equal(mine, arr)
    assert hdr.position == (11, 12, 13) and hdr.version == "v030"


def test_offset_border_geometry_difference_is_the_documented_one(tmp_path):
    """Same array and position; bonenet's origin is ``position * spacing`` (the array's first
    voxel, ITK IOScanco), aimio-py's ``(position + offset) * spacing``."""
    arr = np.arange(6 * 7 * 8, dtype=np.int16).reshape(6, 7, 8)
    p = tmp_path / "o.aim"
    py_aimio.write_aim(str(p), arr, {"element_size": (0.1, 0.1, 0.1), "position": (5, 6, 7), "offset": (1, 2, 3)})
    ref, meta = py_aimio.read_aim(str(p))
    vol = io.load(p, native=True)
    np.testing.assert_array_equal(vol.array, ref)
    assert vol.meta["offset"] == (1, 2, 3)
    np.testing.assert_allclose(vol.origin, (0.5, 0.6, 0.7), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(meta["origin"]) - np.asarray(vol.origin), (0.1, 0.2, 0.3), rtol=1e-5)

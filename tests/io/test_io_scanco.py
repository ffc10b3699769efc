"""Scanco AIM (v020/v030) and ISQ: round trips through bonenet's writers and the calibration."""

from __future__ import annotations

import numpy as np
import pytest

from bonenet import CalibrationError, ImageFormatError, Volume, io
from bonenet.io import scanco


def _density_volume(shape=(5, 6, 7)) -> Volume:
    rng = np.random.default_rng(1)
    arr = rng.uniform(-200, 1200, size=shape).astype(np.float32)
    return Volume(arr, spacing=(0.0607, 0.0607, 0.0607), origin=(1.0, 2.0, -3.0),
                  units="mgHA/cm3", modality="HRPQCT")


@pytest.mark.parametrize("version", ["v020", "v030"])
def test_aim_roundtrip_density(tmp_path, version):
    v = _density_volume()
    out = io.save(v, tmp_path / f"x_{version}.aim", version=version, mu_scaling=8192,
                  density_slope=1600.0, density_intercept=-390.0)
    back = io.load(out)
    assert back.units == "mgHA/cm3" and back.shape == v.shape
    np.testing.assert_allclose(back.spacing, v.spacing, rtol=1e-6)
    np.testing.assert_allclose(back.origin, v.origin, atol=1e-6)
    # quantisation: one native unit is slope / mu_scaling mg HA/cm3
    np.testing.assert_allclose(back.array, v.array, atol=1600.0 / 8192 / 2 + 1e-3)
    assert back.meta["calibration"] == {"mu_scaling": 8192, "density_slope": 1600.0,
                                        "density_intercept": -390.0}
    raw = io.load(out, native=True)
    assert raw.units == "raw"
    np.testing.assert_allclose(raw.array, np.round((v.array + 390.0) / 1600.0 * 8192), atol=0.5)


def test_aim_header_fields_are_where_readers_expect(tmp_path):
    v = _density_volume((2, 3, 4))
    out = scanco.write_aim(v, tmp_path / "a.aim", version="v020")
    blob = out.read_bytes()
    assert np.frombuffer(blob[:8], "<i4").tolist() == [20, 140]
    assert b"Mu_Scaling" in blob and b"Density: slope" in blob and b"Density: intercept" in blob
    assert scanco._vms_f_decode(scanco._vms_f_encode(0.0607)) == pytest.approx(0.0607, rel=1e-6)
    assert scanco._vms_d_decode(scanco._vms_d_encode(1603.51904)) == pytest.approx(1603.51904, rel=1e-12)


def test_aim_override_and_missing_calibration(tmp_path):
    v = Volume(np.arange(24, dtype=np.float32).reshape(2, 3, 4), spacing=(0.1, 0.1, 0.1), units="raw")
    out = io.save(v, tmp_path / "r.aim", mu_scaling=100, density_slope=1000.0, density_intercept=0.0)
    np.testing.assert_allclose(io.load(out).array, v.array * 10.0, atol=1e-4)
    np.testing.assert_allclose(io.load(out, density_slope=500.0).array, v.array * 5.0, atol=1e-4)
    with pytest.raises(CalibrationError, match="Mu_Scaling"):
        io.load(out, mu_scaling=0)


def test_isq_roundtrip_with_and_without_calibration(tmp_path):
    v = _density_volume((4, 5, 6))
    out = scanco.write_isq(v, tmp_path / "s.isq", mu_scaling=4096, density_slope=1610.0,
                           density_intercept=-395.0)
    back = io.load(out)
    assert back.units == "mgHA/cm3"
    np.testing.assert_allclose(back.array, v.array, atol=1610.0 / 4096 / 2 + 1e-3)
    np.testing.assert_allclose(back.spacing, v.spacing, atol=1e-3)
    nocal = scanco.write_isq(v, tmp_path / "n.isq", density_slope=None)
    with pytest.raises(CalibrationError, match="density_slope"):
        io.load(nocal)
    given = io.load(nocal, density_slope=1603.51904, density_intercept=-391.209015)
    np.testing.assert_allclose(given.array, v.array, atol=0.2)


def test_scanco_corrupt_files(tmp_path):
    bad = tmp_path / "bad.aim"
    bad.write_bytes(b"\x00" * 40)
    with pytest.raises(ImageFormatError, match=r"bad\.aim"):
        io.load(bad)
    v = _density_volume((3, 4, 5))
    out = scanco.write_aim(v, tmp_path / "t.aim")
    (tmp_path / "trunc.aim").write_bytes(out.read_bytes()[:-20])
    with pytest.raises(ImageFormatError, match="truncated"):
        io.load(tmp_path / "trunc.aim")
    isq = tmp_path / "x.isq"
    isq.write_bytes(b"nope" * 200)
    with pytest.raises(ImageFormatError, match="ISQ"):
        io.load(isq)


def test_char_aim_is_returned_as_stored(tmp_path):
    import struct

    v = Volume(np.zeros((2, 3, 4), np.float32), spacing=(0.1, 0.1, 0.1), units="raw")
    out = scanco.write_aim(v, tmp_path / "m.aim")
    blob = bytearray(out.read_bytes())
    struct.pack_into("<i", blob, 20 + 20, 0x00010001)  # voxel type: signed char
    mask = np.zeros(24, np.int8)
    mask[5] = 127
    pre = np.frombuffer(bytes(blob[:20]), "<i4")
    hdr_len = 20 + int(pre[1]) + int(pre[2])
    struct.pack_into("<i", blob, 12, 24)
    (tmp_path / "c.aim").write_bytes(bytes(blob[:hdr_len]) + mask.tobytes())
    back = io.load(tmp_path / "c.aim")
    assert back.units == "raw" and back.array.max() == 127 and back.meta["warnings"]

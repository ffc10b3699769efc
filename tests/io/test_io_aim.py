"""AIM voxel types, compressed-block codecs, header checks before allocation, processing log."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from scanco_fixtures import HERE

from bonenet import ImageFormatError, io
from bonenet.errors import BoneNetError
from bonenet.io import _aim_codec as codec
from bonenet.io import aim, isq


def _masks():
    rng = np.random.default_rng(5)
    yield np.zeros((2, 3, 4), bool)                               # one value only
    yield np.ones((3, 3, 700), bool)                              # runs far beyond 254/255
    m = np.zeros((5, 7, 600), bool)
    m[1:4, 2:6, 3:598] = True
    yield m
    yield rng.random((6, 9, 11)) > 0.5                            # short runs everywhere
    yield rng.random((5, 6, 7)) > 0.9                             # odd sizes for packed bits


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("code", [codec.BINCMP, codec.CHARCMP, codec.BIT8, 0x00010001])
def test_codec_roundtrip_masks(code, wide):
    for m in _masks():
        arr = np.where(m, np.int8(127), np.int8(0))
        block = np.frombuffer(codec.encode(arr, code, wide=wide), np.uint8)
        dim = arr.shape[::-1]
        back = codec.decode(block, code, dim, (0, 0, 0), wide=wide)
        np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("wide", [False, True])
def test_charcmp_labels_and_bincmp_two_arbitrary_values(wide):
    rng = np.random.default_rng(2)
    lab = rng.integers(-128, 128, size=(3, 4, 300)).astype(np.int8)
    lab[:, :, 100:] = 5                                           # one long run
    block = np.frombuffer(codec.encode(lab, codec.CHARCMP, wide=wide), np.uint8)
    np.testing.assert_array_equal(codec.decode(block, codec.CHARCMP, lab.shape[::-1], (0, 0, 0), wide=wide), lab)
    two = np.where(rng.random((4, 5, 6)) > 0.5, np.int8(-1), np.int8(3))
    block = np.frombuffer(codec.encode(two, codec.BINCMP, wide=wide), np.uint8)
    np.testing.assert_array_equal(codec.decode(block, codec.BINCMP, two.shape[::-1], (0, 0, 0), wide=wide), two)
    with pytest.raises(codec.CodecError, match="two values"):
        codec.encode(lab, codec.BINCMP, wide=wide)


def test_bincmp_byte_layout_matches_aimio_rules():
    """255 means 254 voxels without switching value; the block starts with its own length."""
    arr = np.zeros((1, 1, 600), np.int8)
    arr[0, 0, 300:] = 127
    block = codec.encode(arr, codec.BINCMP, wide=False)
    assert struct.unpack("<i", block[:4])[0] == len(block)
    assert block[4:6] == bytes([0, 127])
    assert list(block[6:]) == [255, 46, 255, 46]                 # 300 = 254 + 46, twice


def test_run_length_offset_border_is_restored_as_zero():
    inner = np.full((2, 3, 4), 127, np.int8)
    block = np.frombuffer(codec.encode(inner, codec.BINCMP, wide=False), np.uint8)
    full = codec.decode(block, codec.BINCMP, (6, 5, 4), (1, 1, 1), wide=False)
    assert full.shape == (4, 5, 6) and full.sum() == inner.sum()
    np.testing.assert_array_equal(full[1:3, 1:4, 1:5], inner)


def test_vms_float_voxels_and_ieee_float_voxels():
    vals = np.array([[[0.0, 1.5, -2.25, 1e-3, 12345.678]]], np.float32)
    for code in (0x00040004, 0x001A0004):
        block = np.frombuffer(codec.encode(vals, code, wide=False), np.uint8)
        np.testing.assert_array_equal(codec.decode(block, code, (5, 1, 1), (0, 0, 0), wide=False), vals)
    assert codec.encode(vals, 0x00040004, wide=False) != codec.encode(vals, 0x001A0004, wide=False)


@pytest.mark.parametrize("storage", ["bincmp", "charcmp", "bit8", "char"])
@pytest.mark.parametrize("version", ["v020", "v030"])
def test_mask_aim_file_roundtrip_with_position(tmp_path, storage, version):
    m = np.zeros((4, 6, 9), bool)
    m[1:3, 2:5, 1:8] = True
    p = aim.write_aim_mask(m, tmp_path / "m.aim", spacing_mm=(0.082, 0.082, 0.082), position=(7, 8, 9),
                           storage=storage, version=version)
    arr, hdr = aim.read_aim_array(p)
    np.testing.assert_array_equal(arr != 0, m)
    assert hdr.position == (7, 8, 9) and hdr.dimensions == (9, 6, 4)
    vol = io.load(p)
    assert vol.units == "raw" and vol.meta["aim_type_code"] == aim._STORAGE[storage]
    np.testing.assert_allclose(vol.origin, (7 * 0.082, 8 * 0.082, 9 * 0.082), rtol=1e-6)
    assert any("mask" in w for w in vol.meta["warnings"])


def test_processing_log_kept_without_patient_lines():
    vol = io.load(HERE / "C0000001.AIM")
    log = vol.meta["processing_log"]
    assert "Mu_Scaling" in log and "Density: slope" in log and "ISQ_TO_AIM" in log
    assert "DOE" not in log and "4711" not in log and "Patient" not in log
    assert vol.meta["calibration"]["mu_scaling"] == 8192 and vol.units == "mgHA/cm3"
    assert vol.meta["position"] == (100, 120, 7) and vol.meta["aim_type_code"] == 0x00020002


def test_vms_version_suffix_is_read(tmp_path):
    target = tmp_path / "C0000001.AIM;3"
    target.write_bytes((HERE / "C0000001.AIM").read_bytes())
    np.testing.assert_array_equal(io.load(target).array, io.load(HERE / "C0000001.AIM").array)


def _header(dim, *, type_code=0x00020002, data=b"", version="v020"):
    if version == "v020":
        st = bytearray(140)
        struct.pack_into("<i", st, 20, type_code)
        struct.pack_into("<21i", st, 24, 0, 0, 0, *dim, *([0] * 15))
        return struct.pack("<5i", 20, 140, 0, len(data), 0) + bytes(st) + data
    st = bytearray(224)
    struct.pack_into("<i", st, 12, type_code)
    struct.pack_into("<21q", st, 16, 0, 0, 0, *dim, *([0] * 15))
    return aim._AIM030 + struct.pack("<5q", 40, 224, 0, len(data), 0) + bytes(st) + data


@pytest.mark.parametrize("version", ["v020", "v030"])
def test_crafted_huge_claims_are_refused_before_allocation(tmp_path, version):
    p = tmp_path / "bomb.aim"
    p.write_bytes(_header((2048, 2048, 1024), data=b"\0" * 64, version=version))
    with pytest.raises(BoneNetError, match=r"bomb\.aim.*2048, 2048, 1024.*ceiling"):
        io.load(p)
    # under the ceiling but more than the file holds
    p.write_bytes(_header((512, 512, 64), data=b"\0" * 64, version=version))
    with pytest.raises(ImageFormatError, match=r"bomb\.aim.*truncated"):
        io.load(p)
    # a compressed block cannot expand past 254 voxels per byte
    p.write_bytes(_header((1000, 1000, 100), type_code=codec.BINCMP, data=b"\x0a\0\0\0\0\x7f\xff\xff\xff\xff",
                          version=version))
    with pytest.raises(ImageFormatError, match=r"bomb\.aim.*can hold at most"):
        io.load(p)


def test_memory_ceiling_is_configurable(tmp_path, monkeypatch):
    p = aim.write_aim_mask(np.ones((4, 5, 6), bool), tmp_path / "m.aim", spacing_mm=(0.1, 0.1, 0.1))
    with pytest.raises(BoneNetError, match=r"m\.aim.*120 voxels.*ceiling of 100"):
        io.load(p, max_voxels=100)
    monkeypatch.setenv("BONENET_MAX_VOXELS", "50")
    with pytest.raises(BoneNetError, match="ceiling of 50"):
        io.load(p)
    monkeypatch.setenv("BONENET_MAX_VOXELS", "lots")
    with pytest.raises(ImageFormatError, match="BONENET_MAX_VOXELS"):
        io.load(p)


def test_isq_crafted_header_refused(tmp_path):
    hdr = bytearray(512)
    hdr[:16] = b"CTDATA-HEADER_V1"
    struct.pack_into("<3i", hdr, 44, 4096, 4096, 4096)
    (tmp_path / "x.isq").write_bytes(bytes(hdr) + b"\0" * 100)
    with pytest.raises(BoneNetError, match=r"x\.isq.*ceiling"):
        isq.read_isq(tmp_path / "x.isq")
    struct.pack_into("<3i", hdr, 44, 100, 100, 10)
    (tmp_path / "x.isq").write_bytes(bytes(hdr) + b"\0" * 100)
    with pytest.raises(ImageFormatError, match=r"x\.isq.*truncated"):
        isq.read_isq(tmp_path / "x.isq")


def test_damaged_run_lengths_and_unknown_type(tmp_path):
    p = aim.write_aim_mask(np.ones((2, 3, 4), bool), tmp_path / "m.aim", spacing_mm=(0.1, 0.1, 0.1))
    blob = bytearray(p.read_bytes())
    blob[-1] = 3                                                  # 24 voxels → 3: runs no longer add up
    (tmp_path / "d.aim").write_bytes(bytes(blob))
    with pytest.raises(ImageFormatError, match=r"d\.aim.*run lengths add up to 3"):
        io.load(tmp_path / "d.aim")
    (tmp_path / "u.aim").write_bytes(_header((2, 2, 2), type_code=0x00120003, data=b"\0" * 24))
    with pytest.raises(ImageFormatError, match=r"u\.aim.*0x00120003.*convert_to_type"):
        io.load(tmp_path / "u.aim")


def test_bad_mask_arguments(tmp_path):
    with pytest.raises(ImageFormatError, match="storage"):
        aim.write_aim_mask(np.ones((2, 2, 2), bool), tmp_path / "a.aim", spacing_mm=(1, 1, 1), storage="zip")
    with pytest.raises(ImageFormatError, match="charcmp"):
        aim.write_aim_mask(np.arange(8).reshape(2, 2, 2), tmp_path / "a.aim", spacing_mm=(1, 1, 1))

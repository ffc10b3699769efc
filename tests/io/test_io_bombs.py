"""Resource bombs: headers claiming more than the memory ceiling or than the file holds fail
with a clear error before anything is allocated (NIfTI, gzip/bz2 NIfTI, DICOM, cache)."""

from __future__ import annotations

import bz2
import gzip
import shutil

import nibabel as nib
import numpy as np
import pytest

from bonenet import io
from bonenet.data import SampleCache
from bonenet.errors import CacheError, DicomError, ImageFormatError, MemoryLimitError
from bonenet.io._limits import DEFAULT_MAX_VOXELS, max_voxels


def _header(shape, dtype=np.float32) -> bytes:
    h = nib.Nifti1Header()
    h.set_data_shape(shape)
    h.set_data_dtype(dtype)
    h["vox_offset"] = 352
    h.set_qform(np.eye(4), code=1)
    return h.binaryblock + b"\0" * 4  # 348-byte header + extension flag


def test_ceiling_is_documented_and_configurable(monkeypatch):
    monkeypatch.delenv("BONENET_MAX_VOXELS", raising=False)
    assert max_voxels() == DEFAULT_MAX_VOXELS == 2**30
    monkeypatch.setenv("BONENET_MAX_VOXELS", "1e6")
    assert max_voxels() == 10**6
    monkeypatch.setenv("BONENET_MAX_VOXELS", "lots")
    with pytest.raises(ImageFormatError, match="BONENET_MAX_VOXELS"):
        max_voxels()


def test_tiny_nifti_gz_claiming_4e9_voxels_is_a_memory_limit_error(tmp_path):
    """The issue's 1.4 KB file that made a run use 8.8 GB (and reported "not readable ()")."""
    f = tmp_path / "bomb.nii.gz"
    f.write_bytes(gzip.compress(_header((2048, 2048, 1024)) + b"\0" * 1024))
    assert f.stat().st_size < 2000
    with pytest.raises(MemoryLimitError, match=r"2048, 2048, 1024.*memory ceiling"):
        io.load(f)


def test_claim_under_the_ceiling_but_beyond_what_gzip_can_hold(tmp_path):
    f = tmp_path / "short.nii.gz"
    f.write_bytes(gzip.compress(_header((512, 512, 512)) + b"\0" * 1024))  # 537 MB claimed
    with pytest.raises(ImageFormatError, match="more than a"):
        io.load(f)


def test_gzip_bomb_of_real_zeros_hits_the_ceiling(tmp_path, monkeypatch):
    f = tmp_path / "zeros.nii.gz"
    with gzip.open(f, "wb", compresslevel=9) as fh:
        fh.write(_header((256, 256, 256)))
        block = b"\0" * (1 << 20)
        for _ in range(64):  # 64 MiB of voxels in about 64 KB
            fh.write(block)
    assert f.stat().st_size < 200_000
    monkeypatch.setenv("BONENET_MAX_VOXELS", str(10**6))
    with pytest.raises(MemoryLimitError, match="16,777,216 voxels"):
        io.load(f)


def test_bz2_nifti_is_checked_by_byte_limited_decompression(tmp_path):
    """bz2 has no useful bound on its ratio: the reader decompresses with a byte limit."""
    from bonenet.io.nifti import read_nifti

    f = tmp_path / "short.nii.bz2"
    f.write_bytes(bz2.compress(_header((128, 128, 128)) + b"\0" * 4096))
    with pytest.raises(ImageFormatError, match="decompresses to only"):
        read_nifti(f)
    ok = tmp_path / "ok.nii.bz2"
    ok.write_bytes(bz2.compress(_header((4, 5, 6)) + np.arange(120, dtype=np.float32).tobytes()))
    assert read_nifti(ok).array.size == 120


def test_uncompressed_nifti_shorter_than_its_header_claims(tmp_path):
    f = tmp_path / "short.nii"
    f.write_bytes(_header((256, 256, 256)) + b"\0" * 100)
    with pytest.raises(ImageFormatError, match="truncated"):
        io.load(f)


def test_genuine_nifti_still_loads(tmp_path):
    from bonenet import Volume

    v = Volume(np.random.default_rng(0).normal(size=(8, 9, 10)).astype(np.float32),
               spacing=(1.0, 1.0, 1.0), units="HU", modality="CT")
    for name in ("a.nii.gz", "a.nii"):
        back = io.load(io.save(v, tmp_path / name))
        np.testing.assert_array_equal(back.array, v.array)


def _dicom(tmp_path, rows: int, cols: int, source: str = "CT_small.dcm"):
    import pydicom
    from pydicom.data import get_testdata_file

    d = tmp_path / f"dcm{rows}"
    d.mkdir()
    shutil.copy(get_testdata_file(source), d / "a.dcm")
    ds = pydicom.dcmread(d / "a.dcm")
    ds.Rows, ds.Columns = rows, cols
    ds.save_as(d / "a.dcm")
    return d / "a.dcm"


def test_compressed_dicom_rows_columns_bomb_is_refused_before_allocation(tmp_path):
    """A compressed file's size says nothing about its pixel count: the ceiling does."""
    with pytest.raises(MemoryLimitError, match="memory ceiling"):
        io.load(_dicom(tmp_path, 65535, 65535, "MR_small_RLE.dcm"))  # 4.3e9 voxels, 17 GB


def test_dicom_claiming_more_pixels_than_the_file_holds(tmp_path):
    with pytest.raises(DicomError, match="truncated"):
        io.load(_dicom(tmp_path, 4096, 4096))


# ------------------------------------------------------------------------------- cache
def _entry(cache: SampleCache, arr: np.ndarray) -> str:
    key = "ab" + "0" * 62
    p = cache.path(key)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, arr, allow_pickle=False)
    return key


def test_poisoned_cache_entry_names_the_study(tmp_path):
    cache = SampleCache(tmp_path / "cache")
    bad = np.ones((4, 4, 4), np.float32)
    bad[1, 2, 3] = np.nan
    key = _entry(cache, bad)
    with pytest.raises(CacheError, match=r"study P0007.*NaN/Inf"):
        cache.get(key, study="P0007")
    key = _entry(cache, np.ones((4, 4, 4), np.float64))
    with pytest.raises(CacheError, match="float64"):
        cache.get(key)
    key = _entry(cache, np.ones((4, 4, 4), np.float32))
    with pytest.raises(CacheError, match=r"expected \(12, 12, 12\)"):
        cache.get(key, shape=(12, 12, 12))
    np.testing.assert_array_equal(cache.get(key, shape=(4, 4, 4)), np.ones((4, 4, 4)))


def test_cache_header_claiming_a_huge_shape(tmp_path):
    cache = SampleCache(tmp_path / "cache")
    key = "cd" + "0" * 62
    p = cache.path(key)
    p.parent.mkdir(parents=True)
    with open(p, "wb") as fh:  # a 256-byte .npy whose header claims 2.7e11 bytes
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f4", "fortran_order": False, "shape": (4096, 4096, 4096)})
        fh.write(b"\0" * 256)
    with pytest.raises(MemoryLimitError, match=r"4096, 4096, 4096.*P0001"):
        cache.get(key, study="P0001")

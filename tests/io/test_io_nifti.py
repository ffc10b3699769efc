import numpy as np
import pytest

from bonenet import ImageFormatError, Volume, io


def test_nifti_save_load_roundtrip(tmp_path):
    v = Volume(np.arange(24, dtype=np.float32).reshape(2, 3, 4), spacing=(2.0, 0.5, 0.25),
               origin=(1.0, -2.0, 3.0), units="HU", modality="CT")
    out = io.save(v, tmp_path / "a.nii.gz")
    back = io.load(out)
    np.testing.assert_array_equal(back.array, v.array)
    np.testing.assert_allclose(back.affine, v.affine, atol=1e-5)
    assert back.units == "HU"


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(ImageFormatError, match="no such file"):
        io.load(tmp_path / "nope.nii")
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti")
    with pytest.raises(ImageFormatError, match=r"bad\.nii\.gz"):
        io.load(bad)

"""bonenet.io.load_mask: label maps onto an image's grid (NIfTI, NRRD, folders, DICOM SEG)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bonenet import io
from bonenet.errors import ConfigError, ImageFormatError
from bonenet.volume import Volume

DATA = Path(__file__).parents[1] / "realdata" / "totalsegmentator"


def _image(shape=(10, 12, 14), spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)) -> Volume:
    return Volume(np.zeros(shape, np.float32), spacing=spacing, origin=origin, units="HU")


def _labels(shape=(10, 12, 14)) -> np.ndarray:
    lab = np.zeros(shape, np.int32)
    lab[2:5, 3:7, 4:9] = 31
    lab[6:9, 3:7, 4:9] = 30
    return lab


def _save_nifti(vol: Volume, arr: np.ndarray, path: Path, dtype=np.uint8) -> Path:
    img = vol.replace(array=arr.astype(np.float32)).to_nibabel()
    img = nib.Nifti1Image(np.asarray(img.dataobj).astype(dtype), img.affine)
    nib.save(img, str(path))
    return path


def test_multilabel_nifti_same_grid_round_trips(tmp_path):
    vol = _image()
    lab = _labels()
    out = io.load_mask(_save_nifti(vol, lab, tmp_path / "m.nii.gz"), like=vol)
    assert out.dtype == np.int32 and out.shape == vol.shape
    np.testing.assert_array_equal(out, lab)
    kept = io.load_mask(tmp_path / "m.nii.gz", like=vol, labels=[31])
    assert set(np.unique(kept)) == {0, 31}


def test_mask_on_another_grid_is_resampled_nearest_in_world_space(tmp_path):
    vol = _image()
    lab = _labels()
    # the same labels saved at half the in-plane spacing, shifted by a whole voxel of the image
    fine = Volume(np.zeros((10, 24, 28), np.float32), spacing=(2.0, 0.5, 0.5), origin=(-0.25, -0.25, 0.0),
                  units="raw")
    # fine voxel (p, 2r + k, 2c + j) lies inside image voxel (p, r, c)
    up = np.repeat(np.repeat(lab, 2, axis=1), 2, axis=2)
    out = io.load_mask(_save_nifti(fine, up, tmp_path / "fine.nii.gz"), like=vol)
    assert set(np.unique(out)) == {0, 30, 31}
    assert (out == lab).mean() > 0.97  # only boundary voxels may differ (nearest neighbour)
    nrrd = tmp_path / "fine.nrrd"
    io.save(fine.replace(array=up.astype(np.float32)), nrrd)
    np.testing.assert_array_equal(io.load_mask(nrrd, like=vol), out)


def test_non_overlapping_mask_is_refused_with_the_file_named(tmp_path):
    vol = _image()
    far = _image(origin=(500.0, 500.0, 500.0))
    path = _save_nifti(far, _labels(), tmp_path / "other_scan.nii.gz")
    with pytest.raises(ImageFormatError, match=r"other_scan\.nii\.gz.*does not overlap"):
        io.load_mask(path, like=vol)


def test_probability_map_and_bad_arguments_are_not_called_damaged(tmp_path):
    vol = _image()
    prob = _labels().astype(np.float32) / 62.0
    path = _save_nifti(vol, prob, tmp_path / "prob.nii.gz", dtype=np.float32)
    with pytest.raises(ImageFormatError, match="non-integer value"):
        io.load_mask(path, like=vol)
    good = _save_nifti(vol, _labels(), tmp_path / "m.nii.gz")
    with pytest.raises(ConfigError, match="must be the bonenet Volume"):
        io.load_mask(good, like=np.zeros((3, 3, 3)))
    with pytest.raises(ConfigError, match="labels"):
        io.load_mask(good, like=vol, labels="L1")
    # units: a label map is not an image; a typo is an argument error, not a corrupt file
    with pytest.raises(ConfigError, match="load_mask"):
        io.load(good, units="label")
    with pytest.raises(ConfigError, match="units='Hu' unknown"):
        io.load(good, units="Hu")
    assert io.load(good, units="HU").units == "HU"


def test_folder_of_per_structure_files(tmp_path):
    vol = _image()
    lab = _labels()
    folder = tmp_path / "segmentations"
    folder.mkdir()
    _save_nifti(vol, lab == 31, folder / "vertebrae_L1.nii.gz")
    _save_nifti(vol, lab == 30, folder / "vertebrae_L2.nii.gz")
    _save_nifti(vol, np.zeros_like(lab), folder / "liver.nii.gz")
    out = io.load_mask(folder, like=vol, labels={"vertebrae_L1": 31, "vertebrae_L2": 30})
    np.testing.assert_array_equal(out, lab)
    with pytest.raises(ConfigError, match="folder of per-structure masks"):
        io.load_mask(folder, like=vol)
    with pytest.raises(ImageFormatError, match="none of the expected mask files"):
        io.load_mask(folder, like=vol, labels={"vertebrae_T1": 43})


def test_real_totalsegmentator_mask_on_its_dicom_series():
    ct = io.load(DATA / "example_ct_dicom")
    lab = io.load_mask(DATA / "example_seg_dicom.nii.gz", like=ct)
    ref = np.asarray(nib.load(str(DATA / "example_seg_dicom.nii.gz")).dataobj)
    assert lab.shape == ct.shape
    # same voxels, only the axis order/flip differ (NIfTI RAS x,y,z vs the DICOM's P,R,C)
    for k in (32, 33, 52):
        assert int((lab == k).sum()) == int((ref == k).sum())
    # the spinal cord lies behind the T12 body: larger row index (rows run posterior)
    assert np.argwhere(lab == 79)[:, 1].mean() > np.argwhere(lab == 32)[:, 1].mean()

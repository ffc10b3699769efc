"""Real DICOM files shipped with pydicom and pydicom-data (found on disk, never downloaded)."""

from __future__ import annotations

import importlib.util
import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from bonenet import DicomError, io

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
_spec = importlib.util.find_spec("data_store")
DATA_STORE = Path(_spec.origin).parent / "data" if _spec and _spec.origin else None


def pyd(name: str) -> Path:
    p = PYDICOM_FILES / name
    if not p.exists():
        pytest.skip(f"{name} not shipped with this pydicom")
    return p


def store(name: str) -> Path:
    if DATA_STORE is None or not (DATA_STORE / name).exists():
        pytest.skip(f"{name}: pydicom-data not installed")
    return DATA_STORE / name


def _pydicom_values(path: Path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        return ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))


def test_ct_small_values_and_geometry_match_simpleitk():
    f = pyd("CT_small.dcm")
    v = io.load(f)
    assert v.units == "HU" and v.shape == (1, 128, 128)
    ref = sitk.ReadImage(str(f))
    np.testing.assert_array_equal(v.array[0], sitk.GetArrayFromImage(ref)[0].astype(np.float32))
    np.testing.assert_allclose(v.origin, ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(v.spacing[1:], ref.GetSpacing()[1::-1], atol=1e-6)
    d = np.asarray(ref.GetDirection()).reshape(3, 3)  # columns x, y, z
    np.testing.assert_allclose(v.direction[:, 2], d[:, 0], atol=1e-6)
    np.testing.assert_allclose(v.direction[:, 1], d[:, 1], atol=1e-6)
    np.testing.assert_array_equal(v.array[0], _pydicom_values(f))


@pytest.mark.parametrize("variant", ["MR_small_bigendian.dcm", "MR_small_RLE.dcm",
                                     "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                                     "MR_small_implicit.dcm", "MR_small_expb.dcm"])
def test_mr_small_transfer_syntaxes_identical(variant):
    ref = io.load(pyd("MR_small.dcm"))
    v = io.load(pyd(variant))
    np.testing.assert_array_equal(v.array, ref.array)
    np.testing.assert_allclose(v.affine, ref.affine, atol=1e-6)
    assert v.meta["transfer_syntax"] != ref.meta["transfer_syntax"] or variant == "MR_small_implicit.dcm"


@pytest.mark.parametrize("pair", [("693_J2KR.dcm", "693_UNCR.dcm"), ("MR2_J2KR.dcm", "MR2_UNCR.dcm")])
def test_compressed_uncompressed_pairs(pair):
    a, b = io.load(store(pair[0])), io.load(store(pair[1]))
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-6)
    np.testing.assert_allclose(b.array[0], _pydicom_values(store(pair[1])), rtol=1e-6)


def test_jpeg_lossless_and_deflate_decode_like_pydicom():
    for f in (store("JPEG-LL.dcm"), pyd("image_dfl.dcm"), pyd("JPGExtended.dcm")):
        v = io.load(f)
        np.testing.assert_allclose(v.array[0], _pydicom_values(f), rtol=1e-6)
        assert v.meta["projection"] is True  # no patient position: a 2-D image


def test_enhanced_ct_functional_groups():
    f = store("eCT_Supplemental.dcm")
    v = io.load(f)
    ds = pydicom.dcmread(f)
    per = ds.PerFrameFunctionalGroupsSequence
    ipp = np.array([[float(x) for x in fr.PlanePositionSequence[0].ImagePositionPatient] for fr in per])
    groups = [ds.SharedFunctionalGroupsSequence[0], per[0]]
    iop = next(np.array([float(x) for x in g.PlaneOrientationSequence[0].ImageOrientationPatient])
               for g in groups if "PlaneOrientationSequence" in g)
    normal = np.cross(iop[:3], iop[3:])
    d = ipp @ normal
    order = np.argsort(d)  # sorted along the slice normal, not by frame order
    assert v.shape == (2, 512, 512)
    assert v.spacing[0] == pytest.approx(abs(d[1] - d[0]))
    np.testing.assert_allclose(v.origin, ipp[order[0]], atol=1e-6)
    np.testing.assert_allclose(v.direction[:, 0], normal, atol=1e-6)
    pvt = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    frames = ds.pixel_array * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept)
    np.testing.assert_array_equal(v.array, frames[order])
    assert v.units == "raw"  # RescaleType "US" (a perfusion map), not HU


def test_projection_cr():
    v = io.load(store("RG1_UNCR.dcm"))
    assert v.meta["projection"] is True and v.shape[0] == 1 and v.modality == "CR"
    assert v.meta.get("photometric") == "MONOCHROME1"


@pytest.mark.parametrize("name,reason", [
    ("MR_truncated.dcm", "truncated"), ("rtplan.dcm", "no pixel data"),
    ("rtplan_truncated.dcm", "no pixel data"), ("test-SR.dcm", "no pixel data"),
    ("liver_1frame.dcm", "segmentation"), ("SC_rgb_jpeg.dcm", "colour"), ("rtdose.dcm", "RT Dose"),
    ("examples_ybr_color.dcm", "colour"),
])
def test_non_images_and_damaged_files_raise(name, reason):
    f = pyd(name)
    with pytest.raises(DicomError, match=reason) as err:
        io.load(f)
    assert name in str(err.value)


def test_scan_dicomdir_tree_and_skips_non_images(tmp_path):
    tree = pyd("dicomdirtests")
    infos = io.scan(tree)
    assert infos and all(i.series_uid for i in infos)
    assert not any("DICOMDIR" in f for i in infos for f in i.files)
    ct = [i for i in infos if i.modality == "CT" and not i.problems]
    assert ct and ct[0].orientation == "axial" and ct[0].n_slices == 5
    assert any("localizer" in i.problems for i in infos)
    # load picks the clean axial CT series, not the localizers, CRs or MR singles
    v = io.load(tree)
    assert v.meta["series_uid"] == ct[0].series_uid and v.shape[0] == 5
    # a folder mixing images with non-images: the non-images are flagged, not fatal
    mix = tmp_path / "mix"
    mix.mkdir()
    for n in ("CT_small.dcm", "rtplan.dcm", "test-SR.dcm"):
        shutil.copy(pyd(n), mix / n)
    found = {i.modality: i for i in io.scan(mix)}
    assert "not_image" in found["RTPLAN"].problems and "not_image" in found["SR"].problems
    assert "not_image" not in found["CT"].problems
    assert io.load(mix).modality == "CT"
    assert all(i.patient_id is None for i in io.scan(mix))


def test_multiframe_without_functional_groups_refused():
    f = store("emri_small.dcm")  # 10 frames, functional groups stripped
    with pytest.raises(DicomError, match="per-frame geometry") as err:
        io.load(f)
    assert "emri_small.dcm" in str(err.value)


def test_damaged_file_in_folder_is_skipped_and_reported(tmp_path):
    shutil.copy(pyd("CT_small.dcm"), tmp_path / "a.dcm")
    blob = pyd("CT_small.dcm").read_bytes()
    (tmp_path / "b.dcm").write_bytes(blob[:132] + b"\xff" * 300)  # DICM preamble, garbage after
    infos = io.scan(tmp_path)
    bad = [i for i in infos if "unreadable" in i.problems]
    assert len(bad) == 1 and "b.dcm" in bad[0].details[0] and "damaged" in bad[0].details[0]
    v = io.load(tmp_path)
    assert v.shape == (1, 128, 128)
    assert any("b.dcm" in w for w in v.meta["warnings"])

"""The DICOM series writer: pydicom and SimpleITK read back identical geometry and values."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from io_helpers import AXIAL_FFS, AXIAL_HFS, CORONAL, OBLIQUE, SAGITTAL, make_volume, physical_equal

from bonenet import DicomError, Volume, io


def _sitk_read(folder) -> Volume:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return Volume.from_sitk(reader.Execute(), units="HU")


@pytest.mark.parametrize("name,direction", [("axial", AXIAL_HFS), ("feet_first", AXIAL_FFS),
                                            ("coronal", CORONAL), ("sagittal", SAGITTAL),
                                            ("oblique", OBLIQUE)])
def test_writer_geometry_and_values_match_simpleitk_and_pydicom(tmp_path, name, direction):
    v = make_volume((6, 12, 10), direction=direction)
    out = io.save(v, tmp_path / name, uid_seed=1)  # no suffix -> DICOM folder
    files = sorted(out.glob("*.dcm"))
    assert len(files) == 6
    physical_equal(v, _sitk_read(out))
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        vals = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(vals, v.array[k])
        np.testing.assert_allclose([float(x) for x in ds.ImagePositionPatient],
                                   v.index_to_world([[k, 0, 0]])[0], atol=1e-4)
        assert ds.RescaleType == "HU" and ds.Modality == "CT"
        assert [float(x) for x in ds.PixelSpacing] == pytest.approx(v.spacing[1:])


def test_writer_non_integer_values_and_uint16(tmp_path):
    rng = np.random.default_rng(3)
    v = Volume(rng.normal(0.5, 0.2, (3, 8, 9)).astype(np.float32), spacing=(1, 1, 1),
               units="mgHA/cm3", modality="CT")
    out = io.save(v, tmp_path / "s", format="dicom", dtype="uint16")
    vals = []
    for f in sorted(out.glob("*.dcm")):
        ds = pydicom.dcmread(f)
        assert ds.PixelRepresentation == 0 and ds.RescaleType == "mgHA/cm3"
        slope = float(ds.RescaleSlope)
        vals.append(ds.pixel_array * slope + float(ds.RescaleIntercept))
    np.testing.assert_allclose(np.stack(vals), v.array, atol=slope / 2 + 1e-7)
    assert slope < 1e-4


def test_writer_uids_deterministic_and_options(tmp_path):
    v = make_volume((3, 8, 8))
    a = io.save(v, tmp_path / "a", uid_seed="s1", series_number=7, patient_id="P1",
                patient_name="Doe^J", study_description="study", modality="CT")
    b = io.save(v, tmp_path / "b", uid_seed="s1", series_number=7)
    c = io.save(v, tmp_path / "c", uid_seed="s2", series_number=7)
    da, db, dc = (pydicom.dcmread(sorted(x.glob("*.dcm"))[0]) for x in (a, b, c))
    for tag in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID"):
        assert da[tag].value == db[tag].value != dc[tag].value
        assert pydicom.uid.UID(da[tag].value).is_valid
    assert da.PatientID == "P1" and str(da.PatientName) == "Doe^J" and da.SeriesNumber == 7
    assert db.PatientID == "ANONYMOUS"
    assert not list(tmp_path.glob("a/.*")), "no temporary files left behind"


def test_writer_jpeg2000_and_per_slice_rescale(tmp_path):
    v = make_volume((3, 32, 32))
    out = io.save(v, tmp_path / "j2k", compression="jpeg2000", per_slice_rescale=True)
    for k, f in enumerate(sorted(out.glob("*.dcm"))):
        ds = pydicom.dcmread(f)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless
        np.testing.assert_array_equal(
            ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept), v.array[k])


def test_writer_rejects_nan_and_bad_options(tmp_path):
    v = make_volume((2, 4, 4))
    bad = v.replace(array=np.where(v.array > 0, np.nan, v.array).astype(np.float32))
    bad.array[0, 0, 0] = np.nan
    with pytest.raises(DicomError, match="NaN"):
        io.save(bad, tmp_path / "n", format="dicom")
    with pytest.raises(DicomError, match="dtype"):
        io.save(v, tmp_path / "d", format="dicom", dtype="float32")

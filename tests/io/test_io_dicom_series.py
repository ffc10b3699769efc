"""Loading DICOM series the tests write themselves: orientation, order, gaps, tilt, choice."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from io_helpers import AXIAL_FFS, AXIAL_HFS, CORONAL, OBLIQUE, SAGITTAL, make_volume, physical_equal

from bonenet import DicomError, Volume, io


def _edit(path, **changes):
    ds = pydicom.dcmread(path)
    for k, v in changes.items():
        if v is None:
            delattr(ds, k)
        else:
            setattr(ds, k, v)
    ds.save_as(path)


def _files(folder):
    return sorted(folder.glob("*.dcm"))


@pytest.mark.parametrize("direction", [AXIAL_HFS, AXIAL_FFS, CORONAL, SAGITTAL, OBLIQUE],
                         ids=["axial", "feet_first", "coronal", "sagittal", "oblique"])
def test_orientations_roundtrip_and_match_simpleitk(tmp_path, direction):
    v = make_volume((7, 12, 11), direction=direction)
    out = io.save(v, tmp_path / "s", uid_seed=0)
    back = io.load(out)
    physical_equal(v, back)
    assert back.units == "HU" and back.modality == "CT"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(out)))
    ref = Volume.from_sitk(reader.Execute())
    physical_equal(ref, back)
    np.testing.assert_allclose(back.origin, ref.origin, atol=1e-4)
    np.testing.assert_allclose(np.abs(back.direction.T @ ref.direction), np.eye(3)[[0, 1, 2]], atol=1e-5)
    assert back.meta["source"] and "series_choice" in back.meta
    assert not any("Anonymous" in str(x) or "ANONYMOUS" in str(x) for x in back.meta.values())


def test_shuffled_files_and_instance_numbers(tmp_path):
    v = make_volume((9, 8, 8), direction=OBLIQUE)
    out = io.save(v, tmp_path / "s", uid_seed=1)
    rng = np.random.default_rng(0)
    files = _files(out)
    perm = rng.permutation(len(files))
    for f, p in zip(files, perm, strict=True):  # scramble names and InstanceNumber
        _edit(f, InstanceNumber=int(p) + 1)
        f.rename(out / f"x{rng.integers(1e9)}.dcm")
    physical_equal(v, io.load(out))


def test_per_slice_rescale(tmp_path):
    rng = np.random.default_rng(2)
    arr = rng.normal(0, 1, (5, 8, 8)).astype(np.float32) * np.arange(1, 6, dtype=np.float32)[:, None, None] * 300
    v = Volume(arr, spacing=(1, 1, 1), direction=AXIAL_HFS, units="HU", modality="CT")
    out = io.save(v, tmp_path / "s", per_slice_rescale=True)
    slopes = {float(pydicom.dcmread(f).RescaleSlope) for f in _files(out)}
    assert len(slopes) == 5
    back = io.load(out)
    np.testing.assert_allclose(back.array, arr, atol=max(slopes) / 2 + 1e-4)


def test_missing_slice_refused_then_interpolated(tmp_path):
    v = make_volume((8, 6, 6))
    out = io.save(v, tmp_path / "s")
    _files(out)[3].unlink()
    with pytest.raises(DicomError, match=r"1 slice\(s\) missing.*gap of 4\.000 mm.*allow_gaps=True"):
        io.load(out)
    info = io.scan(out)[0]
    assert "missing_slices" in info.problems and info.n_slices == 7
    back = io.load(out, allow_gaps=True)
    assert back.shape == v.shape and back.spacing[0] == pytest.approx(2.0)
    np.testing.assert_allclose(back.array[3], (v.array[2] + v.array[4]) / 2, atol=1e-4)
    np.testing.assert_array_equal(back.array[[0, 1, 2, 4, 5, 6, 7]], v.array[[0, 1, 2, 4, 5, 6, 7]])
    assert any("allow_gaps" in w for w in back.meta["warnings"])


def test_non_uniform_spacing_refused(tmp_path):
    v = make_volume((6, 6, 6))
    out = io.save(v, tmp_path / "s")
    f = _files(out)[4]
    ipp = [float(x) for x in pydicom.dcmread(f).ImagePositionPatient]
    _edit(f, ImagePositionPatient=[ipp[0], ipp[1], ipp[2] - 0.7])
    assert "non_uniform_spacing" in io.scan(out)[0].problems
    with pytest.raises(DicomError, match="slice steps vary"):
        io.load(out)
    assert io.load(out, allow_gaps=True).meta["warnings"]


def test_duplicates(tmp_path):
    v = make_volume((5, 6, 6))
    out = io.save(v, tmp_path / "s")
    shutil.copy(_files(out)[2], out / "copy.dcm")  # same SOP instance: dropped
    back = io.load(out)
    physical_equal(v, back)
    _edit(out / "copy.dcm", SOPInstanceUID=pydicom.uid.generate_uid())
    assert "duplicate_positions" in io.scan(out)[0].problems
    with pytest.raises(DicomError, match="duplicate slice positions"):
        io.load(out)


def test_gantry_tilt_resampled_or_refused(tmp_path):
    shape, dz, ps = (10, 24, 24), 2.0, 1.0
    v = Volume(np.zeros(shape, np.float32), spacing=(dz, ps, ps), direction=AXIAL_HFS, units="HU")
    out = io.save(v, tmp_path / "s", rescale=(0.01, 0.0))
    tilt = np.deg2rad(15)

    def field(x, y, z):  # a smooth function of LPS position (mm)
        return 3.0 * x + 2.0 * y + 1.5 * z + 100.0

    jj, ii = np.meshgrid(np.arange(24), np.arange(24))
    for k, f in enumerate(_files(out)):
        ds = pydicom.dcmread(f)
        shift_y = k * dz * np.tan(tilt)  # slice origins slide posteriorly along the stack
        ds.ImagePositionPatient = [0.0, shift_y, k * dz]
        vals = field(jj * ps, ii * ps + shift_y, k * dz)  # columns go +x, rows +y
        ds.PixelData = np.round(vals / 0.01).astype("<i2").tobytes()
        ds.save_as(f)
    info = io.scan(out)[0]
    assert "gantry_tilt" in info.problems
    with pytest.raises(DicomError, match="gantry tilt"):
        io.load(out, gantry_tilt="refuse")
    back = io.load(out)
    assert back.meta["gantry_tilt_deg"] == pytest.approx(15, abs=0.1)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    world = back.index_to_world(idx)
    expect = field(*world.T).reshape(shape)
    inside = np.zeros(shape, bool)  # voxels whose source lies inside every acquired slice
    for k in range(shape[0]):
        s = int(np.ceil(k * dz * np.tan(tilt) / ps))
        inside[k, s:, :] = True
    np.testing.assert_allclose(back.array[inside], expect[inside], atol=0.02)
    # bonenet's grid is orthogonal: voxel steps along P are pure slice-normal
    np.testing.assert_allclose(back.direction[:, 0], [0, 0, 1], atol=1e-9)


def test_several_series_localizer_and_choice(tmp_path):
    root = tmp_path / "study"
    ct = make_volume((12, 8, 8))
    io.save(ct, root / "a", uid_seed="st", series_number=2, series_description="CT bone")
    io.save(make_volume((6, 8, 8), spacing=(4.0, 0.7, 0.8)), root / "b", uid_seed="st", series_number=3)
    io.save(make_volume((20, 8, 8)), root / "mr", uid_seed="st", series_number=5, modality="MR")
    io.save(make_volume((30, 8, 8)), root / "derived", uid_seed="st", series_number=6)
    for f in _files(root / "derived"):
        _edit(f, ImageType=["DERIVED", "SECONDARY", "MPR"])
    io.save(make_volume((2, 8, 8), direction=SAGITTAL), root / "scout", uid_seed="st", series_number=1)
    for f in _files(root / "scout"):
        _edit(f, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    (root / "notes.txt").write_text("not dicom")
    (root / "junk.dcm").write_bytes(b"\x00" * 10)
    infos = io.scan(root)
    by_num = {i.series_number: i for i in infos}
    assert set(by_num) == {1, 2, 3, 5, 6}
    assert "localizer" in by_num[1].problems and by_num[1].orientation == "sagittal"
    assert "derived" in by_num[6].problems and by_num[5].modality == "MR"
    assert by_num[2].n_slices == 12 and by_num[2].spacing == pytest.approx((2.0, 0.7, 0.8))
    back = io.load(root)
    assert back.meta["series_number"] == 2 and back.shape == ct.shape
    assert "chose series 2" in back.meta["series_choice"]
    assert io.load(root, series=3).shape[0] == 6
    assert io.load(root, series=by_num[5].key).modality == "MR"
    with pytest.raises(DicomError, match="no series"):
        io.load(root, series="1.2.3")


def test_orientation_change_splits_series(tmp_path):
    out = io.save(make_volume((6, 8, 8)), tmp_path / "s", uid_seed="same")
    io.save(make_volume((3, 8, 8), direction=CORONAL), tmp_path / "s2", uid_seed="same")
    for f in _files(tmp_path / "s2"):
        shutil.move(f, out / f"c_{f.name}")
    infos = io.scan(out)
    assert len(infos) == 2 and {i.key.rsplit("#", 1)[-1] for i in infos} == {"1", "2"}
    assert {i.orientation for i in infos} == {"axial", "coronal"}
    assert io.load(out).shape[0] == 6


def test_truncated_and_non_dicom(tmp_path):
    out = io.save(make_volume((3, 8, 8)), tmp_path / "s")
    f = _files(out)[1]
    f.write_bytes(f.read_bytes()[:-30])
    with pytest.raises(DicomError, match=r"IM00002\.dcm: is truncated"):
        io.load(out)
    with pytest.raises(DicomError, match="not a DICOM file"):
        (tmp_path / "x.dcm").write_bytes(b"hello world, not dicom" * 10)
        io.load(tmp_path / "x.dcm")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DicomError, match="no DICOM image files"):
        io.load(empty)


def test_projection_image(tmp_path):
    out = io.save(make_volume((1, 10, 12)), tmp_path / "dx")
    f = _files(out)[0]
    _edit(f, Modality="DX", ImagePositionPatient=None, ImageOrientationPatient=None, PixelSpacing=None,
          ImagerPixelSpacing=[0.15, 0.2], PatientOrientation=["L", "F"])
    v = io.load(f)
    assert v.meta["projection"] is True and v.shape == (1, 10, 12)
    assert v.spacing[1:] == pytest.approx((0.15, 0.2))
    assert v.orientation()[1:] == "IL"  # rows go to the feet, columns to the patient's left
    assert io.scan(out)[0].problems == ["projection"]


def test_compressed_series_decodes_like_uncompressed(tmp_path):
    v = make_volume((5, 32, 32), direction=CORONAL)
    j2k = io.load(io.save(v, tmp_path / "j2k", compression="jpeg2000"), threads=2)
    rle = io.load(io.save(v, tmp_path / "rle", compression="rle"), threads=1)
    physical_equal(v, j2k)
    physical_equal(v, rle)
    assert j2k.meta["transfer_syntax"] == pydicom.uid.JPEG2000Lossless


def _enhanced_ct(path, v, order, *, extra_stack=0):
    """Build an Enhanced CT file from ``v``: frames in ``order``, rescale only per frame."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence

    d = v.direction
    iop = [*d[:, 2], *d[:, 1]]
    frames, per = [], []
    slices = [(k, 1) for k in order] + [(k, 2) for k in range(extra_stack)]
    for i, (k, stack) in enumerate(slices):
        slope, icpt = (0.5 if i % 2 else 1.0), -1000.0 + 10 * i  # exact for integer values
        frames.append(np.round((v.array[k] - icpt) / slope).astype("<i2"))
        fg = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [float(x) for x in v.index_to_world([[k, 0, 0]])[0]]
        if stack == 2:
            pos.ImagePositionPatient = [x + 500 for x in pos.ImagePositionPatient]
        fg.PlanePositionSequence = Sequence([pos])
        pvt = Dataset()
        pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = slope, icpt, "HU"
        fg.PixelValueTransformationSequence = Sequence([pvt])
        fc = Dataset()
        fc.StackID = str(stack)
        fg.FrameContentSequence = Sequence([fc])
        per.append(fg)
    shared = Dataset()
    ori = Dataset()
    ori.ImageOrientationPatient = iop
    shared.PlaneOrientationSequence = Sequence([ori])
    pm = Dataset()
    pm.PixelSpacing = list(v.spacing[1:])
    pm.SliceThickness = v.spacing[0]
    shared.PixelMeasuresSequence = Sequence([pm])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID, ds.StudyInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    ds.Modality, ds.ImageType = "CT", ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = v.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.PixelData = np.stack(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_synthetic_enhanced_ct_per_frame_rescale_and_order(tmp_path):
    v = make_volume((6, 10, 12), direction=OBLIQUE)
    f = _enhanced_ct(tmp_path / "e.dcm", v, order=[3, 0, 5, 1, 4, 2])
    back = io.load(f)
    physical_equal(v, back)
    assert back.units == "HU" and back.meta["warnings"] == []
    two = _enhanced_ct(tmp_path / "two.dcm", v, order=[3, 0, 5, 1, 4, 2], extra_stack=2)
    back2 = io.load(two)
    physical_equal(v, back2)
    assert any("2 stacks" in w for w in back2.meta["warnings"])
    info = io.scan(tmp_path)
    assert {i.n_slices for i in info} == {6, 8} and all(i.orientation == "oblique" for i in info)


def test_compressed_series_without_process_pool(tmp_path, monkeypatch):
    monkeypatch.setenv("BONENET_IO_PROCESSES", "0")
    v = make_volume((5, 32, 32))
    physical_equal(v, io.load(io.save(v, tmp_path / "j", compression="jpeg2000"), threads=2))

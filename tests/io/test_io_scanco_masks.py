"""Scanco's masks: found by name beside the grey AIM, placed on its grid, used by `bonenet features`."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from scanco_fixtures import GREY_POSITION, HERE, SPACING, phantom

from bonenet import ImageFormatError, io
from bonenet.io import aim

GREY = HERE / "C0000001.AIM"


def test_find_by_scanco_naming(tmp_path):
    for name in ("C0000001.AIM;1", "c0000001_trab_mask.aim;1", "C0000001_TRAB_MASK.AIM;2",
                 "C0000001_CORT_MASK.AIM", "C0000001_MASK.AIM", "C0000001_SEG.AIM", "C0000002_CORT_MASK.AIM",
                 "C0000001_TRAB_MASK.GOBJ"):
        (tmp_path / name).write_bytes(b"")
    found = io.find_scanco_masks(tmp_path / "C0000001.AIM;1")
    assert {k: p.name for k, p in found.items()} == {
        "trab_mask": "C0000001_TRAB_MASK.AIM;2", "cort_mask": "C0000001_CORT_MASK.AIM",
        "periosteal_mask": "C0000001_MASK.AIM", "seg": "C0000001_SEG.AIM"}
    (tmp_path / "C0000001_PERI_MASK.AIM").write_bytes(b"")
    assert io.find_scanco_masks(tmp_path / "C0000001.AIM")["periosteal_mask"].name == "C0000001_PERI_MASK.AIM"
    assert io.find_scanco_masks(tmp_path / "C0000003.AIM") == {}
    from bonenet.io._dispatch import image_stem
    from bonenet.io.scanco_masks import is_scanco_mask_file

    assert [is_scanco_mask_file(n) for n in ("C1_TRAB_MASK.AIM;2", "c1_seg.aim", "C1.AIM", "C1_SEGMENT.AIM")] == [
        True, True, False, False]
    assert image_stem("C0000001.AIM;1") == "C0000001" and image_stem("x.nii.gz") == "x"


def test_cropped_masks_land_where_they_belong():
    truth = phantom()
    grey = io.load(GREY)
    for key in ("trab_mask", "cort_mask", "seg"):
        path = io.find_scanco_masks(GREY)[key]
        if key != "seg":
            assert aim.read_aim_header(path).dimensions != grey.shape[::-1]   # stored cropped
        np.testing.assert_array_equal(io.load_scanco_mask(path, grey), truth[key])
    masks = io.load_scanco_masks(grey, grey_path=GREY)
    assert sorted(masks) == ["cort_mask", "periosteal_mask", "trab_mask"]
    np.testing.assert_array_equal(masks["periosteal_mask"], truth["periosteal_mask"])


def test_mask_partly_outside_is_clipped_and_disjoint_one_refused(tmp_path):
    grey = io.load(GREY)
    m = np.ones((2, 4, 4), bool)
    p = aim.write_aim_mask(m, tmp_path / "edge.aim", spacing_mm=(SPACING,) * 3,
                           position=(GREY_POSITION[0] - 2, GREY_POSITION[1], GREY_POSITION[2]))
    out = io.load_scanco_mask(p, grey)
    assert out.sum() == 2 * 4 * 2 and out[:2, :4, :2].all()
    far = aim.write_aim_mask(m, tmp_path / "far.aim", spacing_mm=(SPACING,) * 3, position=(0, 0, 0))
    with pytest.raises(ImageFormatError, match=r"far\.aim.*does not overlap"):
        io.load_scanco_mask(far, grey)
    coarse = aim.write_aim_mask(m, tmp_path / "coarse.aim", spacing_mm=(0.082,) * 3, position=GREY_POSITION)
    with pytest.raises(ImageFormatError, match=r"coarse\.aim.*voxel size"):
        io.load_scanco_mask(coarse, grey)
    with pytest.raises(ImageFormatError, match=r"missing\.aim"):
        io.load_scanco_masks(grey, trab_mask=tmp_path / "missing.aim")


def test_features_use_scanco_masks_found_or_listed(tmp_path):
    from bonenet.cli import main

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    for p in HERE.glob("C0000001*"):
        shutil.copy(p, tmp_path / "a" / p.name)
    shutil.copy(GREY, tmp_path / "b" / "scan.AIM")
    shutil.copy(HERE / "C0000001_TRAB_MASK.AIM", tmp_path / "b" / "trab.aim")
    shutil.copy(HERE / "C0000001_CORT_MASK.AIM", tmp_path / "b" / "cort.aim")
    shutil.copy(GREY, tmp_path / "c" / "C0000001.AIM")
    bomb = bytearray((HERE / "C0000001_TRAB_MASK.AIM").read_bytes())
    bomb[20 + 36: 20 + 48] = np.array([4096, 4096, 4096], "<i4").tobytes()   # dimensions claim 6.9e10 voxels
    (tmp_path / "c" / "C0000002_TRAB_MASK.AIM").write_bytes(bytes(bomb))
    shutil.copy(GREY, tmp_path / "c" / "C0000002.AIM")
    shutil.copy(HERE / "C0000001_CORT_MASK.AIM", tmp_path / "c" / "C0000002_CORT_MASK.AIM")
    pd.DataFrame({"subject_id": ["found", "listed", "none", "bomb"],
                  "image": ["a/C0000001.AIM", "b/scan.AIM", "c/C0000001.AIM", "c/C0000002.AIM"],
                  "trab_mask": ["", "b/trab.aim", "", ""], "cort_mask": [None, "b/cort.aim", None, None]}
                 ).to_csv(tmp_path / "manifest.csv", index=False)
    out = tmp_path / "features.csv"
    # the crafted mask fails its study only (exit 1), before any allocation; the others are measured
    assert main(["features", str(tmp_path / "manifest.csv"), "--out", str(out), "--no-smi"]) == 1
    errs = pd.read_csv(tmp_path / "features_errors.csv")
    assert errs["subject_id"].tolist() == ["bomb"]
    assert "C0000002_TRAB_MASK.AIM" in errs["message"][0] and "ceiling" in errs["message"][0]
    df = pd.read_csv(out).set_index("subject_id")
    assert df["masks_source"].to_dict() == {"found": "scanco", "listed": "scanco", "none": "autocontour"}
    cols = [c for c in df.columns if c not in ("masks_source", "calibration_material")]
    np.testing.assert_allclose(df.loc["found", cols].astype(float), df.loc["listed", cols].astype(float))
    truth = phantom()
    dens = io.load(GREY).array
    # inside Scanco's masks the compartment densities are the phantom's own
    assert df.loc["found", "ct_vbmd_mgcm3"] == pytest.approx(dens[truth["cort_mask"]].mean(), abs=0.01)
    assert df.loc["found", "tb_vbmd_mgcm3"] == pytest.approx(dens[truth["trab_mask"]].mean(), abs=0.01)
    assert df.loc["found", "tt_ar_mm2"] == pytest.approx(
        truth["periosteal_mask"].sum(axis=(1, 2)).mean() * SPACING**2, rel=1e-6)
    assert df.loc["none", "ct_vbmd_mgcm3"] != pytest.approx(df.loc["found", "ct_vbmd_mgcm3"], abs=1.0)


def test_one_compartment_alone_is_refused(tmp_path):
    from bonenet.errors import SegmentationError
    from bonenet.measure import measure_study

    shutil.copy(GREY, tmp_path / "x.AIM")
    with pytest.raises(SegmentationError, match="cort_mask is needed"):
        measure_study(tmp_path / "x.AIM", smi=False, masks={"trab_mask": HERE / "C0000001_TRAB_MASK.AIM"})
    with pytest.raises(SegmentationError, match="unknown mask role"):
        measure_study(tmp_path / "x.AIM", smi=False, masks={"bone": HERE / "C0000001_SEG.AIM"})


def test_a_volume_read_from_an_aim_finds_its_masks_too(tmp_path):
    """`bonenet predict --measure` hands measure_study the Volume it read: the masks beside
    the AIM are still found from the path the reader recorded."""
    from bonenet.measure import measure_study

    for p in HERE.glob("C0000001*"):
        shutil.copy(p, tmp_path / p.name)
    vol = io.load(tmp_path / "C0000001.AIM")
    by_volume = measure_study(vol, smi=False)
    by_path = measure_study(tmp_path / "C0000001.AIM", smi=False)
    assert by_volume["masks_source"] == by_path["masks_source"] == "scanco"
    assert by_volume["ct_vbmd_mgcm3"] == pytest.approx(by_path["ct_vbmd_mgcm3"])

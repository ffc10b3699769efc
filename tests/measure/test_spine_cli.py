"""`bonenet spine`: one study, batch (resume, errors.csv, pseudonyms, shards), DICOM SEG/SR."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bonenet import io
from bonenet.cli import main
from bonenet.measure import SPINE_COLUMNS, measure_spine, read_spine_masks, read_spine_sr

DATA = Path(__file__).parents[1] / "realdata" / "totalsegmentator"
CT, SEG = DATA / "example_ct_sm.nii.gz", DATA / "example_seg.nii.gz"
SALT = "test-salt-0123456789"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_single_study_writes_csv_json_and_qa(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["spine", str(CT), "--units", "HU", "--masks", str(SEG), "--calibrate", "internal",
                 "--out", str(out)]) == 0
    rows = _rows(out / "spine.csv")
    assert [r["vertebra"] for r in rows] == ["T11", "T12", "L1", "L2"]
    assert list(rows[0]) == list(SPINE_COLUMNS)
    assert all(float(r["vbmd_mg_cm3"]) > 0 for r in rows)
    assert (out / "spine_qa.png").stat().st_size > 5000
    rec = json.loads((out / "spine.json").read_text())
    assert rec["calibration"]["method"] == "internal" and rec["masks"] == "multilabel file"
    assert "L1" in capsys.readouterr().out


def test_bad_arguments_exit_2_with_the_fix(tmp_path, capsys):
    assert main(["spine", str(CT), "--masks", str(SEG), "--out", str(tmp_path)]) == 2
    assert "--units HU" in capsys.readouterr().err  # a NIfTI CT must say it is in HU
    assert main(["spine", str(CT), "--units", "HU", "--segment", "totalsegmentator",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "TotalSegmentator" in err and "--masks" in err


def _batch_input(tmp_path: Path) -> tuple[Path, Path]:
    studies, masks = tmp_path / "studies", tmp_path / "masks"
    studies.mkdir()
    masks.mkdir()
    for name in ("patient_a", "patient_b", "patient_c"):
        shutil.copy(CT, studies / f"{name}.nii.gz")
    for name in ("patient_a", "patient_b"):
        shutil.copy(SEG, masks / f"{name}.nii.gz")
    return studies, masks  # patient_c has no masks: it must fail with a reason


def test_batch_resumes_reports_errors_and_pseudonymises(tmp_path, capsys):
    studies, masks = _batch_input(tmp_path)
    out = tmp_path / "out"
    args = ["spine", "--studies", str(studies), "--masks", str(masks), "--units", "HU",
            "--out", str(out), "--salt", SALT, "--workers", "2"]
    assert main(args) == 1  # one study failed, the others are written
    rows, ledger, errors = _rows(out / "spine.csv"), _rows(out / "studies.csv"), _rows(out / "errors.csv")
    assert len(ledger) == 2 and len(errors) == 1 and len(rows) == 8
    assert "no masks" in errors[0]["reason"]
    text = (out / "spine.csv").read_text() + (out / "errors.csv").read_text()
    assert "patient" not in text and all(r["subject_id"].startswith("sub-") for r in rows)
    assert len(list((out / "qa").glob("*.png"))) == 2
    # a killed run may leave vertebra rows of a study without its ledger row: removed on resume
    with open(out / "spine.csv", "a") as fh:
        fh.write("sub-deadbeef," + ",".join("" for _ in SPINE_COLUMNS) + "\n")
    assert main(args) == 0  # nothing left to do (the failed study is skipped, not retried)
    assert "0 studies measured, 3 already done" in capsys.readouterr().out
    assert _rows(out / "spine.csv") == rows
    assert main([*args, "--retry-errors"]) == 1
    assert len(_rows(out / "errors.csv")) == 1 and _rows(out / "spine.csv") == rows


def test_sharded_batch_merges_to_the_unsharded_result(tmp_path):
    studies, masks = _batch_input(tmp_path)
    common = ["--studies", str(studies), "--masks", str(masks), "--units", "HU", "--salt", SALT,
              "--workers", "1", "--no-qa"]
    assert main(["spine", *common, "--out", str(tmp_path / "one")]) == 1
    for i in (0, 1):
        main(["spine", *common, "--out", str(tmp_path / "sharded"), "--shard", f"{i}/2"])
    assert main(["spine", "--merge", str(tmp_path / "sharded")]) == 0
    key = lambda r: (r["subject_id"], r["vertebra"])  # noqa: E731
    assert sorted(_rows(tmp_path / "one" / "spine.csv"), key=key) == \
        sorted(_rows(tmp_path / "sharded" / "spine.csv"), key=key)
    assert len(_rows(tmp_path / "sharded" / "errors.csv")) == 1
    assert not (tmp_path / "sharded" / ".shards").exists()


@pytest.fixture(scope="module")
def dicom_study(tmp_path_factory):
    """The real NIfTI CT written as a DICOM series with UIDs (the shipped series has none)."""
    folder = tmp_path_factory.mktemp("dicom") / "ct"
    vol = io.load(CT, units="HU").replace(modality="CT")
    io.save(vol, folder, format="dicom", uid_seed="spine-test", patient_id="PSEUDO-7")
    return folder


def test_dicom_seg_and_sr_round_trip(dicom_study, tmp_path):
    import highdicom as hd
    import pydicom

    out = tmp_path / "out"
    assert main(["spine", str(dicom_study), "--masks", str(SEG), "--calibrate", "internal",
                 "--dicom", "--out", str(out)]) == 0
    rows = {r["vertebra"]: r for r in _rows(out / "spine.csv")}
    src = pydicom.dcmread(next(dicom_study.iterdir()))
    seg = hd.seg.segread(str(out / "spine_seg.dcm"))
    assert [s.SegmentLabel for s in seg.SegmentSequence] == [f"{lv} trabecular VOI" for lv in rows]
    assert seg.PatientID == src.PatientID == "PSEUDO-7" and seg.StudyInstanceUID == src.StudyInstanceUID
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID
    # the SEG's VOIs land on the same voxels as the measurement's VOIs
    res = measure_spine(dicom_study, SEG)
    labels = io.load_mask(out / "spine_seg.dcm", like=res.volume)
    for k, lv in enumerate(res.geometry, start=1):
        np.testing.assert_array_equal(labels == k, res.geometry[lv].voi)
    sr_ds = pydicom.dcmread(out / "spine_sr.dcm")
    sr = hd.sr.Comprehensive3DSR.from_dataset(sr_ds)
    assert sr_ds.StudyInstanceUID == src.StudyInstanceUID and sr_ds.PatientID == "PSEUDO-7"
    evidence = {i.ReferencedSOPInstanceUID for s in sr_ds.CurrentRequestedProcedureEvidenceSequence
                for se in s.ReferencedSeriesSequence for i in se.ReferencedSOPSequence}
    assert seg.SOPInstanceUID in evidence and src.SOPInstanceUID in evidence
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(rows)
    assert {g.referenced_segment.referenced_sop_instance_uid for g in groups} == {seg.SOPInstanceUID}
    back = read_spine_sr(out / "spine_sr.dcm")
    for lv, vals in back.items():
        for col in ("hu_mean", "hu_median", "voi_ml", "vbmd_mg_cm3"):
            assert vals[col] == pytest.approx(float(rows[lv][col]), rel=1e-5), (lv, col)


def test_dicom_output_refused_for_anonymised_series_without_uids(tmp_path, capsys):
    assert main(["spine", str(DATA / "example_ct_dicom"), "--masks", str(DATA / "example_seg_dicom.nii.gz"),
                 "--dicom", "--out", str(tmp_path)]) == 2
    assert "SOPInstanceUID" in capsys.readouterr().err


def test_totalsegmentator_dicom_seg_masks_are_read_by_segment_label(dicom_study, tmp_path):
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    ct = io.load(dicom_study)
    labels = io.load_mask(SEG, like=ct)
    names = {31: "vertebrae_L1", 30: "vertebrae_L2", 52: "aorta"}
    dss = [pydicom.dcmread(f) for f in ct.meta["source"]]
    pixels = np.stack([labels == k for k in names], axis=-1)
    algo = hd.AlgorithmIdentificationSequence(name="TotalSegmentator", version="2", family=codes.DCM.ArtificialIntelligence)
    descs = [hd.seg.SegmentDescription(
        segment_number=i + 1, segment_label=n, segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Bone, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algo) for i, n in enumerate(names.values())]
    seg = hd.seg.Segmentation(source_images=dss, pixel_array=pixels,
                              segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
                              segment_descriptions=descs, series_instance_uid=hd.UID(), series_number=5,
                              sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test",
                              manufacturer_model_name="test", software_versions="1", device_serial_number="1")
    seg.save_as(tmp_path / "ts.dcm")
    from_seg = read_spine_masks(tmp_path / "ts.dcm", ct)
    from_nii = read_spine_masks(SEG, ct)
    assert from_seg.source == "DICOM SEG" and sorted(from_seg.vertebrae) == ["L1", "L2"]
    for lv in ("L1", "L2"):
        np.testing.assert_array_equal(from_seg.vertebrae[lv], from_nii.vertebrae[lv])
    assert "aorta" in from_seg.tissues


def test_parse_shard_from_text_and_slurm():
    from bonenet.errors import ConfigError
    from bonenet.measure import parse_shard

    assert parse_shard("1/4", env={}) == (1, 4)
    assert parse_shard(None, env={"SLURM_PROCID": "2", "SLURM_NTASKS": "3"}) == (2, 3)
    assert parse_shard(None, env={}) is None
    for bad in ("4/4", "a/b", "1"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad, env={})


def test_segment_runs_a_local_totalsegmentator_only_with_local_weights(tmp_path, monkeypatch, capsys):
    """A stand-in `totalsegmentator` package (the real one is not a test dependency) checks
    the plumbing: weights must be on disk, the multilabel output is then measured."""
    pkg = tmp_path / "site" / "totalsegmentator"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "python_api.py").write_text(
        "import shutil\n"
        f"def totalsegmentator(input, output, ml=False, task='total', quiet=False):\n"
        f"    assert ml and task == 'total'\n"
        f"    shutil.copy({str(SEG)!r}, output)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    home = tmp_path / "tshome"
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(home))
    args = ["spine", str(CT), "--units", "HU", "--segment", "totalsegmentator", "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert "no TotalSegmentator weights" in capsys.readouterr().err
    (home / "nnunet" / "results" / "Dataset291").mkdir(parents=True)
    assert main(args) == 0
    assert (tmp_path / "o" / "totalsegmentator_total.nii.gz").exists()
    assert [r["vertebra"] for r in _rows(tmp_path / "o" / "spine.csv")] == ["T11", "T12", "L1", "L2"]

"""What serving does with inputs that used to be scored silently: images smaller than the
model's region, ids that differ by spaces or case, a model that outputs NaN, masks on other
grids or not overlapping, and NIfTI units that must be declared."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from inference_helpers import make_nifti_studies, tiny_predictor

from bonenet import Volume, io
from bonenet.data import Preprocess, StudyError, StudyInput, load_study_mask
from bonenet.errors import ImageFormatError
from bonenet.inference import Pseudonymizer, discover_studies, predict_studies

SALT = "inputs-test-salt-0123456789"


def _run(tmp_path, studies, pred=None):
    return predict_studies(studies, pred or tiny_predictor(), tmp_path / "out",
                           pseudonymizer=Pseudonymizer(None), num_workers=0)


def test_small_images_are_flagged_or_refused(tmp_path):
    rng = np.random.default_rng(0)
    for key, shape in {"FULL": (20, 18, 18), "SMALL": (20, 12, 12), "TINY": (20, 6, 6)}.items():
        io.save(Volume(rng.normal(300, 200, shape).astype(np.float32), spacing=(0.5, 0.5, 0.5),
                       units="HU", modality="CT"), tmp_path / "studies" / key / "image.nii.gz")
    s = _run(tmp_path, discover_studies(tmp_path / "studies"))
    assert (s.n_predicted, s.n_failed) == (2, 1)
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False).set_index("subject_id")
    assert "smaller_than_roi" in pred.loc["SMALL", "qc_flags"]      # 12 of 16 voxels: padded, flagged
    assert "smaller_than_roi" not in pred.loc["FULL", "qc_flags"]
    err = pd.read_csv(tmp_path / "out" / "errors.csv").set_index("subject_id")
    assert err.loc["TINY", "stage"] == "qc" and "covers only 38 %" in err.loc["TINY", "reason"]


def test_ids_with_spaces_match_and_case_mismatches_are_reported(tmp_path, capsys):
    studies, clinical = make_nifti_studies(tmp_path, 3)
    df = pd.read_csv(clinical, dtype=str)
    df.loc[0, "subject_id"] = " P0000  "      # surrounding spaces: stripped, matches
    df.loc[1, "subject_id"] = "p0001"         # other case: no match, reported
    df.to_csv(clinical, index=False)
    found = discover_studies(studies, clinical=clinical)
    assert found[0].clinical is not None and found[1].clinical is None
    assert found.clinical_match.unmatched_rows == ["p0001"]
    assert found.clinical_match.studies_without_row == ["P0001"]
    p = Pseudonymizer(SALT)
    predict_studies(found, tiny_predictor(), tmp_path / "out", pseudonymizer=p, num_workers=0)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    m = run["last_run"]["clinical_match"]
    assert m["studies_without_clinical_row"] == [p("P0001")] and m["rows_matching_no_study"] == [p("p0001")]
    assert "P0001" not in json.dumps(run) and "p0001" not in json.dumps(run)
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False).set_index("subject_id")
    assert "no clinical row" in pred.loc[p("P0001"), "warnings"]
    assert pred.loc[p("P0000"), "clinical_handling"] == "complete"


def test_non_finite_model_output_is_an_error_row_not_a_blank_risk(tmp_path):
    studies, clinical = make_nifti_studies(tmp_path, 2)
    pred = tiny_predictor()

    class NaNNet(torch.nn.Module):
        def forward(self, **kw):
            return {"fracture": torch.full((kw["images"].shape[0],), float("nan")),
                    "survival": torch.zeros(kw["images"].shape[0], 10, 2)}

    pred.runner.network = NaNNet()
    s = _run(tmp_path, discover_studies(studies, clinical=clinical), pred)
    assert (s.n_predicted, s.n_failed) == (0, 2)
    err = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert (err["stage"] == "model").all() and err["reason"].str.contains("not finite").all()


def test_masks_are_put_on_the_image_grid_or_refused(tmp_path):
    img = Volume(np.zeros((10, 20, 20), np.float32), spacing=(1.0, 0.5, 0.5), units="HU")
    lab = np.zeros((5, 10, 10), np.float32)
    lab[1:4, 2:8, 2:8] = 2
    lab[0, 0, 0] = 1
    io.save(Volume(lab, spacing=(2.0, 1.0, 1.0), units="raw"), tmp_path / "coarse.nii.gz")
    m = load_study_mask(tmp_path / "coarse.nii.gz", img, label=2)
    assert m.shape == img.shape and set(np.unique(m.array)) == {0.0, 1.0}
    assert m.array.sum() == 6 * 12 * 12          # 3x6x6 coarse voxels = 6x12x12 fine ones
    far = Volume(lab, spacing=(2.0, 1.0, 1.0), origin=(500.0, 500.0, 500.0), units="raw")
    io.save(far, tmp_path / "far.nii.gz")
    with pytest.raises(ImageFormatError, match=r"far\.nii\.gz: the mask does not overlap"):
        load_study_mask(tmp_path / "far.nii.gz", img)
    with pytest.raises(StudyError, match="holds no label 7"):
        load_study_mask(tmp_path / "coarse.nii.gz", img, label=7)


def test_nifti_units_are_declared_once(tmp_path):
    import nibabel as nib

    arr = np.random.default_rng(0).normal(300, 100, (20, 18, 18)).astype(np.float32)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / "plain.nii.gz")  # no bonenet note
    spec = StudyInput(preprocess=Preprocess(3, None, (16, 16, 16), (-200, 1200), "HU", "unit", "center"),
                      units="HU")
    assert spec.read(tmp_path / "plain.nii.gz").units == "HU"
    x = spec.image(tmp_path / "plain.nii.gz")
    assert x.shape == (16, 16, 16) and np.isfinite(x).all()
    io.save(Volume(arr, spacing=(1.0, 1.0, 1.0), units="mgHA/cm3"), tmp_path / "noted.nii.gz")  # bonenet's note says mgHA/cm3
    with pytest.raises(StudyError, match="says units 'mgHA/cm3' but 'HU' was declared"):
        spec.read(tmp_path / "noted.nii.gz")
    # the old second spelling folds into the one declaration; a conflicting one is refused
    assert StudyInput(load_options={"units": "HU"}).units == "HU"
    from bonenet.errors import ConfigError

    with pytest.raises(ConfigError, match="declare the images' units once"):
        StudyInput(units="HU", load_options={"units": "raw"})


def test_undeclared_nifti_units_fail_when_the_manifest_is_read(tmp_path):
    import nibabel as nib

    from bonenet.data import read_manifest

    arr = np.zeros((8, 8, 8), np.float32)
    for i in range(3):
        nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / f"s{i}.nii.gz")
    (tmp_path / "m.csv").write_text("subject_id,image,fracture\n" +
                                    "".join(f"S{i},s{i}.nii.gz,{i % 2}\n" for i in range(3)))
    with pytest.raises(ImageFormatError, match=r"3 image\(s\).*data.init_args.units.*'units' manifest column.*--units"):
        read_manifest(tmp_path / "m.csv")
    assert len(read_manifest(tmp_path / "m.csv", units="HU")) == 3
    (tmp_path / "m2.csv").write_text("subject_id,image,fracture,units\n" +
                                     "".join(f"S{i},s{i}.nii.gz,{i % 2},HU\n" for i in range(3)))
    assert len(read_manifest(tmp_path / "m2.csv")) == 3

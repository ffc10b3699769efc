from __future__ import annotations

import pandas as pd
import pytest
from inference_helpers import make_nifti_studies, tiny_predictor

from bonenet.inference import Pseudonymizer, discover_studies, predict_studies, read_rows

SALT = "test-salt-0123456789"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    studies, clinical = make_nifti_studies(root, 10)
    return root, studies, clinical


def test_predict_writes_pseudonymised_rows_with_risks(cohort, tmp_path):
    _root, studies_dir, clinical = cohort
    studies = discover_studies(studies_dir, clinical=clinical)
    assert [s.key for s in studies] == [f"P{i:04d}" for i in range(10)]
    out = tmp_path / "out"
    s = predict_studies(studies, tiny_predictor(), out, pseudonymizer=Pseudonymizer(SALT),
                        batch_size=4, num_workers=1)
    assert (s.n_predicted, s.n_failed, s.n_skipped) == (10, 0, 0)
    df = pd.read_csv(out / "predictions.csv")
    assert list(df.columns[:4]) == ["subject_id", "p_tiny", "risk10y_tiny", "risk_category"]
    assert df["subject_id"].is_unique and len(df) == 10
    assert df["p_tiny"].between(0, 1).all() and df["risk10y_tiny"].between(0, 1).all()
    assert set(df["risk_category"]) <= {"low", "moderate", "high"}
    assert (df["clinical_handling"] == "complete").all()
    assert (df["model_sha256"] == "ab" * 32).all()
    # no original identifier anywhere in the outputs
    for f in out.iterdir():
        if f.is_file():
            assert "P000" not in f.read_text(), f.name
    # same salt -> same ids; rows match the single-study model call (batching changes nothing)
    p = Pseudonymizer(SALT)
    assert set(df["subject_id"]) == {p(f"P{i:04d}") for i in range(10)}
    s2 = predict_studies(studies[:1], tiny_predictor(), tmp_path / "one", pseudonymizer=p,
                         batch_size=1, num_workers=0)
    assert s2.n_predicted == 1
    one = pd.read_csv(tmp_path / "one" / "predictions.csv")
    ref = df.set_index("subject_id").loc[one["subject_id"][0]]
    assert abs(one["p_tiny"][0] - ref["p_tiny"]) < 1e-5


def test_rerun_skips_done_and_other_salt_is_refused(cohort, tmp_path):
    from bonenet.errors import ConfigError

    _, studies_dir, clinical = cohort
    studies = discover_studies(studies_dir, clinical=clinical)
    out = tmp_path / "out"
    predict_studies(studies[:4], tiny_predictor(), out, pseudonymizer=Pseudonymizer(SALT),
                    num_workers=0)
    s = predict_studies(studies, tiny_predictor(), out, pseudonymizer=Pseudonymizer(SALT),
                        num_workers=0)
    assert (s.n_skipped, s.n_predicted) == (4, 6)
    ids = [r["subject_id"] for r in read_rows(out / "predictions.csv")[1]]
    assert len(ids) == len(set(ids)) == 10
    with pytest.raises(ConfigError, match="salt"):
        predict_studies(studies, tiny_predictor(), out, pseudonymizer=Pseudonymizer("another-salt-123"))


def test_missing_and_impossible_clinical_values(cohort, tmp_path):
    _, studies_dir, clinical = cohort
    df = pd.read_csv(clinical)
    df.loc[0, "bmi"] = None          # missing -> predicted with the indicator, said so
    df.loc[1, "age"] = 250           # impossible -> errors.csv
    df = df.drop(index=2)            # no clinical row at all
    df.to_csv(tmp_path / "clin.csv", index=False)
    studies = discover_studies(studies_dir, clinical=tmp_path / "clin.csv")
    out = tmp_path / "out"
    p = Pseudonymizer(SALT)
    s = predict_studies(studies, tiny_predictor(), out, pseudonymizer=p, num_workers=0)
    assert (s.n_predicted, s.n_failed) == (9, 1)
    pred = pd.read_csv(out / "predictions.csv", keep_default_na=False).set_index("subject_id")
    assert pred.loc[p("P0000"), "clinical_missing"] == "bmi"
    assert pred.loc[p("P0000"), "clinical_handling"] == "missing-indicator"
    assert pred.loc[p("P0002"), "clinical_missing"] == "age;bmi;prior_fracture"
    assert "no clinical row" in pred.loc[p("P0002"), "warnings"]
    err = pd.read_csv(out / "errors.csv")
    assert list(err["subject_id"]) == [p("P0001")]
    assert err["stage"][0] == "clinical" and "250" in err["reason"][0] and "age" in err["reason"][0]
    assert "P0001" not in err["reason"][0]
    # --missing error fails incomplete studies instead
    s = predict_studies(studies, tiny_predictor(missing="error"), tmp_path / "strict",
                        pseudonymizer=p, num_workers=0)
    assert (s.n_predicted, s.n_failed) == (7, 3)


def test_empty_folder_and_unreadable_file_fail_alone(cohort, tmp_path):
    import shutil

    _, studies_dir, clinical = cohort
    d = tmp_path / "studies"
    shutil.copytree(studies_dir, d)
    (d / "EMPTY").mkdir()
    (d / "BROKEN").mkdir()
    data = (d / "P0003" / "image.nii.gz").read_bytes()
    (d / "BROKEN" / "image.nii.gz").write_bytes(data[: len(data) // 2])
    studies = discover_studies(d, clinical=clinical)
    p = Pseudonymizer(SALT)
    s = predict_studies(studies, tiny_predictor(), tmp_path / "out", pseudonymizer=p,
                        num_workers=1, batch_size=3)
    assert (s.n_predicted, s.n_failed) == (10, 2)
    err = pd.read_csv(tmp_path / "out" / "errors.csv").set_index("subject_id")
    assert "empty folder" in err.loc[p("EMPTY"), "reason"]
    assert err.loc[p("BROKEN"), "stage"] == "read"
    assert str(d) not in " ".join(err["reason"])
    # a re-run does not retry failed studies unless asked
    s = predict_studies(studies, tiny_predictor(), tmp_path / "out", pseudonymizer=p, num_workers=0)
    assert (s.n_predicted, s.n_failed, s.n_skipped) == (0, 0, 12)
    s = predict_studies(studies, tiny_predictor(), tmp_path / "out", pseudonymizer=p, num_workers=0,
                        retry_errors=True)
    assert (s.n_predicted, s.n_failed) == (0, 2)
    assert len(pd.read_csv(tmp_path / "out" / "errors.csv")) == 2


def test_spawned_workers_give_the_same_rows(cohort, tmp_path, monkeypatch):
    """Spawned decoding workers (where no fork server exists) match in-process decoding."""
    import bonenet.inference._loop as loop

    _, studies_dir, clinical = cohort
    studies = discover_studies(studies_dir, clinical=clinical)[:3]
    p = Pseudonymizer(SALT)
    import multiprocessing as mp

    monkeypatch.setattr(loop, "_mp_context", lambda: mp.get_context("spawn"))
    predict_studies(studies, tiny_predictor(), tmp_path / "a", pseudonymizer=p, num_workers=1)
    predict_studies(studies, tiny_predictor(), tmp_path / "b", pseudonymizer=p, num_workers=0)
    a = pd.read_csv(tmp_path / "a" / "predictions.csv").set_index("subject_id").sort_index()
    b = pd.read_csv(tmp_path / "b" / "predictions.csv").set_index("subject_id").sort_index()
    pd.testing.assert_frame_equal(a, b)

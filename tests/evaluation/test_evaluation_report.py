"""`bonenet evaluate` end to end, and its handling of bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from bonenet.cli import main
from bonenet.errors import EvaluationError
from bonenet.evaluation import evaluate_predictions, load_predictions, metrics_by_group


def _frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    lin = x + z - 2.0
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    t_true = rng.exponential(12 * np.exp(-lin - 1.5))
    c = rng.uniform(2, 14, n)
    return pd.DataFrame({
        "subject_id": [f"S{i:04d}" for i in range(n)],
        "site": np.where(np.arange(n) < 150, "ext", np.where(rng.random(n) < 0.5, "A", "B")),
        "fracture": y, "time_years": np.minimum(t_true, c).round(2), "event": (t_true <= c).astype(int),
        "sex": np.where(rng.random(n) < 0.7, "F", "M"), "age": rng.uniform(45, 90, n).round(),
        "p_fused": 1 / (1 + np.exp(-(0.9 * (x + z) - 1.9))), "p_clinical": 1 / (1 + np.exp(-(x - 1.7))),
    })


def test_cli_writes_complete_report(tmp_path, capsys):
    df = _frame()
    f1, f2 = tmp_path / "fused.csv", tmp_path / "clin.csv"
    df.drop(columns="p_clinical").to_csv(f1, index=False)
    df[["subject_id", "fracture", "site", "p_clinical"]].sample(frac=1, random_state=0).to_csv(f2, index=False)
    out = tmp_path / "rep"
    rc = main(["evaluate", str(f1), str(f2), "--outcome", "fracture", "--models", "fused,clinical",
               "--reference", "clinical", "--site-column", "site", "--external-site", "ext",
               "--n-boot", "60", "--report", str(out)])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    fused = m["models"]["fused"]
    assert fused["auc_delong"]["auc"] > m["models"]["clinical"]["auc_delong"]["auc"]
    assert set(fused["survival"]) >= {"harrell_c", "uno_c_10y", "td_auc_5y", "td_auc_10y", "calibration_10y"}
    assert "nri" in m["comparisons"]["fused_vs_clinical"]["reclassification"]
    assert set(m["subgroups"]["site"]["fused"]) == {"A", "B", "ext"}
    assert "auc_retention" in m["external_validation"]["fused"]["external"]["ext"]["drift"]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5
    md = (out / "report.md").read_text()
    for heading in ("Discrimination and calibration", "Reclassification", "Per site", "TRIPOD+AI"):
        assert heading in md
    assert "report.html" in capsys.readouterr().out


def test_report_shows_competing_risk_metrics_when_deaths_occur(tmp_path):
    df = _frame(seed=3)
    died = (df["event"] == 0) & (np.arange(len(df)) % 3 == 0)
    df.loc[died, "event"] = 2
    f = tmp_path / "p.csv"
    df.drop(columns="p_clinical").to_csv(f, index=False)
    assert main(["evaluate", str(f), "--models", "fused", "--n-boot", "20", "--report", str(tmp_path / "r")]) == 0
    surv = json.loads((tmp_path / "r" / "metrics.json").read_text())["models"]["fused"]["survival"]
    assert {"wolbers_c", "td_auc_cr_5y", "td_auc_cr_10y"} <= set(surv)
    assert 0.5 < surv["td_auc_cr_10y"]["value"] < 1.0
    assert "AUC(10 y), deaths as controls" in (tmp_path / "r" / "report.md").read_text()


def _run_bad(tmp_path, df, *extra):
    f = tmp_path / "p.csv"
    df.to_csv(f, index=False)
    return main(["evaluate", str(f), "--report", str(tmp_path / "r"), "--n-boot", "20", *extra])


@pytest.mark.parametrize("mutate, msg", [
    (lambda d: d.assign(p_fused=d.p_fused.where(d.index != 7)), r"p_fused: 1 missing .*row 7"),
    (lambda d: d.assign(p_fused=d.p_fused * 100), r"p_fused: .* outside \[0, 1\].*percentages"),
    (lambda d: d.assign(fracture=d.fracture.replace(1, 2)), r"fracture: outcomes must be 0 or 1"),
])
def test_bad_values_raise_clear_errors(tmp_path, capsys, mutate, msg):
    df = mutate(_frame(n=100))
    with pytest.raises(EvaluationError, match=msg):
        evaluate_predictions(df, n_boot=10)
    assert _run_bad(tmp_path, df) == 2
    assert "error:" in capsys.readouterr().err


def test_mismatched_ids_between_files(tmp_path):
    df = _frame(n=50)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    df.drop(columns="p_clinical").to_csv(a, index=False)
    df[["subject_id", "p_clinical"]].iloc[5:].to_csv(b, index=False)
    with pytest.raises(EvaluationError, match=r"subject ids do not match.*5 only in a\.csv"):
        load_predictions([a, b], outcome="fracture")
    dup = pd.concat([df, df.iloc[:1]])
    dup.to_csv(a, index=False)
    with pytest.raises(EvaluationError, match=r"line 52.*duplicate of line 2"):
        load_predictions([a], outcome="fracture")


def test_single_outcome_class_is_an_error_naming_the_column(tmp_path, capsys):
    df = _frame(n=80).assign(fracture=0)
    with pytest.raises(EvaluationError, match=r"outcome column 'fracture': all 80 subjects have fracture=0"):
        evaluate_predictions(df, models=["fused"], n_boot=10)
    assert _run_bad(tmp_path, df) != 0
    assert "outcome column 'fracture'" in capsys.readouterr().err
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_thresholds_are_tied_to_their_outcome_and_the_report_says_research_only(tmp_path):
    df = _frame(n=300)
    m, _ = evaluate_predictions(df, models=["fused"], n_boot=10, outcome_type="mof", thresholds=[0.03, 0.20])
    d = {x["threshold"]: x for x in m["threshold_definitions"]}
    assert d[0.20]["kind"] == "published" and "major osteoporotic" in d[0.20]["label"]
    assert "Cosman" in d[0.20]["source"]
    assert d[0.03]["kind"] == "user"  # 3 % is the hip threshold, not an MOF one
    m, _ = evaluate_predictions(df, models=["fused"], n_boot=10, outcome_type="hip")
    assert m["thresholds"] == [0.03] and m["threshold_definitions"][0]["kind"] == "published"
    m, _ = evaluate_predictions(df, models=["fused"], n_boot=10)  # generic outcome: none by default
    assert m["thresholds"] == [] and m["outcome_type"] == "fracture"
    m, _ = evaluate_predictions(df, models=["fused"], n_boot=10, thresholds=[0.2])
    assert m["threshold_definitions"][0]["kind"] == "user"
    assert _run_bad(tmp_path, df, "--outcome-type", "mof") == 0
    page = (tmp_path / "r" / "report.html").read_text()
    assert "research software, not a medical device" in page
    assert "20 % (published: 10-year major osteoporotic fracture" in page
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["notice"].startswith("bonenet is research")


def test_empty_site_is_reported_undefined():
    df = _frame(n=200)
    g = metrics_by_group(df.fracture, df.p_fused, df.site, name="site", expected=["A", "B", "ext", "Z"])
    assert g["Z"]["n"] == 0 and g["Z"]["auc"] == {"undefined": "no subjects in this group"}
    m, _ = evaluate_predictions(df, models=["fused"], site_column="site", external_sites=["Z"], n_boot=10)
    z = m["external_validation"]["fused"]["external"]["Z"]
    assert "no subjects" in z["note"] and z["drift"]["auc_retention"] is None
    one_class = df[(df.site == "A") | (df.fracture == 0)]
    g = metrics_by_group(one_class.fracture, one_class.p_fused, one_class.site, name="site")
    assert "undefined" in g["B"]["auc"]


def test_join_tolerates_bookkeeping_and_number_formatting(tmp_path):
    df = _frame(n=60)
    a, b = tmp_path / "fused.csv", tmp_path / "clin.csv"
    df.drop(columns="p_clinical").assign(model="fused", qc_flags="").to_csv(a, index=False)
    other = df[["subject_id", "fracture", "time_years", "p_clinical"]].assign(model="clinical")
    other["time_years"] = other["time_years"] + 1e-9  # same follow-up, written with other precision
    other.to_csv(b, index=False, float_format="%.12g")
    got = load_predictions([a, b], outcome="fracture")
    assert {"p_fused", "p_clinical"} <= set(got.columns) and len(got) == 60
    other.assign(fracture=1 - other.fracture).to_csv(b, index=False)
    with pytest.raises(EvaluationError, match="'fracture' disagrees"):
        load_predictions([a, b], outcome="fracture")
    df.assign(split=np.where(np.arange(60) < 20, "test", "train")).to_csv(a, index=False)
    got = load_predictions([a], outcome="fracture", splits=["test"])
    assert len(got) == 20


def test_constant_predictions_are_reported_honestly(tmp_path):
    df = _frame(n=120).assign(p_fused=0.175)
    m, c = evaluate_predictions(df, models=["fused"], n_boot=20)
    mm = m["models"]["fused"]
    assert mm["auc_delong"]["auc"] == 0.5
    assert "same predicted risk" in mm["calibration"]["undefined"]
    assert "same value" in mm["ici"]["undefined"]
    assert "calibration_lowess" not in c["models"]["fused"]

"""`bonenet screen` end to end on a synthetic cohort, and the downstream uses of its flags
(evaluate/baseline population filter, synthetic eligibility-gated arms)."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from bonenet.cli import main
from bonenet.clinical import DISCLAIMER, SCREENING_VARIABLES, screen
from bonenet.errors import ClinicalValueError
from bonenet.synth import make_cohort

ARMS = ("none", "estrogen", "estrogen+calcitriol", "bisphosphonate")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    return make_cohort(240, images=False, seed=3, out=out, screening=True, show_progress=False)


def test_cli_writes_csv_png_html_json_and_counts_add_up(cohort, tmp_path):
    out = tmp_path / "screen"
    env = {**os.environ, "BONENET_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, "-m", "bonenet", "screen", str(cohort.out / "clinical.csv"),
                           "--regimen", "estrogen+calcitriol", "--out", str(out),
                           "--set", "hypercalcaemia.upper_limit=10.4mg/dL"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "not a prescribing aid" in proc.stdout
    for name in ("screening.csv", "summary.csv", "flow.png", "screening.html", "run.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    t = pd.read_csv(out / "screening.csv", dtype=str, keep_default_na=False)
    assert len(t) == len(cohort.clinical) and t["subject_id"].tolist() == cohort.clinical["subject_id"].tolist()
    run = json.loads((out / "run.json").read_text())
    assert run["disclaimer"] == DISCLAIMER
    counts = t["status"].value_counts().to_dict()
    assert {k: v for k, v in run["counts"].items() if v} == counts
    assert sum(run["counts"].values()) == len(t)
    flow = {s["step"]: s["n"] for s in run["flow"]}
    assert flow["excluded"] + flow["not_indicated"] + flow["unknown"] + flow["eligible"] == flow["screened"]
    assert counts.get("eligible", 0) > 0 and counts.get("excluded", 0) > 0 and counts.get("unknown", 0) > 0
    el = t["eligible_estrogen_calcitriol"]
    assert (el == "1").sum() == counts["eligible"] and (el == "").sum() == counts["unknown"]
    # CSV-safe: data only, no comment line, no cell a spreadsheet would run as a formula
    first = (out / "screening.csv").read_text().splitlines()[0]
    assert first.startswith("subject_id,regimen,status,")
    assert not any(str(v).startswith(("=", "+", "-", "@")) for c in t.columns if c != "subject_id"
                   for v in t[c] if not str(v).lstrip("-").replace(".", "").isdigit())
    html = (out / "screening.html").read_text()
    assert "Not a prescribing aid" in html and "data:image/png;base64," in html
    assert "Hodgkinson" in html and "set by the user" in html  # sources and the override shown
    hyper = next(r for r in run["rules"] if r["name"] == "hypercalcaemia")
    assert hyper["params"]["upper_limit"]["value"] == pytest.approx(10.4 / 4.008)


def test_cli_bad_regimen_and_rules_file_exit_2_naming_them(cohort, tmp_path, capsys):
    clin = str(cohort.out / "clinical.csv")
    assert main(["screen", clin, "--regimen", "estrogen+calcitrol", "--out", str(tmp_path / "a")]) == 2
    assert "calcitrol" in capsys.readouterr().err
    bad = tmp_path / "bad_rules.yaml"
    bad.write_text("rules: [{name: Bad Name, component: estrogen, kind: exclusion, source: s}]\n")
    assert main(["screen", clin, "--regimen", "estrogen", "--rules", str(bad), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "bad_rules.yaml" in err and "Bad Name" in err
    assert main(["screen", clin, "--regimen", "estrogen", "--set", "nothing", "--out", str(tmp_path / "c")]) == 2
    assert not (tmp_path / "a" / "screening.csv").exists()


def test_evaluate_and_baseline_within_the_eligible_population(cohort, tmp_path, capsys):
    scr = tmp_path / "scr"
    assert main(["screen", str(cohort.out / "clinical.csv"), "--regimen", "alendronate", "--out", str(scr)]) == 0
    t = pd.read_csv(scr / "screening.csv", dtype=str, keep_default_na=False)
    keep = set(t.loc[t["status"].isin(["eligible", "unknown"]), "subject_id"])
    preds = cohort.manifest[["subject_id", "fracture", "split"]].merge(
        cohort.truth[["subject_id", "oracle_risk_10y"]], on="subject_id").rename(columns={"oracle_risk_10y": "p_oracle"})
    preds.to_csv(tmp_path / "preds.csv", index=False)
    rep = tmp_path / "eval"
    assert main(["evaluate", str(tmp_path / "preds.csv"), "--population", str(scr / "screening.csv"),
                 "--population-status", "eligible,unknown", "--n-boot", "20", "--report", str(rep)]) == 0
    m = json.loads((rep / "metrics.json").read_text())
    assert m["n"] == len(keep) < len(preds)
    assert m["population"]["statuses"] == ["eligible", "unknown"] and m["population"]["n_before"] == len(preds)
    out = tmp_path / "lr"
    assert main(["baseline", "--manifest", str(cohort.out / "manifest.csv"), "--model", "clinical_lr",
                 "--population", str(scr / "screening.csv"), "--population-status", "eligible,unknown",
                 "--out", str(out)]) == 0
    p = pd.read_csv(out / "predictions.csv", dtype={"subject_id": str})
    assert set(p["subject_id"]) == keep
    # pseudonymised ids share nothing with the screening file: a clear error, not an empty report
    preds.assign(subject_id="x" + preds["subject_id"]).to_csv(tmp_path / "pseudo.csv", index=False)
    assert main(["evaluate", str(tmp_path / "pseudo.csv"), "--population", str(scr / "screening.csv"),
                 "--report", str(tmp_path / "e2")]) == 2
    assert "no subject_id in common" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "preds.csv"), "--population", str(scr / "screening.csv"),
                 "--population-status", "eligable", "--report", str(tmp_path / "e3")]) == 2


def test_synthetic_screening_variables_and_eligible_arms(cohort):
    from bonenet.synth._screening import SCREENING_PREVALENCE

    clin = cohort.clinical
    for name in SCREENING_PREVALENCE:
        assert name in clin.columns and name in cohort.manifest.columns
    women = clin["sex"] == "F"
    assert clin.loc[~women, "history_breast_cancer"].isna().all()
    assert clin.loc[women, "history_breast_cancer"].isin([0, 1]).all()
    assert clin["serum_calcium"].between(1.9, 2.9).all()
    # the default cohort is unchanged by the option (own seed stream)
    plain = make_cohort(240, images=False, seed=3, show_progress=False)
    assert plain.clinical.equals(clin[plain.clinical.columns])
    assert "history_vte" not in plain.clinical.columns
    gated = make_cohort(240, images=False, seed=3, show_progress=False, eligible_arms=True, treatments=ARMS)
    arms = gated.clinical["treatment"]
    assert gated.config["eligible_arms"] is True and set(arms) <= {"none", "estrogen", "estrogen+calcitriol",
                                                                   "bisphosphonate"}
    for arm, regimen in (("estrogen", "estrogen"), ("estrogen+calcitriol", "estrogen+calcitriol"),
                         ("bisphosphonate", "bisphosphonate")):
        sub = gated.clinical[arms == arm]
        assert len(sub) > 0
        assert (screen(sub, regimen).table["status"] == "eligible").all()
    not_eligible = screen(gated.clinical, "estrogen").table["status"] != "eligible"
    assert not (arms[not_eligible.to_numpy()] == "estrogen").any()


def test_screening_variables_are_usable_as_model_inputs(cohort):
    from bonenet.clinical import ClinicalEncoder

    enc = ClinicalEncoder(["age", "history_vte", "serum_calcium", "egfr"]).fit(cohort.clinical)
    values, observed = enc.transform(cohort.clinical)
    assert values.shape == (len(cohort.clinical), 4)
    assert observed[:, 1].all() and observed[:, 2].all()
    with pytest.raises(ClinicalValueError):
        ClinicalEncoder(["eligible_estrogen"])  # not a schema variable: declare it as a user variable
    assert "years_since_menopause" in SCREENING_VARIABLES


def test_formula_like_ids_are_neutralised_in_csv_and_still_join(tmp_path):
    from bonenet.clinical import filter_population, write_screening

    df = pd.DataFrame({"subject_id": ["=HYPERLINK(1)", "-7", "ok"], "sex": ["F"] * 3,
                       "fn_tscore": ["-3", "-3", "-3"], "egfr": ["70"] * 3, "serum_calcium": ["2.4"] * 3})
    paths = write_screening(screen(df, "denosumab"), tmp_path)
    raw = pd.read_csv(paths["csv"], dtype=str, keep_default_na=False)
    assert raw["subject_id"].tolist() == ["'=HYPERLINK(1)", "-7", "ok"]  # a plain number stays as is
    preds = pd.DataFrame({"subject_id": ["=HYPERLINK(1)", "-7", "ok"], "p_x": [0.1, 0.2, 0.3]})
    kept = filter_population(preds, paths["csv"], ["eligible"], what="predictions")
    assert kept["subject_id"].tolist() == ["=HYPERLINK(1)", "-7", "ok"]
    assert kept.attrs["population"]["n_after"] == 3

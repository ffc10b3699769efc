"""Screening rules: every threshold at / just below / just above, missing values, units, errors."""

import io
import math
import operator

import numpy as np
import pandas as pd
import pytest

from bonenet.clinical import SCHEMA, STATUSES, default_rules, load_rules, parse_regimen, screen
from bonenet.clinical._rules import Condition, Node, set_params, unit_factor
from bonenet.errors import BoneNetError, ClinicalValueError, ConfigError

_DRUG = {"all": "estrogen", "estrogen": "estrogen", "active_vitamin_d": "calcitriol",
         "bisphosphonate": "alendronate", "denosumab": "denosumab"}
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def table(csv: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)


def _threshold(rule, leaf):
    value, unit = rule.threshold(leaf)
    return value if isinstance(value, str) else float(value) * unit_factor(leaf.var, unit)


def _value(rule, leaf, want: bool):
    """A value of ``leaf.var`` that makes ``leaf`` evaluate to ``want``."""
    t = _threshold(rule, leaf)
    var = SCHEMA.get(leaf.var)
    if var is not None and var.kind == "categorical":
        other = next(c for c in var.categories if c != t)
        return t if (leaf.op == "==") == want else other
    if var is not None and var.kind == "binary":
        return t if want else 1.0 - t
    step = 1.0
    return {">": t + step if want else t - step, ">=": t + step if want else t - step,
            "<": t - step if want else t + step, "<=": t - step if want else t + step}[leaf.op]


def _neutral(rule, node, want: bool, row: dict) -> None:
    """Fill ``row`` so that ``node`` evaluates to ``want`` (first child decides where one suffices)."""
    if isinstance(node, Condition):
        row.setdefault(node.var, _value(rule, node, want))
        return
    if node.op == "not":
        _neutral(rule, node.children[0], not want, row)
        return
    every = (node.op == "any") != want  # any→False / all→True need every child; else the first
    for child in (node.children if every else node.children[:1]):
        _neutral(rule, child, want, row)


def _path_rows(rule, target):
    """A row where every node on the path to ``target`` passes the leaf's truth through."""
    row: dict = {}

    def walk(node) -> bool:
        if node is target:
            return True
        if isinstance(node, Condition):
            return False
        for child in node.children:
            if walk(child):
                for sib in node.children:
                    if sib is not child:
                        _neutral(rule, sib, node.op == "all", row)
                return True
        return False

    walk(rule.when)
    return row


def _cases():
    for rule in default_rules():
        leaves = _leaves(rule.when)
        for leaf in leaves:
            if sum(x.var == leaf.var for x in leaves) > 1:
                continue  # a variable read twice (sex in hypercalciuria): tested by hand below
            yield pytest.param(rule, leaf, id=f"{rule.name}-{leaf.var}{leaf.op}")


def _leaves(node):
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node]
    return [x for c in node.children for x in _leaves(c)]


def _screen_rows(rule, rows):
    df = pd.DataFrame([{"subject_id": f"s{i}", **r} for i, r in enumerate(rows)])
    res = screen(df, _DRUG[rule.components[0]])
    return res.table[f"rule_{rule.name}"] if rule.kind != "monitoring" else None, res


@pytest.mark.parametrize("rule,leaf", list(_cases()))
def test_every_threshold_at_just_below_and_just_above(rule, leaf):
    """Registry-driven: each leaf of each shipped rule, with its siblings set so the leaf decides."""
    base = _path_rows(rule, leaf)
    t = _threshold(rule, leaf)
    var = SCHEMA.get(leaf.var)
    if isinstance(t, str) or (var is not None and var.kind == "binary"):
        values = [_value(rule, leaf, True), _value(rule, leaf, False)]
        expect = [1, 0]
    else:
        d = 1e-3 * max(1.0, abs(t))
        values = [t - d, t, t + d]
        expect = [int(_OPS[leaf.op](v, t)) for v in values]
    rows = [{**base, leaf.var: v} for v in values] + [{**base, leaf.var: None}]
    flags, res = _screen_rows(rule, rows)
    if rule.kind == "monitoring":
        listed = [rule.name in m.split("; ") for m in res.table["monitoring"]]
        assert listed[: len(expect)] == [bool(e) for e in expect]
        assert listed[-1]  # undecided condition: listed "if applicable"
        return
    assert flags.iloc[: len(expect)].tolist() == expect, (values, t)
    missing = flags.iloc[-1]
    if leaf.if_missing == "unknown":
        assert missing is pd.NA
    else:
        assert missing == {"false": 0, "true": 1}[leaf.if_missing]


def test_every_shipped_rule_has_source_and_every_param_a_cited_default():
    rules = default_rules()
    assert len({r.name for r in rules}) == len(rules)
    for r in rules:
        assert r.source.strip()
        for p in r.params.values():
            assert p.source.strip() and isinstance(p.value, float)
        for v in r.variables:
            assert v in SCHEMA
    kinds = {r.kind for r in rules}
    assert kinds == {"indication", "exclusion", "caution", "monitoring"}


FULL = ("subject_id,age,sex,fn_tscore,prior_fracture,history_breast_cancer,history_endometrial_cancer,"
        "unexplained_vaginal_bleeding,history_vte,thrombophilia,history_stroke,history_chd,liver_disease,"
        "serum_calcium,urine_calcium_24h\n")


def _full(**over):
    row = dict(age="58", sex="F", fn_tscore="-2.7", prior_fracture="0", history_breast_cancer="0",
               history_endometrial_cancer="0", unexplained_vaginal_bleeding="0", history_vte="0",
               thrombophilia="0", history_stroke="0", history_chd="0", liver_disease="0",
               serum_calcium="2.40", urine_calcium_24h="180")
    row.update(over)
    return row


def _df(*rows):
    return pd.DataFrame([{"subject_id": f"p{i}", **r} for i, r in enumerate(rows)])


def test_status_eligible_only_when_every_exclusion_is_decided():
    res = screen(_df(_full(), _full(history_vte=""), _full(history_vte="1", fn_tscore=""),
                     _full(fn_tscore="-0.5", liver_disease=""), _full(fn_tscore="-1.5")),
                 "estrogen+calcitriol")
    t = res.table
    assert t["status"].tolist() == ["eligible", "unknown", "excluded", "not_indicated", "unknown"]
    assert t["eligible_estrogen_calcitriol"].tolist()[:1] == [1]
    assert t["eligible_estrogen_calcitriol"].iloc[1] is pd.NA  # unknown is blank, never eligible
    assert t["missing"].iloc[1] == "history_vte" and t["undecided_rules"].iloc[1] == "venous_thromboembolism"
    assert t["exclusions"].iloc[2] == "venous_thromboembolism: history_vte=yes"
    assert t["indicated"].tolist() == ["yes", "yes", "unknown", "no", "unknown"]
    assert t["missing"].iloc[4] == "frax_mof; frax_hip"  # osteopenia: FRAX needed to decide
    assert t["missing"].iloc[0] == ""
    assert sum(res.counts.values()) == len(t)
    assert set(res.counts) == set(STATUSES)


def test_indication_reason_and_caution_value_are_reported():
    t = screen(_df(_full(age="64", prior_fracture="1")), "estrogen+calcitriol").table
    assert t["indication_reason"][0] == ("osteoporosis_by_tscore: fn_tscore=-2.7 SD (<= -2.5); "
                                         "fragility_fracture: prior_fracture=yes")
    assert t["cautions"][0] == "late_hormone_therapy_start: age=64 years (>= 60)"
    assert t["n_cautions"][0] == 1 and t["status"][0] == "eligible"
    assert t["monitoring"][0].split("; ") == [
        "estrogen_breast_surveillance", "estrogen_endometrial_protection", "estrogen_periodic_review",
        "calcium_monitoring_active_vitamin_d"]


@pytest.mark.parametrize("header,value,fired", [
    ("serum_calcium", "2.60", 0), ("serum_calcium", "2.61", 1), ("serum_calcium", "2.59", 0),
    ("Serum calcium (mmol/L)", "2.61", 1),
    ("Serum calcium (mg/dL)", "10.42", 0),   # 2.5998 mmol/L
    ("Serum calcium (mg/dL)", "10.4208", 0),  # 2.60 × 4.008: at the threshold, not above
    ("Serum calcium (mg/dL)", "10.43", 1),   # 2.6023 mmol/L
    ("Serum calcium (mg/dL)", "11.2", 1),
])
def test_calcium_units_mg_dl_and_mmol_l(header, value, fired):
    df = _df(_full()).drop(columns=["serum_calcium"])
    df[header] = value
    t = screen(df, "estrogen+calcitriol").table
    assert t["rule_hypercalcaemia"][0] == fired
    assert t["status"][0] == ("excluded" if fired else "eligible")
    if fired:
        assert t["exclusions"][0].startswith("hypercalcaemia: serum_calcium=")


def test_urine_calcium_mmol_per_day_and_sex_specific_limits():
    rows = [_full(urine_calcium_24h=""), _full(urine_calcium_24h=""), _full(sex="M", urine_calcium_24h="")]
    df = _df(*rows).drop(columns=["urine_calcium_24h"])
    df["Urine calcium (mmol/24h)"] = ["6.3", "6.2", "7.3"]  # 252.5, 248.5, 292.6 mg/24 h
    t = screen(df, "calcitriol").table
    assert t["rule_hypercalciuria"].tolist() == [1, 0, 0]  # men: > 300 mg/24 h


def test_set_params_in_another_unit_and_in_the_declared_unit():
    rules = set_params(default_rules(), {"hypercalcaemia.upper_limit": "10.5 mg/dL",
                                         "bisphosphonate_renal.egfr_min": 30})
    p = next(r for r in rules if r.name == "hypercalcaemia").params["upper_limit"]
    assert p.value == pytest.approx(10.5 / 4.008) and p.unit == "mmol/L" and "default 2.6" in p.source
    df = _df(_full(serum_calcium="2.61"), _full(serum_calcium="2.63"))
    t = screen(df, "calcitriol", params={"hypercalcaemia.upper_limit": "10.5mg/dL"}).table
    assert t["rule_hypercalcaemia"].tolist() == [0, 1]
    d = _df(dict(sex="F", fn_tscore="-3", egfr="32"))
    assert screen(d, "alendronate").table["rule_bisphosphonate_renal"][0] == 1
    assert screen(d, "alendronate", params={"bisphosphonate_renal.egfr_min": 30}).table[
        "rule_bisphosphonate_renal"][0] == 0
    with pytest.raises(ConfigError, match=r"hypercalcaemia\.upper"):
        set_params(default_rules(), {"hypercalcaemia.upper": 3})
    with pytest.raises(ConfigError, match="cannot be converted"):
        set_params(default_rules(), {"hypercalcaemia.upper_limit": "3 furlongs"})


def test_regimen_names_map_to_components_and_drug_specific_rules():
    assert parse_regimen("Estrogen + Calcitriol").components == ("estrogen", "active_vitamin_d")
    assert parse_regimen("alfacalcidol").components == ("active_vitamin_d",)
    assert parse_regimen("hrt+etidronate").components == ("estrogen", "bisphosphonate")
    assert parse_regimen("zoledronic acid").components == ("bisphosphonate",)
    df = _df(dict(sex="F", fn_tscore="-3", esophageal_disorder="1", egfr="70", serum_calcium="2.4",
                  cannot_sit_upright_30min="0"))
    assert screen(df, "alendronate").table["status"][0] == "excluded"
    assert screen(df, "bisphosphonate").table["status"][0] == "excluded"  # class: conservative
    zol = screen(df, "zoledronate")
    assert zol.table["status"][0] == "eligible" and "esophageal_disorder" in zol.info["rules_not_applied"]
    assert "rule_hypercalcaemia" not in zol.table.columns


@pytest.mark.parametrize("regimen,match", [
    ("estrogen+calcitrol", "calcitrol.*did you mean 'calcitriol'"), ("", "empty"),
    ("none", "unknown drug 'none'"), ("estrogen+estrogen", "named twice")])
def test_bad_regimen_raises_naming_it(regimen, match):
    with pytest.raises(ConfigError, match=match) as exc:
        screen(_df(_full()), regimen)
    assert isinstance(exc.value, BoneNetError)


@pytest.mark.parametrize("text,match", [
    ("rules: [{name: x, component: estrogen, kind: exclude, when: {var: age, op: '>', value: 1}, source: s}]",
     "kind 'exclude'"),
    ("rules: [{name: x, component: statins, kind: exclusion, when: {var: age, op: '>', value: 1}, source: s}]",
     "component 'statins'"),
    ("rules: [{name: x, component: estrogen, kind: exclusion, when: {var: age, op: '>', value: 1}}]",
     "needs a 'source'"),
    ("rules: [{name: x, component: estrogen, kind: exclusion, when: {var: serum_calcium, op: '>', value: 1, unit: g/L}, source: s}]",
     "unit 'g/L' is not known for serum_calcium"),
    ("rules: [{name: x, component: estrogen, kind: exclusion, when: {var: age, op: '>', param: p}, source: s}]",
     "param 'p' is not defined"),
    ("rules: [{name: x, component: estrogen, kind: exclusion, when: {var: age, op: '=>', value: 1}, source: s}]",
     "op '=>'"),
    ("rules: [{name: x, component: estrogen, kind: exclusion, when: {var: sex, op: '==', value: X}, source: s}]",
     "categorical"),
    ("rules: {name: x}", "non-empty list"),
    ("rules: [{name: x, component: estrogen, kind: monitoring, source: s}]", "needs 'action'"),
    ("rules: [a: b: c", "not a readable YAML"),
])
def test_bad_rules_file_raises_naming_file_and_rule(tmp_path, text, match):
    path = tmp_path / "my_rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as exc:
        screen(_df(_full()), "estrogen", rule_files=[path])
    assert "my_rules.yaml" in str(exc.value)


def test_no_rules_at_all_is_a_config_error():
    with pytest.raises(ConfigError, match="no screening rules"):
        screen(_df(_full()), "estrogen", use_default_rules=False)


def test_missing_rules_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: rules file not found"):
        load_rules(tmp_path / "nope.yaml")


def test_user_rules_add_replace_and_read_user_columns(tmp_path):
    path = tmp_path / "site_rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {name: high_hba1c, component: estrogen, kind: caution, source: local protocol v2,\n"
        "     when: {var: hba1c_pct, op: '>=', param: max}, params: {max: {value: 8.0, source: protocol}}}\n"
        "  - {name: hypercalcaemia, component: active_vitamin_d, kind: exclusion, source: trial protocol,\n"
        "     when: {var: serum_calcium, op: '>', value: 10.2, unit: mg/dL}}\n")
    df = _df(_full(serum_calcium="2.57"), _full(serum_calcium="2.50"))
    df["hba1c_pct"] = ["8.0", ""]
    res = screen(df, "estrogen+calcitriol", rule_files=[path])
    t = res.table
    assert t["rule_high_hba1c"].tolist()[0] == 1 and t["rule_high_hba1c"].iloc[1] is pd.NA
    assert t["rule_hypercalcaemia"].tolist() == [1, 0]  # 10.2 mg/dL = 2.545 mmol/L replaces 2.60
    assert res.info["replaced_default_rules"] == ["hypercalcaemia"]
    with pytest.raises(ClinicalValueError, match="hba1c_pct"):
        screen(_df(_full()), "estrogen", rule_files=[path])
    df["hba1c_pct"] = ["high", ""]
    with pytest.raises(ClinicalValueError, match="non-numeric value 'high'"):
        screen(df, "estrogen", rule_files=[path])


def test_bad_clinical_input_is_named():
    with pytest.raises(ClinicalValueError, match="subject_id"):
        screen(pd.DataFrame({"age": ["60"]}), "estrogen")
    with pytest.raises(ClinicalValueError, match="appears more than once"):
        screen(pd.DataFrame({"subject_id": ["a", "a"], "age": ["60", "61"]}), "estrogen")
    with pytest.raises(ClinicalValueError, match="serum_calcium"):
        screen(_df(_full(serum_calcium="26")), "calcitriol")  # outside 0.5–5 mmol/L: a unit slip


def test_summary_and_flow_counts_add_up():
    rng = np.random.default_rng(0)
    rows = [_full(fn_tscore=f"{rng.normal(-2, 1):.2f}", history_vte=rng.choice(["0", "1", ""]),
                  serum_calcium=rng.choice(["2.3", "2.7", ""]), sex=rng.choice(["F", "M"]))
            for _ in range(80)]
    res = screen(_df(*rows), "estrogen+calcitriol")
    n = len(res.table)
    s = res.summary
    assert ((s["met"] + s["not_met"] + s["undecided"]) == n).all()
    f = {x["step"]: x for x in res.flow}
    assert f["screened"]["n"] == n
    assert f["excluded"]["n"] + f["remaining"]["n"] == n
    assert f["not_indicated"]["n"] + f["assessed"]["n"] == f["remaining"]["n"]
    assert f["unknown"]["n"] + f["eligible"]["n"] == f["assessed"]["n"]
    assert f["eligible"]["n"] == res.counts["eligible"] == len(res.eligible_ids())
    assert sum(f["excluded"]["by"].values()) >= f["excluded"]["n"]


def test_three_valued_logic_of_any_and_all():
    from bonenet.clinical._screen import _combine

    t, f, u = 1.0, 0.0, math.nan
    a = [np.array([t, f, u, f, u]), np.array([u, f, f, u, u])]
    anyv = _combine("any", a)
    allv = _combine("all", a)
    assert anyv[:2].tolist() == [1.0, 0.0] and np.isnan(anyv[2:]).all()
    assert allv[1:4].tolist() == [0.0, 0.0, 0.0] and np.isnan(allv[[0, 4]]).all()
    assert isinstance(Node("any", ()), Node)


def test_default_thresholds_are_the_documented_ones():
    """The defaults docs/screening.md lists (a changed default must change the docs too)."""
    got = {(r.name, k): (p.value, p.unit) for r in default_rules() for k, p in r.params.items()}
    assert got == {
        ("osteoporosis_by_tscore", "tscore_max"): (-2.5, "SD"),
        ("high_frax_with_osteopenia", "osteopenia_tscore"): (-1.0, "SD"),
        ("high_frax_with_osteopenia", "frax_mof_min"): (20.0, "%"),
        ("high_frax_with_osteopenia", "frax_hip_min"): (3.0, "%"),
        ("late_hormone_therapy_start", "age_min"): (60.0, "years"),
        ("late_hormone_therapy_start", "years_min"): (10.0, "years"),
        ("hypercalcaemia", "upper_limit"): (2.60, "mmol/L"),
        ("hypercalciuria", "women_max"): (250.0, "mg/24h"),
        ("hypercalciuria", "men_max"): (300.0, "mg/24h"),
        ("reduced_renal_function", "egfr_min"): (60.0, "mL/min/1.73m2"),
        ("bisphosphonate_renal", "egfr_min"): (35.0, "mL/min/1.73m2"),
        ("hypocalcaemia", "lower_limit"): (2.20, "mmol/L"),
        ("denosumab_advanced_ckd", "egfr_min"): (30.0, "mL/min/1.73m2"),
    }


@pytest.mark.parametrize("egfr,fired", [("34.9", 1), ("35", 0), ("35.1", 0)])
def test_alendronate_renal_limit_by_hand(egfr, fired):
    t = screen(_df(dict(sex="F", fn_tscore="-3", egfr=egfr)), "alendronate").table
    assert t["rule_bisphosphonate_renal"][0] == fired


@pytest.mark.parametrize("tscore,ind", [("-2.49", "unknown"), ("-2.5", "yes"), ("-2.51", "yes")])
def test_tscore_indication_by_hand(tscore, ind):
    t = screen(_df(dict(sex="F", fn_tscore=tscore, prior_fracture="0")), "denosumab").table
    assert t["indicated"][0] == ind  # -2.49: osteopenia, FRAX missing → undecided


@pytest.mark.parametrize("mof,hip,ind", [("19.9", "2.9", "no"), ("20", "", "yes"), ("", "3", "yes"),
                                         ("19.9", "", "unknown")])
def test_frax_thresholds_by_hand(mof, hip, ind):
    t = screen(_df(dict(sex="F", fn_tscore="-1.8", prior_fracture="0", frax_mof=mof, frax_hip=hip)),
               "denosumab").table
    assert t["indicated"][0] == ind


def test_docs_list_every_rule_and_default_threshold_with_its_source():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "screening.md").read_text(encoding="utf-8")
    for r in default_rules():
        assert f"| `{r.name}` |" in doc, r.name
        for k, p in r.params.items():
            assert f"| `{r.name}.{k}` | {p.value:g} {p.unit} | {p.source} |" in doc, (r.name, k)

"""bonenet's synthetic 10-year MOF probability by age, beside published tables (docs/synth.md).

Prints two comparisons, both computed from the default :class:`bonenet.synth.risk.RiskModel`
(no constant is changed here):

1. Population means by age (30 000 subjects of the default case mix, seed 0) beside the
   Malmö 10-year risk of any of the four major osteoporotic fractures in women and the SOF
   10-year risk (Ettinger et al., Osteoporos Int 2010;21:25–33, Table 5).
2. A fixed profile — BMI 25 kg/m², no clinical risk factor, untreated, latent bone quality 0 —
   by age and femoral-neck T-score, beside FRAX UK (Kanis et al., Osteoporos Int
   2008;19:385–397, Table 3 (c)/(d): BMI 25, no clinical risk factors).

Run: ``python benchmarks/synth_incidence_vs_literature.py`` (a few seconds, tables only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bonenet.synth.risk import RiskModel, oracle_risk, simulate_clinical

#: Ettinger et al. 2010, Table 5, "Malmo 10-year risk, any of 4" (women), %, by age.
MALMO_WOMEN = {50: 6.0, 55: 7.8, 60: 10.6, 65: 14.3, 70: 18.9, 75: 22.9, 80: 26.5, 85: 27.0,
               90: 21.4}
#: Kanis et al. 2008 (FRAX UK), Table 3 (d) women / (c) men, MOF %, BMI 25, no CRF.
FRAX_UK = {
    "F": {50: {0: 3.3, -1: 3.8, -2: 5.2, -3: 8.5}, 60: {0: 4.8, -1: 5.6, -2: 7.9, -3: 12.6},
          70: {0: 6.8, -1: 8.4, -2: 11.5, -3: 18.2}, 80: {0: 7.5, -1: 10.1, -2: 13.8, -3: 21.7},
          90: {0: 7.1, -1: 9.9, -2: 13.8, -3: 20.0}},
    "M": {50: {0: 2.7, -1: 3.5, -2: 5.1, -3: 9.2}, 60: {0: 3.5, -1: 4.5, -2: 6.8, -3: 11.5},
          70: {0: 4.3, -1: 5.5, -2: 8.2, -3: 12.8}, 80: {0: 4.0, -1: 5.2, -2: 7.6, -3: 11.3},
          90: {0: 3.9, -1: 5.1, -2: 6.9, -3: 9.7}},
}


def population_by_age(n: int = 30000, seed: int = 0) -> pd.DataFrame:
    """Mean oracle risk by sex and 5-year age band centred on the Malmö ages."""
    model = RiskModel()
    df = simulate_clinical(n, seed=seed)
    df["risk"] = oracle_risk(df, model=model, baseline=model.reference_baseline())[0]
    rows = []
    for age in MALMO_WOMEN:
        band = (df["age"] >= age - 2.5) & (df["age"] < age + 2.5)
        for sex in ("F", "M"):
            sel = df[band & (df["sex"] == sex)]
            rows.append({"age": age, "sex": sex, "n": len(sel),
                         "bonenet_pct": 100 * sel["risk"].mean() if len(sel) else np.nan})
    return pd.DataFrame(rows)


def fixed_profile() -> pd.DataFrame:
    """Oracle risk of the FRAX table's profile (BMI 25, no CRF) by age and T-score."""
    model = RiskModel()
    h0 = model.reference_baseline()
    rows = []
    for sex, table in FRAX_UK.items():
        for age, by_t in table.items():
            for t, frax in by_t.items():
                one = pd.DataFrame([{
                    "age": float(age), "sex": sex, "bmi": 25.0, "prior_fracture": 0,
                    "parent_hip_fracture": 0, "current_smoking": 0, "glucocorticoids": 0,
                    "rheumatoid_arthritis": 0, "secondary_osteoporosis": 0, "alcohol_3plus": 0,
                    "fn_tscore": float(t), "treatment": "none", "bone_quality": 0.0}])
                risk = float(oracle_risk(one, model=model, baseline=h0)[0][0])
                rows.append({"sex": sex, "age": age, "tscore": t, "bonenet_pct": 100 * risk,
                             "frax_uk_pct": frax})
    return pd.DataFrame(rows)


def main() -> None:
    pop = population_by_age()
    women = pop[pop["sex"] == "F"].set_index("age")
    print("Population mean 10-year MOF probability, women (%), bonenet vs Malmö (Ettinger 2010 T5)")
    print(f"{'age':>4} {'n':>6} {'bonenet':>8} {'Malmö':>6} {'ratio':>6}")
    for age, malmo in MALMO_WOMEN.items():
        b = women.loc[age, "bonenet_pct"]
        print(f"{age:>4} {int(women.loc[age, 'n']):>6} {b:>8.1f} {malmo:>6.1f} {b / malmo:>6.2f}")
    men = pop[pop["sex"] == "M"].set_index("age")
    print("men (%), bonenet only (no published whole-population row found):",
          ", ".join(f"{a}: {men.loc[a, 'bonenet_pct']:.1f}" for a in MALMO_WOMEN))
    fp = fixed_profile()
    print("\nBMI 25, no clinical risk factor, untreated: bonenet vs FRAX UK (Kanis 2008 T3), %")
    for sex in ("F", "M"):
        sub = fp[fp["sex"] == sex]
        print(f"{'women' if sex == 'F' else 'men'}: age  " + "  ".join(
            f"T={t:+d} (bonenet/FRAX)" for t in (0, -1, -2, -3)))
        for age in sorted(sub["age"].unique()):
            r = sub[sub["age"] == age].set_index("tscore")
            print(f"       {age:>3}  " + "  ".join(
                f"{r.loc[t, 'bonenet_pct']:>6.1f}/{r.loc[t, 'frax_uk_pct']:<5.1f}      "
                for t in (0, -1, -2, -3)))


if __name__ == "__main__":
    main()

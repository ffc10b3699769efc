"""Screen a clinical table for a treatment regimen: who is indicated, who is excluded (and by
which rule and value), who cannot be decided for missing data, and what monitoring the regimen
calls for. Writes screening.csv (one row per subject), summary.csv, flow.png (eligibility flow),
screening.html and run.json.

A RESEARCH TOOL FOR DEFINING STUDY POPULATIONS, NOT A PRESCRIBING AID: the rules restate
selected label contraindications and guideline thresholds (sources in run.json, the HTML page
and docs/screening.md); they are not a complete assessment of anyone's treatment.

Examples:
  bonenet screen clinical.csv --regimen estrogen+calcitriol --out out/screen
  bonenet screen clinical.csv --regimen alendronate --set bisphosphonate_renal.egfr_min=30 --out out/aln
  bonenet screen clinical.csv --regimen denosumab --rules my_rules.yaml --out out/dmab
  bonenet evaluate preds.csv --population out/screen/screening.csv --report out/eval
Drugs: estrogen/estradiol/hrt, calcitriol/alfacalcidol, alendronate/risedronate/ibandronate/
etidronate/zoledronate (or bisphosphonate), denosumab; join them with '+'.
"""

from __future__ import annotations

import argparse

HELP = "screen subjects for a regimen (indications, exclusions, cautions; research use, not prescribing)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("clinical", help="clinical CSV (subject_id + clinical columns; units in headers are converted)")
    parser.add_argument("--regimen", required=True, help="drugs joined with '+', e.g. estrogen+calcitriol")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--rules", action="append", default=[], metavar="FILE",
                        help="YAML file of extra rules (same format as the shipped ones; a rule with a "
                             "shipped name replaces it); repeatable")
    parser.add_argument("--no-default-rules", action="store_true", help="use only the --rules files")
    parser.add_argument("--set", action="append", default=[], metavar="RULE.PARAM=VALUE[UNIT]",
                        help="override a threshold, e.g. hypercalcaemia.upper_limit=10.5mg/dL; repeatable")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import pandas as pd

    from ..clinical import screen, write_screening
    from ..errors import ConfigError, ManifestError

    params = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--set {item!r}: write RULE.PARAM=VALUE, e.g. hypercalcaemia.upper_limit=2.65")
        params[key.strip()] = value.strip()
    path = Path(args.clinical)
    if not path.is_file():
        raise ManifestError(f"{path}: clinical file not found")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    res = screen(df, args.regimen, rule_files=args.rules, use_default_rules=not args.no_default_rules,
                 params=params, source=str(path))
    paths = write_screening(res, args.out, input_name=path.name)
    c = res.counts
    print(f"{res.regimen.text}: {len(res.table)} screened; eligible {c['eligible']}, excluded {c['excluded']}, "
          f"not indicated {c['not_indicated']}, undecided (missing data) {c['unknown']}")
    print(f"screening: {paths['csv']}\nreport: {paths['html']}")
    print("note: research tool for defining study populations, not a prescribing aid")
    return 0

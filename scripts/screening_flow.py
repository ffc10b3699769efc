#!/usr/bin/env python
"""Rebuild docs/img/screening_flow.png: the eligibility flow of estrogen + calcitriol in a
synthetic cohort (1000 subjects, seed 0, screening variables on). Thin: library calls only.

    python scripts/screening_flow.py [OUT_PNG]
"""

import sys
from pathlib import Path

from bonenet.clinical import screen
from bonenet.clinical._screen_report import flow_figure
from bonenet.synth import make_cohort


def main(out: str = "docs/img/screening_flow.png") -> int:
    cohort = make_cohort(1000, images=False, seed=0, screening=True, show_progress=False)
    res = screen(cohort.clinical, "estrogen+calcitriol", source="synthetic cohort (n=1000, seed 0)")
    flow_figure(res, Path(out), title="Eligibility flow: estrogen + calcitriol (synthetic cohort, n = 1000)")
    print(f"{out}: {res.counts}")
    for step in res.flow:
        print(f"  {step['label']}: {step['n']}  {step.get('by') or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

"""Run the main job end to end on built-in synthetic data (about 4 minutes on 2 CPU cores).

Builds a synthetic HR-pQCT cohort (several sites, the last one external), measures bone,
trains the fused (image + clinical) and the clinical-only model, fits the classical
baselines, evaluates all of them on the external site in one report with plots, and runs
`bonenet predict` over the external site's study folders. Ends by printing where the report
and the predictions are, and the headline numbers.

example:
  bonenet demo --out runs/demo
  bonenet demo --quick --out runs/demo-quick     # tiny version (about a minute)
"""

from __future__ import annotations

import argparse

HELP = "run the whole job (synthetic cohort -> training -> baselines -> report -> predict)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--n", type=int, default=None, help="subjects (default 600; 60 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny settings: 1 epoch, small cohort")
    parser.add_argument("--seed", type=int, default=0, help="the one seed")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: auto)")


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    result = run_demo(args.out, n=args.n, quick=args.quick, seed=args.seed, device=args.device)
    print(result.summary())
    failed = [k for k, v in result.stages.items() if not v.startswith(("ok", "skipped"))]
    return 1 if failed else 0

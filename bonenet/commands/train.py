"""Train a fracture-risk model from YAML configs (LightningCLI schema).

Examples
--------
  bonenet train --config configs/experiment/hrpqct_fused.yaml
  bonenet train --config configs/experiment/hrpqct_fused.yaml --set trainer.max_epochs=5 --set model.fusion=gated
  bonenet train --config configs/experiment/hrpqct_fused.yaml --resume last

Several GPUs: --set trainer.devices=4 --set trainer.strategy=ddp (Lightning launches the
processes); several nodes: torchrun/srun with --set trainer.num_nodes=N (see the README).
"""

from __future__ import annotations

import argparse

HELP = "train a fusion model from configs/experiment/<name>.yaml (GPU with AMP if present, else CPU)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", action="append", required=True, metavar="YAML",
                        help="experiment config (repeatable; later files override earlier ones)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. trainer.max_epochs=5 (repeatable)")
    parser.add_argument("--resume", default=None, metavar="last|CKPT",
                        help="resume exactly from the run's last.ckpt or a given checkpoint")
    parser.add_argument("--no-test", action="store_true", help="skip test-split evaluation and predictions")
    parser.add_argument("--name", default=None, help="model name for the p_<name> predictions column")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")


def run(args: argparse.Namespace) -> int:
    from ..training.run import train

    res = train(args.config, sets=args.set, resume=args.resume, test=not args.no_test,
                name=args.name, device=args.device)
    print(f"run folder        {res.root}")
    print(f"best checkpoint   {res.best_checkpoint}")
    print(f"last checkpoint   {res.last_checkpoint}")
    print(f"fit time          {res.seconds:.1f} s")
    for k, v in sorted(res.test_metrics.items()):
        print(f"{k:<17} {v:.4f}")
    if res.predictions_csv:
        print(f"predictions       {res.predictions_csv}")
    if getattr(res, "yardstick", None) is not None:
        from ..training.yardstick import format_yardstick

        print(format_yardstick(res.yardstick))
        print(f"yardstick         {res.yardstick_json}")
    return 0

"""Export a trained checkpoint to TorchScript or ONNX for serving.

Writes DIR/model.pt (TorchScript) or DIR/model.onnx plus DIR/model.json: the inputs and
outputs, the preprocessing parameters and the fitted clinical encoding, so a serving stack
repeats training exactly. The exported model's risks are compared with the checkpoint's on a
batch; export fails (writing nothing) if they differ by 1e-4 or more.

example:
  bonenet export runs/demo/fused/best.ckpt --format onnx --out exported/
"""

from __future__ import annotations

import argparse

HELP = "export a checkpoint to TorchScript or ONNX with its preprocessing JSON (parity-checked)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint written by bonenet train")
    parser.add_argument("--format", choices=("torchscript", "onnx"), default="torchscript")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--atol", type=float, default=1e-4,
                        help="largest allowed |exported - checkpoint| risk difference")


def run(args: argparse.Namespace) -> int:
    from ..inference import export_checkpoint
    from ._outputs import output_folder

    output_folder(args.out)

    res = export_checkpoint(args.checkpoint, args.out, format=args.format, atol=args.atol)
    print(f"wrote {res.model} and {res.config}; parity max |diff| = {res.max_abs_diff:.2e} "
          f"on a batch of {res.batch_size} (limit {args.atol:g})")
    return 0

#!/usr/bin/env python
"""Thin entry script: the same as ``bonenet train`` (see ``bonenet train --help``).

    python scripts/train.py --config configs/experiment/hrpqct_fused.yaml
    torchrun --nproc_per_node=4 scripts/train.py --config ... --set trainer.devices=4 --set trainer.strategy=ddp
"""

import sys

from bonenet.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))

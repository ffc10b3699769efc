"""Print bonenet's version, the versions of the libraries it uses, and the compute device."""

from __future__ import annotations

import argparse

HELP = "show versions of bonenet and its libraries, and the device training would use"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="device to check (default: auto)")


def run(args: argparse.Namespace) -> int:
    import importlib.metadata as md
    import platform

    from .. import __version__
    from ..device import select_device

    print(f"bonenet      {__version__}")
    print(f"python       {platform.python_version()}")
    for dist in ("numpy", "torch", "monai", "lightning", "pydicom", "SimpleITK", "nibabel",
                 "scikit-learn", "xgboost"):
        try:
            print(f"{dist:<12} {md.version(dist)}")
        except md.PackageNotFoundError:
            print(f"{dist:<12} (not installed)")
    print(f"device       {select_device(args.device)}")
    return 0

"""The ``bonenet`` command. Thin: it parses arguments and calls the library.

Each subcommand lives in ``bonenet/commands/<name>.py`` and defines ``HELP`` (one line),
``configure(parser)`` and ``run(args) -> int``. Command modules import only ``argparse`` at
module level, so ``bonenet --help`` stays fast; heavy imports happen inside ``run``.

Exit statuses (see :mod:`bonenet.errors`): 0 all done, 1 some studies failed, 2 usage or input
error, 3 resource exhaustion (disk full, memory ceiling), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__
from .errors import EXIT_INTERRUPTED, EXIT_RESOURCE, EXIT_USAGE, BoneNetError, exit_status_for

__all__ = ["main"]


def _command_modules() -> dict[str, str]:
    from . import commands

    return {
        m.name.replace("_", "-"): f"{commands.__name__}.{m.name}"
        for m in pkgutil.iter_modules(commands.__path__)
        if not m.name.startswith("_")
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bonenet",
        description="Bone CT toolkit: scan, load, calibrate, measure, train, predict, evaluate.",
        epilog="exit status: 0 all done, 1 some studies failed (see the run's errors file), "
               "2 usage or input error, 3 resource exhaustion (disk full, memory ceiling "
               "BONENET_MAX_VOXELS), 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"bonenet {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for bonenet errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in sorted(_command_modules().items()):
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "__doc__", None) or mod.HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.configure(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bonenet`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    debug = args.debug or bool(os.environ.get("BONENET_DEBUG"))
    try:
        return int(args._run(args) or 0)
    except BoneNetError as exc:
        if debug:
            raise
        print(f"bonenet {args.command}: error: {exc}", file=sys.stderr)
        return exit_status_for(exc)
    except (MemoryError, OSError) as exc:
        if exit_status_for(exc) != EXIT_RESOURCE or debug:
            raise
        what = "out of memory" if isinstance(exc, MemoryError) else f"disk full ({exc})"
        print(f"bonenet {args.command}: error: {what}; free space or memory and re-run "
              "(resumable commands continue where they stopped)", file=sys.stderr)
        return EXIT_RESOURCE
    except KeyboardInterrupt:
        print(f"bonenet {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Optional access to ORMIR-XCT's thickness routine for the benchmarks only.

ORMIR-XCT is GPL-licensed: bonenet never imports it from the package, never copies it, and
only calls it here, in benchmark scripts, when it is installed (``pip install ormir-xct``).
Its package ``__init__`` pulls in ITK/VTK; when those are absent the thickness module
(numpy/numba/scipy/SimpleITK only) is loaded directly from the installed distribution.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any


def load_ormir() -> Callable[..., Any] | None:
    """ORMIR-XCT's ``calc_structure_thickness_statistics`` or None when not installed."""
    try:
        from ormir_xct.core.util.hildebrand_thickness import calc_structure_thickness_statistics

        return calc_structure_thickness_statistics
    except ImportError:
        pass
    try:
        spec = importlib.util.find_spec("ormir_xct")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    import pathlib

    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / "core" / "util" / "hildebrand_thickness.py"
    if not path.exists():
        return None
    mspec = importlib.util.spec_from_file_location("_ormir_hildebrand", path)
    if mspec is None or mspec.loader is None:
        return None
    mod = importlib.util.module_from_spec(mspec)
    try:
        mspec.loader.exec_module(mod)
    except Exception:
        return None
    return getattr(mod, "calc_structure_thickness_statistics", None)

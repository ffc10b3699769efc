"""Plain values for messages: numpy scalars and arrays shown as the numbers they hold.

``repr(np.float64(1.7))`` is ``np.float64(1.7)`` under NumPy ≥ 2; error messages must print
``1.7``. Wrap a value in :func:`plain` before formatting it with ``!r`` (or inside a tuple).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plain"]


def plain(value: Any) -> Any:
    """``value`` with numpy scalars → Python numbers, arrays → lists, recursively in tuples/lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return plain(value.tolist())  # object arrays keep numpy scalars in tolist()
    if isinstance(value, tuple | list):
        return type(value)(plain(v) for v in value)
    return value

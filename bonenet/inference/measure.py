"""Bone measurements added to prediction rows (``bonenet predict --measure``).

Thin adapter over :mod:`bonenet.morphometry`: the volume a study was read into is measured
with the same functions as ``bonenet features``, so the columns match the features CSV.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..volume import Volume

__all__ = ["measure_columns", "measure_volume"]


def _api():
    try:
        from ..morphometry import FEATURE_COLUMNS  # type: ignore[attr-defined]
        from ..morphometry import measure_volume as _measure
    except ImportError as exc:
        raise ConfigError(
            "--measure needs bonenet.morphometry.measure_volume, which this installation lacks; "
            "run without --measure or use `bonenet features`") from exc
    return FEATURE_COLUMNS, _measure


def measure_columns() -> tuple[str, ...]:
    """Column names :func:`measure_volume` returns (units in the names)."""
    return tuple(_api()[0])


def measure_volume(volume: Volume) -> dict[str, float]:
    """Measurements of one study volume (BV/TV, Tb.Th mm, ..., vBMD mg/cm3)."""
    return dict(_api()[1](volume))

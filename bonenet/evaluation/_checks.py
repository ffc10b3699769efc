"""Input checks shared by every metric: one place that turns bad arrays into clear errors."""

from __future__ import annotations

import numpy as np

from .._fmt import plain
from ..errors import EvaluationError

__all__ = ["MetricUndefinedError", "as_outcome", "as_probability", "check_both_classes"]


class MetricUndefinedError(EvaluationError):
    """A metric has no value for this data (for example an AUC with one outcome class).

    Reports catch it and record the metric as undefined together with this message.
    """


def as_outcome(y: object, *, name: str = "outcome") -> np.ndarray:
    """Return ``y`` as a 1-D int8 array of 0/1, or raise :class:`EvaluationError`.

    Accepts booleans, integers and floats that are exactly 0 or 1.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise EvaluationError(f"{name}: expected a 1-D array of 0/1 outcomes, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    try:
        f = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(
            f"{name}: outcomes must be 0/1 numbers, got values such as {arr[:3].tolist()!r}; "
            "recode the column to 0 (no event) and 1 (event)"
        ) from exc
    nan = np.isnan(f)
    if nan.any():
        raise EvaluationError(
            f"{name}: {int(nan.sum())} missing outcome value(s) (first at row {int(np.argmax(nan))}); "
            "drop rows without a known outcome before evaluating"
        )
    bad = (f != 0) & (f != 1)
    if bad.any():
        raise EvaluationError(
            f"{name}: outcomes must be 0 or 1, found {plain(f[bad][0])!r} at row {int(np.argmax(bad))} "
            f"({int(bad.sum())} such rows); recode to 0/1"
        )
    return f.astype(np.int8)


def as_probability(p: object, *, name: str = "prediction", n: int | None = None) -> np.ndarray:
    """Return ``p`` as a 1-D float64 array of probabilities in [0, 1], or raise.

    NaN, infinities and values outside [0, 1] raise :class:`EvaluationError` naming the
    column, the first bad row and its value; nothing is clipped or dropped silently.
    """
    arr = np.asarray(p)
    if arr.ndim != 1:
        raise EvaluationError(f"{name}: expected a 1-D array of probabilities, got shape {arr.shape}")
    try:
        f = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(
            f"{name}: predictions must be numbers, got values such as {arr[:3].tolist()!r}"
        ) from exc
    if n is not None and f.shape[0] != n:
        raise EvaluationError(
            f"{name}: {f.shape[0]} predictions for {n} outcomes; pass one prediction per subject"
        )
    bad_nan = ~np.isfinite(f)
    if bad_nan.any():
        i = int(np.argmax(bad_nan))
        raise EvaluationError(
            f"{name}: {int(bad_nan.sum())} missing or non-finite prediction(s) (first at row {i}: "
            f"{plain(f[i])!r}); re-run prediction for those subjects or drop them from every model"
        )
    out = (f < 0.0) | (f > 1.0)
    if out.any():
        i = int(np.argmax(out))
        raise EvaluationError(
            f"{name}: {int(out.sum())} value(s) outside [0, 1] (first at row {i}: {plain(f[i])!r}); "
            "predictions must be probabilities — apply the sigmoid to logits, or divide "
            "percentages by 100"
        )
    return f


def check_both_classes(y: np.ndarray, *, metric: str) -> tuple[int, int]:
    """Return (n_events, n_non_events); raise :class:`MetricUndefinedError` if one is zero."""
    n_pos = int(y.sum())
    n_neg = int(y.shape[0] - n_pos)
    if y.shape[0] == 0:
        raise MetricUndefinedError(f"{metric} is undefined for zero subjects")
    if n_pos == 0 or n_neg == 0:
        only = "events" if n_neg == 0 else "non-events"
        raise MetricUndefinedError(
            f"{metric} is undefined: all {y.shape[0]} subjects are {only} (needs both outcome classes)"
        )
    return n_pos, n_neg

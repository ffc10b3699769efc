"""Reclassification of a new model against a reference: categorical and continuous NRI, IDI.

Pencina et al. (Stat Med 2008, 2011). With ``y`` the outcome, ``p_new`` the new model
(for example the fused CNN) and ``p_ref`` the reference (clinical-only):

* NRI(events) = P(up | event) − P(down | event); NRI(non-events) = P(down | non-event) −
  P(up | non-event); NRI = their sum. "Up" means moved to a higher risk category
  (categorical NRI, cut-offs given) or simply a higher predicted risk (continuous NRI).
* IDI = [mean p_new − mean p_ref among events] − [same among non-events].

Every statistic is a ratio of sums that are linear in the subjects' weights, so bootstrap
intervals come from one matrix product of resample counts per block.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ._checks import as_outcome, as_probability, check_both_classes
from .bootstrap import bootstrap_counts

__all__ = ["DEFAULT_CUTOFFS", "reclassification", "reclassification_table"]

DEFAULT_CUTOFFS = (0.10, 0.20)  # low < 10 % ≤ intermediate < 20 % ≤ high (10-year MOF)

_STATS = ("nri_events", "nri_non_events", "nri", "cnri_events", "cnri_non_events", "cnri", "idi",
          "discrimination_slope_new", "discrimination_slope_ref")


def _columns(y: np.ndarray, a: np.ndarray, b: np.ndarray, cut: np.ndarray) -> np.ndarray:
    ca, cb = np.searchsorted(cut, a, side="right"), np.searchsorted(cut, b, side="right")
    ev, ne = y.astype(float), 1.0 - y
    up, down = (ca > cb).astype(float), (ca < cb).astype(float)
    cup, cdown = (a > b).astype(float), (a < b).astype(float)
    return np.column_stack([ev, ne, ev * up, ev * down, ne * up, ne * down, ev * cup, ev * cdown,
                            ne * cup, ne * cdown, ev * a, ev * b, ne * a, ne * b])


def _stats(s: np.ndarray) -> np.ndarray:
    ev, ne = s[:, 0], s[:, 1]
    nri_e = (s[:, 2] - s[:, 3]) / ev
    nri_n = (s[:, 5] - s[:, 4]) / ne
    cn_e = (s[:, 6] - s[:, 7]) / ev
    cn_n = (s[:, 9] - s[:, 8]) / ne
    ds_new = s[:, 10] / ev - s[:, 12] / ne
    ds_ref = s[:, 11] / ev - s[:, 13] / ne
    return np.column_stack([nri_e, nri_n, nri_e + nri_n, cn_e, cn_n, cn_e + cn_n, ds_new - ds_ref,
                            ds_new, ds_ref])


def reclassification(y: object, p_new: object, p_ref: object, *, cutoffs: Sequence[float] = DEFAULT_CUTOFFS,
                     n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, dict[str, float]]:
    """Categorical NRI, continuous NRI and IDI of ``p_new`` over ``p_ref`` with bootstrap CIs.

    Parameters
    ----------
    y : array of shape (n,)
        Outcomes, 0/1.
    p_new, p_ref : arrays of shape (n,)
        Predicted probabilities of the new and the reference model for the same subjects.
    cutoffs : sequence of float
        Risk-category boundaries (probabilities) of the categorical NRI.
    n_boot, seed, level :
        Stratified bootstrap resamples, their seed, and the interval level (0 resamples: no CIs).

    Returns
    -------
    dict
        ``{statistic: {"value", "lower", "upper"}}`` for ``nri``, ``nri_events``,
        ``nri_non_events``, ``cnri`` (continuous), ``cnri_events``, ``cnri_non_events``,
        ``idi``, ``discrimination_slope_new`` and ``discrimination_slope_ref``.
    """
    yy = as_outcome(y)
    a = as_probability(p_new, name="new model", n=yy.shape[0])
    b = as_probability(p_ref, name="reference model", n=yy.shape[0])
    check_both_classes(yy, metric="NRI/IDI")
    cut = np.sort(np.asarray(cutoffs, dtype=float))
    cols = _columns(yy, a, b, cut)
    point = _stats(cols.sum(axis=0, keepdims=True))[0]
    boots = [_stats(w @ cols) for w in bootstrap_counts(yy, n_boot=n_boot, seed=seed)] if n_boot else []
    q = (1 - level) / 2
    res: dict[str, dict[str, float]] = {}
    for i, name in enumerate(_STATS):
        entry = {"value": float(point[i])}
        if boots:
            s = np.concatenate([bb[:, i] for bb in boots])
            entry["lower"], entry["upper"] = float(np.quantile(s, q)), float(np.quantile(s, 1 - q))
        res[name] = entry
    return res


def reclassification_table(y: object, p_new: object, p_ref: object, *,
                           cutoffs: Sequence[float] = DEFAULT_CUTOFFS) -> dict[str, object]:
    """Cross-table of risk categories (reference rows × new columns), separately by outcome.

    Returns ``{"categories": [...labels], "events": k×k list, "non_events": k×k list}``.
    """
    yy = as_outcome(y)
    a = as_probability(p_new, name="new model", n=yy.shape[0])
    b = as_probability(p_ref, name="reference model", n=yy.shape[0])
    cut = np.sort(np.asarray(cutoffs, dtype=float))
    k = cut.shape[0] + 1
    ca, cb = np.searchsorted(cut, a, side="right"), np.searchsorted(cut, b, side="right")
    edges = [0.0, *cut.tolist(), 1.0]
    labels = [f"{100 * lo:g}–{100 * hi:g} %" for lo, hi in itertools.pairwise(edges)]
    tables = {}
    for name, mask in (("events", yy == 1), ("non_events", yy == 0)):
        t = np.zeros((k, k), dtype=np.int64)
        np.add.at(t, (cb[mask], ca[mask]), 1)
        tables[name] = t.tolist()
    return {"categories": labels, **tables}

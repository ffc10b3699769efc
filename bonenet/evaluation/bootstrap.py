"""Stratified bootstrap engine: confidence intervals for the whole metric set, fast.

How it is fast: predictions are grouped once into tie groups (distinct predicted values,
ascending); a resample then only changes how many events and non-events each group holds,
and a compiled (numba) kernel computes every metric from those two arrays in one pass per
resample (:mod:`bonenet.evaluation._kernel`), drawing each resample with a counter-based
generator (:mod:`bonenet.evaluation._resample`), so no resample is ever sorted, copied or
materialised. :func:`bootstrap_indices` materialises the very same resamples as index
arrays, so a plain loop (``roc_auc_score(y[i], p[i])``) can be checked against the engine
resample for resample (see ``benchmarks/bench_eval.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ._checks import MetricUndefinedError, as_outcome, as_probability, check_both_classes
from ._kernel import run_kernel
from ._resample import CHUNK, _seeds, _strata, bootstrap_counts, bootstrap_indices
from .calibration import calibration_intercept_slope, logit

__all__ = [
    "CHUNK",
    "SCALAR_METRICS",
    "BootstrapResult",
    "bootstrap_counts",
    "bootstrap_indices",
    "bootstrap_metrics",
]

SCALAR_METRICS = ("auc", "auprc", "brier", "scaled_brier", "eo_ratio", "citl", "slope", "ece")


@dataclass
class _Prepared:
    group: np.ndarray  # tie group of each subject (original order)
    gp: np.ndarray  # predicted value of each group, ascending
    glp: np.ndarray
    gbin: np.ndarray
    thr_g: np.ndarray  # number of groups with p < threshold
    thresholds: np.ndarray


def _prepare(p: np.ndarray, thresholds: np.ndarray, n_bins: int) -> _Prepared:
    gp, group = np.unique(p, return_inverse=True)
    thr = np.sort(np.asarray(thresholds, dtype=float))
    return _Prepared(group.astype(np.int64), gp, logit(gp),
                     np.minimum((gp * n_bins).astype(np.int64), n_bins - 1),
                     np.searchsorted(gp, thr, side="left").astype(np.int64), thr)


@dataclass
class BootstrapResult:
    """Point estimates and percentile intervals for every metric of :func:`bootstrap_metrics`."""

    point: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    n_boot: int
    level: float
    samples: dict[str, np.ndarray] = field(repr=False)

    def to_dict(self) -> dict[str, dict[str, float | None]]:
        def clean(v: float) -> float | None:
            return None if v is None or not np.isfinite(v) else float(v)

        out: dict[str, dict[str, float | None]] = {}
        for k in self.point:
            out[k] = {"value": clean(self.point[k]), "lower": clean(self.lower[k]), "upper": clean(self.upper[k])}
            bad = int(np.sum(~np.isfinite(self.samples[k])))
            if bad:  # e.g. a slope under perfect separation: the interval uses the other resamples
                out[k]["undefined_resamples"] = bad
        return out


def _derived(tp: np.ndarray, fp: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray, thr: np.ndarray,
             fixed: Sequence[float], nb_thr: Sequence[float]) -> dict[str, np.ndarray]:
    """Threshold metrics from TP/FP counts of shape (b, k); thresholds in sorted ``thr``."""
    out: dict[str, np.ndarray] = {}
    n = n_pos + n_neg
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in fixed:
            j = int(np.searchsorted(thr, t))
            tpj, fpj = tp[:, j], fp[:, j]
            fn, tn = n_pos - tpj, n_neg - fpj
            key = f"{t:g}"
            out[f"sensitivity@{key}"] = tpj / n_pos
            out[f"specificity@{key}"] = tn / n_neg
            out[f"ppv@{key}"] = np.where(tpj + fpj > 0, tpj / (tpj + fpj), np.nan)
            out[f"npv@{key}"] = np.where(tn + fn > 0, tn / (tn + fn), np.nan)
            out[f"f1@{key}"] = np.where(2 * tpj + fpj + fn > 0, 2 * tpj / (2 * tpj + fpj + fn), np.nan)
        for t in nb_thr:
            j = int(np.searchsorted(thr, t))
            out[f"net_benefit@{t:g}"] = tp[:, j] / n - fp[:, j] / n * (t / (1 - t))
    return out


def bootstrap_metrics(
    y: object,
    p: object,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    thresholds: Sequence[float] = (0.03, 0.20),
    nb_thresholds: Sequence[float] = (0.03, 0.05, 0.10, 0.20, 0.30),
    n_bins: int = 10,
    strata: np.ndarray | None = None,
    full: bool = True,
) -> BootstrapResult:
    """Point estimates and stratified-bootstrap percentile CIs for the whole binary metric set.

    Parameters
    ----------
    y, p : arrays of shape (n,)
        Outcomes (0/1) and predicted probabilities in [0, 1].
    n_boot : int
        Number of resamples.
    seed : int
        Seed of the resampling (same seed → same resamples → same intervals).
    level : float
        Two-sided confidence level of the percentile intervals.
    thresholds : sequence of float
        Risk thresholds (probabilities) at which sensitivity, specificity, PPV, NPV and F1 are
        reported, for example 0.20 (20 % 10-year major osteoporotic fracture) and 0.03 (3 % hip).
    nb_thresholds : sequence of float
        Thresholds at which net benefit is reported.
    n_bins : int
        Equal-width bins of the ECE.
    strata : array of shape (n,), optional
        Resampling strata; default the outcome itself.
    full : bool
        False computes only the AUROC (the fastest path).

    Returns
    -------
    BootstrapResult
        Metrics named ``auc``, ``auprc``, ``brier``, ``scaled_brier``, ``eo_ratio``, ``citl``,
        ``slope``, ``ece``, ``sensitivity@0.2``, ..., ``net_benefit@0.1``, ...
    """
    from .._progress import progress

    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    n_pos, n_neg = check_both_classes(yy, metric="bootstrap metrics")
    if n_boot < 1:
        raise ConfigError(f"n_boot={n_boot}: the number of bootstrap resamples must be at least 1 "
                          "(e.g. --n-boot 1000)")
    fixed = tuple(float(t) for t in thresholds) if full else ()
    nbt = tuple(float(t) for t in nb_thresholds) if full else ()
    prep = _prepare(pp, np.unique(np.r_[fixed, nbt]) if full else np.empty(0), n_bins)
    a0 = a1 = 0.0
    b1 = 1.0
    if full:
        try:
            cal = calibration_intercept_slope(yy, pp)
            a0, a1, b1 = cal["citl"], cal["recalibration_intercept"], cal["slope"]
        except MetricUndefinedError:  # perfect separation: the kernel reports the slope as NaN
            pass
    k = prep.thr_g.shape[0]

    members, off = _strata(yy if strata is None else strata)
    mgroup, mpos = prep.group[members], yy[members].astype(np.bool_)

    def run(seeds: np.ndarray, identity: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = np.full((seeds.shape[0], len(SCALAR_METRICS) + 2), np.nan)
        tp = np.zeros((seeds.shape[0], k))
        fp = np.zeros((seeds.shape[0], k))
        run_kernel(seeds, mgroup, mpos, off, identity, prep.gp, prep.glp, prep.gbin, prep.thr_g, n_bins, full,
                   a0, a1, b1, out, tp, fp)
        return out, tp, fp

    p_out, p_tp, p_fp = run(np.zeros(1, dtype=np.int64), identity=True)
    outs, tps, fps = [], [], []
    seeds = _seeds(seed, n_boot)
    blocks = (seeds[i:i + CHUNK] for i in range(0, n_boot, CHUNK))
    for blk in progress(blocks, desc="bootstrap", total=-(-n_boot // CHUNK), unit="block"):
        o, t, f = run(blk)
        outs.append(o)
        tps.append(t)
        fps.append(f)
    out, tp, fp = np.vstack(outs), np.vstack(tps), np.vstack(fps)
    names = SCALAR_METRICS if full else SCALAR_METRICS[:1]
    samples = {m: out[:, i] for i, m in enumerate(names)}
    point = {m: float(p_out[0, i]) for i, m in enumerate(names)}
    if full:
        d = _derived(tp, fp, out[:, 8], out[:, 9], prep.thresholds, fixed, nbt)
        dp = _derived(p_tp, p_fp, np.array([float(n_pos)]), np.array([float(n_neg)]), prep.thresholds, fixed, nbt)
        samples.update(d)
        point.update({kk: float(v[0]) for kk, v in dp.items()})
    a = (1 - level) / 2
    lower, upper = {}, {}
    for m, s in samples.items():
        fin = s[np.isfinite(s)]
        lower[m] = float(np.quantile(fin, a)) if fin.size else float("nan")
        upper[m] = float(np.quantile(fin, 1 - a)) if fin.size else float("nan")
    return BootstrapResult(point, lower, upper, n_boot, level, samples)


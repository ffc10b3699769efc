"""Stratified bootstrap engine: confidence intervals for the whole metric set, fast.

How it is fast: predictions are sorted once. A resample is a vector of counts (how often
each subject was drawn), so every metric becomes a weighted sum over the sorted subjects —
the AUROC a weighted Mann–Whitney count over tie groups, threshold metrics cumulative
weights at precomputed positions, the calibration intercept and slope a few weighted Newton
steps started from the full-data estimate. A compiled (numba) kernel does one O(n) pass per
resample, so no resample is ever sorted or copied. Resampled indices come from
:func:`bootstrap_indices`, which a plain loop (``roc_auc_score(y[i], p[i])``) can share to
get identical resamples (see ``benchmarks/bench_eval.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from ._checks import as_outcome, as_probability, check_both_classes
from .calibration import calibration_intercept_slope, logit

__all__ = [
    "CHUNK",
    "SCALAR_METRICS",
    "BootstrapResult",
    "bootstrap_counts",
    "bootstrap_indices",
    "bootstrap_metrics",
]

CHUNK = 50  # resamples drawn per block; part of the seed → resample mapping, do not change
SCALAR_METRICS = ("auc", "auprc", "brier", "scaled_brier", "eo_ratio", "citl", "slope", "ece")


def bootstrap_indices(strata: np.ndarray, *, n_boot: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield blocks of stratified bootstrap resamples as index arrays of shape (b, n).

    Each resample draws, with replacement, as many subjects from each stratum as it holds
    (stratify by outcome so every resample has the original numbers of events and
    non-events). The same ``seed`` always gives the same resamples.
    """
    strata = np.asarray(strata)
    n = strata.shape[0]
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        b = min(CHUNK, n_boot - done)
        idx = np.empty((b, n), dtype=np.int64)
        off = 0
        for g in groups:
            idx[:, off:off + g.shape[0]] = g[rng.integers(0, g.shape[0], size=(b, g.shape[0]))]
            off += g.shape[0]
        yield idx
        done += b


@numba.njit(cache=True, nogil=True)
def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((idx.shape[0], n), dtype=np.float64)
    for b in range(idx.shape[0]):
        for j in range(idx.shape[1]):
            out[b, idx[b, j]] += 1.0
    return out


def bootstrap_counts(strata: np.ndarray, *, n_boot: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Like :func:`bootstrap_indices` but yields count matrices (b, n): draws per subject."""
    n = np.asarray(strata).shape[0]
    for idx in bootstrap_indices(strata, n_boot=n_boot, seed=seed):
        yield _counts(idx, n)


@numba.njit(cache=True, nogil=True)
def _kernel(idx, rank, ys, ps, lps, gstart, thr_pos, ece_bin, n_bins, full, a0, a1, b1, out, tp, fp):
    n = ys.shape[0]
    n_groups = gstart.shape[0] - 1
    k = thr_pos.shape[0]
    w = np.empty(n)
    gpos = np.empty(n_groups)
    gneg = np.empty(n_groups)
    for r in range(idx.shape[0]):
        w[:] = 0.0
        for j in range(idx.shape[1]):
            w[rank[idx[r, j]]] += 1.0
        # ---- one ascending pass: AUROC, cumulative counts at thresholds, sums
        wpos = 0.0
        wneg = 0.0
        num = 0.0
        t = 0
        sq = 0.0
        sp = 0.0
        for g in range(n_groups):
            a = 0.0
            c = 0.0
            for i in range(gstart[g], gstart[g + 1]):
                while t < k and thr_pos[t] == i:
                    tp[r, t] = -wpos
                    fp[r, t] = -wneg
                    t += 1
                wi = w[i]
                if wi == 0.0:
                    continue
                if ys[i] == 1:
                    a += wi
                else:
                    c += wi
                d = ps[i] - ys[i]
                sq += wi * d * d
                sp += wi * ps[i]
            gpos[g] = a
            gneg[g] = c
            num += a * (wneg + 0.5 * c)
            wpos += a
            wneg += c
        while t < k:
            tp[r, t] = -wpos
            fp[r, t] = -wneg
            t += 1
        for t in range(k):
            tp[r, t] += wpos
            fp[r, t] += wneg
        wtot = wpos + wneg
        out[r, 8] = wpos
        out[r, 9] = wneg
        out[r, 0] = num / (wpos * wneg) if wpos > 0 and wneg > 0 else np.nan
        if not full:
            continue
        # ---- average precision: descending over tie groups
        ctp = 0.0
        cfp = 0.0
        ap = 0.0
        for g in range(n_groups - 1, -1, -1):
            if gpos[g] == 0.0 and gneg[g] == 0.0:
                continue
            ctp += gpos[g]
            cfp += gneg[g]
            ap += (gpos[g] / wpos) * (ctp / (ctp + cfp))
        out[r, 1] = ap if wpos > 0 else np.nan
        ybar = wpos / wtot
        out[r, 2] = sq / wtot
        out[r, 3] = 1.0 - (sq / wtot) / (ybar * (1.0 - ybar)) if 0.0 < ybar < 1.0 else np.nan
        out[r, 4] = sp / wpos if wpos > 0 else np.nan
        # ---- calibration-in-the-large: Newton on alpha with offset logit(p)
        a = a0
        for _ in range(25):
            gr = 0.0
            h = 0.0
            for i in range(n):
                wi = w[i]
                if wi == 0.0:
                    continue
                mu = 1.0 / (1.0 + np.exp(-(a + lps[i])))
                gr += wi * (ys[i] - mu)
                h += wi * mu * (1.0 - mu)
            step = gr / h
            a += step
            if abs(step) < 1e-9:
                break
        out[r, 5] = a
        # ---- calibration slope: 2-parameter Newton
        c0 = a1
        c1 = b1
        for _ in range(25):
            g0 = 0.0
            g1 = 0.0
            h00 = 0.0
            h01 = 0.0
            h11 = 0.0
            for i in range(n):
                wi = w[i]
                if wi == 0.0:
                    continue
                x = lps[i]
                mu = 1.0 / (1.0 + np.exp(-(c0 + c1 * x)))
                e = wi * (ys[i] - mu)
                v = wi * mu * (1.0 - mu)
                g0 += e
                g1 += e * x
                h00 += v
                h01 += v * x
                h11 += v * x * x
            det = h00 * h11 - h01 * h01
            if det <= 0.0:
                c1 = np.nan
                break
            s0 = (h11 * g0 - h01 * g1) / det
            s1 = (h00 * g1 - h01 * g0) / det
            c0 += s0
            c1 += s1
            if abs(s0) < 1e-9 and abs(s1) < 1e-9:
                break
        out[r, 6] = c1
        # ---- ECE over equal-width bins
        bp = np.zeros(n_bins)
        by = np.zeros(n_bins)
        for i in range(n):
            wi = w[i]
            if wi != 0.0:
                bp[ece_bin[i]] += wi * ps[i]
                by[ece_bin[i]] += wi * ys[i]
        e = 0.0
        for q in range(n_bins):
            e += abs(bp[q] - by[q])
        out[r, 7] = e / wtot


@dataclass
class _Prepared:
    rank: np.ndarray
    ys: np.ndarray
    ps: np.ndarray
    lps: np.ndarray
    gstart: np.ndarray
    thr_pos: np.ndarray
    ece_bin: np.ndarray
    thresholds: np.ndarray


def _prepare(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, n_bins: int) -> _Prepared:
    order = np.argsort(p, kind="mergesort")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    ps = p[order]
    gstart = np.r_[0, np.flatnonzero(np.diff(ps)) + 1, ps.shape[0]].astype(np.int64)
    thr = np.sort(np.asarray(thresholds, dtype=float))
    thr_pos = np.searchsorted(ps, thr, side="left").astype(np.int64)  # items with p < t
    ece_bin = np.minimum((ps * n_bins).astype(np.int64), n_bins - 1)
    return _Prepared(rank.astype(np.int64), y[order].astype(np.int64), ps, logit(ps), gstart, thr_pos,
                     ece_bin, thr)


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

        return {k: {"value": clean(self.point[k]), "lower": clean(self.lower[k]), "upper": clean(self.upper[k])}
                for k in self.point}


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
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    fixed = tuple(float(t) for t in thresholds) if full else ()
    nbt = tuple(float(t) for t in nb_thresholds) if full else ()
    prep = _prepare(yy, pp, np.unique(np.r_[fixed, nbt]) if full else np.empty(0), n_bins)
    a0 = a1 = 0.0
    b1 = 1.0
    if full:
        cal = calibration_intercept_slope(yy, pp)
        a0, a1, b1 = cal["citl"], cal["recalibration_intercept"], cal["slope"]
    n = yy.shape[0]
    k = prep.thr_pos.shape[0]

    def run(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = np.full((idx.shape[0], len(SCALAR_METRICS) + 2), np.nan)
        tp = np.zeros((idx.shape[0], k))
        fp = np.zeros((idx.shape[0], k))
        _kernel(idx, prep.rank, prep.ys, prep.ps, prep.lps, prep.gstart, prep.thr_pos, prep.ece_bin,
                n_bins, full, a0, a1, b1, out, tp, fp)
        return out, tp, fp

    p_out, p_tp, p_fp = run(np.arange(n, dtype=np.int64)[None, :])
    outs, tps, fps = [], [], []
    blocks = bootstrap_indices(yy if strata is None else strata, n_boot=n_boot, seed=seed)
    for idx in progress(blocks, desc="bootstrap", total=-(-n_boot // CHUNK), unit="block"):
        o, t, f = run(idx)
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


"""Stratified bootstrap engine: confidence intervals for the whole metric set, fast.

How it is fast: predictions are grouped once into tie groups (distinct predicted values,
ascending). A resample then only changes how many events and non-events each group holds,
and every metric is a function of those two arrays: the AUROC a weighted Mann–Whitney count,
threshold metrics cumulative counts at precomputed group positions, the calibration
intercept and slope a few weighted Newton steps started from the full-data estimate. A
compiled (numba) kernel draws each resample with a counter-based generator (splitmix64) and
does one pass over the groups, so no resample is ever sorted, copied or materialised.
:func:`bootstrap_indices` materialises the very same resamples as index arrays, so a plain
loop (``roc_auc_score(y[i], p[i])``) can be checked against the engine resample for
resample (see ``benchmarks/bench_eval.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from ._checks import MetricUndefinedError, as_outcome, as_probability, check_both_classes
from .calibration import calibration_intercept_slope, logit

__all__ = [
    "CHUNK",
    "SCALAR_METRICS",
    "BootstrapResult",
    "bootstrap_counts",
    "bootstrap_indices",
    "bootstrap_metrics",
]

CHUNK = 50  # resamples per block (progress and memory granularity only)
SCALAR_METRICS = ("auc", "auprc", "brier", "scaled_brier", "eo_ratio", "citl", "slope", "ece")


def _strata(strata: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Members of each stratum (sorted stratum labels), concatenated, and their offsets."""
    strata = np.asarray(strata)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    off = np.cumsum([0, *(g.shape[0] for g in groups)]).astype(np.int64)
    return np.concatenate(groups).astype(np.int64), off


def _seeds(seed: int, n_boot: int) -> np.ndarray:
    """One 32-bit seed per resample, derived from ``seed`` (resample b never depends on n_boot)."""
    return np.random.SeedSequence(seed).generate_state(n_boot, dtype=np.uint32).astype(np.int64)


# splitmix64 (Steele et al. 2014): a tiny, fast, well-mixed generator that the compiled
# kernel and bootstrap_indices share, so both see exactly the same resamples. An index in
# [0, m) is taken by Lemire's multiply-shift of the top 32 bits (bias < m / 2**32).
_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)


@numba.njit(inline="always")
def _mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(inline="always")
def _start(seed):
    return _mix(np.uint64(seed) + _G)


@numba.njit(inline="always")
def _below(state, m):
    state = state + _G
    return state, np.int64(((_mix(state) >> _S32) * np.uint64(m)) >> _S32)


@numba.njit(cache=True, nogil=True)
def _draw_indices(seeds, members, off, out):
    for r in range(seeds.shape[0]):
        st = _start(seeds[r])
        for s in range(off.shape[0] - 1):
            lo = off[s]
            m = off[s + 1] - lo
            for j in range(m):
                st, k = _below(st, m)
                out[r, lo + j] = members[lo + k]


def bootstrap_indices(strata: np.ndarray, *, n_boot: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield blocks of stratified bootstrap resamples as index arrays of shape (b, n).

    Each resample draws, with replacement, as many subjects from each stratum as it holds
    (stratify by outcome so every resample has the original numbers of events and
    non-events). Resample b depends only on ``seed`` and b, and is exactly the resample the
    compiled engine of :func:`bootstrap_metrics` uses.
    """
    members, off = _strata(strata)
    seeds = _seeds(seed, n_boot)
    for start in range(0, n_boot, CHUNK):
        blk = seeds[start:start + CHUNK]
        idx = np.empty((blk.shape[0], members.shape[0]), dtype=np.int64)
        _draw_indices(blk, members, off, idx)
        yield idx


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
def _kernel(seeds, mgroup, mpos, off, identity, gp, glp, gbin, thr_g, n_bins, full, a0, a1, b1, out, tp, fp):
    """All metrics per resample, at the level of tie groups (distinct predicted values).

    A resample only changes how many events (``wpos``) and non-events (``wneg``) each tie
    group holds; every metric is a function of those two small arrays.
    ``mgroup[j]``/``mpos[j]``: tie group and outcome of stratum member j.
    """
    n_groups = gp.shape[0]
    k = thr_g.shape[0]
    wpos = np.empty(n_groups)
    wneg = np.empty(n_groups)
    for r in range(out.shape[0]):
        wpos[:] = 0.0
        wneg[:] = 0.0
        if identity:
            for j in range(mgroup.shape[0]):
                if mpos[j]:
                    wpos[mgroup[j]] += 1.0
                else:
                    wneg[mgroup[j]] += 1.0
        else:
            st = _start(seeds[r])
            for s in range(off.shape[0] - 1):
                lo = off[s]
                m = off[s + 1] - lo
                for _j in range(m):
                    st, q = _below(st, m)
                    if mpos[lo + q]:
                        wpos[mgroup[lo + q]] += 1.0
                    else:
                        wneg[mgroup[lo + q]] += 1.0
        # ---- ascending pass: AUROC (weighted Mann-Whitney), counts below each threshold
        cpos = 0.0
        cneg = 0.0
        num = 0.0
        t = 0
        for g in range(n_groups):
            while t < k and thr_g[t] == g:
                tp[r, t] = -cpos
                fp[r, t] = -cneg
                t += 1
            num += wpos[g] * (cneg + 0.5 * wneg[g])
            cpos += wpos[g]
            cneg += wneg[g]
        while t < k:
            tp[r, t] = -cpos
            fp[r, t] = -cneg
            t += 1
        for t in range(k):
            tp[r, t] += cpos
            fp[r, t] += cneg
        wtot = cpos + cneg
        out[r, 8] = cpos
        out[r, 9] = cneg
        out[r, 0] = num / (cpos * cneg) if cpos > 0 and cneg > 0 else np.nan
        if not full:
            continue
        # ---- average precision (descending), Brier, E/O, ECE
        ctp = 0.0
        cfp = 0.0
        ap = 0.0
        sq = 0.0
        sp = 0.0
        bp = np.zeros(n_bins)
        by = np.zeros(n_bins)
        for g in range(n_groups - 1, -1, -1):
            a = wpos[g]
            c = wneg[g]
            if a == 0.0 and c == 0.0:
                continue
            ctp += a
            cfp += c
            ap += (a / cpos) * (ctp / (ctp + cfp))
            pg = gp[g]
            sq += a * (1.0 - pg) * (1.0 - pg) + c * pg * pg
            sp += (a + c) * pg
            bp[gbin[g]] += (a + c) * pg
            by[gbin[g]] += a
        out[r, 1] = ap if cpos > 0 else np.nan
        ybar = cpos / wtot
        out[r, 2] = sq / wtot
        out[r, 3] = 1.0 - (sq / wtot) / (ybar * (1.0 - ybar)) if 0.0 < ybar < 1.0 else np.nan
        out[r, 4] = sp / cpos if cpos > 0 else np.nan
        e = 0.0
        for q in range(n_bins):
            e += abs(bp[q] - by[q])
        out[r, 7] = e / wtot
        # ---- calibration-in-the-large: Newton on alpha with offset logit(p)
        al = a0
        for _ in range(25):
            gr = 0.0
            h = 0.0
            for g in range(n_groups):
                a = wpos[g]
                c = wneg[g]
                if a == 0.0 and c == 0.0:
                    continue
                mu = 1.0 / (1.0 + np.exp(-(al + glp[g])))
                gr += a - (a + c) * mu
                h += (a + c) * mu * (1.0 - mu)
            step = gr / h
            al += step
            if abs(step) < 1e-10:
                break
        out[r, 5] = al
        # ---- calibration slope: 2-parameter Newton (no finite fit under perfect separation)
        c0 = a1
        c1 = b1
        max_neg = -np.inf
        min_pos = np.inf
        max_pos = -np.inf
        min_neg = np.inf
        for g in range(n_groups):
            if wneg[g] > 0.0:
                max_neg = max(max_neg, glp[g])
                min_neg = min(min_neg, glp[g])
            if wpos[g] > 0.0:
                max_pos = max(max_pos, glp[g])
                min_pos = min(min_pos, glp[g])
        if max_neg <= min_pos or max_pos <= min_neg:
            out[r, 6] = np.nan
            continue
        for _ in range(25):
            g0 = 0.0
            g1 = 0.0
            h00 = 0.0
            h01 = 0.0
            h11 = 0.0
            for g in range(n_groups):
                a = wpos[g]
                c = wneg[g]
                if a == 0.0 and c == 0.0:
                    continue
                x = glp[g]
                mu = 1.0 / (1.0 + np.exp(-(c0 + c1 * x)))
                res = a - (a + c) * mu
                v = (a + c) * mu * (1.0 - mu)
                g0 += res
                g1 += res * x
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
            if abs(s0) < 1e-10 and abs(s1) < 1e-10:
                break
        out[r, 6] = c1


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
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
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
        _kernel(seeds, mgroup, mpos, off, identity, prep.gp, prep.glp, prep.gbin, prep.thr_g, n_bins, full,
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


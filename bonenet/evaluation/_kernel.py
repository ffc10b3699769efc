"""The compiled bootstrap kernel: every metric of one resample from per-tie-group counts.

Predictions are grouped once into tie groups (distinct predicted values, ascending). A
resample only changes how many events (``wpos``) and non-events (``wneg``) each group holds,
and every metric is a function of those two arrays: the AUROC a weighted Mann–Whitney count,
threshold counts cumulative sums at precomputed group positions, the average precision, Brier,
E/O and ECE one descending pass, and the calibration intercept and slope one weighted logistic
Newton solver (:func:`_logistic_newton`) started from the full-data estimate.

Columns of ``out``: 0 auc, 1 auprc, 2 brier, 3 scaled_brier, 4 eo_ratio, 5 citl, 6 slope,
7 ece, 8 events, 9 non-events (the order of ``bootstrap.SCALAR_METRICS`` + the two counts).
"""

from __future__ import annotations

import numba
import numpy as np

from ._resample import _below, _start

__all__ = ["run_kernel"]


@numba.njit(cache=True, nogil=True)
def _fill_counts(seed, mgroup, mpos, off, identity, wpos, wneg):
    """Events and non-events per tie group in one resample (``identity``: the data itself)."""
    wpos[:] = 0.0
    wneg[:] = 0.0
    if identity:
        for j in range(mgroup.shape[0]):
            if mpos[j]:
                wpos[mgroup[j]] += 1.0
            else:
                wneg[mgroup[j]] += 1.0
        return
    st = _start(seed)
    for s in range(off.shape[0] - 1):
        lo = off[s]
        m = off[s + 1] - lo
        for _j in range(m):
            st, q = _below(st, m)
            if mpos[lo + q]:
                wpos[mgroup[lo + q]] += 1.0
            else:
                wneg[mgroup[lo + q]] += 1.0


@numba.njit(cache=True, nogil=True)
def _ascending(wpos, wneg, thr_g, tp, fp):
    """AUROC (weighted Mann–Whitney) and TP/FP at or above each threshold; returns (auc, pos, neg)."""
    k = thr_g.shape[0]
    cpos = 0.0
    cneg = 0.0
    num = 0.0
    t = 0
    for g in range(wpos.shape[0]):
        while t < k and thr_g[t] == g:
            tp[t] = -cpos
            fp[t] = -cneg
            t += 1
        num += wpos[g] * (cneg + 0.5 * wneg[g])
        cpos += wpos[g]
        cneg += wneg[g]
    while t < k:
        tp[t] = -cpos
        fp[t] = -cneg
        t += 1
    for t in range(k):
        tp[t] += cpos
        fp[t] += cneg
    auc = num / (cpos * cneg) if cpos > 0 and cneg > 0 else np.nan
    return auc, cpos, cneg


@numba.njit(cache=True, nogil=True)
def _descending(wpos, wneg, gp, gbin, n_bins, cpos, cneg, row):
    """Average precision, Brier, scaled Brier, E/O and ECE into ``row[1:5]`` and ``row[7]``."""
    ctp = 0.0
    cfp = 0.0
    ap = 0.0
    sq = 0.0
    sp = 0.0
    bp = np.zeros(n_bins)
    by = np.zeros(n_bins)
    for g in range(wpos.shape[0] - 1, -1, -1):
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
    wtot = cpos + cneg
    row[1] = ap if cpos > 0 else np.nan
    ybar = cpos / wtot
    row[2] = sq / wtot
    row[3] = 1.0 - (sq / wtot) / (ybar * (1.0 - ybar)) if 0.0 < ybar < 1.0 else np.nan
    row[4] = sp / cpos if cpos > 0 else np.nan
    e = 0.0
    for q in range(n_bins):
        e += abs(bp[q] - by[q])
    row[7] = e / wtot


@numba.njit(cache=True, nogil=True)
def _logistic_newton(wpos, wneg, x, c0, c1, fit_slope):
    """Weighted maximum-likelihood logistic fit of P(event) = expit(c0 + c1·x) over tie groups.

    ``fit_slope`` False keeps ``c1`` fixed (calibration-in-the-large: c1 = 1, offset logit p);
    True fits both (calibration slope). Returns (c0, c1); the fitted value is NaN when the
    information is zero or singular (predictions saturated at 0 or 1), which the resample then
    reports as undefined instead of dividing by zero.
    """
    for _ in range(25):
        g0 = 0.0
        g1 = 0.0
        h00 = 0.0
        h01 = 0.0
        h11 = 0.0
        for g in range(x.shape[0]):
            a = wpos[g]
            c = wneg[g]
            if a == 0.0 and c == 0.0:
                continue
            xg = x[g]
            mu = 1.0 / (1.0 + np.exp(-(c0 + c1 * xg)))
            res = a - (a + c) * mu
            v = (a + c) * mu * (1.0 - mu)
            g0 += res
            h00 += v
            if fit_slope:
                g1 += res * xg
                h01 += v * xg
                h11 += v * xg * xg
        if fit_slope:
            det = h00 * h11 - h01 * h01
            if det <= 0.0:
                return c0, np.nan
            s0 = (h11 * g0 - h01 * g1) / det
            s1 = (h00 * g1 - h01 * g0) / det
        else:
            if h00 <= 0.0:  # every prediction saturated at 0 or 1: no information, no fit
                return np.nan, c1
            s0 = g0 / h00
            s1 = 0.0
        c0 += s0
        c1 += s1
        if abs(s0) < 1e-10 and abs(s1) < 1e-10:
            break
    return c0, c1


@numba.njit(cache=True, nogil=True)
def _separated(wpos, wneg, x):
    """True when the predictions separate events from non-events (no finite slope fit)."""
    max_neg = -np.inf
    min_pos = np.inf
    max_pos = -np.inf
    min_neg = np.inf
    for g in range(x.shape[0]):
        if wneg[g] > 0.0:
            max_neg = max(max_neg, x[g])
            min_neg = min(min_neg, x[g])
        if wpos[g] > 0.0:
            max_pos = max(max_pos, x[g])
            min_pos = min(min_pos, x[g])
    return max_neg <= min_pos or max_pos <= min_neg


@numba.njit(cache=True, nogil=True)
def run_kernel(seeds, mgroup, mpos, off, identity, gp, glp, gbin, thr_g, n_bins, full, a0, a1, b1,
               out, tp, fp):
    """Fill ``out`` (b, 10), ``tp`` and ``fp`` (b, k) for the resamples of ``seeds``.

    ``mgroup[j]`` / ``mpos[j]``: tie group and outcome of stratum member j; ``off`` the
    stratum offsets; ``gp``/``glp``/``gbin`` each group's prediction, its logit and its ECE
    bin; ``thr_g`` the number of groups below each threshold; ``a0`` the full-data CITL and
    ``a1``, ``b1`` the full-data recalibration intercept and slope (Newton starting points).
    """
    n_groups = gp.shape[0]
    wpos = np.empty(n_groups)
    wneg = np.empty(n_groups)
    for r in range(out.shape[0]):
        _fill_counts(seeds[r], mgroup, mpos, off, identity, wpos, wneg)
        auc, cpos, cneg = _ascending(wpos, wneg, thr_g, tp[r], fp[r])
        out[r, 0] = auc
        out[r, 8] = cpos
        out[r, 9] = cneg
        if not full:
            continue
        _descending(wpos, wneg, gp, gbin, n_bins, cpos, cneg, out[r])
        out[r, 5] = _logistic_newton(wpos, wneg, glp, a0, 1.0, False)[0]
        out[r, 6] = np.nan if _separated(wpos, wneg, glp) else _logistic_newton(wpos, wneg, glp, a1, b1, True)[1]

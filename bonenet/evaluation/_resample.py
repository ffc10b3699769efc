"""Stratified bootstrap resamples, drawn by a counter-based generator (splitmix64).

Resample b depends only on ``seed`` and b. The compiled metric kernel
(:mod:`bonenet.evaluation._kernel`) draws exactly the same resamples as
:func:`bootstrap_indices` materialises, so a plain loop can be checked against the engine
resample for resample (``benchmarks/bench_eval.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numba
import numpy as np

__all__ = ["CHUNK", "bootstrap_counts", "bootstrap_indices"]

CHUNK = 50  # resamples per block (progress and memory granularity only)


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

"""Euler characteristic and connectivity density (Odgaard & Gundersen 1993).

The Euler characteristic χ of a binary volume is a sum of local contributions over all
2×2×2 windows (one window per lattice corner between voxels), read from a 256-entry table:
for a window whose corner is present (any of its 8 voxels set) count ``+1``, for each of the
6 half-edges leaving the corner ``-1/2``, each of the 12 quarter-faces ``+1/4`` and each voxel
``-1/8`` (26-connected structure, 6-connected background: voxels are closed unit cubes).
With ``connectivity=6`` voxels are the vertices of a cubical complex instead.

Summed over every window of the zero-padded volume this is the exact χ of the structure
(components − tunnels + cavities). Summed only over windows that lie wholly inside the
region, it is Odgaard & Gundersen's edge-corrected ``Δχ``: the sample's share of the χ of
the larger network it was cut from, free of the spurious ends created by the cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from .._fmt import plain
from ..errors import MorphometryError
from ._validate import binary, same_shape, spacing3

__all__ = ["connectivity_density", "euler_characteristic", "euler_delta"]

_BITS = [(i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1)]  # bit b <-> _BITS[b]


@lru_cache(maxsize=2)
def _lut(connectivity: int) -> np.ndarray:
    """8 × χ contribution of each of the 256 window configurations (int64)."""
    lut = np.zeros(256, dtype=np.int64)
    for cfg in range(256):
        on = {_BITS[b] for b in range(8) if cfg >> b & 1}
        n = len(on)
        if connectivity == 26:
            v = 1 if n else 0
            e = sum(1 for a in range(3) for s in (0, 1) if any(p[a] == s for p in on))
            f = 0
            for a in range(3):
                for b in range(a + 1, 3):
                    for sa in (0, 1):
                        for sb in (0, 1):
                            if any(p[a] == sa and p[b] == sb for p in on):
                                f += 1
            lut[cfg] = 8 * v - 4 * e + 2 * f - n
        else:  # 6-connected structure: voxels are vertices of a cubical complex
            e = sum(1 for p in on for a in range(3)
                    if p[a] == 0 and tuple(1 if i == a else p[i] for i in range(3)) in on)
            f = 0
            for c in range(3):
                a, b = [i for i in range(3) if i != c]
                for sc in (0, 1):
                    sq = [p for p in _BITS if p[c] == sc]
                    if all(p in on for p in sq):
                        f += 1
            cube = 1 if n == 8 else 0
            lut[cfg] = n - 2 * e + 4 * f - 8 * cube
    return lut


def _window_codes(m: np.ndarray) -> np.ndarray:
    """Configuration code (0–255) of every 2×2×2 window of ``m`` (shape minus one per axis)."""
    nz, ny, nx = m.shape
    code = np.zeros((nz - 1, ny - 1, nx - 1), dtype=np.uint8)
    for b, (i, j, k) in enumerate(_BITS):
        code |= m[i:nz - 1 + i, j:ny - 1 + j, k:nx - 1 + k].astype(np.uint8) << np.uint8(b)
    return code


def _check_conn(connectivity: int) -> None:
    if connectivity not in (6, 26):
        raise MorphometryError(f"connectivity must be 6 or 26 (of the structure); got {plain(connectivity)!r}")


def euler_characteristic(mask: np.ndarray, *, connectivity: int = 26) -> int:
    """Exact Euler characteristic χ = components − tunnels + cavities of the structure.

    Parameters
    ----------
    mask : ndarray of shape (P, R, C), bool or 0/1
    connectivity : {26, 6}
        Connectivity of the structure (the background gets the complementary 6 or 26).

    Returns
    -------
    int
    """
    _check_conn(connectivity)
    m = binary(mask, name="mask", allow_empty=True)
    padded = np.pad(m, 1)
    codes = _window_codes(padded)
    total = int(np.bincount(codes.ravel(), minlength=256) @ _lut(connectivity))
    return total // 8


def euler_delta(mask: np.ndarray, *, roi: np.ndarray | None = None, connectivity: int = 26) -> tuple[float, int]:
    """Edge-corrected Euler characteristic Δχ of a sample cut from a larger network.

    Only 2×2×2 windows lying wholly inside the region (the array, or ``roi``) are summed.

    Returns
    -------
    (float, int)
        Δχ and the number of windows summed (each stands for one voxel of volume).
    """
    _check_conn(connectivity)
    m = binary(mask, name="mask", allow_empty=True)
    codes = _window_codes(m)
    if roi is not None:
        r = binary(roi, name="roi")
        same_shape(m, r, names=("mask", "roi"))
        inside = _window_codes(r) == 255
        codes = codes[inside]
        n = int(inside.sum())
    else:
        n = int(codes.size)
    if n == 0:
        raise MorphometryError("the region is thinner than 2 voxels along some axis: no 2×2×2 window fits")
    total = int(np.bincount(codes.ravel(), minlength=256) @ _lut(connectivity))
    return total / 8.0, n


def connectivity_density(mask: np.ndarray, *, spacing: float | Sequence[float],
                         roi: np.ndarray | None = None) -> float:
    """Conn.D (1/mm³) = (1 − Δχ) / TV, Odgaard & Gundersen edge correction.

    Parameters
    ----------
    mask : ndarray (P, R, C), bool or 0/1
        The trabecular bone.
    spacing : float or (3,) floats, keyword-only
        Voxel size in mm (P, R, C).
    roi : ndarray of bool, optional
        The region analysed (default the whole array).

    Returns
    -------
    float
        Connectivity density in 1/mm³.
    """
    sp = spacing3(spacing)
    delta, n = euler_delta(mask, roi=roi, connectivity=26)
    tv = n * sp[0] * sp[1] * sp[2]
    return float((1.0 - delta) / tv)

"""Degree of anisotropy from the mean intercept length (MIL) fabric tensor.

For each of the 13 lattice directions v of the 3×3×3 neighbourhood the number of
bone/marrow transitions between voxel pairs (x, x + v) inside the region is counted; the
intercept density along v is ``I(v) = transitions / (pairs · |v|)`` (1/mm) and
``MIL(v) = 1 / I(v)``. The fabric tensor M is the least-squares fit of
``I(v)² = v̂ᵀ M v̂`` (Harrigan & Mann 1984), so the MIL ellipsoid has semi-axes
``λᵢ^(-1/2)``. DA is the ratio of the longest to the shortest MIL, ``sqrt(λmax / λmin)``
(≥ 1, the Scanco convention; BoneJ reports ``1 − λmin/λmax`` instead).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import MorphometryError
from ._validate import binary, same_shape, spacing3

__all__ = ["DIRECTIONS", "degree_of_anisotropy", "fabric_tensor"]

#: The 13 neighbour steps (P, R, C), one per antipodal pair.
DIRECTIONS = np.array(
    [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if 9 * a + 3 * b + c > 0]
)


def _pairs(a: np.ndarray, step: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    sl0, sl1 = [], []
    for s, n in zip(step, a.shape, strict=True):
        if s >= 0:
            sl0.append(slice(0, n - s))
            sl1.append(slice(s, n))
        else:
            sl0.append(slice(-s, n))
            sl1.append(slice(0, n + s))
    return a[tuple(sl0)], a[tuple(sl1)]


def fabric_tensor(mask: np.ndarray, *, spacing: float | Sequence[float],
                  roi: np.ndarray | None = None) -> np.ndarray:
    """MIL fabric tensor M (3×3, 1/mm², axes P, R, C) with ``I(v)² = v̂ᵀ M v̂``.

    Parameters
    ----------
    mask : ndarray (P, R, C), bool or 0/1
        The structure.
    spacing : float or (3,) floats, keyword-only
        Voxel size in mm.
    roi : ndarray of bool, optional
        Region in which intercepts are counted (default the whole array).
    """
    sp = np.asarray(spacing3(spacing))
    m = binary(mask, name="mask", allow_empty=True)
    r = None
    if roi is not None:
        r = binary(roi, name="roi")
        same_shape(m, r, names=("mask", "roi"))
    rows, rhs = [], []
    total_trans = 0
    for v in DIRECTIONS:
        a, b = _pairs(m, v)
        diff = a != b
        if r is not None:
            ra, rb = _pairs(r, v)
            both = ra & rb
            n_pairs = int(both.sum())
            n_trans = int((diff & both).sum())
        else:
            n_pairs = int(diff.size)
            n_trans = int(diff.sum())
        if n_pairs == 0:
            continue
        total_trans += n_trans
        vec = v * sp
        length = float(np.linalg.norm(vec))
        u = vec / length
        dens = n_trans / (n_pairs * length)
        rows.append([u[0] ** 2, u[1] ** 2, u[2] ** 2, 2 * u[0] * u[1], 2 * u[0] * u[2], 2 * u[1] * u[2]])
        rhs.append(dens**2)
    if total_trans == 0:
        raise MorphometryError(
            "mask has no structure/background interface inside the region: anisotropy undefined"
        )
    if len(rows) < 6:
        raise MorphometryError("region too small to fit a fabric tensor (need ≥ 2 voxels per axis)")
    x, *_ = np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)
    return np.array([[x[0], x[3], x[4]], [x[3], x[1], x[5]], [x[4], x[5], x[2]]])


def degree_of_anisotropy(mask: np.ndarray, *, spacing: float | Sequence[float],
                         roi: np.ndarray | None = None) -> dict[str, object]:
    """Degree of anisotropy (MIL method) and the main direction.

    Returns
    -------
    dict
        ``"DA"``: MIL max / MIL min (≥ 1, dimensionless); ``"MIL_mm"``: the three MIL
        semi-axes (mm, descending); ``"direction"``: unit vector (P, R, C) of the longest
        MIL (the main trabecular orientation).
    """
    M = fabric_tensor(mask, spacing=spacing, roi=roi)
    w, vecs = np.linalg.eigh(M)
    floor = max(float(w.max()) * 1e-6, 1e-12)
    w = np.clip(w, floor, None)
    mil = 1.0 / np.sqrt(w)  # ascending eigenvalues -> descending MIL
    return {"DA": float(mil[0] / mil[-1]), "MIL_mm": [float(x) for x in mil],
            "direction": [float(x) for x in vecs[:, 0]]}

"""Analytic test shapes digitised by voxel-centre sampling, with their exact measures.

Used by the validation benchmark and the tests: a voxel is inside when its centre is inside
the continuous shape, so a shape's true thickness and topology are known exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["block_with_tunnels", "frame", "plate", "rod", "rod_lattice", "sphere", "torus"]


def _coords(shape: Sequence[int], spacing: Sequence[float], centre: Sequence[float]) -> list[np.ndarray]:
    return [
        (np.arange(n, dtype=np.float64) * s - c).reshape([-1 if i == k else 1 for i in range(3)])
        for k, (n, s, c) in enumerate(zip(shape, spacing, centre, strict=True))
    ]


def _centre(shape: Sequence[int], spacing: Sequence[float], offset: Sequence[float] | None) -> np.ndarray:
    c = (np.asarray(shape) - 1) * np.asarray(spacing) / 2.0
    return c + (np.zeros(3) if offset is None else np.asarray(offset, dtype=np.float64))


def _unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def plate(thickness_mm: float, normal: Sequence[float], *, shape: Sequence[int],
          spacing: Sequence[float] = (1.0, 1.0, 1.0), offset: Sequence[float] | None = None) -> np.ndarray:
    """A slab ``|n·(x - c)| < T/2`` crossing the whole array (bool, (P, R, C))."""
    z, y, x = _coords(shape, spacing, _centre(shape, spacing, offset))
    n = _unit(normal)
    return np.abs(z * n[0] + y * n[1] + x * n[2]) < thickness_mm / 2.0


def rod(diameter_mm: float, axis: Sequence[float], *, shape: Sequence[int],
        spacing: Sequence[float] = (1.0, 1.0, 1.0), offset: Sequence[float] | None = None) -> np.ndarray:
    """An infinite circular cylinder of the given diameter crossing the array."""
    z, y, x = _coords(shape, spacing, _centre(shape, spacing, offset))
    a = _unit(axis)
    along = z * a[0] + y * a[1] + x * a[2]
    r2 = z * z + y * y + x * x - along * along
    return r2 < (diameter_mm / 2.0) ** 2


def sphere(diameter_mm: float, *, shape: Sequence[int], spacing: Sequence[float] = (1.0, 1.0, 1.0),
           offset: Sequence[float] | None = None) -> np.ndarray:
    """A ball of the given diameter at the array centre (+ offset mm)."""
    z, y, x = _coords(shape, spacing, _centre(shape, spacing, offset))
    return z * z + y * y + x * x < (diameter_mm / 2.0) ** 2


def torus(major_mm: float, minor_mm: float, *, shape: Sequence[int],
          spacing: Sequence[float] = (1.0, 1.0, 1.0), offset: Sequence[float] | None = None) -> np.ndarray:
    """A solid torus around the P axis (Euler characteristic 0)."""
    z, y, x = _coords(shape, spacing, _centre(shape, spacing, offset))
    rho = np.sqrt(y * y + x * x)
    return (rho - major_mm) ** 2 + z * z < minor_mm**2


def frame(outer: int, bar: int, *, pad: int = 2) -> np.ndarray:
    """A square picture frame (one tunnel, Euler characteristic 0), in voxels."""
    n = outer + 2 * pad
    m = np.zeros((bar + 2 * pad, n, n), dtype=bool)
    m[pad:pad + bar, pad:pad + outer, pad:pad + outer] = True
    m[pad:pad + bar, pad + bar:pad + outer - bar, pad + bar:pad + outer - bar] = False
    return m


def block_with_tunnels(n_tunnels: int, *, size: int = 24, width: int = 3, pad: int = 2) -> np.ndarray:
    """A solid block pierced by ``n_tunnels`` straight parallel tunnels (χ = 1 - n)."""
    gap = width + 2
    length = max(size, n_tunnels * gap + 2)
    m = np.zeros((size + 2 * pad, length + 2 * pad, size + 2 * pad), dtype=bool)
    m[pad:pad + size, pad:pad + length, pad:pad + size] = True
    c = pad + size // 2 - width // 2
    for i in range(n_tunnels):
        y0 = pad + 2 + i * gap
        m[c:c + width, y0:y0 + width, :] = False
    return m


def rod_lattice(cell: int, rod_width: int, cells: int) -> np.ndarray:
    """A periodic cubic lattice of square rods: χ = -2 per unit cell.

    The array holds ``cells`` unit cells per axis exactly (periodic), so an edge-corrected
    Euler number of the whole array is ``-2 * cells**3``.
    """
    n = cell * cells
    idx = np.arange(n) % cell < rod_width
    a = idx[:, None, None]
    b = idx[None, :, None]
    c = idx[None, None, :]
    return (a & b) | (b & c) | (a & c)

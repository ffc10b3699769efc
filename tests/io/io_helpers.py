"""Shared helpers for the io tests: small synthetic volumes with known geometry."""

from __future__ import annotations

import numpy as np

from bonenet import Volume


def rotation(axis: str, degrees: float) -> np.ndarray:
    """3×3 rotation about an LPS axis ('x', 'y' or 'z')."""
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    r = np.eye(3)
    r[i, i] = r[j, j] = c
    r[i, j], r[j, i] = -s, s
    return r


# direction matrices: columns = LPS unit vectors of array axes (P, R, C)
AXIAL_HFS = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)        # P->S, R->P, C->L
AXIAL_FFS = np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float)      # feet-first: P->I, C->R
CORONAL = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float)         # P->P, R->I, C->L
SAGITTAL = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=float)        # P->L, R->I, C->P
OBLIQUE = rotation("x", 20) @ rotation("z", 15) @ AXIAL_HFS


def make_volume(shape=(16, 32, 32), *, direction=AXIAL_HFS, spacing=(2.0, 0.7, 0.8),
                origin=(-12.5, -20.0, 30.0), seed=0) -> Volume:
    """An integer-valued HU volume: a smooth ramp plus noise, distinct per slice."""
    rng = np.random.default_rng(seed)
    p, r, c = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    arr = (-1000 + 40 * p + 7 * r + 3 * c + rng.integers(0, 50, size=shape)).astype(np.float32)
    return Volume(arr, spacing=spacing, origin=origin, direction=np.asarray(direction),
                  units="HU", modality="CT")


def physical_equal(a: Volume, b: Volume, *, atol=1e-3) -> None:
    """Assert two volumes hold the same values at the same LPS positions (axis flips allowed)."""
    assert a.array.size == b.array.size, (a.shape, b.shape)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in a.shape], indexing="ij"), -1).reshape(-1, 3)
    ib = b.world_to_index(a.index_to_world(idx))
    rb = np.round(ib).astype(int)
    np.testing.assert_allclose(ib, rb, atol=atol)
    assert np.all(rb >= 0) and np.all(rb < np.asarray(b.shape)), "b does not cover a"
    np.testing.assert_array_equal(b.array[tuple(rb.T)], a.array[tuple(idx.T)])

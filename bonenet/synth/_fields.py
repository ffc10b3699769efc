"""Gaussian random fields by FFT filtering, and their gradients (private machinery).

A field is white noise low-pass filtered with an anisotropic Gaussian kernel in Fourier space,
then scaled to unit variance. ``length_mm`` is the kernel standard deviation in mm across the
bone axis; along axis 0 (the bone's long axis, P) it is multiplied by ``anisotropy``.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

__all__ = ["band_distance", "gaussian_field", "gaussian_field_pair"]


def _workers() -> int:
    import os

    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2))


def _low_band(n: int, sigma_vox: float) -> np.ndarray:
    """FFT indices along one axis whose Gaussian gain exceeds 1e-4 (both signs)."""
    kc = int(np.ceil(0.683 / max(sigma_vox, 1e-6) * n))
    if 2 * kc + 1 >= n:
        return np.arange(n)
    return np.concatenate([np.arange(kc + 1), np.arange(n - kc, n)])


def gaussian_field_pair(shape: tuple[int, int, int], *, spacing: tuple[float, float, float],
                        length_mm: float, anisotropy: float, rng: np.random.Generator,
                        support_length_mm: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two independent zero-mean, unit-variance Gaussian random fields (float32).

    White complex noise is drawn only where the Gaussian filter passes (gain > 1e-4), and one
    complex inverse FFT gives both fields as its real and imaginary parts — no forward FFT and
    no full-size noise, which is what makes a 512 × 512 × 168 stack take seconds.

    Parameters
    ----------
    shape : tuple of 3 ints
        (P, R, C) voxels.
    spacing : tuple of 3 floats
        Voxel size in mm along (P, R, C).
    length_mm : float
        Standard deviation (mm) of the Gaussian smoothing kernel across the long axis.
    anisotropy : float
        Kernel stretch along axis 0 (P), ≥ 1 makes structures elongated along the bone.
    rng : numpy Generator
        Source of the noise.
    support_length_mm : float, optional
        Length that sets which frequencies get noise (default ``length_mm``). Giving the
        same value for two lengths draws the same noise, so the longer length yields a
        coarsened version of the same structure (used for bone loss).
    """
    sig = np.array([length_mm * anisotropy, length_mm, length_mm]) / np.asarray(spacing)
    sup = support_length_mm or length_mm
    sig_sup = np.array([sup * anisotropy, sup, sup]) / np.asarray(spacing)
    idx = [_low_band(n, s) for n, s in zip(shape, np.minimum(sig, sig_sup), strict=True)]
    sub = tuple(len(i) for i in idx)
    w = rng.standard_normal((*sub, 2), dtype=np.float32).view(np.complex64)[..., 0]
    for axis, (n, s, ii) in enumerate(zip(shape, sig, idx, strict=True)):
        f = np.fft.fftfreq(n)[ii]
        view = [1, 1, 1]
        view[axis] = -1
        w *= np.exp(-2.0 * np.pi**2 * s**2 * f**2).astype(np.float32).reshape(view)
    if all(len(i) == n for i, n in zip(idx, shape, strict=True)):
        spec = w
    else:
        spec = np.zeros(shape, dtype=np.complex64)
        spec[np.ix_(*idx)] = w
    spec[0, 0, 0] = 0.0
    out = fft.ifftn(spec, workers=_workers(), overwrite_x=True)
    del spec
    z1 = np.ascontiguousarray(out.real)
    z2 = np.ascontiguousarray(out.imag)
    del out
    for z in (z1, z2):
        z /= np.float32(max(float(z[::3, ::3, ::3].std()), 1e-12))
    return z1, z2


def gaussian_field(shape: tuple[int, int, int], *, spacing: tuple[float, float, float],
                   length_mm: float, anisotropy: float, rng: np.random.Generator) -> np.ndarray:
    """A zero-mean, unit-variance Gaussian random field of ``shape`` (float32).

    White noise low-pass filtered by FFT (reference implementation used by the calibration
    script; :func:`gaussian_field_pair` draws the same kind of field faster).
    """
    noise = rng.standard_normal(shape, dtype=np.float32)
    spec = fft.rfftn(noise, workers=_workers())
    sig = np.array([length_mm * anisotropy, length_mm, length_mm]) / np.asarray(spacing)
    freqs = [fft.fftfreq(shape[0]), fft.fftfreq(shape[1]), fft.rfftfreq(shape[2])]
    for axis, (f, s) in enumerate(zip(freqs, sig, strict=True)):
        k = np.exp(-2.0 * np.pi**2 * s**2 * f**2).astype(np.float32)
        view = [1, 1, 1]
        view[axis] = -1
        spec *= k.reshape(view)
    spec[0, 0, 0] = 0.0
    out = fft.irfftn(spec, s=shape, workers=_workers()).astype(np.float32, copy=False)
    out /= np.float32(max(float(out.std()), 1e-12))
    return out


def band_distance(field: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """First-order distance (mm) from each voxel to the field's zero level set: |Z| / |∇Z|.

    Thresholding it at ``t`` gives a sheet of nearly uniform thickness ``2 t`` around the
    surface ``Z = 0`` (the plates of the phantom).
    """
    g2 = np.zeros(field.shape, dtype=np.float32)
    for axis in range(3):
        d = np.empty_like(field)
        sl_c = [slice(None)] * 3
        sl_p = [slice(None)] * 3
        sl_m = [slice(None)] * 3
        sl_c[axis] = slice(1, -1)
        sl_p[axis] = slice(2, None)
        sl_m[axis] = slice(0, -2)
        d[tuple(sl_c)] = (field[tuple(sl_p)] - field[tuple(sl_m)]) * np.float32(0.5 / spacing[axis])
        first = [slice(None)] * 3
        second = [slice(None)] * 3
        first[axis] = 0
        second[axis] = 1
        d[tuple(first)] = (field[tuple(second)] - field[tuple(first)]) / np.float32(spacing[axis])
        first[axis] = -1
        second[axis] = -2
        d[tuple(first)] = (field[tuple(first)] - field[tuple(second)]) / np.float32(spacing[axis])
        d *= d
        g2 += d
    np.sqrt(g2, out=g2)
    g2 += np.float32(1e-6)
    return np.abs(field) / g2

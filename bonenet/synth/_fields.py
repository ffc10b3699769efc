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
    surface ``Z = 0`` (the plates of the phantom). Central differences inside, one-sided at
    the faces; one fused numba pass over the volume.
    """
    f = np.ascontiguousarray(field, dtype=np.float32)
    out = np.empty_like(f)
    _band_kernel()(f, out, *(float(1.0 / h) for h in spacing))
    return out


_KERNEL = None


def _band_kernel():  # compiled on first use so importing bonenet.synth stays fast
    global _KERNEL
    if _KERNEL is None:
        import numba

        @numba.njit(cache=True, fastmath=True)  # no OpenMP: cohorts fork workers
        def kernel(f, out, ip, ir, ic):  # pragma: no cover - compiled
            n0, n1, n2 = f.shape
            for i in range(n0):
                i0, i1 = max(i - 1, 0), min(i + 1, n0 - 1)
                for j in range(n1):
                    j0, j1 = max(j - 1, 0), min(j + 1, n1 - 1)
                    for k in range(n2):
                        k0, k1 = max(k - 1, 0), min(k + 1, n2 - 1)
                        gp = (f[i1, j, k] - f[i0, j, k]) * ip / (i1 - i0)
                        gr = (f[i, j1, k] - f[i, j0, k]) * ir / (j1 - j0)
                        gc = (f[i, j, k1] - f[i, j, k0]) * ic / (k1 - k0)
                        g = np.sqrt(gp * gp + gr * gr + gc * gc) + np.float32(1e-6)
                        out[i, j, k] = abs(f[i, j, k]) / g

        _KERNEL = kernel
    return _KERNEL

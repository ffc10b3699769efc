"""Trabecular bone phantoms with known BV/TV, Tb.Th, Tb.Sp (physical units) and bone loss.

Two generators, both pure functions of ``(shape, spacing, targets, seed)``; this module holds
the first, :mod:`bonenet.synth.rodplate` the second:

* :func:`trabecular_noise` — fast filtered noise. Plates are a band of half-thickness ``t``
  around the zero level set of a Gaussian random field ``Z1`` (correlation length ``ℓ``,
  stretched along axis 0 by ``anisotropy``); a second field ``Z2`` perforates them, keeping
  the fraction ``p`` of the band, so plates turn into rods as ``p`` falls. BV/TV is hit
  exactly (quantile threshold); ``t``, ``ℓ`` and ``p`` come from constants calibrated against
  porespy's local thickness (``_calibrate.py``), so Tb.Th and Tb.Sp land on their targets.
* :func:`trabecular_rodplate` — a rod–plate scaffold on a Poisson-disc Voronoi tessellation:
  every Voronoi edge is a rod of known radius, a chosen share of Voronoi faces are plates of
  known thickness (exact point-to-edge / point-to-face distances, no rasterisation error).

Bone loss (``bone_loss`` 0→1) acts the way bone is lost: plates perforate (noise: ``p``
falls; rod–plate: plates become rods), rods thin a little and break, so Tb.N falls and
Tb.Sp rises much more than Tb.Th (Khosla et al., JBMR 2006).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ..errors import SynthError
from ._fields import band_distance, gaussian_field_pair
from ._phantom import Microstructure, _check_shape

__all__ = [
    "Microstructure",
    "feasible_targets",
    "noise_parameters",
    "noise_truth",
    "trabecular_noise",
]

# Fitted by ``python -m bonenet.synth._calibrate``: 30 phantoms at 37.5 µm (128³, 4.8 mm),
# measured with bonenet.morphometry.trabecular (sub-voxel local thickness with the exact
# lattice surface gap and plate-rim handling; Tb.N from centre-to-centre spacing; fit output in
# benchmarks/results_synth_calibrate_subvoxel.txt); grid ℓ ∈ {0.25, 0.4} mm, t ∈ {0.08, 0.12} mm, p ∈ {1, 0.6, 0.35},
# α ∈ {1, 1.5} plus six strongly perforated phantoms (p 0.2–0.3, t up to 0.2 mm, α 1.3).
# Largest residuals: Tb.Th 11 % (3–7 % where cohorts live), Tb.Sp 1.9 %, Tb.N 5.3 %.
#   band fraction  = u (k0 + k1 (α-1) + k2 u),                   u = t/ℓ
#   Tb.Th          = 2t (a0 + a1 q + a2 q² + a3 q u),             q = 1 - p
#   log Tb.Sp      = c · (1, log ℓ, log t, q, q², α-1)            (mm)
#   log Tb.N       = n · (1, log ℓ, log t, q, q², α-1)            (1/mm)
_CAL: dict[str, tuple[float, ...]] = {
    "band": (0.8778, -0.1298, -0.1824),
    "th": (1.0015, 0.6711, -0.7365, -1.1404),
    "sp": (0.595, 1.1109, -0.1792, 0.1437, 0.3111, 0.2005),
    "n": (-0.7416, -0.9339, 0.1387, 0.1643, -0.4416, -0.1594),
}
#: Plate-keep fractions the calibration covers.
_P_RANGE = (0.35, 1.0)

# Bone loss per unit ``bone_loss``: share of the remaining plate area perforated, and the
# relative growth of the structure's length scale (the same bone, coarsened).
_LOSS_PERFORATION = 0.2
_LOSS_COARSENING = 0.15


def noise_truth(ell: float, t: float, p: float, anisotropy: float) -> dict[str, float]:
    """Tb.Th, Tb.Sp (mm) and band fraction the calibrated model predicts for generator params."""
    k0, k1, k2 = _CAL["band"]
    a0, a1, a2, a3 = _CAL["th"]
    q = 1.0 - p
    a = anisotropy - 1.0
    u = t / ell
    th = 2.0 * t * (a0 + a1 * q + a2 * q * q + a3 * q * u)
    feats = np.array([1.0, np.log(ell), np.log(t), q, q * q, a])
    sp = float(np.exp(feats @ np.asarray(_CAL["sp"])))
    n_cal = np.asarray(_CAL.get("n", ()))
    tb_n = float(np.exp(feats @ n_cal)) if n_cal.size == 6 else 1.0 / (th + sp)
    return {"tb_th_mm": th, "tb_sp_mm": sp, "tb_n_per_mm": tb_n,
            "band_fraction": u * (k0 + k1 * a + k2 * u)}


def _geometry(p: float, tb_th: float, tb_sp: float, anisotropy: float) -> tuple[float, float]:
    """Plate half-thickness t and field length ℓ (mm) giving Tb.Th, Tb.Sp at keep fraction p."""
    a0, a1, a2, a3 = _CAL["th"]
    c0, c1, c2, c3, c4, c5 = _CAL["sp"]
    q = 1.0 - p
    t, ell = tb_th / 2.0, 0.3
    for _ in range(100):  # weakly coupled: converges in a few steps
        t_new = tb_th / (2.0 * max(a0 + a1 * q + a2 * q * q + a3 * q * t / ell, 0.2))
        ell = float(np.exp((np.log(tb_sp) - c0 - c2 * np.log(t_new) - c3 * q - c4 * q * q
                            - c5 * (anisotropy - 1.0)) / c1))
        if abs(t_new - t) < 1e-12:
            break
        t = t_new
    return t, ell


def _bvtv_at(p: float, tb_th: float, tb_sp: float, anisotropy: float) -> float:
    t, ell = _geometry(p, tb_th, tb_sp, anisotropy)
    return p * noise_truth(ell, t, p, anisotropy)["band_fraction"]


def _bvtv_range(tb_th: float, tb_sp: float, anisotropy: float) -> tuple[float, float]:
    return (_bvtv_at(_P_RANGE[0], tb_th, tb_sp, anisotropy),
            _bvtv_at(_P_RANGE[1], tb_th, tb_sp, anisotropy))


def noise_parameters(*, bv_tv: float, tb_th: float, tb_sp: float,
                     anisotropy: float = 1.0) -> dict[str, float]:
    """Generator parameters (ℓ, t mm; plate-keep fraction p) that hit the three targets.

    Raises
    ------
    SynthError
        If the targets are outside what the model can build (for example BV/TV too high for
        the requested Tb.Th and Tb.Sp: that would need plates thicker than Tb.Th).
    """
    if not 0.02 <= bv_tv <= 0.45:
        raise SynthError(f"bv_tv={bv_tv}: trabecular BV/TV must lie in 0.02–0.45")
    if not 0.04 <= tb_th <= 0.6 or not 0.15 <= tb_sp <= 4.0:
        raise SynthError(f"tb_th={tb_th} mm, tb_sp={tb_sp} mm: use Tb.Th 0.04–0.6 mm and "
                         "Tb.Sp 0.15–4 mm")
    if not 1.0 <= anisotropy <= 2.5:
        raise SynthError(f"anisotropy={anisotropy}: use 1.0 (isotropic) to 2.5")
    lo, hi = _P_RANGE
    low, high = _bvtv_range(tb_th, tb_sp, anisotropy)
    if not low <= bv_tv <= high:
        raise SynthError(
            f"bv_tv={bv_tv} cannot be built with tb_th={tb_th} mm and tb_sp={tb_sp} mm "
            f"(this Tb.Th and Tb.Sp allow BV/TV of about {low:.3f}–{high:.3f}); "
            "change BV/TV or Tb.Sp, or use feasible_targets()")

    def bvtv(p: float) -> float:
        return _bvtv_at(p, tb_th, tb_sp, anisotropy)

    p = float(optimize.brentq(lambda x: bvtv(x) - bv_tv, lo, hi, xtol=1e-10))
    t, ell = _geometry(p, tb_th, tb_sp, anisotropy)
    return {"ell_mm": ell, "t_mm": t, "p": p}


def feasible_targets(*, bv_tv: float, tb_th: float, tb_sp: float,
                     anisotropy: float = 1.0) -> dict[str, float]:
    """The nearest targets :func:`trabecular_noise` can build, changing only Tb.Sp.

    The perforated-plate structure has, for a given Tb.Th and Tb.Sp, a range of BV/TV
    (plates only → most perforated). When BV/TV is below that range, Tb.Sp is raised in 1 %
    steps until it fits (bone lost as spacing, the way bone is lost); above it, lowered.

    Returns
    -------
    dict
        ``bv_tv``, ``tb_th_mm``, ``tb_sp_mm`` (possibly changed) and the generator parameters.
    """
    sp = float(tb_sp)
    for _ in range(300):
        low, high = _bvtv_range(tb_th, sp, anisotropy)
        if low <= bv_tv <= high or not 0.15 <= sp <= 4.0:
            break
        sp *= 1.01 if bv_tv < low else 0.99
    prm = noise_parameters(bv_tv=bv_tv, tb_th=tb_th, tb_sp=sp, anisotropy=anisotropy)
    return {"bv_tv": bv_tv, "tb_th_mm": tb_th, "tb_sp_mm": sp, **prm}


def trabecular_noise(shape: tuple[int, int, int], *, spacing: tuple[float, float, float],
                     bv_tv: float = 0.16, tb_th: float = 0.22, tb_sp: float = 0.93,
                     anisotropy: float = 1.3, bone_loss: float = 0.0, supersample: int = 1,
                     seed: int | np.random.SeedSequence = 0) -> Microstructure:
    """Filtered-noise trabecular bone hitting BV/TV exactly and Tb.Th / Tb.Sp on average.

    Parameters
    ----------
    shape : tuple of 3 ints
        Output voxels (P, R, C); axis 0 is the bone's long axis.
    spacing : tuple of 3 floats
        Output voxel size in mm.
    bv_tv : float
        Bone volume fraction before bone loss (exact after it when ``bone_loss=0``).
    tb_th, tb_sp : float
        Mean trabecular thickness and separation in mm (local-thickness definition).
    anisotropy : float
        Elongation of the structure along axis 0 (kernel length ratio, 1 = isotropic).
    bone_loss : float
        0 (none) to 1 (severe): perforates plates and thins them; the result's truth holds the
        BV/TV, Tb.Th and Tb.Sp after loss.
    supersample : int
        Build on a grid ``supersample`` times finer and block-average ``fraction`` (partial
        volume); with 1, ``fraction`` uses a sub-voxel distance ramp.
    seed : int or SeedSequence
        Same seed, same phantom.

    Returns
    -------
    Microstructure
    """
    shp, sp = _check_shape(shape, spacing)
    if not 0.0 <= bone_loss <= 1.0:
        raise SynthError(f"bone_loss={bone_loss}: use a value in 0 (none) to 1 (severe)")
    s = int(supersample)
    if s < 1 or s > 4:
        raise SynthError(f"supersample={supersample}: use 1–4")
    prm = noise_parameters(bv_tv=bv_tv, tb_th=tb_th, tb_sp=tb_sp, anisotropy=anisotropy)
    ell, t, p0 = prm["ell_mm"], prm["t_mm"], prm["p"]
    # bone loss: the same bone coarsens (fewer, more widely spaced trabeculae: ℓ grows) and
    # its plates perforate (p falls); the struts keep their thickness t
    p = p0 * (1.0 - _LOSS_PERFORATION * bone_loss)
    ell_loss = ell * (1.0 + _LOSS_COARSENING * bone_loss)
    t_loss = t
    fine = tuple(n * s for n in shp)
    fsp = tuple(h / s for h in sp)
    rng = np.random.default_rng(seed)
    z1, z2 = gaussian_field_pair(fine, spacing=fsp, length_mm=ell_loss, anisotropy=anisotropy,
                                 rng=rng, support_length_mm=ell)
    np.abs(z2, out=z2)
    dist = band_distance(z1, fsp)
    del z1
    band = dist < t_loss
    keep = p if bone_loss > 0 else min(1.0, bv_tv / max(float(band.mean()), 1e-9))
    cut = float(np.quantile(z2[band], keep)) if keep < 1.0 else np.inf
    perf = z2 <= cut
    del z2
    mask = band & perf
    if s > 1:
        frac = mask.reshape(shp[0], s, shp[1], s, shp[2], s).mean(axis=(1, 3, 5), dtype=np.float32)
        out_mask = frac >= 0.5
    else:
        h = float(np.mean(sp))
        frac = np.clip(np.float32(0.5) + (np.float32(t_loss) - dist) / np.float32(h), 0, 1)
        frac *= perf
        out_mask = mask
    frac = frac.astype(np.float32, copy=False)
    pred = noise_truth(ell_loss, t_loss, p, anisotropy)
    bvtv_true = float(mask.mean())
    truth = {
        "generator": "noise",
        "bv_tv": bvtv_true,
        "tb_th_mm": pred["tb_th_mm"],
        "tb_sp_mm": pred["tb_sp_mm"],
        "tb_n_per_mm": pred["tb_n_per_mm"],
        "plate_keep_fraction": p,
        "anisotropy": float(anisotropy),
        "bone_loss": float(bone_loss),
        "ell_mm": ell_loss,
        "t_mm": t_loss,
    }
    return Microstructure(mask=out_mask, fraction=frac, spacing=sp, truth=truth)

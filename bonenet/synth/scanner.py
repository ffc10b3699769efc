"""Scanner models: HR-pQCT (XtremeCT I/II, Scanco native values), clinical QCT with a
calibration phantom under the patient, and a DXA-like areal-density projection.

All functions take bone fraction or mineral density in physical units and return a
:class:`~bonenet.volume.Volume` whose array is what a reader would give after applying the
scanner's own calibration (mg HA/cm³ for HR-pQCT, HU for CT). The raw calibration is kept in
``meta`` so writers can store native values (Scanco AIM: integer μ·mu_scaling with density
slope/intercept; DICOM: RescaleSlope/Intercept).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..errors import SynthError
from ..volume import Volume

__all__ = [
    "AXIAL_LPS",
    "HRPQCT_SCANNERS",
    "HrpqctScanner",
    "QctScanner",
    "project_areal",
    "simulate_hrpqct",
    "simulate_qct",
    "to_scanco_native",
]

#: Standard axial geometry: slices along +S, rows along +P, columns along +L (LPS columns).
AXIAL_LPS = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


@dataclass(frozen=True)
class HrpqctScanner:
    """An HR-pQCT scanner model.

    Attributes
    ----------
    name : str
    voxel_mm : float
        Isotropic voxel size (XtremeCT I 0.082, XtremeCT II 0.0607).
    psf_sigma_mm : float
        Gaussian point-spread-function standard deviation in mm.
    noise_sd : float
        Image noise standard deviation in mg HA/cm³ per voxel.
    bone_density : float
        Apparent density of fully mineralised bone, mg HA/cm³.
    background_density : float
        Marrow / soft tissue, mg HA/cm³.
    mu_scaling, density_slope, density_intercept : float
        Scanco calibration: native integer = μ (1/cm) × mu_scaling; density = slope · μ +
        intercept (mg HA/cm³).
    """

    name: str
    voxel_mm: float
    psf_sigma_mm: float
    noise_sd: float
    bone_density: float = 1100.0
    background_density: float = 0.0
    mu_scaling: float = 8192.0
    density_slope: float = 1603.5
    density_intercept: float = -391.2


HRPQCT_SCANNERS: dict[str, HrpqctScanner] = {
    "xtremect1": HrpqctScanner("xtremect1", 0.082, 0.055, 110.0, density_slope=1613.9,
                               density_intercept=-392.2),
    "xtremect2": HrpqctScanner("xtremect2", 0.0607, 0.040, 90.0),
}


@dataclass(frozen=True)
class QctScanner:
    """A clinical CT scanner used for QCT: HU = a + b · ρ_HA in water-equivalent tissue.

    Attributes
    ----------
    name : str
    pixel_mm : float
        In-plane pixel size in mm (0.5–1).
    slice_mm : float
        Slice thickness / spacing in mm.
    a_hu : float
        HU of water-equivalent tissue (scanner offset).
    b_hu_per_mg : float
        HU per mg HA/cm³.
    noise_hu : float
        Noise standard deviation in HU.
    psf_sigma_mm : float
        In-plane Gaussian PSF standard deviation in mm.
    rods_mg : tuple of float
        Hydroxyapatite densities (mg HA/cm³) of the calibration-phantom rods.
    """

    name: str
    pixel_mm: float = 0.75
    slice_mm: float = 1.0
    a_hu: float = 0.0
    b_hu_per_mg: float = 1.0
    noise_hu: float = 12.0
    psf_sigma_mm: float = 0.6
    rods_mg: tuple[float, ...] = (0.0, 50.0, 100.0, 200.0)


def _block_mean(a: np.ndarray, s: int) -> np.ndarray:
    if s == 1:
        return a
    p, r, c = (n // s for n in a.shape)
    a = a[: p * s, : r * s, : c * s]
    return a.reshape(p, s, r, s, c, s).mean(axis=(1, 3, 5), dtype=np.float32)


def simulate_hrpqct(fraction: np.ndarray, *, spacing: tuple[float, float, float],
                    scanner: str | HrpqctScanner = "xtremect2", supersample: int = 1,
                    seed: int | np.random.SeedSequence = 0,
                    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Volume:
    """Image a bone-fraction field with an HR-pQCT scanner model.

    Parameters
    ----------
    fraction : ndarray (P, R, C)
        Bone volume fraction 0–1 on a grid ``supersample`` times finer than the scanner voxel.
    spacing : tuple of 3 floats
        mm per voxel of ``fraction``.
    scanner : str or HrpqctScanner
        ``"xtremect1"``, ``"xtremect2"`` or a custom model.
    supersample : int
        Fine voxels per scanner voxel along each axis (partial volume by block averaging).
    seed : int or SeedSequence
        Noise seed.
    origin : tuple of 3 floats
        LPS position (mm) of the first voxel centre.

    Returns
    -------
    Volume
        mg HA/cm³, quantised exactly as the scanner's native integers would decode, with
        ``meta["scanco"]`` holding ``mu_scaling``, ``density_slope``, ``density_intercept``.
    """
    sc = HRPQCT_SCANNERS.get(scanner) if isinstance(scanner, str) else scanner
    if sc is None:
        raise SynthError(f"scanner={scanner!r} unknown; use one of {', '.join(HRPQCT_SCANNERS)}")
    frac = np.asarray(fraction, dtype=np.float32)
    sigma = [sc.psf_sigma_mm / h for h in spacing]
    blurred = ndimage.gaussian_filter(frac, sigma=sigma, mode="nearest", truncate=3.0)
    blurred = _block_mean(blurred, int(supersample))
    rng = np.random.default_rng(seed)
    # density → native integers (μ · mu_scaling) → decoded density, in few full-size passes
    gain = np.float32(sc.mu_scaling / sc.density_slope)
    native = rng.standard_normal(blurred.shape, dtype=np.float32)
    native *= np.float32(sc.noise_sd)
    native += np.float32(sc.background_density - sc.density_intercept)
    blurred *= np.float32(sc.bone_density - sc.background_density)
    native += blurred
    del blurred
    native *= gain
    np.rint(native, out=native)
    np.clip(native, -32768, 32767, out=native)
    native *= np.float32(1.0 / gain)
    native += np.float32(sc.density_intercept)
    dens = native
    out_spacing = tuple(float(h) * int(supersample) for h in spacing)
    meta = {"synthetic": True, "scanner": sc.name,
            "scanco": {"mu_scaling": sc.mu_scaling, "density_slope": sc.density_slope,
                       "density_intercept": sc.density_intercept},
            "scanner_model": asdict(sc)}
    return Volume(dens, out_spacing, origin=origin, direction=AXIAL_LPS, units="mgHA/cm3",
                  modality="CT", meta=meta)


def to_scanco_native(volume: Volume) -> np.ndarray:
    """The int16 native values (μ × mu_scaling) behind an HR-pQCT volume from this module."""
    cal = volume.meta.get("scanco")
    if not cal or volume.units != "mgHA/cm3":
        raise SynthError("to_scanco_native needs an mgHA/cm3 volume with meta['scanco'] "
                         "(made by simulate_hrpqct)")
    nat = (volume.array - cal["density_intercept"]) / cal["density_slope"] * cal["mu_scaling"]
    return np.clip(np.rint(nat), -32768, 32767).astype(np.int16)


_TISSUE_HU = np.array([-1000.0, -100.0, 40.0, 0.0], dtype=np.float32)  # air, fat, muscle, bone


def simulate_qct(density: np.ndarray, tissue: np.ndarray, *, spacing: tuple[float, float, float],
                 scanner: QctScanner | None = None, phantom_rows_mm: float = 24.0,
                 seed: int | np.random.SeedSequence = 0) -> Volume:
    """Image a vertebra (mineral density + tissue map) on CT with a phantom under the patient.

    A resin phantom with hydroxyapatite rods (``scanner.rods_mg``) is appended below the
    patient (posterior, higher row indices), so ``HU = a + b·ρ`` can be recovered by
    phantom calibration.

    Parameters
    ----------
    density : ndarray (P, R, C)
        Mineral density, mg HA/cm³ (from :func:`~bonenet.synth.bone.vertebral_body`).
    tissue : ndarray (P, R, C) of uint8
        0 air, 1 fat, 2 muscle, 3 bone/marrow (water-equivalent + mineral).
    spacing : tuple of 3 floats
        mm per voxel of the inputs (= the scanner grid).
    scanner : QctScanner, optional
    phantom_rows_mm : float
        Height of the phantom block below the patient.
    seed : int or SeedSequence

    Returns
    -------
    Volume
        HU (integers, as stored), axial LPS geometry; ``meta["phantom"]`` gives the rods'
        densities and centres (row, column indices) for checks.
    """
    sc = scanner or QctScanner("generic")
    if density.shape != tissue.shape:
        raise SynthError(f"density {density.shape} and tissue {tissue.shape} shapes differ")
    p, r, c = density.shape
    pr = round(phantom_rows_mm / spacing[1])
    hu = np.empty((p, r + pr, c), dtype=np.float32)
    hu[:, :r] = _TISSUE_HU[tissue] + sc.b_hu_per_mg * density
    hu[:, r:] = _TISSUE_HU[0]
    # phantom block: resin (water-equivalent) with rods along axis 0
    yy, xx = np.meshgrid(np.arange(pr) * spacing[1], np.arange(c) * spacing[2], indexing="ij")
    block = (yy >= 2.0) & (yy <= pr * spacing[1] - 2.0)
    plane = np.where(block, 0.0, _TISSUE_HU[0]).astype(np.float32)
    n = len(sc.rods_mg)
    rod_r = min(6.0, 0.3 * c * spacing[2] / n, 0.35 * (pr * spacing[1] - 4.0))
    centres = []
    for i, rho in enumerate(sc.rods_mg):
        cx = (i + 0.5) * c * spacing[2] / n
        cy = pr * spacing[1] / 2
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= rod_r**2
        plane[disc] = sc.b_hu_per_mg * rho
        centres.append([r + cy / spacing[1], cx / spacing[2]])
    hu[:, r:] = plane
    hu[hu > -900] += sc.a_hu
    hu = ndimage.gaussian_filter(hu, sigma=[0.0, sc.psf_sigma_mm / spacing[1],
                                            sc.psf_sigma_mm / spacing[2]], truncate=3.0)
    rng = np.random.default_rng(seed)
    hu += rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(sc.noise_hu)
    hu = np.rint(np.clip(hu, -1024, 3071)).astype(np.float32)
    meta = {"synthetic": True, "scanner": sc.name, "scanner_model": asdict(sc),
            "phantom": {"material": "hydroxyapatite", "rods_mgcm3": list(sc.rods_mg),
                        "rod_radius_mm": rod_r, "centres_rc": centres},
            "true_calibration": {"a_hu": sc.a_hu, "b_hu_per_mg": sc.b_hu_per_mg}}
    return Volume(hu, spacing, direction=AXIAL_LPS, units="HU", modality="CT", meta=meta)


def project_areal(density: np.ndarray, *, spacing: tuple[float, float, float],
                  noise_fraction: float = 0.01, psf_sigma_mm: float = 0.5,
                  seed: int | np.random.SeedSequence = 0) -> Volume:
    """A DXA-like anterior–posterior projection: areal mineral density in g/cm².

    Parameters
    ----------
    density : ndarray (P, R, C)
        Mineral density in mg HA/cm³ with axis 0 = S→I... as (superior→, anterior→posterior,
        right→left) from :func:`~bonenet.synth.bone.vertebral_body`.
    spacing : tuple of 3 floats
        mm per voxel.
    noise_fraction : float
        Multiplicative noise (DXA precision ≈ 1 %).

    Returns
    -------
    Volume
        One coronal slice (1, P, C); units ``"raw"`` with ``meta["quantity"] = "aBMD g/cm2"``.
        Row 0 is the most superior row.
    """
    dens = np.asarray(density, dtype=np.float32)
    areal = dens.sum(axis=1) * np.float32(spacing[1] / 10.0 / 1000.0)  # mg/cm3·cm → g/cm2
    areal = ndimage.gaussian_filter(areal, sigma=[psf_sigma_mm / spacing[0], psf_sigma_mm / spacing[2]])
    rng = np.random.default_rng(seed)
    areal = areal * (1.0 + noise_fraction * rng.standard_normal(areal.shape, dtype=np.float32))
    areal = areal[::-1][np.newaxis]  # row 0 = superior
    direction = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    return Volume(np.ascontiguousarray(areal), (spacing[1] * dens.shape[1], spacing[0], spacing[2]),
                  direction=direction, units="raw", modality="DX",
                  meta={"synthetic": True, "quantity": "aBMD g/cm2"})

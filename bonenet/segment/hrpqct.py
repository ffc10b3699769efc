"""HR-pQCT segmentation: the standard evaluation and dual-threshold autocontouring.

Standard evaluation (Scanco IPL conventions):

* XtremeCT II (second generation, 60.7 µm): Gaussian filter σ 0.8 voxel, support 1 voxel,
  fixed thresholds 320 mg HA/cm³ (trabecular bone) and 450 mg HA/cm³ (cortical bone).
* XtremeCT I (first generation, 82 µm): the same Gaussian; trabecular structure was not
  thresholded for BV/TV, which was *derived* from density as Tb.vBMD / 1200 mg HA/cm³,
  Tb.N measured by distance transformation on a binarised image (Laplace–Hamming filter and
  a fixed threshold, about 40 % of the maximum, ≈ 400 mg HA/cm³), and
  Tb.Th = BV/TV / Tb.N, Tb.Sp = (1 − BV/TV) / Tb.N. The preset ``"xtremect1"`` uses the
  400 mg HA/cm³ threshold for the binary image; :func:`xtremect1_derived` gives the
  derived indices.

Autocontouring follows the dual-threshold idea of Buie et al. (Bone 2007): a periosteal
mask from a low threshold on a smoothed image, closed and filled slice by slice; the
endosteal (trabecular) region as the largest marrow component left once dense cortical
bone, closed across its pores, is removed; the cortex is the periosteal mask minus it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SegmentationError
from ..volume import Volume

__all__ = ["SCANNER_PRESETS", "Compartments", "autocontour", "gaussian_segment", "xtremect1_derived"]

#: Gaussian σ (voxels), support (voxels) and thresholds (mg HA/cm³) per scanner generation.
SCANNER_PRESETS = {
    "xtremect2": {"sigma": 0.8, "support": 1.0, "trabecular": 320.0, "cortical": 450.0},
    "xtremect1": {"sigma": 0.8, "support": 1.0, "trabecular": 400.0, "cortical": 400.0},
}


def _density(volume: Volume) -> np.ndarray:
    if volume.units != "mgHA/cm3":
        raise SegmentationError(
            f"HR-pQCT segmentation needs a density image in mgHA/cm3; this volume is in "
            f"{volume.units!r}. Calibrate it first (bonenet.calibrate.scanco_calibration / "
            "apply_calibration)"
        )
    return volume.array


def _preset(scanner: str) -> dict[str, float]:
    try:
        return SCANNER_PRESETS[scanner]
    except KeyError:
        raise SegmentationError(
            f"unknown scanner {scanner!r}; use one of {', '.join(SCANNER_PRESETS)}"
        ) from None


def _gauss(arr: np.ndarray, sigma: float, support: float) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.gaussian_filter(arr.astype(np.float32), sigma, truncate=max(support / sigma, 0.5),
                               mode="nearest")


def gaussian_segment(volume: Volume, *, scanner: str = "xtremect2", compartment: str = "trabecular",
                     threshold: float | None = None) -> np.ndarray:
    """Binary bone: Gaussian filter (σ 0.8, support 1) and a fixed density threshold.

    Parameters
    ----------
    volume : Volume
        Density image in mg HA/cm³.
    scanner : {"xtremect2", "xtremect1"}
    compartment : {"trabecular", "cortical"}
        Which preset threshold to use (320 / 450 for XtremeCT II).
    threshold : float, optional
        Override the threshold (mg HA/cm³).

    Returns
    -------
    ndarray of bool, shape (P, R, C)
    """
    p = _preset(scanner)
    if compartment not in ("trabecular", "cortical"):
        raise SegmentationError(f"compartment must be 'trabecular' or 'cortical'; got {compartment!r}")
    thr = float(threshold) if threshold is not None else p[compartment]
    return _gauss(_density(volume), p["sigma"], p["support"]) > thr


@dataclass
class Compartments:
    """Masks (bool, (P, R, C)) from :func:`autocontour`."""

    periosteal: np.ndarray
    trabecular: np.ndarray
    cortical: np.ndarray


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def _ball(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return (r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2) <= radius * radius


def _disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return ((r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius)[None]


def autocontour(volume: Volume, *, periosteal_threshold: float = 300.0,
                cortical_threshold: float = 450.0, close_mm: float = 0.5,
                open_mm: float = 0.25, min_cortex_mm: float = 0.2) -> Compartments:
    """Periosteal and endosteal contours of a radius or tibia scan (after Buie et al. 2007).

    Parameters
    ----------
    volume : Volume
        Density image in mg HA/cm³, slices along P.
    periosteal_threshold : float
        mg HA/cm³, applied to a σ = 1.5 voxel smoothed image.
    cortical_threshold : float
        mg HA/cm³ for dense cortical bone (σ 0.8, support 1 smoothing).
    close_mm : float
        Radius of the in-slice closing that bridges cortical pores and the periosteal edge.
    open_mm : float
        Radius of the in-slice opening that removes trabeculae (thinner than 2·open_mm)
        from the dense-bone mask before it is taken as cortex.
    min_cortex_mm : float
        The cortex is at least this thick (the endosteal mask is eroded by it inside the
        periosteal surface).

    Returns
    -------
    Compartments
        ``periosteal`` (whole bone), ``trabecular`` (inside the endosteal contour) and
        ``cortical`` (between them) masks.

    Raises
    ------
    SegmentationError
        Not a density image, no bone found, or no marrow cavity found.
    """
    from scipy import ndimage as ndi

    rho = _density(volume)
    pix = float(min(volume.spacing[1:]))
    rc = max(1, round(close_mm / pix))
    smooth = _gauss(rho, 1.5, 3.0)
    peri = smooth > periosteal_threshold
    if not peri.any():
        raise SegmentationError(
            f"no voxel above the periosteal threshold {periosteal_threshold} mg HA/cm³: is this an HR-pQCT "
            "density image of bone?"
        )
    peri = _largest(peri)
    peri = ndi.binary_closing(np.pad(peri, ((0, 0), (rc, rc), (rc, rc))), structure=_disk(rc))
    peri = peri[:, rc:-rc, rc:-rc]
    peri = np.stack([ndi.binary_fill_holes(s) for s in peri])
    dense = (_gauss(rho, 0.8, 1.0) > cortical_threshold) & peri
    ro = max(1, round(open_mm / pix))
    dense = ndi.binary_opening(dense, structure=_disk(ro))
    dense = ndi.binary_closing(dense, structure=_disk(rc)) & peri
    # minimum cortical shell under the periosteal surface
    shell = peri & ~ndi.binary_erosion(peri, structure=_disk(max(1, round(min_cortex_mm / pix))))
    inner = peri & ~dense & ~shell
    inner = ndi.binary_opening(inner, structure=_disk(rc))
    if not inner.any():
        raise SegmentationError("no marrow cavity inside the cortex: endosteal contour not found")
    trab = _largest(inner)
    trab = np.stack([ndi.binary_fill_holes(s) for s in trab]) & peri
    cort = peri & ~trab
    return Compartments(periosteal=peri, trabecular=trab, cortical=cort)


def xtremect1_derived(tb_vbmd: float, tb_n: float) -> dict[str, float]:
    """XtremeCT I derived indices from Tb.vBMD (mg HA/cm³) and Tb.N (1/mm).

    Returns ``{"BV/TV", "Tb.Th" (mm), "Tb.Sp" (mm)}`` with BV/TV = Tb.vBMD / 1200.
    """
    if not tb_n > 0:
        raise SegmentationError(f"Tb.N must be positive (1/mm); got {tb_n}")
    bvtv = float(tb_vbmd) / 1200.0
    return {"BV/TV": bvtv, "Tb.Th": bvtv / tb_n, "Tb.Sp": (1.0 - bvtv) / tb_n}

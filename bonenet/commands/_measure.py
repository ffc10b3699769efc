"""One study → one row of features: load, segment, measure (used by ``bonenet features``).

Kept out of :mod:`bonenet.morphometry` (pure array functions) and :mod:`bonenet.segment`
(masks only): this is the pipeline that joins them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CalibrationError, SegmentationError
from ..volume import Volume

__all__ = ["FEATURE_COLUMNS", "measure_study", "measure_volume"]

#: Morphometry key → features CSV column (units in the name).
FEATURE_COLUMNS = {
    "BV/TV": "bv_tv",
    "Tb.Th": "tb_th_mm",
    "Tb.Th.SD": "tb_th_sd_mm",
    "Tb.Sp": "tb_sp_mm",
    "Tb.Sp.SD": "tb_sp_sd_mm",
    "Tb.N": "tb_n_per_mm",
    "Tb.1/N.SD": "tb_1n_sd_mm",
    "Tb.N(plate)": "tb_n_plate_per_mm",
    "Conn.D": "conn_d_per_mm3",
    "DA": "da",
    "SMI": "smi",
    "Ct.Th": "ct_th_mm",
    "Ct.Th.SD": "ct_th_sd_mm",
    "Ct.Po": "ct_po",
    "Ct.Po.N": "ct_po_n",
    "Tt.Ar": "tt_ar_mm2",
    "Ct.Ar": "ct_ar_mm2",
    "Tb.Ar": "tb_ar_mm2",
    "Tt.vBMD": "tt_vbmd_mgcm3",
    "Ct.vBMD": "ct_vbmd_mgcm3",
    "Tb.vBMD": "tb_vbmd_mgcm3",
}
QCT_COLUMNS = ("tb_vbmd_mgcm3", "tb_vbmd_median_mgcm3", "voi_volume_mm3")

_DENSITY = ("mgHA/cm3", "mgK2HPO4/cm3")


def detect_modality(volume: Volume) -> str:
    """``"hrpqct"`` (density, voxels < 0.2 mm) or ``"qct"`` (density, coarser voxels)."""
    if volume.units not in _DENSITY:
        raise CalibrationError(
            f"image is in {volume.units!r}, not a density: calibrate it first (phantom, internal or "
            "Scanco header; bonenet.calibrate) and save the calibrated volume"
        )
    if volume.shape[0] == 1:
        raise SegmentationError("a single-slice (2D/DXA) image has no 3D morphometry")
    return "hrpqct" if min(volume.spacing) < 0.2 else "qct"


def measure_volume(volume: Volume, *, modality: str = "auto", smi: bool = True) -> dict[str, float]:
    """Segment and measure one calibrated volume; keys are features CSV column names.

    HR-pQCT: autocontour → cortical and trabecular compartments; standard Gaussian
    segmentation; trabecular and cortical indices. QCT: automatic vertebral VOI; mean and
    median trabecular vBMD.
    """
    from ..calibrate import calibration_material
    from ..morphometry import cortical, trabecular
    from ..segment import autocontour, gaussian_segment, vertebral_voi, voi_stats

    mod = detect_modality(volume) if modality == "auto" else modality
    if mod == "qct":
        voi = vertebral_voi(volume)
        st = voi_stats(volume, voi)
        return {"tb_vbmd_mgcm3": st["mean"], "tb_vbmd_median_mgcm3": st["median"],
                "voi_volume_mm3": st["volume_mm3"],
                "calibration_material": calibration_material(volume.units)}
    if mod != "hrpqct":
        raise SegmentationError(f"unknown modality {mod!r}; use auto, hrpqct or qct")
    if volume.units != "mgHA/cm3":
        raise CalibrationError(f"HR-pQCT analysis needs mgHA/cm3; image is in {volume.units!r}")
    tb_seg = gaussian_segment(volume, compartment="trabecular")
    if _is_trabecular_cube(volume, tb_seg):
        # a trabecular region of interest (no cortex in the field of view)
        tr = trabecular(tb_seg, spacing=volume.spacing, smi=smi)
        ct = {"Tb.vBMD": float(volume.array.mean())}
    else:
        comp = autocontour(volume)
        ct_bone = gaussian_segment(volume, compartment="cortical")
        tr = trabecular(tb_seg & comp.trabecular, spacing=volume.spacing, roi=comp.trabecular, smi=smi)
        ct = cortical(comp.cortical, comp.trabecular, spacing=volume.spacing, bone=ct_bone,
                      density=volume.array)
    out: dict[str, Any] = {}
    for key, val in {**tr, **ct}.items():
        out[FEATURE_COLUMNS[key]] = float(val) if val is not None else math.nan
    out["calibration_material"] = calibration_material(volume.units)
    return out


def _is_trabecular_cube(volume: Volume, bone: np.ndarray, *, near_mm: float = 0.5,
                        min_rim_fraction: float = 0.3, corner_mm: float = 1.0) -> bool:
    """True when bone fills the field of view (a trabecular VOI, not a whole-bone section).

    Two tests, both needed: most rim pixels of the slices have bone within ``near_mm``
    (trabecular texture reaches every edge), and the four corner columns have bone within
    ``corner_mm`` (median over slices, in 3-D). A section, even one cropped to the bone's
    bounding box, has soft tissue in its corners (≥ R(√2 − 1) from a round bone of radius R);
    a trabecular cube has trabeculae within about Tb.Sp/2 of any point. Density is not used:
    a mean-density test reads osteoporotic cubes (BV/TV < 0.12) as sections.
    """
    import edt
    from scipy import ndimage as ndi

    sp = tuple(float(s) for s in volume.spacing)
    r = max(1, round(near_mm / min(sp[1:])))
    near = ndi.maximum_filter(bone, size=(1, 2 * r + 1, 2 * r + 1))
    rim = np.concatenate([near[:, 0, :], near[:, -1, :], near[:, :, 0], near[:, :, -1]], axis=1)
    if rim.mean() <= min_rim_fraction:
        return False
    k = [min(n, int(np.ceil(corner_mm / d)) + 1) for n, d in zip(bone.shape[1:], sp[1:], strict=True)]
    dists = []
    for rs in (slice(0, k[0]), slice(bone.shape[1] - k[0], None)):
        for cs in (slice(0, k[1]), slice(bone.shape[2] - k[1], None)):
            block = np.ascontiguousarray(~bone[:, rs, cs])
            if block.all():
                return False
            d = edt.edt(block, anisotropy=sp, black_border=False)
            dists.append(d[:, 0 if rs.start == 0 else -1, 0 if cs.start == 0 else -1])
    return bool(np.median(np.concatenate(dists)) < corner_mm)


def measure_study(path: str | Path, *, modality: str = "auto", smi: bool = True,
                  phantom: dict[str, Any] | None = None) -> dict[str, float]:
    """Load the image at ``path`` with :func:`bonenet.io.load` and measure it.

    ``phantom`` (``densities``, ``radius_mm``, ``material``, ``base_density``) calibrates a
    CT image in HU with the rods found in it before measuring.
    """
    from .. import io

    vol = io.load(path)
    if phantom is not None and vol.units == "HU":
        from ..calibrate import apply_calibration, phantom_calibration

        radii = phantom["radius_mm"]
        radii = list(radii) if isinstance(radii, (list, tuple)) else [radii]
        best, last_err = None, None
        for rad in radii:  # several candidate rod radii: keep the best fit
            try:
                cal = phantom_calibration(vol, phantom["densities"], radius_mm=float(rad),
                                          material=phantom.get("material", "HA"),
                                          base_density=phantom.get("base_density"))
            except CalibrationError as exc:
                last_err = exc
                continue
            if best is None or cal.r2 > best.r2:
                best = cal
        if best is None:
            raise last_err if last_err is not None else CalibrationError("no rod radius given")
        vol = apply_calibration(vol, best)
    res = measure_volume(vol, modality=modality, smi=smi)
    return {k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in res.items()}

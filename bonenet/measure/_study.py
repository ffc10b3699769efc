"""One study → one row of features: load, calibrate, segment, measure.

Kept out of :mod:`bonenet.morphometry` (pure array functions) and :mod:`bonenet.segment`
(masks only): this is the pipeline that joins them. ``bonenet features``, ``bonenet predict
--measure`` and the demo all call it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CalibrationError, MorphometryError, SegmentationError
from ..volume import Volume

__all__ = ["FEATURE_COLUMNS", "QCT_COLUMNS", "detect_modality", "feature_columns", "measure_study",
           "measure_volume"]

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


def feature_columns() -> tuple[str, ...]:
    """Every column :func:`measure_volume` may fill (HR-pQCT trabecular and cortical, then QCT),
    units in the names: ``bv_tv`` (1), ``tb_th_mm`` (mm), ``tb_n_per_mm`` (1/mm),
    ``conn_d_per_mm3`` (1/mm³), ``*_vbmd_mgcm3`` (mg/cm³), ``voi_volume_mm3`` (mm³); and the
    text columns ``calibration_material`` (``HA`` or ``K2HPO4``: the density scale) and
    ``masks_source`` (HR-pQCT: ``scanco`` masks or bonenet's ``autocontour``)."""
    cols = list(FEATURE_COLUMNS.values())
    return (*cols, *[c for c in QCT_COLUMNS if c not in cols], "calibration_material",
            "masks_source")


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


def measure_volume(volume: Volume, *, modality: str = "auto", smi: bool = True,
                   masks: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Segment and measure one calibrated volume; keys are features CSV column names.

    HR-pQCT: autocontour → cortical and trabecular compartments (or, with ``masks`` holding
    ``trab_mask`` and ``cort_mask`` boolean arrays on the volume's grid — Scanco's own, see
    :func:`bonenet.io.load_scanco_masks` — those compartments); standard Gaussian
    segmentation; trabecular and cortical indices. QCT: automatic vertebral VOI; mean and
    median trabecular vBMD.
    """
    from ..calibrate import calibration_material
    from ..morphometry import cortical, trabecular
    from ..segment import autocontour, gaussian_segment, vertebral_voi, voi_stats

    if not np.isfinite(volume.array).all():
        n_bad = int(np.size(volume.array) - np.count_nonzero(np.isfinite(volume.array)))
        raise MorphometryError(
            f"{volume.meta.get('source', 'image')}: {n_bad} voxel(s) are NaN or infinite; "
            "re-export the image (a damaged or wrongly converted file) before measuring it")
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
    if masks is not None and "trab_mask" in masks and "cort_mask" in masks:
        trab, cort = masks["trab_mask"], masks["cort_mask"]
        for key, m in (("trab_mask", trab), ("cort_mask", cort)):
            if m.shape != volume.shape or not m.any():
                raise SegmentationError(f"{key} has shape {m.shape} and {int(m.sum())} voxels; it must be "
                                        f"a non-empty mask on the image grid {volume.shape}")
        ct_bone = gaussian_segment(volume, compartment="cortical")
        tr = trabecular(tb_seg & trab, spacing=volume.spacing, roi=trab, smi=smi)
        ct = cortical(cort, trab, spacing=volume.spacing, bone=ct_bone, density=volume.array)
    elif _is_trabecular_cube(volume, tb_seg):
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


def measure_study(study: str | Path | Volume, *, modality: str = "auto", smi: bool = True,
                  phantom: dict[str, Any] | None = None,
                  load_options: dict[str, Any] | None = None,
                  masks: dict[str, str | Path | None] | None = None,
                  find_masks: bool = True) -> dict[str, Any]:
    """Measure one study: a path (read with :func:`bonenet.io.load`) or a loaded Volume.

    Parameters
    ----------
    study : path-like or Volume
        The image (DICOM folder/file, NIfTI, AIM/ISQ) or a volume already read.
    modality : {"auto", "hrpqct", "qct"}
        Which analysis; ``auto`` decides from the voxel size (< 0.2 mm: HR-pQCT).
    smi : bool
        Compute the structure model index (the slowest index).
    phantom : dict, optional
        ``densities`` (mg/cm³), ``radius_mm`` (one or several candidates: best fit wins),
        ``material`` (``HA``/``K2HPO4``), ``base_density``: calibrates a CT image in HU with
        the rods found in it before measuring.
    load_options : dict, optional
        Keyword arguments for :func:`bonenet.io.load` (``units="HU"`` for a NIfTI...).
    masks : dict, optional
        ``trab_mask``/``cort_mask``/``periosteal_mask`` → Scanco mask AIMs (the manifest
        columns of those names; blank = not given).
    find_masks : bool
        Look the masks not given up beside a grey AIM by Scanco's naming
        (``<stem>_TRAB_MASK.AIM``, ``<stem>_CORT_MASK.AIM``; see :mod:`bonenet.io.scanco_masks`).
        With both compartments Tb.* is measured inside the trabecular and Ct.* inside the
        cortical mask instead of bonenet's autocontour.

    Returns
    -------
    dict
        Features-CSV columns (see :func:`feature_columns`); HR-pQCT rows also carry
        ``masks_source``: ``scanco`` or ``autocontour``.
    """
    from .. import io
    from ..io.scanco_masks import MASK_KEYS

    if isinstance(study, Volume):
        vol = study
    else:
        if not str(study).strip():
            raise MorphometryError("no image path given (a blank cell?); fill in the image column")
        vol = io.load(study, **(load_options or {}))
    scanco_masks: dict[str, np.ndarray] = {}
    unknown = sorted(set(masks or {}) - set(MASK_KEYS))
    if unknown:
        raise SegmentationError(f"unknown mask role(s) {unknown}; use {list(MASK_KEYS)}")
    given = {k: v for k, v in (masks or {}).items() if v is not None and str(v).strip()}
    # the grey AIM's own path: given, or recorded by the reader (predict --measure passes the
    # Volume it read, so the masks beside the AIM are found the same way as by `features`)
    src = vol.meta.get("source") if isinstance(study, Volume) else study
    src = src[0] if isinstance(src, (list, tuple)) and len(src) == 1 else src
    grey_path = str(src) if isinstance(src, (str, Path)) else None
    is_aim = grey_path is not None and Path(grey_path).name.lower().split(";")[0].endswith(".aim")
    if given or (find_masks and is_aim):
        scanco_masks = io.load_scanco_masks(vol, grey_path=grey_path if (find_masks and is_aim) else None,
                                            **given)
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
    use = "trab_mask" in scanco_masks and "cort_mask" in scanco_masks
    if not use and ("trab_mask" in given or "cort_mask" in given):
        missing = "cort_mask" if "trab_mask" in given else "trab_mask"
        raise SegmentationError(f"{study if not isinstance(study, Volume) else 'image'}: a {missing} is needed "
                                f"with the given "
                                f"{'trab_mask' if missing == 'cort_mask' else 'cort_mask'} (none given or "
                                "found beside the image); give both Scanco compartment masks or neither")
    res = measure_volume(vol, modality=modality, smi=smi, masks=scanco_masks if use else None)
    out: dict[str, Any] = {k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in res.items()}
    if detect_modality(vol) == "hrpqct" if modality == "auto" else modality == "hrpqct":
        out["masks_source"] = "scanco" if use else "autocontour"
    return out

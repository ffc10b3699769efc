"""Bone measurements added to prediction rows (``bonenet predict --measure``).

A thin adapter over :mod:`bonenet.segment` and :mod:`bonenet.morphometry`: the study volume
(density in mg HA/cm³, e.g. an HR-pQCT trabecular region) is segmented with the standard
Gaussian filter and threshold, and measured with :func:`bonenet.morphometry.trabecular`.
Column names follow the features CSV convention (units in the names). A study that cannot
be measured (HU image, empty mask) keeps its prediction; the row gets the ``measure_failed``
QC flag and the reason in ``warnings``.
"""

from __future__ import annotations

import numpy as np

from ..volume import Volume

__all__ = ["MEASURE_COLUMNS", "measure_columns", "measure_volume"]

#: morphometry key -> output column (units in the name)
_KEYS = {"BV/TV": "bv_tv", "Tb.Th": "tb_th_mm", "Tb.Sp": "tb_sp_mm", "Tb.N": "tb_n_per_mm",
         "Conn.D": "conn_d_per_mm3", "DA": "da", "SMI": "smi"}
MEASURE_COLUMNS = (*_KEYS.values(), "tb_vbmd_mgcm3")


def measure_columns() -> tuple[str, ...]:
    """Column names :func:`measure_volume` returns."""
    return MEASURE_COLUMNS


def measure_volume(volume: Volume, *, scanner: str = "xtremect2") -> dict[str, float]:
    """Trabecular microstructure and density of one study volume.

    Parameters
    ----------
    volume : Volume
        Density image in mg HA/cm³ (HR-pQCT or calibrated QCT).
    scanner : str
        Segmentation preset of :func:`bonenet.segment.gaussian_segment`.

    Returns
    -------
    dict
        ``bv_tv`` (1), ``tb_th_mm``, ``tb_sp_mm`` (mm), ``tb_n_per_mm`` (1/mm),
        ``conn_d_per_mm3`` (1/mm³), ``da``, ``smi``, ``tb_vbmd_mgcm3`` (mean density of the
        region, mg HA/cm³).

    Raises
    ------
    SegmentationError, MorphometryError
        The volume is not a density image, or the bone mask is empty or all bone.
    """
    from ..morphometry import trabecular
    from ..segment import gaussian_segment

    mask = gaussian_segment(volume, scanner=scanner, compartment="trabecular")
    m = trabecular(mask, spacing=volume.spacing)
    out = {col: float(m[key]) for key, col in _KEYS.items()}
    out["tb_vbmd_mgcm3"] = float(np.mean(volume.array, dtype=np.float64))
    return out

"""Bone measurements added to prediction rows (``bonenet predict --measure``).

The study volume that was read for prediction is measured with the same function as
``bonenet features`` (segmentation + density and microstructure), so the columns are the
features CSV's (units in the names). A study that cannot be measured (an uncalibrated HU
image, an empty mask) keeps its prediction; the row gets the ``measure_failed`` QC flag and
the reason in ``warnings``.
"""

from __future__ import annotations

from ..volume import Volume

__all__ = ["measure_columns", "measure_volume"]


def measure_columns() -> tuple[str, ...]:
    """Every column :func:`measure_volume` may fill (HR-pQCT trabecular and cortical, QCT)."""
    from ..commands._measure import FEATURE_COLUMNS, QCT_COLUMNS

    cols = list(FEATURE_COLUMNS.values())
    return (*cols, *[c for c in QCT_COLUMNS if c not in cols])


def measure_volume(volume: Volume, *, smi: bool = True) -> dict[str, float]:
    """Density and microstructure of one calibrated study volume (mg HA/cm³ input).

    Returns
    -------
    dict
        Features-CSV columns: ``bv_tv`` (1), ``tb_th_mm``/``tb_sp_mm`` (mm), ``tb_n_per_mm``
        (1/mm), ``conn_d_per_mm3`` (1/mm³), ``da``, ``smi``, cortical ``ct_th_mm``, ``ct_po``
        and vBMD columns in mg/cm³ where the image shows them; QCT volumes give trabecular
        vBMD of the vertebral VOI.

    Raises
    ------
    CalibrationError, SegmentationError, MorphometryError
        The image is not a density image, or cannot be segmented or measured.
    """
    from ..commands._measure import measure_volume as _measure

    return _measure(volume, smi=smi)

"""Cortical and compartment measures (HR-pQCT standard and extended cortical analysis)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import MorphometryError
from ._validate import binary, same_shape, spacing3
from .thickness import local_thickness

__all__ = ["CORTICAL_KEYS", "cortical"]

CORTICAL_KEYS = ("Ct.Th", "Ct.Th.SD", "Ct.Po", "Ct.Po.N", "Tt.Ar", "Ct.Ar", "Tb.Ar",
                 "Tt.vBMD", "Ct.vBMD", "Tb.vBMD")


def cortical(cortex: np.ndarray, trabecular: np.ndarray, *, spacing: float | Sequence[float],
             bone: np.ndarray | None = None, density: np.ndarray | None = None,
             min_pore_voxels: int = 5, convention: str = "subvoxel") -> dict[str, float]:
    """Cortical thickness, porosity, compartment areas and densities.

    Parameters
    ----------
    cortex : ndarray (P, R, C), bool or 0/1
        The cortical compartment (between the periosteal and endosteal contours).
    trabecular : ndarray, same shape
        The trabecular compartment (inside the endosteal contour).
    spacing : float or (3,) floats, keyword-only
        Voxel size in mm; axis 0 (P) is the slice axis for the areas.
    bone : ndarray, optional
        Segmented bone; cortical pores are the non-bone voxels of ``cortex`` in connected
        components (26-connected) of at least ``min_pore_voxels``. Without it Ct.Po is NaN.
    density : ndarray of float, optional
        Calibrated density (mg HA/cm³) for the vBMD values (NaN without it).
    min_pore_voxels : int
        Smallest pore kept (voxels); smaller gaps are noise.
    convention : {"subvoxel", "hildebrand"}
        Thickness convention of Ct.Th (:func:`~bonenet.morphometry.local_thickness`).

    Returns
    -------
    dict
        ``"Ct.Th"``, ``"Ct.Th.SD"`` (mm, local thickness of the compartment, pores filled);
        ``"Ct.Po"`` (pore volume / compartment volume, 1); ``"Ct.Po.N"`` (pores, count);
        ``"Tt.Ar"``, ``"Ct.Ar"``, ``"Tb.Ar"`` (mm², mean per slice); ``"Tt.vBMD"``,
        ``"Ct.vBMD"``, ``"Tb.vBMD"`` (mg HA/cm³).
    """
    from scipy import ndimage as ndi

    sp = spacing3(spacing)
    ct = binary(cortex, name="cortex")
    tb = binary(trabecular, name="trabecular", allow_empty=True)
    same_shape(ct, tb, names=("cortex", "trabecular"))
    if (ct & tb).any():
        raise MorphometryError("cortex and trabecular compartments overlap; they must be disjoint")
    th = local_thickness(ct, spacing=sp, convention=convention)
    vals = th[ct].astype(np.float64)
    out: dict[str, float] = {"Ct.Th": float(vals.mean()), "Ct.Th.SD": float(vals.std())}
    del th
    if bone is not None:
        b = binary(bone, name="bone", allow_empty=True)
        same_shape(ct, b, names=("cortex", "bone"))
        if min_pore_voxels < 1:
            raise MorphometryError(f"min_pore_voxels must be ≥ 1; got {min_pore_voxels}")
        lab, n = ndi.label(ct & ~b, structure=np.ones((3, 3, 3), bool))
        sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        keep = sizes >= min_pore_voxels
        out["Ct.Po"] = float(sizes[keep].sum()) / float(ct.sum())
        out["Ct.Po.N"] = float(keep.sum())
    else:
        out["Ct.Po"] = float("nan")
        out["Ct.Po.N"] = float("nan")
    nslices = ct.shape[0]
    pix = sp[1] * sp[2]
    tt = ct | tb
    out["Tt.Ar"] = float(tt.sum()) * pix / nslices
    out["Ct.Ar"] = float(ct.sum()) * pix / nslices
    out["Tb.Ar"] = float(tb.sum()) * pix / nslices
    if density is not None:
        rho = np.asarray(density)
        if rho.shape != ct.shape:
            raise MorphometryError(f"density has shape {rho.shape} but cortex has {ct.shape}")
        out["Tt.vBMD"] = float(rho[tt].mean())
        out["Ct.vBMD"] = float(rho[ct].mean())
        out["Tb.vBMD"] = float(rho[tb].mean()) if tb.any() else float("nan")
    else:
        out["Tt.vBMD"] = out["Ct.vBMD"] = out["Tb.vBMD"] = float("nan")
    return out

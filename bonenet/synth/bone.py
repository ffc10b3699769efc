"""Whole-bone phantoms: distal radius / tibia sections and a lumbar vertebral body.

Each returns bone *fraction* (partial volume, 0–1) plus compartment labels, in physical
units, so a scanner model (``scanner.py``) can turn it into HR-pQCT or QCT values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import SynthError
from .microstructure import trabecular_noise

__all__ = ["BoneSection", "distal_section", "vertebral_body"]

#: Label values in :attr:`BoneSection.labels`.
OUTSIDE, CORTEX, TRABECULAR = 0, 1, 2

# Periosteal semi-axes (mm) of the ultradistal sections (XtremeCT standard site).
_SEMI_AXES = {"radius": (10.5, 7.5), "tibia": (16.0, 13.5)}


@dataclass(frozen=True)
class BoneSection:
    """A bone phantom: ``fraction`` (bone volume fraction per voxel), ``labels``
    (0 outside, 1 cortex, 2 trabecular compartment), ``spacing`` (mm) and ``truth``."""

    fraction: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, float, float]
    truth: dict[str, Any] = field(default_factory=dict)


def _outline(shape: tuple[int, int], spacing: tuple[float, float], semi: tuple[float, float],
             rng: np.random.Generator) -> np.ndarray:
    """A smooth irregular periosteal outline (2D mask), ellipse plus random harmonics."""
    r, c = np.meshgrid((np.arange(shape[0]) - (shape[0] - 1) / 2) * spacing[0],
                       (np.arange(shape[1]) - (shape[1] - 1) / 2) * spacing[1], indexing="ij")
    theta = np.arctan2(r / semi[1], c / semi[0])
    rho = np.hypot(c / semi[0], r / semi[1])
    wobble = 1.0
    for k in (2, 3, 4, 5):
        wobble = wobble + rng.normal(0, 0.05 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return rho <= wobble


def distal_section(shape: tuple[int, int, int], *, spacing: tuple[float, float, float],
                   bone: str = "radius", ct_th: float = 0.93, ct_po: float = 0.03,
                   bv_tv: float = 0.16, tb_th: float = 0.22, tb_sp: float = 0.93,
                   anisotropy: float = 1.3, bone_loss: float = 0.0,
                   seed: int | np.random.SeedSequence = 0) -> BoneSection:
    """A distal radius or tibia section: cortex with pores around trabecular bone.

    Parameters
    ----------
    shape : tuple of 3 ints
        (P, R, C); axis 0 runs along the bone. The section is centred in-plane.
    spacing : tuple of 3 floats
        mm per voxel.
    bone : {"radius", "tibia"}
        Sets the outline size (radius ≈ 21 × 15 mm, tibia ≈ 32 × 27 mm).
    ct_th : float
        Cortical thickness in mm (radius ≈ 0.9, tibia ≈ 1.4 in postmenopausal women).
    ct_po : float
        Cortical porosity (pore volume / cortical volume), pores are canals along axis 0.
    bv_tv, tb_th, tb_sp, anisotropy, bone_loss :
        Trabecular targets, see :func:`~bonenet.synth.microstructure.trabecular_noise`.
    seed : int or SeedSequence

    Returns
    -------
    BoneSection
    """
    if bone not in _SEMI_AXES:
        raise SynthError(f"bone={bone!r}: use 'radius' or 'tibia'")
    if not 0.1 <= ct_th <= 4.0 or not 0.0 <= ct_po <= 0.5:
        raise SynthError(f"ct_th={ct_th} mm, ct_po={ct_po}: use Ct.Th 0.1–4 mm, Ct.Po 0–0.5")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    s_shape, s_trab, s_pore = ss.spawn(3)
    rng = np.random.default_rng(s_shape)
    outline = _outline(shape[1:], spacing[1:], _SEMI_AXES[bone], rng)
    depth = ndimage.distance_transform_edt(outline, sampling=spacing[1:])
    cortex2d = outline & (depth <= ct_th)
    trab2d = outline & (depth > ct_th)
    labels = np.zeros(shape, dtype=np.uint8)
    labels[:, cortex2d] = CORTEX
    labels[:, trab2d] = TRABECULAR
    trab = trabecular_noise(shape, spacing=spacing, bv_tv=bv_tv, tb_th=tb_th, tb_sp=tb_sp,
                            anisotropy=anisotropy, bone_loss=bone_loss, seed=s_trab)
    fraction = np.where(labels == TRABECULAR, trab.fraction, 0).astype(np.float32)
    # Haversian / resorption canals: discs in-plane, extruded along the bone with jitter.
    prng = np.random.default_rng(s_pore)
    pore_r = 0.09  # mm, typical canal radius seen at HR-pQCT resolution
    cort_area = cortex2d.sum() * spacing[1] * spacing[2]
    n_pores = round(ct_po * cort_area / (np.pi * pore_r**2))
    pores2d = np.zeros(shape[1:], dtype=bool)
    cand = np.argwhere(cortex2d)
    if n_pores and len(cand):
        centres = cand[prng.integers(0, len(cand), n_pores)]
        marks = np.zeros(shape[1:], dtype=bool)
        marks[centres[:, 0], centres[:, 1]] = True
        pores2d = ndimage.distance_transform_edt(~marks, sampling=spacing[1:]) <= pore_r
    cort = (labels == CORTEX).astype(np.float32)
    cort[:, pores2d] = 0.0
    fraction += cort
    ct_po_true = float(1.0 - cort[:, cortex2d].mean()) if cortex2d.any() else 0.0
    truth = dict(trab.truth)
    truth.update({"bone": bone, "ct_th_mm": float(ct_th), "ct_po": ct_po_true,
                  "bv_tv": float(trab.mask[labels == TRABECULAR].mean())})
    return BoneSection(fraction=fraction, labels=labels, spacing=tuple(spacing), truth=truth)


def vertebral_body(shape: tuple[int, int, int], *, spacing: tuple[float, float, float],
                   tb_vbmd: float = 150.0, ct_vbmd: float = 450.0, shell_mm: float = 0.8,
                   height_mm: float = 26.0, disc_mm: float = 7.0, seed: int | np.random.SeedSequence = 0) -> dict[str, np.ndarray]:
    """A lumbar vertebral body in soft tissue, as mineral density and tissue maps.

    Parameters
    ----------
    shape : tuple of 3 ints
        (P, R, C) with axis 0 = superior–inferior, axis 1 = anterior→posterior, axis 2 =
        right→left. The vertebral body is centred in-plane, a little anterior.
    spacing : tuple of 3 floats
        mm per voxel (QCT: 0.5–1 mm in-plane, 1–3 mm slices).
    tb_vbmd : float
        Trabecular volumetric BMD, mg HA/cm³ (healthy young ≈ 180, osteoporotic < 80).
    ct_vbmd : float
        Mineral density of the cortical shell, mg HA/cm³ (partial-volumed at QCT).
    shell_mm : float
        Shell thickness in mm.
    height_mm, disc_mm : float
        Vertebral body height and intervertebral disc height (the column repeats along axis 0,
        centred on one body).
    seed : int or SeedSequence

    Returns
    -------
    dict
        ``density`` (mg HA/cm³, float32), ``tissue`` (0 air, 1 fat, 2 muscle/soft tissue,
        3 bone marrow space / bone) and ``trabecular`` (bool, the trabecular VOI truth).
    """
    if not 0.0 <= tb_vbmd <= 400.0:
        raise SynthError(f"tb_vbmd={tb_vbmd}: trabecular vBMD must be 0–400 mg/cm3")
    rng = np.random.default_rng(seed)
    p, r, c = (np.arange(n) - (n - 1) / 2 for n in shape)
    zz, yy, xx = np.meshgrid(p * spacing[0], r * spacing[1], c * spacing[2], indexing="ij")
    half_w, half_d = 21.0 * rng.uniform(0.92, 1.08), 16.0 * rng.uniform(0.92, 1.08)
    yc = -4.0
    period = height_mm + disc_mm
    in_body = np.abs(((zz + period / 2) % period) - period / 2) <= height_mm / 2
    body = ((xx / half_w) ** 2 + ((yy - yc) / half_d) ** 2 <= 1.0) & in_body
    # posterior arch: a ring behind the body (pedicles + lamina) around the spinal canal
    canal = (xx / 9.0) ** 2 + ((yy - (yc + half_d + 8.0)) / 7.0) ** 2
    arch = (canal > 1.0) & (canal <= 2.0) & (yy > yc + half_d - 2) & in_body
    depth = ndimage.distance_transform_edt(body, sampling=spacing)
    shell = body & (depth <= shell_mm)
    density = np.zeros(shape, dtype=np.float32)
    density[body] = tb_vbmd
    density[shell] = ct_vbmd
    density[arch] = ct_vbmd * 0.8
    trabecular = body & (depth > shell_mm + max(spacing))
    tissue = np.full(shape, 2, dtype=np.uint8)
    fat = ((xx / (shape[2] * spacing[2] / 2)) ** 2 + (yy / (shape[1] * spacing[1] / 2)) ** 2) > 0.8
    tissue[fat] = 1
    tissue[body | arch] = 3
    return {"density": density, "tissue": tissue, "trabecular": trabecular}

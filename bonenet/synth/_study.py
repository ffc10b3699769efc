"""Make and write one subject's study (runs in worker processes; private)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BoneNetError, SynthError
from ..volume import Volume
from .bone import distal_section, vertebral_body
from .microstructure import feasible_targets, trabecular_noise
from .scanner import project_areal, simulate_hrpqct, simulate_qct

__all__ = ["build_volume", "default_format", "make_study"]


def default_format(modality: str) -> str:
    """Study format per modality: Scanco AIM for HR-pQCT, a DICOM CT series for QCT, NIfTI for
    the DXA-like projection (its g/cm² values have no DICOM CT meaning)."""
    return {"hrpqct": "aim", "qct": "dicom"}.get(modality, "nifti")


def build_volume(task: dict[str, Any]) -> tuple[Volume, dict[str, float]]:
    """The image of one subject and the truth measured on its phantom."""
    site = task["site"]
    tg = task["targets"]
    size = int(task["roi_size"])
    seed = task["seed"]
    s_bone, s_scan = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key).spawn(2)
    truth: dict[str, float] = {}
    if task["modality"] == "hrpqct":
        sc = site.hrpqct
        sp = (sc.voxel_mm,) * 3
        ft = feasible_targets(bv_tv=tg["bv_tv"], tb_th=tg["tb_th_mm"], tb_sp=tg["tb_sp_mm"],
                              anisotropy=1.3)
        kw = {"bv_tv": ft["bv_tv"], "tb_th": ft["tb_th_mm"], "tb_sp": ft["tb_sp_mm"],
              "anisotropy": 1.3, "seed": s_bone}
        if task["roi"] == "section":
            side = int(np.ceil(24.0 / sc.voxel_mm))
            sec = distal_section((size, side, side), spacing=sp, ct_th=tg["ct_th_mm"],
                                 ct_po=tg["ct_po"], **kw)
            frac, mt = sec.fraction, sec.truth
            truth["ct_po"] = mt["ct_po"]
        else:
            ms = trabecular_noise((size,) * 3, spacing=sp, **kw)
            frac, mt = ms.fraction, ms.truth
        truth.update({"bv_tv": mt["bv_tv"], "tb_th_mm": mt["tb_th_mm"], "tb_sp_mm": mt["tb_sp_mm"],
                      "tb_n_per_mm": mt["tb_n_per_mm"],
                      "tb_vbmd_mgcm3": mt["bv_tv"] * sc.bone_density})
        vol = simulate_hrpqct(frac, spacing=sp, scanner=sc, seed=s_scan)
    elif task["modality"] == "qct":
        sc = site.qct
        sp = (sc.slice_mm, sc.pixel_mm, sc.pixel_mm)
        slices = max(8, round(30.0 / sc.slice_mm))
        vb = vertebral_body((slices, size, size), spacing=sp, tb_vbmd=tg["tb_vbmd_mgcm3"],
                            seed=s_bone)
        vol = simulate_qct(vb["density"], vb["tissue"], spacing=sp, scanner=sc, seed=s_scan)
        truth.update({"qct_a_hu": sc.a_hu, "qct_b_hu_per_mg": sc.b_hu_per_mg})
    else:
        px = site.qct.pixel_mm
        sp = (px, px, px)
        depth = int(np.ceil(80.0 / px))
        vb = vertebral_body((size, depth, size), spacing=sp, tb_vbmd=tg["tb_vbmd_mgcm3"],
                            seed=s_bone)
        vol = project_areal(vb["density"], spacing=sp, seed=s_scan)
        body2d = (vb["tissue"] == 3).any(axis=1)[::-1]
        truth["spine_abmd_gcm2"] = float(vol.array[0][body2d].mean())
    vol.meta.update({"subject_id": task["subject_id"], "site": site.name})
    return vol, truth


def make_study(task: dict[str, Any]) -> dict[str, Any]:
    """Build one study and write it under ``out/studies/<subject_id>/``; never raises for a
    bad subject — the error is returned so the batch goes on."""
    sid = task["subject_id"]
    try:
        vol, truth = build_volume(task)
        if task["out"] is None:
            return {"volume": vol, "truth": truth, "image": ""}
        from .. import io

        out = Path(task["out"])
        fmt = task["format"]
        if fmt == "aim":
            cal = vol.meta.get("scanco")
            if cal is None:
                raise SynthError(f"{sid}: AIM output needs an HR-pQCT study; use format='dicom' "
                                 "or 'nifti' for this modality")
            rel = Path("studies") / sid / f"{sid}.aim"
            io.save(vol, out / rel, format="aim", mu_scaling=cal["mu_scaling"],
                    density_slope=cal["density_slope"], density_intercept=cal["density_intercept"])
        elif fmt == "dicom":
            rel = Path("studies") / sid / "series"
            io.save(vol, out / rel, format="dicom", uid_seed=f"{task['uid_seed']}-{task['modality']}-{sid}",
                    patient_id=sid, patient_name=sid, series_description=f"synthetic {task['modality']}",
                    modality="CT")
        else:
            rel = Path("studies") / sid / "image.nii.gz"
            io.save(vol, out / rel, format="nifti")
        return {"image": rel.as_posix(), "truth": truth, "volume": None}
    except (BoneNetError, OSError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}

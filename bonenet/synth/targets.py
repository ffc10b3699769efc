"""From a subject's BMD and latent bone quality to the bone their images show.

The latent ``bone_quality`` q (standard normal, independent of BMD) drives microstructure
strongly, BMD (femoral-neck T-score) less so, so the images hold risk information that the
clinical variables lack. Per SD of q at the distal radius: BV/TV +0.028, Tb.Sp −0.11 mm,
Tb.Th +0.006 mm, Ct.Th +0.06 mm; per SD of T-score: BV/TV +0.012, Tb.Sp −0.04 mm. At the
cohort mean this gives BV/TV ≈ 0.15, Tb.Th ≈ 0.215 mm, Tb.Sp ≈ 1.0 mm, Ct.Th ≈ 0.9 mm
(XtremeCT II, postmenopausal women: Samelson/Boutroy), and subjects who fracture sit about
−0.03 BV/TV and +0.15 mm Tb.Sp below those who do not. Where the phantom generator cannot build a
(BV/TV, Tb.Th, Tb.Sp) triple, Tb.Sp is raised until it can (``feasible_targets``; truth.csv
holds the values built). QCT lumbar trabecular vBMD:
100 mg/cm³ + 14 per SD of T-score (spine–hip concordance r ≈ 0.7) + 18 per SD of q.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .sites import Site

__all__ = ["bone_targets"]


def _z_tscore(df: pd.DataFrame) -> np.ndarray:
    return (df["fn_tscore"].to_numpy(dtype=float) + 1.5) / 0.95


def bone_targets(df: pd.DataFrame, *, rng: np.random.Generator, modality: str,
                 sites: dict[str, Site]) -> pd.DataFrame:
    """True morphometry each subject's phantom is built to (physical units).

    Parameters
    ----------
    df : DataFrame
        Clinical columns plus ``bone_quality`` and ``site``.
    rng : numpy Generator
        Individual variation not explained by BMD or q (small).
    modality : str
        ``"hrpqct"``, ``"qct"`` or ``"dxa"``.
    sites : dict
        Site name → Site (scanner bone density for Tb.vBMD).

    Returns
    -------
    DataFrame
        ``bv_tv``, ``tb_th_mm``, ``tb_sp_mm``, ``tb_n_per_mm``, ``ct_th_mm``, ``ct_po``,
        ``tb_vbmd_mgcm3`` (HR-pQCT: BV/TV × the scanner's bone density; QCT/DXA: lumbar
        trabecular vBMD).
    """
    n = len(df)
    zt = _z_tscore(df)
    q = df["bone_quality"].to_numpy(dtype=float)
    age10 = (df["age"].to_numpy(dtype=float) - 70.0) / 10.0
    e = rng.standard_normal((4, n))
    bv_tv = np.clip(0.150 + 0.012 * zt + 0.028 * q + 0.004 * e[0], 0.06, 0.28)
    tb_th = np.clip(0.215 + 0.005 * zt + 0.006 * q + 0.004 * e[1], 0.17, 0.26)
    tb_sp = np.clip(1.00 - 0.04 * zt - 0.11 * q + 0.02 * e[2], 0.62, 1.55)
    ct_th = np.clip(0.90 + 0.07 * zt + 0.06 * q + 0.03 * e[3], 0.35, 1.5)
    ct_po = np.clip(0.03 + 0.008 * age10 - 0.008 * q, 0.005, 0.12)
    if modality == "hrpqct":
        dens = np.array([sites[s].hrpqct.bone_density for s in df["site"]])
        vbmd = bv_tv * dens
    else:
        vbmd = np.clip(100.0 + 20.0 * (0.7 * zt + 0.71 * e[0]) + 18.0 * q, 20.0, 260.0)
    return pd.DataFrame({
        "bv_tv": bv_tv, "tb_th_mm": tb_th, "tb_sp_mm": tb_sp,
        "tb_n_per_mm": 1.0 / (tb_th + tb_sp), "ct_th_mm": ct_th, "ct_po": ct_po,
        "tb_vbmd_mgcm3": vbmd,
    }, index=df.index)

"""Synthetic routine CT of the spine with known vertebral heights, deformities and density.

:func:`synth_spine_ct` builds an axial CT (orientation SPL, like a DICOM series sorted feet
to head) of a torso: air, subcutaneous fat, soft tissue, paraspinal muscles, the aorta and
a column of vertebrae (body with a 1 mm cortex, pedicles, lamina, spinous process)
separated by discs, plus a multilabel mask in TotalSegmentator v2 ``total`` ids. Every
tissue has its nominal CT number (air −1000, fat −100, muscle 50, blood 40 HU), and the
scanner is simulated by ``image = gain · HU + offset + noise``, so internal calibration can
be checked against the known trabecular density, and heights against the known geometry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SynthError
from ..volume import Volume

__all__ = ["SyntheticSpine", "synth_spine_cohort", "synth_spine_ct"]

_TS = {**{f"L{i}": 32 - i for i in range(1, 6)}, **{f"T{i}": 44 - i for i in range(1, 13)}}
_HALF_LAT, _HALF_AP = 22.0, 16.0  # vertebral body semi-axes (mm)
_DISC_MM = 8.0
_CORTEX_MM = 1.0


@dataclass
class SyntheticSpine:
    """A synthetic spine CT with its masks and the truth.

    Attributes
    ----------
    volume : Volume
        The CT (units ``"HU"`` as the scanner reports them: ``gain · HU + offset``).
    labels : ndarray of int32 (P, R, C)
        TotalSegmentator ``total`` ids (vertebrae, aorta 52, autochthon 86/87).
    body : ndarray of bool
        The vertebral bodies (what the ``vertebrae_body`` task outputs).
    heights : dict of level → (anterior, middle, posterior) mm
        True heights at the measurement positions.
    trabecular_hu : dict of level → true trabecular HU (before gain/offset)
    density : dict of level → mg/cm³ of K2HPO4 (``trabecular_hu / hu_per_mg``)
    """

    volume: Volume
    labels: np.ndarray
    body: np.ndarray
    heights: dict[str, tuple[float, float, float]]
    trabecular_hu: dict[str, float]
    density: dict[str, float]
    meta: dict[str, float] = field(default_factory=dict)


def _height_map(f: np.ndarray, r: np.ndarray, ha: float, hm: float, hp: float) -> np.ndarray:
    """Body height at AP fraction ``f`` (0 posterior … 1 anterior) and radius ``r`` (0…1)."""
    lin = hp + (ha - hp) * np.clip((f - 0.2) / 0.6, 0.0, 1.0)
    dep = max(0.0, 0.5 * (ha + hp) - hm)
    bump = np.clip((0.6 - r) / 0.25, 0.0, 1.0)  # flat for r ≤ 0.35, none beyond 0.6
    return lin - dep * bump


def synth_spine_ct(levels: Sequence[str] = ("T12", "L1", "L2"), *,
                   heights: Mapping[str, tuple[float, float, float]] | None = None,
                   trabecular_hu: float | Mapping[str, float] = 150.0,
                   spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                   fov_mm: tuple[float, float] = (220.0, 280.0), gain: float = 1.0,
                   offset: float = 0.0, noise_hu: float = 0.0, hu_per_mg: float = 1.22,
                   blood_hu: float = 40.0, seed: int = 0) -> SyntheticSpine:
    """Synthesise a spine CT.

    Parameters
    ----------
    levels : sequence of str
        Adjacent levels, cranial first (T1–L5).
    heights : mapping level → (anterior, middle, posterior) mm, optional
        Default 25, 24, 25.5 mm (a normal, slightly biconcave lumbar body). A wedge has a
        low anterior height, a biconcave deformity a low middle, a crush all three low.
    trabecular_hu : float or mapping level → HU
        True trabecular CT number.
    spacing : (P, R, C) mm
    fov_mm : (AP rows, lateral columns) field of view, mm
    gain, offset : float
        Scanner miscalibration: image = gain · HU + offset.
    noise_hu : float
        Gaussian noise SD, HU.
    hu_per_mg : float
        HU per mg/cm³ K2HPO4 used for the ``density`` truth.
    blood_hu : float
        Aortic blood CT number (40 unenhanced; 150–300 with IV contrast).
    seed : int
    """
    import edt

    unknown = [lv for lv in levels if lv not in _TS]
    if unknown or not levels:
        raise SynthError(f"levels {unknown or levels} unknown; use T1–L5 like ('T12', 'L1')")
    order = sorted(_TS, key=lambda k: -_TS[k])  # T1 … L5
    idx = [order.index(lv) for lv in levels]
    if idx != list(range(idx[0], idx[0] + len(idx))):
        raise SynthError(f"levels {list(levels)} must be adjacent and cranial first")
    hts = {lv: tuple(float(h) for h in (heights or {}).get(lv, (25.0, 24.0, 25.5))) for lv in levels}
    # the middle height is the wedge's mean height less any central depression
    hts = {lv: (a, min(m, 0.5 * (a + p)), p) for lv, (a, m, p) in hts.items()}
    for lv, h in hts.items():
        if len(h) != 3 or min(h) < 5 or max(h) > 60:
            raise SynthError(f"heights[{lv!r}]={h}: give (anterior, middle, posterior) 5–60 mm")
    trab = {lv: float(trabecular_hu[lv] if isinstance(trabecular_hu, Mapping) else trabecular_hu)
            for lv in levels}
    sp = np.asarray(spacing, dtype=np.float64)
    pitch = [max(hts[lv]) + _DISC_MM for lv in levels]
    z_extent = sum(pitch) + 24.0
    shape = (int(np.ceil(z_extent / sp[0])), int(np.ceil(fov_mm[0] / sp[1])), int(np.ceil(fov_mm[1] / sp[2])))
    # world coordinates (mm): z superior, y posterior, x left; body centres at x = 0
    z = (np.arange(shape[0]) * sp[0] - z_extent / 2)[:, None, None]
    y = (np.arange(shape[1]) * sp[1] - fov_mm[0] / 2)[None, :, None]
    x = (np.arange(shape[2]) * sp[2] - fov_mm[1] / 2)[None, None, :]
    hu = np.full(shape, -1000.0, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.int32)
    trunk = (x / (0.46 * fov_mm[1])) ** 2 + ((y - 10) / (0.42 * fov_mm[0])) ** 2 <= 1
    inner = (x / (0.46 * fov_mm[1] - 15)) ** 2 + ((y - 10) / (0.42 * fov_mm[0] - 15)) ** 2 <= 1
    hu[np.broadcast_to(trunk, shape)] = -100.0
    hu[np.broadcast_to(inner, shape)] = 40.0
    yb = -5.0  # body centre (AP)
    back = yb + _HALF_AP
    musc = (np.abs(x) >= 8) & (np.abs(x) <= 38) & (y >= back + 12) & (y <= back + 48)
    musc = np.broadcast_to(musc, shape)
    hu[musc] = 50.0
    labels[musc & np.broadcast_to(x > 0, shape)] = 86
    labels[musc & np.broadcast_to(x < 0, shape)] = 87
    aorta = np.broadcast_to((x - 18) ** 2 + (y - (yb - _HALF_AP - 14)) ** 2 <= 11 ** 2, shape)
    hu[aorta] = blood_hu
    labels[aorta] = 52
    body_all = np.zeros(shape, dtype=bool)
    zc = z_extent / 2 - 12.0
    for lv, p in zip(levels, pitch, strict=True):
        zc -= p / 2
        k0 = max(int(np.floor((zc - p / 2 + z_extent / 2) / sp[0])), 0)
        k1 = min(int(np.ceil((zc + p / 2 + z_extent / 2) / sp[0])) + 1, shape[0])
        zs = z[k0:k1]
        ha, hm, hp = hts[lv]
        f = np.clip((-(y - yb) + _HALF_AP) / (2 * _HALF_AP), 0, 1)
        r = np.sqrt((x / _HALF_LAT) ** 2 + ((y - yb) / _HALF_AP) ** 2)
        h = _height_map(f, r, ha, hm, hp)
        body = (r <= 1) & (np.abs(zs - zc) <= h / 2)
        ped = ((np.abs(x) - 12) ** 2 + (zs - zc - 2) ** 2 <= 4.5 ** 2) & (y >= back - 3) & (y <= back + 13)
        lam = (np.abs(x) <= 15) & (y >= back + 12) & (y <= back + 17) & (np.abs(zs - zc - 1) <= 7)
        spin = (np.abs(x) <= 3) & (y >= back + 16) & (y <= back + 40) & (np.abs(zs - zc + 2) <= 6)
        post = ped | lam | spin
        disc = (r <= 1) & (np.abs(zs - zc) > h / 2) & (np.abs(zs - zc) <= p / 2)
        sub = hu[k0:k1]
        sub[disc] = 80.0
        depth = edt.edt(body.astype(np.uint8), anisotropy=tuple(sp), black_border=False)
        sub[body] = np.where(depth[body] <= _CORTEX_MM, 500.0, trab[lv])
        sub[post & ~body] = 450.0
        labels[k0:k1][body | post] = _TS[lv]
        body_all[k0:k1] |= body
        zc -= p / 2
    rng = np.random.default_rng(seed)
    img = gain * hu + offset
    if noise_hu > 0:
        img = img + rng.normal(0.0, noise_hu, size=shape).astype(np.float32)
    direction = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    origin = (float(x.min()), float(y.min()), float(z.min()))
    vol = Volume(img.astype(np.float32), spacing=tuple(sp), origin=origin, direction=direction,
                 units="HU", modality="CT", meta={"synthetic": "spine"})
    return SyntheticSpine(volume=vol, labels=labels, body=body_all, heights=hts,
                          trabecular_hu=trab, density={lv: v / hu_per_mg for lv, v in trab.items()},
                          meta={"gain": gain, "offset": offset, "noise_hu": noise_hu})


def synth_spine_cohort(out: str | os.PathLike[str], n: int, *, levels: Sequence[str] = ("T12", "L1", "L2"),
                       crop_level: str = "L1", seed: int = 0,
                       spacing: tuple[float, float, float] = (1.5, 1.5, 1.5)) -> Path:
    """Write a small QCT cohort with vertebra masks and return its manifest CSV.

    Each subject gets a CT (NIfTI, units HU recorded in the header) and a TotalSegmentator-id
    mask; trabecular density is drawn per subject (lognormal around 120 mg/cm³ K2HPO4), and a
    vertebra of the subject is deformed (wedge) with probability rising as density falls, so
    ``fracture`` (a prevalent deformity) is learnable from the ``crop_level`` crop.

    Manifest columns: ``subject_id``, ``image``, ``mask`` (paths relative to the manifest),
    ``vertebra`` (the level to crop), ``vbmd_mg_cm3`` (truth at that level), ``fracture``.
    """
    import csv

    import nibabel as nib

    from ..io import save

    if n < 1:
        raise SynthError(f"n={n}: need at least one subject")
    if crop_level not in levels:
        raise SynthError(f"crop_level {crop_level!r} is not among levels {list(levels)}")
    root = Path(out)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        dens = float(np.clip(rng.lognormal(np.log(120.0), 0.35), 30.0, 260.0))
        p_fx = 1.0 / (1.0 + np.exp((dens - 80.0) / 15.0))
        fx = bool(rng.random() < p_fx)
        hts = {lv: (25.0, 24.0, 25.5) for lv in levels}
        if fx:
            hts[str(rng.choice(list(levels)))] = (16.0, 21.0, 25.5)  # moderate wedge
        s = synth_spine_ct(levels, heights=hts, trabecular_hu={lv: dens * 1.22 for lv in levels},
                           spacing=spacing, fov_mm=(200.0, 240.0), noise_hu=12.0, seed=seed * 100003 + i)
        sid = f"sub{i:04d}"
        save(s.volume, root / "images" / f"{sid}.nii.gz")
        ref = s.volume.to_nibabel()
        nib.save(nib.Nifti1Image(s.labels.transpose(2, 1, 0).astype(np.uint8), ref.affine),
                 str(root / "masks" / f"{sid}.nii.gz"))
        rows.append({"subject_id": sid, "image": f"images/{sid}.nii.gz", "mask": f"masks/{sid}.nii.gz",
                     "vertebra": crop_level, "vbmd_mg_cm3": round(s.density[crop_level], 2),
                     "fracture": int(fx)})
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return manifest

"""Synthetic cohorts: clinical variables, images, outcomes and each subject's true risk.

Folder written by :func:`make_cohort` (``out=DIR``)::

    DIR/studies/<subject_id>/...   one study per subject (DICOM series / AIM / NIfTI)
    DIR/clinical.csv               subject_id + canonical clinical columns
    DIR/manifest.csv               subject_id, image (relative to DIR), site, split,
                                   fracture, time_years, event, clinical columns
    DIR/truth.csv                  latent bone quality, true morphometry, expected hip BMD
                                   change of the treatment arm, oracle_risk_10y
    DIR/cohort.json                every parameter and the seed

The same arguments give byte-identical CSV/JSON files, whatever ``workers`` is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import csv_safe_frame, write_text_atomic
from .._pool import worker_context
from .._progress import progress
from ..errors import SynthError
from .risk import (
    FRAX_COLUMNS,
    RISK_FACTORS,
    TREATMENTS,
    RiskModel,
    simulate_clinical,
    simulate_outcomes,
)
from .sites import Site, default_sites
from .targets import bone_targets

__all__ = ["MODALITIES", "Cohort", "make_cohort"]

MODALITIES = ("hrpqct", "qct", "dxa")
CLINICAL_COLUMNS = (*FRAX_COLUMNS, "treatment")
_SPLITS = ("train", "val", "test")


@dataclass
class Cohort:
    """What :func:`make_cohort` made.

    Attributes
    ----------
    out : Path or None
        Cohort folder (None when nothing was written).
    manifest, clinical, truth : DataFrame
        The tables written as ``manifest.csv``, ``clinical.csv`` and ``truth.csv``.
    config : dict
        The content of ``cohort.json``.
    images : dict
        subject_id → Volume, only when ``out`` is None and images were made.
    failed : dict
        subject_id → error message for studies that could not be made (they are left out).
    """

    out: Path | None
    manifest: pd.DataFrame
    clinical: pd.DataFrame
    truth: pd.DataFrame
    config: dict[str, Any]
    images: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path | None:
        """``DIR/manifest.csv`` or None."""
        return None if self.out is None else self.out / "manifest.csv"


def _allocate(n: int, weights: list[float]) -> list[int]:
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    raw = w * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def _csv(df: pd.DataFrame) -> str:
    return csv_safe_frame(df).to_csv(index=False, float_format="%.6g", lineterminator="\n")


def make_cohort(n: int, *, modality: str = "hrpqct", seed: int = 0,
                out: str | os.PathLike[str] | None = None, sites: tuple[Site, ...] | None = None,
                roi: str = "trabecular", roi_size: int = 64, images: bool = True,
                fracture_rate: float = 0.20, treatments: tuple[str, ...] = ("none",),
                split: tuple[float, float, float] = (0.7, 0.15, 0.15),
                format: str | None = None, workers: int | None = None,
                risk_model: RiskModel | None = None, show_progress: bool = True,
                screening: bool = False, eligible_arms: bool = False) -> Cohort:
    """Make a synthetic cohort with known true risk (see the module docstring for the folder).

    Parameters
    ----------
    n : int
        Number of subjects.
    modality : {"hrpqct", "qct", "dxa"}
        Image kind: HR-pQCT distal-radius region (mg HA/cm³), QCT lumbar vertebra with a
        calibration phantom (HU), or a DXA-like lumbar projection (g/cm²).
    seed : int
        Every random choice derives from it.
    out : path, optional
        Cohort folder to write; None keeps everything in memory.
    sites : tuple of Site, optional
        Default: :data:`~bonenet.synth.sites.DEFAULT_SITES` (3 sites, the last external).
    roi : {"trabecular", "section"}
        HR-pQCT only: a ``roi_size``³ trabecular cube, or a whole distal radius section
        (``roi_size`` slices, full cross-section; large).
    roi_size : int
        HR-pQCT cube edge / slices; QCT in-plane patient size and DXA image size (pixels).
    images : bool
        False skips images (fast path for risk-model studies); truth then holds targets.
    fracture_rate : float
        Mean 10-year fracture probability in the reference population.
    treatments : tuple of str
        Treatment arms randomised within each site (keys of ``risk.TREATMENTS``).
    split : tuple of 3 floats
        train/val/test shares within non-external sites.
    format : str, optional
        Study format: ``"nifti"``, ``"dicom"`` or ``"aim"`` (default: DICOM for qct, AIM for
        hrpqct when available, NIfTI for dxa).
    workers : int, optional
        Processes for image generation (default: up to 2).
    risk_model : RiskModel, optional
    show_progress : bool
    screening : bool
        Add the regimen-screening variables (history of breast cancer, VTE, stroke..., serum
        and urine calcium, eGFR; :mod:`bonenet.synth._screening`) to the clinical columns.
    eligible_arms : bool
        Give treatment arms only to subjects eligible for that arm's regimen
        (:func:`bonenet.clinical.screen`, default rules); others get "none". Implies
        ``screening``.

    Returns
    -------
    Cohort
    """
    if modality not in MODALITIES:
        raise SynthError(f"modality={modality!r}: use one of {', '.join(MODALITIES)}")
    if n < 1:
        raise SynthError(f"n={n}: make at least one subject")
    if roi not in ("trabecular", "section"):
        raise SynthError(f"roi={roi!r}: use 'trabecular' or 'section'")
    if not 16 <= roi_size <= 512:
        raise SynthError(f"roi_size={roi_size}: use 16–512 voxels")
    if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1.0) > 1e-6:
        raise SynthError(f"split={split}: give train/val/test shares that sum to 1")
    for t in treatments:
        if t not in TREATMENTS:
            raise SynthError(f"treatment {t!r} unknown; use one of {', '.join(TREATMENTS)}")
    sites = tuple(replace(s, case_mix=replace(s.case_mix, treatments=tuple(treatments)))
                  for s in (sites or default_sites()))
    from ._study import default_format

    fmt = format or default_format(modality)
    model = risk_model or RiskModel(fracture_rate=fracture_rate)
    root = np.random.SeedSequence(seed)
    s_clin, s_out, s_split, s_targets, s_img = root.spawn(5)
    # ---- clinical, per site
    frames = []
    for site, count, ss in zip(sites, _allocate(n, [s.weight for s in sites]),
                               s_clin.spawn(len(sites)), strict=True):
        if count == 0:
            continue
        df = simulate_clinical(count, rng=np.random.default_rng(ss), case_mix=site.case_mix)
        df.insert(0, "site", site.name)
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df.insert(0, "subject_id", [f"SYN{i:05d}" for i in range(len(df))])
    screen_cols: list[str] = []
    if screening or eligible_arms:  # own seed stream: the default path stays byte-identical
        from ._screening import assign_eligible_arms, simulate_screening

        s_screen, s_arms = root.spawn(2)
        extra = simulate_screening(df, rng=np.random.default_rng(s_screen))
        screen_cols = list(extra.columns)
        df = pd.concat([df, extra], axis=1)
        if eligible_arms:
            df["treatment"] = assign_eligible_arms(df, list(dict.fromkeys(treatments)),
                                                   rng=np.random.default_rng(s_arms))
    # ---- outcomes (baseline hazard fixed by the reference population, not by n)
    outcomes = simulate_outcomes(df, model=model, rng=np.random.default_rng(s_out),
                                 baseline=model.reference_baseline())
    # ---- split
    srng = np.random.default_rng(s_split)
    ext = {s.name for s in sites if s.external}
    u = srng.random(len(df))
    cuts = np.cumsum(split)
    splits = np.asarray(_SPLITS)[np.searchsorted(cuts[:-1], u, side="right")]
    splits = np.where(df["site"].isin(ext), "external", splits)
    # ---- bone parameters (targets) per subject
    site_by_name = {s.name: s for s in sites}
    targets = bone_targets(df, rng=np.random.default_rng(s_targets), modality=modality,
                           sites=site_by_name)
    hip_gain = pd.DataFrame({"hip_bmd_change_pct": [TREATMENTS[t].hip_pct for t in df["treatment"]]},
                            index=df.index)
    truth = pd.concat([df[["subject_id", "site", "bone_quality"]], targets, hip_gain,
                       outcomes[["oracle_risk_10y", "t_fracture_years", "t_death_years"]]], axis=1)
    manifest = pd.concat([df[["subject_id"]], pd.DataFrame({"image": ""}, index=df.index),
                          df[["site"]], pd.DataFrame({"split": splits}, index=df.index),
                          outcomes[["fracture", "time_years", "event"]],
                          df[[*CLINICAL_COLUMNS, *screen_cols]]], axis=1)
    clinical = df[["subject_id", *CLINICAL_COLUMNS, *screen_cols]].copy()
    out_path = Path(out) if out is not None else None
    result = Cohort(out=out_path, manifest=manifest, clinical=clinical, truth=truth, config={})
    if images:
        _make_images(result, df, targets, modality=modality, roi=roi, roi_size=roi_size,
                     sites=site_by_name, seed_root=s_img, fmt=fmt, workers=workers,
                     show_progress=show_progress)
    result.config = {
        "bonenet_version": __import__("bonenet").__version__,
        "n": n, "modality": modality, "seed": seed, "roi": roi, "roi_size": roi_size,
        "images": images, "format": fmt if images else None,
        "fracture_rate": model.fracture_rate, "treatments": list(treatments),
        "split": list(split),
        **({"screening": True, "eligible_arms": eligible_arms,
            "treatment_counts": {k: int(v) for k, v in df["treatment"].value_counts().sort_index().items()}}
           if screen_cols else {}),
        "risk_model": {"relative_risks": model.relative_risks,
                       "baseline_hazard_per_year": model.reference_baseline(),
                       "death_rate_70": model.death_rate_70,
                       "death_per_year_of_age": model.death_per_year_of_age,
                       "table": [dict(zip(("factor", "rr", "per", "source"), r, strict=True))
                                 for r in RISK_FACTORS]},
        "treatment_table": {k: {**asdict(v), "rr_mof": v.rr_mof} for k, v in TREATMENTS.items()},
        "sites": [asdict(s) for s in sites],
        "failed": sorted(result.failed),
    }
    if out_path is not None:
        _write_tables(result)
    return result


def _write_tables(c: Cohort) -> None:
    assert c.out is not None
    c.out.mkdir(parents=True, exist_ok=True)
    ok = ~c.manifest["subject_id"].isin(list(c.failed))
    write_text_atomic(c.out / "clinical.csv", _csv(c.clinical[ok]))
    write_text_atomic(c.out / "manifest.csv", _csv(c.manifest[ok]))
    write_text_atomic(c.out / "truth.csv", _csv(c.truth[ok]))
    write_text_atomic(c.out / "cohort.json", json.dumps(c.config, indent=2, sort_keys=True,
                                                         default=str) + "\n")
    if c.failed:
        lines = [f"{sid}\t{msg}" for sid, msg in sorted(c.failed.items())]
        write_text_atomic(c.out / "failed.tsv", "subject_id\terror\n" + "\n".join(lines) + "\n")


def _make_images(c: Cohort, df: pd.DataFrame, targets: pd.DataFrame, *, modality: str,
                 roi: str, roi_size: int, sites: dict[str, Site], seed_root: np.random.SeedSequence,
                 fmt: str, workers: int | None, show_progress: bool) -> None:
    from ._study import make_study

    seeds = seed_root.spawn(len(df))
    tasks = [{"subject_id": sid, "modality": modality, "roi": roi, "roi_size": roi_size,
              "site": sites[site], "targets": targets.iloc[i].to_dict(), "seed": seeds[i],
              "out": None if c.out is None else str(c.out), "format": fmt,
              "uid_seed": seed_root.entropy}
             for i, (sid, site) in enumerate(zip(df["subject_id"], df["site"], strict=True))]
    nproc = workers if workers is not None else min(2, os.cpu_count() or 1)
    desc = f"synth {modality}"
    if nproc > 1 and len(tasks) > 1:
        from concurrent.futures import ProcessPoolExecutor

        # never plain fork: this process's thread pools (numba, OpenMP, torch) may have run,
        # and a forked child can block forever on a lock held at fork time
        ctx = worker_context(["numpy", "bonenet.synth._study"], import_main=False)
        with ProcessPoolExecutor(max_workers=nproc, mp_context=ctx) as ex:
            results = list(progress(ex.map(make_study, tasks, chunksize=4), desc=desc,
                                    total=len(tasks), unit="subject",
                                    disable=None if show_progress else True))
    else:
        results = [make_study(t) for t in progress(tasks, desc=desc, total=len(tasks),
                                                    unit="subject",
                                                    disable=None if show_progress else True)]
    rel, measured = [], []
    for sid, res in zip(df["subject_id"], results, strict=True):
        if res.get("error"):
            c.failed[sid] = res["error"]
        if res.get("volume") is not None:
            c.images[sid] = res["volume"]
        rel.append(res.get("image", ""))
        measured.append(res.get("truth", {}))
    c.manifest["image"] = rel
    upd = pd.DataFrame(measured, index=c.truth.index)
    for col in upd.columns:  # truth measured on the phantom replaces the targets
        c.truth[col] = upd[col].where(upd[col].notna(), c.truth.get(col))

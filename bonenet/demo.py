"""The main job, end to end on synthetic data: ``bonenet demo`` / :func:`run_demo`.

1. a synthetic HR-pQCT cohort (several sites, the last one external; image studies, a clinical
   spreadsheet, outcomes and each subject's true risk);
2. bone measurements per study (``features.csv``) when ``bonenet.morphometry`` is available;
3. the fused (image + clinical) model and the clinical-only model trained with Lightning,
   the external site held out;
4. the classical baselines (clinical LR, LASSO, random forest, XGBoost) on clinical (+
   morphometric) features;
5. one evaluation report comparing all of them on the external site (discrimination with
   CIs, calibration, decision curves, reclassification), with plots;
6. ``bonenet predict`` over the external site's study folders (two deliberately broken
   studies added, to show ``errors.csv``), checked against the training run's own test
   predictions.

Every stage calls library functions. A stage whose room is missing from this installation is
reported as skipped with the reason, never faked.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._atomic import csv_safe_frame, write_text_atomic
from ._research import RESEARCH_NOTICE

__all__ = ["DemoResult", "DemoState", "demo_settings", "run_demo"]

log = logging.getLogger(__name__)
DEMO_SALT = "bonenet-demo-salt-not-secret"

#: What the demo's figures are, printed under them and stored in ``demo.json``.
DEMO_WORLD_NOTE = (
    "These AUCs come from bonenet's synthetic world (docs/synth.md): FRAX-style hazards at given "
    "BMD, a latent bone-quality term (what the images see) with the hazard ratio HR-pQCT "
    "studies report after adjusting for femoral-neck aBMD, deaths as a competing event. They "
    "measure the software on known truth, not clinical performance.")


@dataclass
class DemoResult:
    """Where the demo wrote things and what it measured."""

    out: Path
    stages: dict[str, str] = field(default_factory=dict)     # stage -> "ok (12 s)" / "skipped: why"
    headline: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"bonenet demo finished in {self.seconds / 60:.1f} min — outputs in {self.out}"]
        for name, status in self.stages.items():
            lines.append(f"  {name:<10} {status}")
        aucs = self.headline.get("auc_external", {})
        if aucs:
            site = self.headline.get("external_site", "?")
            lines.append(f"external site {site!r} (n={self.headline.get('n_external')}, "
                         f"{self.headline.get('events_external')} fractures): AUC [95% CI]")
            for m, a in sorted(aucs.items(), key=lambda kv: -kv[1][0]):
                lines.append(f"  {m:<12} {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}]")
        if "oracle_auc" in self.headline:
            lines.append(f"  {'oracle':<12} {self.headline['oracle_auc']:.3f} (true risk, the ceiling)")
        if "predict" in self.headline:
            p = self.headline["predict"]
            lines.append(f"predict: {p['predicted']} studies predicted, {p['failed']} in errors.csv "
                         f"({p['rate']:.0f} studies/min); max |predict - training test| = "
                         f"{p.get('max_abs_diff', float('nan')):.1e}")
        for k in ("report", "predictions", "errors"):
            if k in self.paths:
                lines.append(f"{k + ':':<13}{self.paths[k]}")
        if aucs:
            lines.append(DEMO_WORLD_NOTE)
        lines.append(RESEARCH_NOTICE)
        return "\n".join(lines)


def demo_settings(*, quick: bool, n: int | None) -> dict[str, Any]:
    """Sizes of the demo (``quick`` is the end-to-end test's reduced variant)."""
    if quick:
        return {"n": n or 60, "roi_size": 32, "roi": 24, "epochs": 1, "n_boot": 200, "batch_size": 16,
                "baselines": ("clinical_lr", "lasso"), "features": False}
    return {"n": n or 600, "roi_size": 64, "roi": 32, "epochs": 15, "n_boot": 1000, "batch_size": 16,
            "baselines": ("clinical_lr", "lasso", "rf", "xgboost"), "features": True}


@dataclass
class DemoState:
    """What each stage hands to the next (typed, instead of a dictionary of anything)."""

    cohort: Any = None                       # bonenet.synth.Cohort
    external: str = ""                       # the held-out site
    train_manifest: Path | None = None       # the cohort's manifest without its split column
    features: Path | None = None             # features of every subject (blank where failed)
    trained: dict[str, Any] = field(default_factory=dict)   # name -> training.TrainResult
    baseline_predictions: list[Any] = field(default_factory=list)  # DataFrames


class _Stages:
    def __init__(self, result: DemoResult) -> None:
        self.result = result

    def run(self, name: str, fn: Callable[[], Any], *, needs: tuple[str, ...] = ()) -> Any:
        missing = [n for n in needs if not self.result.stages.get(n, "").startswith("ok")]
        if missing:
            self.result.stages[name] = f"skipped: needs stage {', '.join(missing)}"
            return None
        t0 = time.perf_counter()
        print(f"[demo] {name} ...", flush=True)
        try:
            value = fn()
        except ImportError as exc:
            self.result.stages[name] = f"skipped: this installation lacks {exc.name} ({exc})"
            return None
        except Exception as exc:  # report, and let the stages that do not need it go on
            log.exception("demo stage %s failed", name)
            self.result.stages[name] = f"failed: {type(exc).__name__}: {exc}"
            return None
        note = f"; {value}" if isinstance(value, str) else ""
        self.result.stages[name] = f"ok ({time.perf_counter() - t0:.0f} s{note})"
        return value


def _external_site(cohort: Any) -> str:
    cfg = cohort.config or {}
    for s in cfg.get("sites", []):
        if isinstance(s, dict) and s.get("external"):
            return str(s.get("name"))
    return str(sorted(cohort.manifest["site"].astype(str).unique())[-1])


def _train_config(out: Path, name: str, manifest: Path, external: str, s: dict[str, Any], *,
                  images: bool, seed: int) -> Path:
    import yaml

    cfg = {
        "seed": seed,
        "data": {"class_path": "bonenet.data.BoneDataModule", "init_args": {
            "manifest": str(manifest), "roi_size": [s["roi"]] * 3, "units": "mgHA/cm3",
            # one grid for both scanner generations (61 and 82 µm), absolute density kept
            # (the recipe of configs/experiment/hrpqct_fused.yaml)
            "target_spacing_mm": 0.12, "normalize": "unit",
            "intensity_window": [-200.0, 1200.0], "crop": "center", "use_images": images,
            "use_clinical": True, "split": "site", "external_site": external,
            "batch_size": s["batch_size"], "num_workers": 0, "augment": images,
            "cache_dir": str(out / "cache")}},
        # the clinical network is the shipped clinical-only recipe (configs/model/clinical_only.yaml):
        # one linear map of the encoded variables
        "model": ({"backbone": "trabecular_cnn", "fusion": "film", "heads": ["fracture"], "lr": 2e-3} if images
                  else {"backbone": None, "clinical_path": "linear", "heads": ["fracture"], "lr": 2e-2}),
        "trainer": {"max_epochs": s["epochs"], "default_root_dir": str(out / "train" / name),
                    "log_every_n_steps": 5, "enable_model_summary": False},
    }
    path = out / "configs" / f"{name}.yaml"
    write_text_atomic(path, yaml.safe_dump(cfg, sort_keys=False))
    return path


def _heldout_folder(out: Path, cohort: Any, external: str) -> tuple[Path, Path]:
    """``OUT/heldout/studies/<id>`` (links to the external site's studies, plus two broken
    ones) and ``OUT/heldout/clinical.csv`` — what a researcher's folder looks like."""
    import pandas as pd

    root = out / "heldout"
    shutil.rmtree(root, ignore_errors=True)
    studies = root / "studies"
    studies.mkdir(parents=True)
    man = cohort.manifest
    ext = man[man["site"].astype(str) == external]
    for sid, image in zip(ext["subject_id"], ext["image"], strict=True):
        src = (cohort.out / image).resolve()
        study_src = src if src.is_dir() else src.parent
        dst = studies / str(sid)
        try:
            os.symlink(study_src, dst, target_is_directory=True)
        except OSError:
            shutil.copytree(study_src, dst)
    (studies / "broken_empty_folder").mkdir()
    bad = studies / "broken_truncated"
    bad.mkdir()
    first = next(p for p in sorted((cohort.out / ext["image"].iloc[0]).parent.rglob("*")) if p.is_file())
    (bad / first.name).write_bytes(first.read_bytes()[:200])
    clin = cohort.clinical[cohort.clinical["subject_id"].isin(ext["subject_id"])]
    clin_path = root / "clinical.csv"
    write_text_atomic(clin_path, csv_safe_frame(pd.DataFrame(clin)).to_csv(index=False))
    return studies, clin_path


def run_demo(out: str | os.PathLike[str] = "runs/demo", *, n: int | None = None,
             quick: bool = False, seed: int = 0, device: str | None = None) -> DemoResult:
    """Run the whole job on synthetic data and return where everything is.

    Parameters
    ----------
    out : path-like
        Output folder (``cohort/``, ``features.csv``, ``train/``, ``baselines/``,
        ``report/``, ``predict/``, ``demo.json``).
    n : int, optional
        Subjects in the cohort (default 600; 60 with ``quick``).
    quick : bool
        Tiny settings (1 epoch, 24³ regions, two baselines, 200 bootstrap resamples).
    seed : int
        The one seed.
    device : str, optional
        Training/prediction device (default: CUDA if present, else CPU).
    """
    import pandas as pd

    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = demo_settings(quick=quick, n=n)
    result = DemoResult(out)
    st = _Stages(result)
    ctx = DemoState()

    def cohort_stage() -> None:
        from .synth import make_cohort

        # quick mode (tests, notebooks): a small cohort, made in this process
        c = make_cohort(s["n"], modality="hrpqct", seed=seed, out=out / "cohort",
                        roi_size=s["roi_size"], workers=1 if quick else None)
        ctx.cohort = c
        ctx.external = _external_site(c)
        # leave-one-site-out: the DataModule splits by site, so the cohort's own split labels
        # (which name the external site "external") are left out of the training manifest
        train_manifest = c.out / "manifest_by_site.csv"
        write_text_atomic(train_manifest, c.manifest.drop(columns=["split"], errors="ignore")
                          .pipe(csv_safe_frame).to_csv(index=False))
        ctx.train_manifest = train_manifest
        result.headline["external_site"] = ctx.external

    def features_stage() -> str:
        from .measure import measure_batch, read_measure_manifest

        path = out / "features.csv"
        measure_batch(read_measure_manifest(ctx.cohort.manifest_path), path,
                      workers=max(1, min(4, os.cpu_count() or 1)), smi=False)
        feats = pd.read_csv(path, dtype={"subject_id": str})
        ids = ctx.cohort.manifest[["subject_id"]].astype(str)
        # studies that could not be measured stay in, with blank features: the baselines
        # impute them (with missing indicators) instead of dropping the subjects
        padded = out / "features_all_subjects.csv"
        write_text_atomic(padded, csv_safe_frame(ids.merge(feats, on="subject_id", how="left")).to_csv(index=False))
        ctx.features = padded
        n_fail = len(ids) - len(feats)
        return f"{len(feats)}/{len(ids)} studies measured" + (
            f", {n_fail} failed (see features_errors.csv)" if n_fail else "")

    def train_stage(name: str, images: bool) -> Callable[[], None]:
        def go() -> None:
            from .training.run import train

            if ctx.train_manifest is None:  # the cohort stage did not run
                raise RuntimeError("the cohort stage wrote no training manifest")
            cfg = _train_config(out, name, ctx.train_manifest, ctx.external, s,
                                images=images, seed=seed)
            ctx.trained[name] = train([cfg], name=name, device=device)
        return go

    def baselines_stage() -> None:
        from .baselines import fit_baseline, load_tabular, save_baseline

        data = load_tabular(features=ctx.features, manifest=ctx.cohort.manifest_path)
        for model in s["baselines"]:
            r = fit_baseline(data, model, external_sites=[ctx.external], seed=seed)
            save_baseline(r, out / "baselines" / model)
            ctx.baseline_predictions.append(r.predictions)

    def evaluate_stage() -> None:
        from .evaluation import evaluate_predictions, write_report

        man = ctx.cohort.manifest
        ext_ids = set(man.loc[man["site"].astype(str) == ctx.external, "subject_id"])
        keep = ["subject_id", "fracture", "site", "time_years", "event", "age", "sex"]
        table = man[[c for c in keep if c in man.columns]].copy()
        models = []
        frames = list(ctx.baseline_predictions)
        for name in ("fused", "clinical"):
            r = ctx.trained.get(name)
            if r is not None and r.predictions_csv is not None:
                frames.append(pd.read_csv(r.predictions_csv))
        for f in frames:
            pcols = [c for c in f.columns if c.startswith("p_")]
            table = table.merge(f[["subject_id", *pcols]], on="subject_id", how="left")
            models += [c[2:] for c in pcols]
        table = table[table["subject_id"].isin(ext_ids)].dropna(subset=[f"p_{m}" for m in models])
        table["subject_id"] = table["subject_id"].astype(str)
        write_text_atomic(out / "predictions_external.csv", csv_safe_frame(table).to_csv(index=False))
        ref = "clinical" if "clinical" in models else ("clinical_lr" if "clinical_lr" in models else None)
        # the synthetic outcome is a 10-year major osteoporotic fracture: its 20 % threshold applies
        metrics, curves = evaluate_predictions(table, models=models, reference=ref, site_column="site",
                                               n_boot=s["n_boot"], seed=seed, outcome_type="mof")
        paths = write_report(metrics, curves, out / "report")
        result.paths["report"] = paths.get("html", out / "report")
        result.headline["n_external"] = len(table)
        result.headline["events_external"] = int(table["fracture"].sum())
        aucs = {}
        for m, mm in metrics["models"].items():
            a = mm.get("auc_delong", {})
            if "auc" in a:
                aucs[m] = (a["auc"], a["lower"], a["upper"])
        result.headline["auc_external"] = aucs
        truth = ctx.cohort.truth
        if "oracle_risk_10y" in truth.columns:
            from sklearn.metrics import roc_auc_score

            t = table[["subject_id", "fracture"]].merge(
                truth.assign(subject_id=truth["subject_id"].astype(str)), on="subject_id")
            if t["fracture"].nunique() == 2:
                result.headline["oracle_auc"] = float(roc_auc_score(t["fracture"], t["oracle_risk_10y"]))

    def predict_stage() -> None:
        from .device import select_device
        from .inference import Pseudonymizer, discover_studies, load_predictor, predict_studies

        r = ctx.trained["fused"]
        ckpt = r.best_checkpoint or r.last_checkpoint
        studies_dir, clinical = _heldout_folder(out, ctx.cohort, ctx.external)
        predictor = load_predictor(ckpt, device=select_device(device), name="fused")
        pseudo = Pseudonymizer(DEMO_SALT)
        summary = predict_studies(discover_studies(studies_dir, clinical=clinical), predictor,
                                  out / "predict", pseudonymizer=pseudo, batch_size=8)
        result.paths["predictions"] = summary.predictions
        result.paths["errors"] = summary.errors
        info = {"predicted": summary.n_predicted, "failed": summary.n_failed,
                "rate": 60 * summary.n_predicted / max(summary.seconds, 1e-9)}
        if r.predictions_csv is not None:  # same checkpoint, same preprocessing: same numbers
            train_p = pd.read_csv(r.predictions_csv)
            train_p["sid"] = train_p["subject_id"].astype(str).map(pseudo)
            got = pd.read_csv(summary.predictions).merge(train_p, left_on="subject_id", right_on="sid")
            if len(got):
                info["max_abs_diff"] = float((got["p_fused_x"] - got["p_fused_y"]).abs().max())
                info["compared"] = len(got)
        result.headline["predict"] = info

    st.run("cohort", cohort_stage)
    if s["features"]:
        st.run("features", features_stage, needs=("cohort",))
    st.run("fused", train_stage("fused", True), needs=("cohort",))
    st.run("clinical", train_stage("clinical", False), needs=("cohort",))
    st.run("baselines", baselines_stage, needs=("cohort",))
    st.run("evaluate", evaluate_stage, needs=("cohort",))
    st.run("predict", predict_stage, needs=("fused",))
    result.seconds = time.perf_counter() - t_start
    write_text_atomic(out / "demo.json", json.dumps(
        {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in s.items()},
         "seed": seed, "stages": result.stages, "headline": result.headline,
         "paths": {k: str(v) for k, v in result.paths.items()},
         "seconds": round(result.seconds, 1), "synthetic_world": DEMO_WORLD_NOTE,
         "notice": RESEARCH_NOTICE}, indent=2, default=str) + "\n")
    return result

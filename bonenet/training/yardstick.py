"""The yardstick of every training run: the trained model's AUROC beside a logistic regression
on the same clinical variables and the same split, with paired bootstrap intervals.

``bonenet train`` writes it to ``<run>/yardstick.json`` and prints it, so whether the images
helped is visible at once. The logistic regression sees exactly what the network's clinical
branch sees: the DataModule's :class:`~bonenet.clinical.ClinicalEncoder` output fitted on the
training split (standardised continuous variables, one-hot categories, and an observed
indicator for every column with missing values), L2-penalised with scikit-learn's default
``C = 1``. Intervals are percentile intervals of 1000 stratified bootstrap resamples
(:func:`bonenet.evaluation.bootstrap_indices`), drawn once and shared by the model, the
regression and their difference (a paired comparison).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["SplitYardstick", "Yardstick", "clinical_lr_risks", "compare_aucs", "format_yardstick"]

log = logging.getLogger(__name__)


@dataclass
class SplitYardstick:
    """AUROCs of one split: the model, the clinical logistic regression and their difference."""

    split: str
    n: int
    n_events: int
    model_auc: dict[str, float]
    clinical_lr_auc: dict[str, float] | None = None
    difference: dict[str, float] | None = None


@dataclass
class Yardstick:
    """What :func:`bonenet.training.train` saves as ``yardstick.json``."""

    model: str
    selected_epoch: int | None
    splits: list[SplitYardstick] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _auc_rows(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mann–Whitney AUROC of every row of ``p`` (shape (b, n)) against ``y`` (shape (b, n))."""
    from scipy.stats import rankdata

    r = rankdata(p, axis=1)
    n1 = y.sum(axis=1)
    n0 = y.shape[1] - n1
    return ((r * y).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def compare_aucs(y: np.ndarray, p_model: np.ndarray, p_ref: np.ndarray | None, *, n_boot: int = 1000,
                 seed: int = 0, level: float = 0.95) -> tuple[dict[str, float], dict[str, float] | None,
                                                              dict[str, float] | None]:
    """AUROC with percentile bootstrap intervals for a model, a reference and their difference.

    Returns ``(model, reference, difference)``, each ``{"value", "lower", "upper"}``
    (reference and difference None without ``p_ref``). The difference is model − reference.
    """
    from ..evaluation import bootstrap_indices, roc_auc

    y = np.asarray(y, dtype=np.int64)
    q = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)
    preds = {"model": np.asarray(p_model, dtype=np.float64)}
    if p_ref is not None:
        preds["ref"] = np.asarray(p_ref, dtype=np.float64)
    samples: dict[str, list[np.ndarray]] = {k: [] for k in preds}
    for idx in bootstrap_indices(y, n_boot=n_boot, seed=seed):
        yy = y[idx]
        for k, p in preds.items():
            samples[k].append(_auc_rows(yy, p[idx]))
    s = {k: np.concatenate(v) for k, v in samples.items()}

    def summary(point: float, draws: np.ndarray) -> dict[str, float]:
        lo, hi = np.percentile(draws, q)
        return {"value": float(point), "lower": float(lo), "upper": float(hi)}

    model = summary(roc_auc(y, preds["model"]), s["model"])
    if p_ref is None:
        return model, None, None
    ref = summary(roc_auc(y, preds["ref"]), s["ref"])
    diff = summary(model["value"] - ref["value"], s["model"] - s["ref"])
    return model, ref, diff


def clinical_lr_risks(train: tuple[np.ndarray, np.ndarray, np.ndarray],
                      others: dict[str, tuple[np.ndarray, np.ndarray]], *, seed: int = 0) -> dict[str, np.ndarray]:
    """Fit the yardstick logistic regression on ``train`` = (values, observed, y) and return its
    risks on each of ``others`` = {split: (values, observed)}."""
    from sklearn.linear_model import LogisticRegression

    xv, xo, y = train
    missing = (xo < 1).any(axis=0)

    def design(v: np.ndarray, o: np.ndarray) -> np.ndarray:
        return np.hstack([v, o[:, missing]]).astype(np.float64)

    x = design(xv, xo)
    keep = x.std(axis=0) > 0
    clf = LogisticRegression(C=1.0, max_iter=5000, random_state=seed).fit(x[:, keep], y)
    return {k: clf.predict_proba(design(v, o)[:, keep])[:, 1] for k, (v, o) in others.items()}


def format_yardstick(y: Yardstick) -> str:
    """The printed summary (a few lines)."""
    if y.skipped:
        return f"yardstick         skipped: {y.skipped}"

    def ci(d: dict[str, float] | None) -> str:
        if d is None:
            return "n/a"
        return f"{d['value']:.3f} [{d['lower']:.3f}, {d['upper']:.3f}]"

    lines = [f"yardstick         AUROC [95% bootstrap CI], selected epoch {y.selected_epoch}"]
    for s in y.splits:
        lines.append(f"  {s.split:<5} (n={s.n}, events={s.n_events})  {y.model}: {ci(s.model_auc)}   "
                     f"clinical LR: {ci(s.clinical_lr_auc)}   difference: {ci(s.difference)}")
    lines += [f"  WARNING: {w}" for w in y.warnings]
    return "\n".join(lines)


def _risk_of(preds: list[dict[str, Any]]) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """(subject ids, fracture outcome, predicted risk) from predict_step outputs."""
    head = next((h for h in ("fracture", "survival") if preds and h in preds[0]), None)
    if head is None or "fracture" not in preds[0]["targets"]:
        return None
    ids = [s for p in preds for s in p["subject_ids"]]
    y = np.concatenate([p["targets"]["fracture"].numpy().reshape(-1) for p in preds]).astype(np.float64)
    r = np.concatenate([p[head].numpy().reshape(-1) for p in preds]).astype(np.float64)
    return ids, y, r


def selected_epoch(best: Any) -> int | None:
    """The epoch ``best.ckpt`` was written after, counted from 1 (None without one)."""
    if best is None:
        return None
    import torch

    try:
        ckpt = torch.load(str(best), map_location="cpu", weights_only=True, mmap=True)
    except (OSError, RuntimeError, ValueError):  # pragma: no cover - a checkpoint we just wrote
        return None
    return int(ckpt.get("epoch", -1)) + 1


def run_yardstick(trainer: Any, model: Any, dm: Any, *, best: Any, label: str,
                  test_preds: list[dict[str, Any]] | None, n_boot: int = 1000, seed: int = 0) -> Yardstick:
    """Compute the yardstick after fitting (see the module docstring).

    ``test_preds`` are the test-split predict_step outputs when they were already computed.
    Splits without outcomes or with one outcome class are left out with a warning.
    """
    out = Yardstick(model=label, selected_epoch=selected_epoch(best))
    max_epochs = getattr(trainer, "max_epochs", None) or 0
    if out.selected_epoch == 1 and max_epochs > 1:
        out.warnings.append(
            "best.ckpt is the first epoch: validation did not improve after one epoch, so the saved model "
            "is barely trained. Use a longer smoothing window (early_stopping.window), more data per "
            "split, or the small-cohort recipe of docs/training.md")
    datasets = getattr(dm, "datasets", None)
    if not isinstance(datasets, dict) or "train" not in datasets or not hasattr(datasets["train"], "table"):
        out.skipped = "the DataModule has no bonenet datasets (train/val/test tables)"
        return out
    enc = getattr(dm, "encoder", None)
    use_lr = enc is not None and getattr(enc, "n_features", 0) > 0 and getattr(dm, "use_clinical", True)
    lr_risk: dict[str, np.ndarray] = {}
    if use_lr:
        t = datasets["train"].table
        yt = np.asarray(t["fracture"], dtype=np.float64) if "fracture" in t.columns else np.array([])
        ok = np.isfinite(yt)
        if ok.sum() and len(np.unique(yt[ok])) == 2:
            v, o = enc.transform(t[ok])
            others = {}
            for name in ("val", "test"):
                if name in datasets and len(datasets[name]):
                    others[name] = enc.transform(datasets[name].table)
            lr_risk = clinical_lr_risks((v, o, yt[ok].astype(int)), others, seed=seed)
    loaders = {"val": "val_dataloader", "test": "test_dataloader"}
    for name, hook in loaders.items():
        if name not in datasets or not len(datasets[name]):
            continue
        if name == "test" and test_preds is not None:
            preds = test_preds
        else:
            preds = trainer.predict(model, dataloaders=getattr(dm, hook)(),
                                    ckpt_path=None if best is None else str(best))
        got = _risk_of(preds or [])
        if got is None:
            out.warnings.append(f"{name}: no fracture outcome or risk head; the yardstick needs both")
            continue
        ids, y, r = got
        table_ids = [str(s) for s in datasets[name].table["subject_id"]]
        ref = lr_risk.get(name)
        if ref is not None and ids != table_ids:  # pragma: no cover - loaders keep manifest order
            ref = None
        known = np.isfinite(y)
        yk = y[known].astype(int)
        if len(np.unique(yk)) < 2:
            out.warnings.append(f"{name}: one outcome class only ({int(known.sum())} subjects); no AUROC")
            continue
        m, lr, d = compare_aucs(yk, r[known], None if ref is None else ref[known], n_boot=n_boot, seed=seed)
        out.splits.append(SplitYardstick(split=name, n=int(known.sum()), n_events=int(yk.sum()),
                                         model_auc=m, clinical_lr_auc=lr, difference=d))
        if d is not None and name == "val":
            if d["upper"] < 0:
                out.warnings.append(
                    f"validation AUROC {m['value']:.3f} is below the clinical logistic regression "
                    f"({lr['value']:.3f}; difference {d['value']:+.3f} [{d['lower']:+.3f}, {d['upper']:+.3f}])")
            elif d["lower"] <= 0:
                out.warnings.append(
                    f"validation AUROC {m['value']:.3f} is within its bootstrap noise of the clinical logistic "
                    f"regression ({lr['value']:.3f}; difference {d['value']:+.3f} [{d['lower']:+.3f}, "
                    f"{d['upper']:+.3f}]): this split does not show that the network adds to the clinical "
                    "variables")
    return out

"""Classical fracture-risk baselines on tabular clinical + morphometric features.

LR on FRAX factors (``clinical_lr``), LASSO logistic regression, mRMR → logistic
regression, XGBoost and random forest, all as scikit-learn pipelines trained on the
training split (never on external sites), writing predictions in the common format
(``p_<model>``) so ``bonenet evaluate`` compares them with the CNN models.

Saved models are ``model.skops`` plus ``model.json`` (inputs, coefficients or importances,
versions, SHA-256). ``model.skops`` is the skops format (a zip of JSON and numpy arrays,
XGBoost's booster inside as its own UBJSON bytes): loading it instantiates only the types in
:data:`TRUSTED_TYPES` and calls no function named by the file, so a model file from elsewhere
cannot run code. Older ``model.joblib`` folders are pickles, which run code when loaded:
:func:`load_baseline` refuses them unless ``allow_pickle=True`` is passed for a file you
produced yourself. The SHA-256 in ``model.json`` detects corruption, not an attacker who
supplies both files.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import atomic_path, write_text_atomic
from ..errors import CheckpointError, ConfigError, ManifestError
from ._data import TabularData, load_tabular
from ._models import MODELS, MRMRSelector, build_pipeline

__all__ = ["MODELS", "TRUSTED_TYPES", "BaselineResult", "MRMRSelector", "TabularData", "build_pipeline",
           "fit_baseline", "load_baseline", "load_tabular", "save_baseline"]

#: Types beyond skops' own defaults that :func:`load_baseline` lets a ``model.skops`` file
#: instantiate (each restored from plain arrays/values; none runs code named by the file).
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "bonenet.baselines._models.MRMRSelector",
)
_MODEL_FILE = "model.skops"

log = logging.getLogger(__name__)
_KEEP = ("site", "split", "time_years", "event", "sex", "age")


@dataclass
class BaselineResult:
    """A fitted baseline, its predictions for every subject and what it was trained on."""

    model: str
    name: str
    pipeline: Any
    columns: list[str]
    predictions: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


def _train_mask(t: pd.DataFrame, *, outcome: str, external_sites: list[str], seed: int) -> np.ndarray:
    if external_sites:
        if "site" not in t.columns:
            raise ConfigError("--external-site given but the data have no 'site' column (add it via --manifest)")
        unknown = sorted(set(external_sites) - set(t["site"].astype(str)))
        if unknown:
            raise ConfigError(f"--external-site {', '.join(unknown)}: no such site; sites are "
                              f"{', '.join(sorted(t['site'].astype(str).unique()))}")
    if "split" in t.columns and t["split"].notna().any():
        train = t["split"].astype(str).str.lower().eq("train").to_numpy()
    else:
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(t))
        tr, _ = train_test_split(idx, test_size=0.3, random_state=seed, stratify=t[outcome])
        train = np.isin(idx, tr)
        t["split"] = np.where(train, "train", "test")
        log.warning("no 'split' column: made a stratified 70/30 train/test split (seed %d)", seed)
    if external_sites:
        train &= ~t["site"].astype(str).isin(external_sites).to_numpy()
    return train


def _explain(pipe: Any, model: str) -> dict[str, Any]:
    names = list(pipe.named_steps["pre"].get_feature_names_out())
    clf = pipe.named_steps["clf"]
    if model == "mrmr":
        names = [names[i] for i in pipe.named_steps["select"].support_]
    if hasattr(clf, "coef_"):
        out = {"intercept": float(np.ravel(clf.intercept_)[0]),
               "coefficients": {n: float(c) for n, c in zip(names, np.ravel(clf.coef_), strict=True)}}
        if hasattr(clf, "C_"):
            out["C"] = float(np.ravel(clf.C_)[0])
            out["n_selected"] = int(np.sum(np.ravel(clf.coef_) != 0))
        return out
    imp = np.asarray(clf.feature_importances_, dtype=float)
    order = np.argsort(-imp)
    return {"feature_importances": {names[i]: float(imp[i]) for i in order}}


def fit_baseline(data: TabularData, model: str, *, outcome: str = "fracture", external_sites: list[str] | None = None,
                 seed: int = 0, name: str | None = None, mrmr_k: int = 10) -> BaselineResult:
    """Fit ``model`` on the training rows of ``data`` and predict every subject.

    Training rows: ``split == "train"`` (a stratified 70/30 split is made when there is no
    split column), minus any ``external_sites``. Returns predictions with ``subject_id``,
    the outcome, ``site``/``split``/``time_years``/``event``/``sex``/``age`` when known, and
    ``p_<name>`` (``name`` defaults to ``model``).
    """
    if model not in MODELS:
        raise ConfigError(f"unknown baseline model {model!r}; choose one of {', '.join(MODELS)}")
    t = data.table.copy()
    columns = [*data.frax, *data.declared] if model == "clinical_lr" else [*data.clinical, *data.morphometry]
    if not columns:
        raise ManifestError("no usable feature columns: the inputs hold neither clinical variables nor "
                            "numeric morphometry columns")
    train = _train_mask(t, outcome=outcome, external_sites=list(external_sites or []), seed=seed)
    y = t[outcome].to_numpy()
    if train.sum() < 20 or len(np.unique(y[train])) < 2:
        raise ManifestError(f"only {int(train.sum())} training subjects with {int(y[train].sum())} events; "
                            "baselines need a training split with both outcomes (split column 'train')")
    pipe = build_pipeline(model, columns, seed=seed, mrmr_k=mrmr_k)
    pipe.fit(t.loc[train, columns], y[train])
    p = pipe.predict_proba(t[columns])[:, 1]
    name = name or model
    pred = t[["subject_id", outcome, *[c for c in (*_KEEP, *data.groups) if c in t.columns]]].copy()
    pred[f"p_{name}"] = np.clip(p.astype(float), 0.0, 1.0)
    info = {"model": model, "name": name, "seed": seed, "outcome": outcome, "inputs": columns,
            "n_train": int(train.sum()), "events_train": int(y[train].sum()),
            "external_sites": list(external_sites or []), "explain": _explain(pipe, model)}
    return BaselineResult(model, name, pipe, columns, pred, info)


def save_baseline(result: BaselineResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``predictions.csv``, ``model.skops`` and ``model.json`` into ``out_dir``.

    ``model.skops`` holds the fitted pipeline in the skops format (no pickle; see the module
    docstring); ``model.json`` its inputs, explanation, library versions and SHA-256. Text
    cells of ``predictions.csv`` are neutralised against spreadsheet formula injection.
    """
    import importlib.metadata as md

    import skops.io as sio

    from .._atomic import csv_safe_frame, write_bytes_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "predictions.csv") as tmp:
        csv_safe_frame(result.predictions).to_csv(tmp, index=False, float_format="%.6g")
    blob = sio.dumps(result.pipeline)
    write_bytes_atomic(out / _MODEL_FILE, blob)
    digest = hashlib.sha256(blob).hexdigest()
    versions = {}
    for d in ("scikit-learn", "xgboost", "mrmr-selection", "numpy", "skops"):
        try:
            versions[d] = md.version(d)
        except md.PackageNotFoundError:
            versions[d] = None
    meta = {**result.info, "sha256": digest, "file": _MODEL_FILE, "versions": versions,
            "format": "skops (no pickle): loading instantiates only bonenet's trusted types"}
    write_text_atomic(out / "model.json", json.dumps(meta, indent=2))
    return {"predictions": out / "predictions.csv", "model": out / _MODEL_FILE, "meta": out / "model.json"}


def load_baseline(model_dir: str | Path, *, allow_pickle: bool = False) -> tuple[Any, dict[str, Any]]:
    """Load a saved pipeline and its metadata; the bytes hashed are the bytes loaded.

    Trust boundary: a ``model.skops`` file is safe to load from anywhere — only the types in
    :data:`TRUSTED_TYPES` (and skops' defaults: scikit-learn estimators, numpy arrays) can be
    instantiated, and a file naming any other type is refused. A legacy ``model.joblib`` is a
    pickle: loading it runs whatever code it holds, so it is refused unless ``allow_pickle``
    is true, which you should pass only for a file you produced yourself. The SHA-256 check
    against ``model.json`` detects a damaged file, not a malicious one (an attacker can supply
    both).

    Raises
    ------
    CheckpointError
        Missing/unreadable files, a hash mismatch, an untrusted type, or a pickle without
        ``allow_pickle``.
    """
    d = Path(model_dir)
    try:
        meta = json.loads((d / "model.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{d}: cannot read model.json ({exc}); point at a `bonenet baseline --out` "
                              "folder") from exc
    name = _MODEL_FILE if (d / _MODEL_FILE).exists() else "model.joblib"
    try:
        blob = (d / name).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{d}: no readable {_MODEL_FILE} ({exc}); point at a `bonenet baseline "
                              "--out` folder") from exc
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise CheckpointError(f"{d / name}: SHA-256 does not match model.json; the file is damaged or "
                              "was replaced — refit it with `bonenet baseline`")
    if name == "model.joblib":
        if not allow_pickle:
            raise CheckpointError(f"{d / name} is a pickle (an older bonenet's format): loading it runs any "
                                  "code it holds. Refit with `bonenet baseline` (writes model.skops), or "
                                  "pass allow_pickle=True only if you produced this file yourself")
        import joblib

        return joblib.load(io.BytesIO(blob)), meta
    import skops.io as sio

    try:
        untrusted = [t for t in sio.get_untrusted_types(data=blob) if t not in TRUSTED_TYPES]
    except Exception as exc:
        raise CheckpointError(f"{d / name}: not a readable skops file ({type(exc).__name__}: {exc})") from exc
    if untrusted:
        raise CheckpointError(f"{d / name} asks to instantiate types bonenet does not trust: "
                              f"{', '.join(untrusted)}; refusing to load it")
    try:
        return sio.loads(blob, trusted=list(TRUSTED_TYPES)), meta
    except Exception as exc:
        raise CheckpointError(f"{d / name}: cannot load ({type(exc).__name__}: {exc}); refit it with "
                              "`bonenet baseline` and this library version") from exc

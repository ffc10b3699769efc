"""The classical baselines as scikit-learn pipelines (preprocessing inside, so no leakage).

* ``clinical_lr`` — logistic regression on the FRAX clinical risk factors (and the
  user-declared clinical variables, when given) only.
* ``lasso`` — L1 logistic regression, penalty chosen by 5-fold cross-validated log-loss.
* ``mrmr`` — minimum-redundancy maximum-relevance selection (``mrmr-selection``, F-statistic
  relevance, Pearson redundancy) of ``k`` features, then logistic regression.
* ``xgboost`` — gradient-boosted trees (shallow, shrunken, subsampled).
* ``rf`` — random forest.

Every pipeline imputes missing numbers with the training median and adds missing-value
indicators, and one-hot encodes ``sex`` and ``treatment``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..errors import ConfigError

__all__ = ["MODELS", "MRMRSelector", "build_pipeline"]

MODELS = ("clinical_lr", "lasso", "mrmr", "xgboost", "rf")
_CATEGORICAL = ("sex", "treatment")


class MRMRSelector(BaseEstimator, TransformerMixin):
    """Keep the ``k`` columns chosen by mRMR (Ding & Peng 2005) via ``mrmr-selection``."""

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def fit(self, X: np.ndarray, y: np.ndarray) -> MRMRSelector:
        from mrmr import mrmr_classif

        X = np.asarray(X, dtype=float)
        k = min(self.k, X.shape[1])
        cols = [f"f{i}" for i in range(X.shape[1])]
        keep = np.nanstd(X, axis=0) > 0  # constant columns carry nothing and break the F-test
        df = pd.DataFrame(X[:, keep], columns=[c for c, kp in zip(cols, keep, strict=True) if kp])
        chosen = mrmr_classif(df, pd.Series(np.asarray(y)), K=min(k, df.shape[1]), n_jobs=1, show_progress=False)
        self.support_ = np.array([cols.index(c) for c in chosen], dtype=np.int64)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, self.support_]


def _preprocess(columns: Sequence[str], *, scale: bool) -> ColumnTransformer:
    cats = [c for c in columns if c in _CATEGORICAL]
    nums = [c for c in columns if c not in _CATEGORICAL]
    num_steps = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
    if scale:
        num_steps.append(StandardScaler())
    parts = [("num", make_pipeline(*num_steps), nums)]
    if cats:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                           OneHotEncoder(handle_unknown="ignore", sparse_output=False)), cats))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=True)


def build_pipeline(model: str, columns: Sequence[str], *, seed: int = 0, mrmr_k: int = 10) -> Pipeline:
    """Return the unfitted pipeline for ``model`` on the given input ``columns``."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    if model in ("clinical_lr", "lasso", "mrmr"):
        pre = _preprocess(columns, scale=True)
        if model == "clinical_lr":
            return Pipeline([("pre", pre), ("clf", LogisticRegression(C=np.inf, max_iter=2000))])
        if model == "lasso":
            clf = LogisticRegressionCV(Cs=20, l1_ratios=(1.0,), solver="saga", scoring="neg_log_loss", cv=5,
                                       tol=1e-3, max_iter=10000, random_state=seed, use_legacy_attributes=False)
            return Pipeline([("pre", pre), ("clf", clf)])
        return Pipeline([("pre", pre), ("select", MRMRSelector(k=mrmr_k)),
                         ("clf", LogisticRegression(C=np.inf, max_iter=2000))])
    if model == "xgboost":
        from xgboost import XGBClassifier

        clf = XGBClassifier(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8,
                            colsample_bytree=0.8, min_child_weight=5, n_jobs=1, random_state=seed,
                            eval_metric="logloss")
        return Pipeline([("pre", _preprocess(columns, scale=False)), ("clf", clf)])
    if model == "rf":
        clf = RandomForestClassifier(n_estimators=500, min_samples_leaf=5, n_jobs=1, random_state=seed)
        return Pipeline([("pre", _preprocess(columns, scale=False)), ("clf", clf)])
    raise ConfigError(f"unknown baseline model {model!r}; choose one of {', '.join(MODELS)}")

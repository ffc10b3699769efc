"""Encode clinical variables into a fixed-width float matrix with a missing-value mask."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BoneNetError, CheckpointError, ClinicalValueError
from ._declare import ClinicalVariable, declare_variables, declared_schema
from ._schema import SCHEMA, Variable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ClinicalEncoder"]

_FORMAT = "bonenet.ClinicalEncoder/1"


class ClinicalEncoder:
    """Standardise continuous variables, pass binaries, one-hot categoricals; mask missing.

    The column layout (:attr:`feature_names`) is fixed by the schema and ``variables``, never
    by the data, so :attr:`n_features` is known right after construction. ``fit`` learns
    only the means and standard deviations of the continuous variables (call it on the
    training split); ``transform`` returns ``(values, observed)``, both float32 (N, F): missing
    values are 0 in ``values`` and 0 in ``observed``; nothing is imputed.

    Parameters
    ----------
    variables : list of str, optional
        Canonical variable names (see :data:`bonenet.clinical.SCHEMA`, plus the ``declared``
        ones); default every schema variable except the device group (``dxa_manufacturer``),
        then the declared ones.
    declared : sequence of ClinicalVariable or dict
        User-declared variables (:class:`bonenet.clinical.ClinicalVariable`). Their
        declarations are part of :meth:`to_dict`, so a checkpoint carries them.
    """

    def __init__(self, variables: Sequence[str] | None = None, *,
                 declared: Iterable[ClinicalVariable | Mapping[str, Any]] = ()) -> None:
        self.declared = declare_variables(declared)
        self._schema: dict[str, Variable] = {**SCHEMA, **declared_schema(self.declared)}
        names = ([n for n, v in SCHEMA.items() if v.group != "device"]
                 + [d.name for d in self.declared]) if variables is None else list(variables)
        unknown = [v for v in names if v not in self._schema]
        if unknown:
            raise ClinicalValueError(
                f"ClinicalEncoder: unknown clinical variable(s) {unknown}; known: "
                f"{', '.join(self._schema)} (declare your own with ClinicalVariable / "
                "clinical_variables)"
            )
        if len(set(names)) != len(names):
            raise ClinicalValueError(f"ClinicalEncoder: variables listed twice in {names}")
        self.variables = names
        self.mean_: dict[str, float] = {}
        self.sd_: dict[str, float] = {}
        self.fitted_ = False

    # ----------------------------------------------------------------- layout
    @property
    def feature_names(self) -> list[str]:
        """Column names of the encoded matrix (``sex=F``, ``treatment=hrt``... for one-hots)."""
        out = []
        for name in self.variables:
            var = self._schema[name]
            if var.kind == "categorical":
                out.extend(f"{name}={c}" for c in var.categories)
            else:
                out.append(name)
        return out

    @property
    def n_features(self) -> int:
        """Width F of the encoded matrix."""
        return len(self.feature_names)

    # ------------------------------------------------------------------- fit
    def fit(self, df: pd.DataFrame) -> ClinicalEncoder:
        """Learn means and SDs of the continuous variables from ``df`` (the training split).

        ``df`` may use spreadsheet headers; it is parsed with
        :func:`bonenet.clinical.parse_clinical`. A variable never observed gets mean 0, SD 1.
        """
        data = self._parse(df)
        for name in self.variables:
            if self._schema[name].kind != "continuous":
                continue
            col = data[name].to_numpy(dtype=np.float64) if name in data.columns else np.array([])
            col = col[np.isfinite(col)]
            mean = float(col.mean()) if col.size else 0.0
            sd = float(col.std(ddof=1)) if col.size > 1 else 1.0
            self.mean_[name] = mean
            self.sd_[name] = sd if sd > 1e-12 and math.isfinite(sd) else 1.0
        self.fitted_ = True
        return self

    def transform(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Encode ``df`` → ``(values, observed)``, float32 arrays of shape (N, n_features)."""
        if not self.fitted_:
            raise ClinicalValueError(
                "ClinicalEncoder.transform called before fit; fit it on the training split "
                "(or load a fitted one with ClinicalEncoder.from_dict)"
            )
        data = self._parse(df)
        absent = [d.name for d in self.declared
                  if d.missing == "error" and d.name in self.variables and d.name not in data.columns]
        if absent:
            raise ClinicalValueError(
                f"{df.attrs.get('source', 'clinical table')}: no column for {', '.join(absent)}, "
                "declared missing: error; add the column (or declare missing: indicator)")
        n = len(data)
        values = np.zeros((n, self.n_features), dtype=np.float32)
        observed = np.zeros((n, self.n_features), dtype=np.float32)
        j = 0
        for name in self.variables:
            var = self._schema[name]
            present = name in data.columns
            if var.kind == "categorical":
                k = len(var.categories)
                if present:
                    col = data[name].tolist()
                    for i, v in enumerate(col):
                        if isinstance(v, str):
                            values[i, j + var.categories.index(v)] = 1.0
                            observed[i, j:j + k] = 1.0
                j += k
                continue
            if present:
                col = data[name].to_numpy(dtype=np.float64)
                ok = np.isfinite(col)
                if var.kind == "continuous":
                    col = (col - self.mean_[name]) / self.sd_[name]
                values[ok, j] = col[ok]
                observed[ok, j] = 1.0
            j += 1
        return values, observed

    def fit_transform(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``fit(df).transform(df)``."""
        return self.fit(df).transform(df)

    def _parse(self, df: pd.DataFrame) -> pd.DataFrame:
        from ._parse import parse_clinical

        return parse_clinical(df, source=df.attrs.get("source", "clinical table"), required=(),
                              variables=self.declared)

    # ------------------------------------------------------------- persist
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (goes into checkpoints and exported model JSON)."""
        return {
            "format": _FORMAT,
            "variables": list(self.variables),
            "feature_names": self.feature_names,
            "mean": dict(self.mean_),
            "sd": dict(self.sd_),
            "fitted": self.fitted_,
            "declared": [d.to_dict() for d in self.declared],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ClinicalEncoder:
        """Rebuild an encoder saved by :meth:`to_dict`; refuses a layout this schema lacks."""
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise CheckpointError(
                f"not a bonenet ClinicalEncoder state (format {state.get('format') if isinstance(state, dict) else type(state).__name__!r}, "
                f"expected {_FORMAT!r}); was it saved by ClinicalEncoder.to_dict?"
            )
        try:
            enc = cls(state["variables"], declared=state.get("declared") or ())
        except BoneNetError as exc:
            raise CheckpointError(f"saved ClinicalEncoder state is not valid here ({exc}); use "
                                  "the bonenet version that trained the model") from exc
        if enc.feature_names != list(state["feature_names"]):
            raise CheckpointError(
                "saved ClinicalEncoder layout differs from this bonenet's clinical schema "
                f"(saved {state['feature_names']}, now {enc.feature_names}); use the bonenet "
                "version that trained the model"
            )
        enc.mean_ = {k: float(v) for k, v in state["mean"].items()}
        enc.sd_ = {k: float(v) for k, v in state["sd"].items()}
        enc.fitted_ = bool(state["fitted"])
        return enc

    def __repr__(self) -> str:
        return (f"ClinicalEncoder(variables={self.variables}, declared={[d.name for d in self.declared]}, "
                f"n_features={self.n_features}, fitted={self.fitted_})")

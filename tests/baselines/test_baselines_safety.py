"""Saved baselines run no code from files: model.skops round-trips every model with only
trusted types; crafted skops files and legacy pickles are refused, even with a matching hash."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from bonenet.baselines import MODELS, fit_baseline, load_baseline, load_tabular, save_baseline
from bonenet.errors import CheckpointError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(1)
    n = 160
    d = tmp_path_factory.mktemp("tab")
    age = rng.uniform(50, 90, n)
    prior = (rng.random(n) < 0.25).astype(int)
    bv = rng.normal(0.15, 0.04, n)
    lin = -1.5 + 0.05 * (age - 70) + prior - 20 * (bv - 0.15)
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    ids = [("=cmd|' /C calc'!A0" if i == 0 else f"S{i:03d}") for i in range(n)]
    pd.DataFrame({"subject_id": ids, "fracture": y, "split": np.where(rng.random(n) < 0.7, "train", "test"),
                  "site": np.where(rng.random(n) < 0.5, "@site", "B"), "age": age.round(1),
                  "sex": rng.choice(["F", "M"], n), "bmi": rng.normal(26, 4, n).round(1),
                  "prior_fracture": prior}).to_csv(d / "manifest.csv", index=False)
    pd.DataFrame({"subject_id": ids, "bv_tv": bv.round(4), "tb_th_mm": rng.normal(0.2, 0.02, n),
                  "noise": rng.normal(size=n)}).to_csv(d / "features.csv", index=False)
    return load_tabular(features=d / "features.csv", manifest=d / "manifest.csv")


@pytest.mark.parametrize("model", MODELS)
def test_every_model_round_trips_without_pickle(data, tmp_path, model):
    res = fit_baseline(data, model, seed=0, mrmr_k=3)
    paths = save_baseline(res, tmp_path / model)
    assert paths["model"].name == "model.skops" and not (tmp_path / model / "model.joblib").exists()
    assert paths["model"].read_bytes()[:2] == b"PK"  # a zip of JSON + arrays, not a pickle stream
    pipe, meta = load_baseline(tmp_path / model)
    np.testing.assert_allclose(pipe.predict_proba(data.table[res.columns])[:, 1],
                               res.predictions[f"p_{model}"], rtol=0, atol=1e-12)
    assert meta["sha256"] == hashlib.sha256(paths["model"].read_bytes()).hexdigest()
    pred = pd.read_csv(paths["predictions"], dtype=str)
    assert pred["subject_id"][0] == "'=cmd|' /C calc'!A0" and set(pred["site"]) <= {"'@site", "B"}


def _forge(folder, name: str, blob: bytes) -> None:
    """An attacker supplies both the model file and a model.json with its hash."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(blob)
    (folder / "model.json").write_text(json.dumps({"model": "lasso", "sha256": hashlib.sha256(blob).hexdigest()}))


def test_a_skops_file_naming_an_untrusted_function_is_refused(tmp_path):
    import skops.io as sio

    _forge(tmp_path / "m", "model.skops", sio.dumps({"clf": os.system}))
    with pytest.raises(CheckpointError, match=r"does not trust.*system"):
        load_baseline(tmp_path / "m")


class _Payload:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_legacy_pickle_with_a_matching_hash_runs_nothing(tmp_path):
    import io

    import joblib

    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    joblib.dump(_Payload(marker), buf)
    _forge(tmp_path / "m", "model.joblib", buf.getvalue())
    with pytest.raises(CheckpointError, match=r"pickle.*allow_pickle"):
        load_baseline(tmp_path / "m")
    assert not marker.exists()
    load_baseline(tmp_path / "m", allow_pickle=True)  # the user's explicit choice
    assert marker.exists()

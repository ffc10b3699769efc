"""A cohort whose outcome depends on user-declared variables (NLR, ECOG; see
clinical_custom_cohort.py): declared, they flow through parsing, the baselines, the
clinical-only network, the checkpoint and `bonenet predict`, and they help on the same split."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from clinical_custom_cohort import DECLARATIONS, write_cohort  # noqa: E402

from bonenet.baselines import fit_baseline, load_tabular  # noqa: E402
from bonenet.cli import main  # noqa: E402
from bonenet.evaluation import roc_auc  # noqa: E402
from bonenet.training.run import train  # noqa: E402


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return write_cohort(tmp_path_factory.mktemp("custom"), n=1200, seed=3)


def _test_auc(pred: pd.DataFrame, column: str) -> float:
    test = pred[pred["split"] == "test"]
    return float(roc_auc(test["fracture"].to_numpy(), test[column].to_numpy()))


def test_clinical_lr_with_declared_variables_beats_without(manifest):
    without = load_tabular(manifest=manifest)
    declared = load_tabular(manifest=manifest, clinical_variables=DECLARATIONS)
    assert "nlr" not in without.clinical  # an undeclared header is never guessed to be clinical
    assert declared.declared == ["nlr", "ecog=0", "ecog=1", "ecog=2", "ecog=3", "ecog=4"]
    res0 = fit_baseline(without, "clinical_lr")
    assert not {"NLR", "ECOG", "nlr"} & set(res0.info["inputs"])
    a0 = _test_auc(res0.predictions, "p_clinical_lr")
    res = fit_baseline(declared, "clinical_lr")
    a1 = _test_auc(res.predictions, "p_clinical_lr")
    assert "nlr" in res.info["inputs"] and "ecog" in res.predictions.columns  # kept for subgroups
    print(f"clinical_lr test AUC without the declared variables {a0:.3f}, with {a1:.3f}")
    assert a1 > a0 + 0.04, (a0, a1)
    # the declared categorical is a subgroup column of the evaluation
    from bonenet.evaluation import evaluate_predictions

    metrics, _ = evaluate_predictions(res.predictions, n_boot=50, subgroup_columns=["ecog"])
    assert set(metrics["subgroups"]["ecog"]["clinical_lr"]) == {"0", "1", "2", "3"}


def _config(tmp: Path, manifest: Path, root: str, declared: bool, epochs: int = 12) -> Path:
    init = {"manifest": str(manifest), "use_images": False, "augment": False, "split": "column",
            "batch_size": 64, "num_workers": 0, "seed": 0}
    if declared:
        init["clinical_variables"] = DECLARATIONS
    cfg = {"seed": 0,
           "data": {"class_path": "bonenet.data.BoneDataModule", "init_args": init},
           "model": {"backbone": None, "heads": ["fracture"], "hidden": 32, "dropout": 0.1,
                     "lr": 0.005, "weight_decay": 0.0001, "warmup_steps": 5},
           "trainer": {"max_epochs": epochs, "default_root_dir": str(tmp / root),
                       "enable_model_summary": False, "enable_progress_bar": False,
                       "log_every_n_steps": 5},
           "checkpoint": {"monitor": "val/auroc", "mode": "max"}}
    p = tmp / f"{root}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_clinical_network_with_declared_variables_beats_without(tmp_path, manifest, monkeypatch):
    monkeypatch.setenv("BONENET_PROGRESS", "0")
    torch.set_num_threads(1)
    with_ = train([_config(tmp_path, manifest, "with", True)], name="clinical")
    without = train([_config(tmp_path, manifest, "without", False)], name="clinical")
    a1, a0 = with_.test_metrics["test/auroc"], without.test_metrics["test/auroc"]
    assert a1 > a0 + 0.04, (a0, a1)


def test_predict_uses_the_checkpoint_declarations_and_refuses_a_table_without_them(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BONENET_PROGRESS", "0")
    torch.set_num_threads(1)
    small = write_cohort(tmp_path / "small", n=300, seed=4)
    res = train([_config(tmp_path, small, "with", True, epochs=2)], name="clinical")
    # the declarations travel inside the checkpoint (weights-only loadable)
    torch.load(res.best_checkpoint, weights_only=True)
    from bonenet.training import load_for_inference

    _, data_state, _ = load_for_inference(res.best_checkpoint)
    assert [d["name"] for d in data_state["encoder"]["declared"]] == ["nlr", "ecog"]

    # predict with the same table (only the manifest, nothing else) repeats the test predictions
    df = pd.read_csv(small, dtype=str, keep_default_na=False)
    test = df[df["split"] == "test"].rename(columns={"Patient ID": "subject_id"})
    full = tmp_path / "test_full.csv"
    test.to_csv(full, index=False)
    assert main(["predict", "--checkpoint", str(res.best_checkpoint), "--studies", str(full),
                 "--out", str(tmp_path / "pred"), "--keep-ids", "--device", "cpu"]) == 0
    got = pd.read_csv(tmp_path / "pred" / "predictions.csv", dtype={"subject_id": str})
    ref = pd.read_csv(res.predictions_csv, dtype={"subject_id": str})
    merged = got.merge(ref, on="subject_id", suffixes=("", "_train"))
    assert len(merged) == len(test)
    pcol = next(c for c in got.columns if c.startswith("p_"))
    np.testing.assert_allclose(merged[pcol], merged[f"{pcol}_train"], atol=1e-5)

    # a table without the required declared column is refused, naming it
    lacking = tmp_path / "test_no_nlr.csv"
    test.drop(columns=["NLR"]).to_csv(lacking, index=False)
    capsys.readouterr()
    rc = main(["predict", "--checkpoint", str(res.best_checkpoint), "--studies", str(lacking),
               "--out", str(tmp_path / "pred2"), "--keep-ids", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "'nlr'" in err and "'NLR'" in err and "test_no_nlr.csv" in err
    assert not (tmp_path / "pred2" / "predictions.csv").exists()


def test_baseline_and_evaluate_commands_take_the_declarations(tmp_path, manifest, capsys):
    import json

    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"init_args": {"clinical_variables": DECLARATIONS}}}))
    assert main(["baseline", "--manifest", str(manifest), "--model", "clinical_lr",
                 "--clinical-variables", str(cfg), "--out", str(tmp_path / "lr")]) == 0
    meta = json.loads((tmp_path / "lr" / "model.json").read_text())
    assert "nlr" in json.dumps(meta) and "ecog=2" in json.dumps(meta)
    pred = pd.read_csv(tmp_path / "lr" / "predictions.csv", dtype={"ecog": str})
    assert set(pred["ecog"]) == {"0", "1", "2", "3"}
    assert main(["evaluate", str(tmp_path / "lr" / "predictions.csv"), "--split", "test",
                 "--subgroup-column", "ecog", "--n-boot", "20", "--report", str(tmp_path / "rep")]) == 0
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert set(metrics["subgroups"]["ecog"]["clinical_lr"]) == {"0", "1", "2", "3"}
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "lr" / "predictions.csv"), "--subgroup-column", "ecgo",
                 "--report", str(tmp_path / "rep2")]) != 0
    assert "'ecgo' not in the predictions" in capsys.readouterr().err

"""End to end: the quick demo, then `bonenet predict` killed and resumed, and `bonenet export`,
on the demo's real checkpoints."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bonenet.cli import main
from bonenet.inference import read_rows

ROOT = Path(__file__).resolve().parent.parent.parent
_NEEDED = ("bonenet.synth", "bonenet.training", "bonenet.baselines", "bonenet.evaluation")
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in _NEEDED),
    reason="the demo needs the synth, training, baselines and evaluation rooms")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:  # restored when the demo is done
        mp.setenv("BONENET_PROGRESS", "0")
        assert main(["demo", "--quick", "--out", str(out)]) == 0
    return out


def test_quick_demo_runs_every_stage(demo, capsys):
    info = json.loads((demo / "demo.json").read_text())
    assert all(v.startswith("ok") for v in info["stages"].values()), info["stages"]
    assert (demo / "report" / "report.html").is_file()
    assert {"fused", "clinical", "clinical_lr", "lasso"} <= set(info["headline"]["auc_external"])
    p = info["headline"]["predict"]
    assert p["failed"] == 2 and p["predicted"] == info["headline"]["n_external"]
    assert p["max_abs_diff"] < 1e-4  # predict repeats the training preprocessing exactly
    err = pd.read_csv(demo / "predict" / "errors.csv")
    assert len(err) == 2 and err["reason"].str.len().gt(10).all()


def _ckpt(demo: Path, name: str) -> Path:
    found = sorted((demo / "train" / name / "checkpoints").glob("*.ckpt"))
    assert found, f"no checkpoint for {name}"
    return next((c for c in found if c.stem == "best"), found[0])


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_checkpoint_with_parity(demo, tmp_path, fmt, capsys):
    assert main(["export", str(_ckpt(demo, "fused")), "--format", fmt, "--out", str(tmp_path)]) == 0
    cfg = json.loads((tmp_path / "model.json").read_text())
    assert cfg["parity"]["max_abs_diff"] < 1e-4
    assert cfg["preprocess"]["roi_size"] == [24, 24, 24]
    assert cfg["clinical_encoder"]["feature_names"]
    # the same column names as bonenet train's predictions_test.csv and bonenet predict
    assert cfg["prediction_columns"] == {"fracture": "p_fused"}
    assert cfg["study_input"]["units"] == "mgHA/cm3"
    assert "parity" in capsys.readouterr().out


def test_predict_cli_killed_and_rerun_gives_each_study_once(demo, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BONENET_SALT", raising=False)
    src = demo / "heldout" / "studies"
    studies = tmp_path / "studies"
    studies.mkdir()
    good = [d for d in sorted(src.iterdir()) if not d.name.startswith("broken")]
    n = 0
    for rep in range(4):  # enough studies that the kill lands mid-run
        for d in good:
            (studies / f"{d.name}_{rep}").symlink_to(d.resolve(), target_is_directory=True)
            n += 1
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bonenet", "predict", "--checkpoint", str(_ckpt(demo, "fused")),
           "--studies", str(studies), "--out", str(out), "--batch-size", "1", "--workers", "1"]
    env = {**os.environ, "BONENET_PROGRESS": "0", "PYTHONPATH": str(ROOT),
           "BONENET_SALT": "e2e-test-salt-000"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    pred = out / "predictions.csv"
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            if pred.exists() and len(read_rows(pred)[1]) >= 2:
                break
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode()[-3000:])
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    n_before = len(read_rows(pred)[1])
    assert 2 <= n_before < n
    # the re-run, in this process
    monkeypatch.setenv("BONENET_SALT", env["BONENET_SALT"])
    assert main(cmd[3:]) == 0
    assert f"{n_before} already done" in capsys.readouterr().out
    ids = [row["subject_id"] for row in read_rows(pred)[1]]
    assert len(ids) == len(set(ids)) == n
    # no salt, no run (and nothing written)
    monkeypatch.delenv("BONENET_SALT")
    assert main([*cmd[3:-6], "--out", str(tmp_path / "nosalt")]) == 2
    assert "--salt" in capsys.readouterr().err
    assert not (tmp_path / "nosalt").exists()


def test_predict_cli_ddp_two_cpu_processes_matches_one(demo, tmp_path):
    """`bonenet predict --devices 2` (Lightning DDP on gloo) writes the same rows as one process."""
    base = [sys.executable, "-m", "bonenet", "predict", "--checkpoint", str(_ckpt(demo, "fused")),
            "--studies", str(demo / "heldout" / "studies"), "--device", "cpu", "--workers", "1"]
    env = {**os.environ, "BONENET_PROGRESS": "0", "PYTHONPATH": str(ROOT),
           "BONENET_SALT": "ddp-cli-salt-000"}
    tables = {}
    for name, extra in (("one", []), ("ddp", ["--devices", "2"])):
        r = subprocess.run([*base, "--out", str(tmp_path / name), *extra], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 1, r.stderr[-3000:]  # the two broken studies: errors.csv, exit 1
        tables[name] = pd.read_csv(tmp_path / name / "predictions.csv").set_index("subject_id")
        assert len(pd.read_csv(tmp_path / name / "errors.csv")) == 2
    one, ddp = tables["one"], tables["ddp"].loc[tables["one"].index]
    assert len(ddp) == len(one) == len(tables["ddp"])
    pd.testing.assert_series_equal(ddp["p_fused"], one["p_fused"], atol=1e-6)
    assert not (tmp_path / "ddp" / ".shards").exists()


def test_demo_summary_says_where_its_figures_come_from(demo):
    from bonenet._research import RESEARCH_NOTICE
    from bonenet.demo import DEMO_WORLD_NOTE, DemoResult

    info = json.loads((demo / "demo.json").read_text())
    assert info["synthetic_world"] == DEMO_WORLD_NOTE and info["notice"] == RESEARCH_NOTICE
    r = DemoResult(out=demo, headline={"auc_external": {"fused": (0.7, 0.6, 0.8)}, "external_site": "site_c",
                                       "n_external": 10, "events_external": 3})
    lines = r.summary().splitlines()
    assert any(line.strip().startswith("fused") and "0.700 [0.600, 0.800]" in line for line in lines)
    assert lines[-2:] == [DEMO_WORLD_NOTE, RESEARCH_NOTICE]
    assert DemoResult(out=demo).summary().splitlines()[-1] == RESEARCH_NOTICE  # no AUCs: no world note

"""`bonenet train` end to end on a tiny in-test DataModule: checkpoints, logs, predictions,
load_for_inference, exact resume after a kill, config errors, ablations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from bonenet.cli import main
from bonenet.errors import CheckpointError, ConfigError
from bonenet.models import FusionEnsemble
from bonenet.training import load_for_inference
from bonenet.training.run import train

HERE = Path(__file__).parent
REPO = HERE.parent.parent


def _config(tmp: Path, root: str, **over) -> Path:
    cfg = {
        "seed": 7,
        "data": {"class_path": "tiny_dm.TinyDataModule", "init_args": {"n": 40, "batch_size": 8}},
        "model": {"backbone": "trabecular_cnn", "fusion": "film", "heads": ["fracture", "survival"],
                  "dropout": 0.3},
        "trainer": {"max_epochs": 2, "default_root_dir": str(tmp / root), "enable_model_summary": False,
                    "enable_progress_bar": False},
        "resume_checkpoint": {"every_n_train_steps": 3},
    }
    for k, v in over.items():
        sec, key = k.split("__")
        cfg.setdefault(sec, {})[key] = v
    p = tmp / f"{root}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("BONENET_PROGRESS", "0")
    torch.set_num_threads(1)


def test_train_writes_checkpoints_logs_predictions_and_reloads(tmp_path, capsys):
    cfg = _config(tmp_path, "run")
    assert main(["train", "--config", str(cfg), "--name", "fused"]) == 0
    out = capsys.readouterr().out
    assert "test/auroc" in out
    root = tmp_path / "run"
    assert (root / "checkpoints" / "best.ckpt").is_file() and (root / "checkpoints" / "last.ckpt").is_file()
    assert (root / "csv" / "metrics.csv").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in (root / "tensorboard").iterdir())
    pred = pd.read_csv(root / "predictions_test.csv")
    assert {"subject_id", "fracture", "time_years", "event", "p_fused"} <= set(pred.columns)
    assert pred["p_fused"].between(0, 1).all() and len(pred) == 10

    # safe loading: plain tensors/values only
    raw = torch.load(root / "checkpoints" / "best.ckpt", weights_only=True)
    assert raw["hyper_parameters"]["clinical_features"] == 4  # linked from data.n_clinical_features
    net, dm_state, meta = load_for_inference(root / "checkpoints" / "best.ckpt")
    assert dm_state["note"] == "tiny" and meta["network"]["fusion"] == "film"
    assert meta["datamodule_class"] == "tiny_dm.TinyDataModule"
    # the rebuilt network reproduces the written predictions
    from tiny_dm import TinyDataModule

    dm = TinyDataModule(n=40, batch_size=8, seed=7)
    dm.setup()
    batch = next(iter(dm.test_dataloader()))
    with torch.no_grad():
        p = net.risk(net(batch.images, batch.image_present, batch.clinical, batch.clinical_observed))
    want = pred.set_index("subject_id").loc[batch.subject_ids, "p_fused"].to_numpy()
    assert torch.allclose(p["fracture"], torch.tensor(want, dtype=torch.float32), atol=1e-5)


@pytest.mark.parametrize(("kill_step", "ckpt_step"), [
    pytest.param(7, 6, id="mid-epoch"),  # last.ckpt at step 6 = epoch 1 after 2 of its 4 batches
    pytest.param(5, 4, id="epoch-end", marks=pytest.mark.slow),  # last.ckpt at epoch 0 validation end
])
def test_kill_and_resume_matches_uninterrupted(tmp_path, kill_step, ckpt_step):
    # 30 training subjects / batch 8 -> 4 steps per epoch; last.ckpt every 3 steps and per epoch.
    full = train([_config(tmp_path, "full")], test=False)
    killed_cfg = _config(tmp_path, "killed", trainer__callbacks=[
        {"class_path": "tiny_dm.KillAtStep", "init_args": {"step": kill_step}}])
    with pytest.raises((SystemExit, KeyboardInterrupt)):  # Lightning exits after a graceful shutdown
        train([killed_cfg], test=False)
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    ck = torch.load(last, weights_only=True)
    assert ck["global_step"] == ckpt_step
    resume_cfg = _config(tmp_path, "killed")  # same run folder, no killer
    res = train([resume_cfg], test=False, resume="last")
    a = torch.load(full.last_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(res.last_checkpoint, weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_misspelt_key_fails_at_load_naming_it(tmp_path, capsys):
    cfg = _config(tmp_path, "typo", model__fusoin="gated")
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "fusoin" in err
    with pytest.raises(ConfigError, match="fusoin"):
        train([cfg])
    bad_head = _config(tmp_path, "head", model__heads=["fractures"])
    with pytest.raises(ConfigError, match="fractures"):
        train([bad_head])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        train([_config(tmp_path, "x")], sets=["trainer.max_epochs"])
    with pytest.raises(CheckpointError, match="does not exist"):
        train([_config(tmp_path, "y")], resume=str(tmp_path / "none.ckpt"))


def test_ensemble_trains_every_member_and_reloads_as_one_network(tmp_path):
    res = train([_config(tmp_path, "ens", trainer__max_epochs=1, model__ensemble=2)], name="fused")
    ck = torch.load(res.best_checkpoint, weights_only=True)
    assert ck["bonenet"]["network"]["ensemble"] == 2
    sd = ck["state_dict"]
    assert not torch.equal(sd["network.members.0.heads.fracture.weight"],
                           sd["network.members.1.heads.fracture.weight"])
    net, _, meta = load_for_inference(res.best_checkpoint)
    assert isinstance(net, FusionEnsemble) and len(net) == 2 and meta["network"]["ensemble"] == 2
    from tiny_dm import TinyDataModule

    dm = TinyDataModule(n=40, batch_size=8, seed=7)
    dm.setup()
    batch = next(iter(dm.test_dataloader()))
    with torch.no_grad():
        p = net.risk(net(batch.images, batch.image_present, batch.clinical, batch.clinical_observed))
    pred = pd.read_csv(res.predictions_csv).set_index("subject_id")
    want = pred.loc[batch.subject_ids, "p_fused"].to_numpy()
    assert torch.allclose(p["fracture"], torch.tensor(want, dtype=torch.float32), atol=1e-5)
    with pytest.raises(ConfigError, match="ensemble"):
        train([_config(tmp_path, "ens0", model__ensemble=0)])


@pytest.mark.parametrize("variant", ["clinical_only", "image_only"])
def test_ablations_through_the_same_code(tmp_path, variant):
    over = {"trainer__max_epochs": 1}
    if variant == "clinical_only":
        over["model__backbone"] = None
    else:
        over["data__init_args"] = {"n": 40, "batch_size": 8, "use_clinical": False}
    res = train([_config(tmp_path, variant, **over)], name=variant)
    hp = torch.load(res.best_checkpoint, weights_only=True)["hyper_parameters"]
    if variant == "clinical_only":
        assert hp["backbone"] is None and hp["clinical_features"] == 4
    else:
        assert hp["clinical_features"] == 0
    assert 0.0 <= res.test_metrics["test/auroc"] <= 1.0


@pytest.mark.slow
def test_ddp_two_cpu_processes_gloo(tmp_path):
    cfg = _config(tmp_path, "ddp", trainer__max_epochs=1, trainer__strategy="ddp",
                  trainer__accelerator="cpu", trainer__devices=2)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]), "BONENET_PROGRESS": "0",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "bonenet", "train", "--config", str(cfg), "--no-test"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "world_size: 2" in proc.stderr or "GLOBAL_RANK: 1" in proc.stderr or "distributed_backend=gloo" in proc.stderr
    ck = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    # 30 samples split over 2 ranks -> 15 each, batch 8 -> 2 steps in the epoch
    assert ck["global_step"] == 2


def _bonenet_train(tmp: Path, cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]), "BONENET_PROGRESS": "0",
           "OMP_NUM_THREADS": "1"}
    # its own session: the hard-kill callback signals the whole process group, not pytest
    return subprocess.run([sys.executable, "-m", "bonenet", "train", "--config", str(cfg), "--no-test", *extra],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=600, start_new_session=True)


@pytest.mark.slow
def test_ddp_hard_kill_and_resume_matches_uninterrupted(tmp_path):
    # 54 training subjects over 2 ranks -> 27 each, batch 8 -> 4 steps per epoch (8, 8, 8, 3);
    # last.ckpt every 3 steps: step 6 is epoch 1 after 2 of its 4 batches. SIGKILL at step 7.
    # The ranks' RNG streams differ (RankDependentDraws), so every rank must get its own back.
    draws = {"class_path": "tiny_dm.RankDependentDraws"}
    ddp = {"trainer__strategy": "ddp", "trainer__accelerator": "cpu", "trainer__devices": 2,
           "data__init_args": {"n": 72, "batch_size": 8}}
    full = _bonenet_train(tmp_path, _config(tmp_path, "full", **ddp, trainer__callbacks=[draws]))
    assert full.returncode == 0, full.stderr[-3000:]
    killed_cfg = _config(tmp_path, "killed", **ddp, trainer__callbacks=[
        draws, {"class_path": "tiny_dm.HardKillAtStep", "init_args": {"step": 7}}])
    killed = _bonenet_train(tmp_path, killed_cfg)
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-3000:])
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    ck = torch.load(last, weights_only=True)
    assert ck["global_step"] == 6
    # every rank's global RNG and dropout stream are in the checkpoint, and they differ
    rngs = next(v for k, v in ck["callbacks"].items() if "ExactResume" in k)["rng_ranks"]
    assert len(rngs) == 2 and not torch.equal(rngs[0]["torch"], rngs[1]["torch"])
    dropout = ck["bonenet"]["rng_ranks"]
    assert len(dropout) == 2 and not torch.equal(dropout[0]["cpu"], dropout[1]["cpu"])
    shutil.copy(last, tmp_path / "killed_step6.ckpt")
    resumed = _bonenet_train(tmp_path, _config(tmp_path, "killed", **ddp, trainer__callbacks=[draws]),
                             "--resume", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "will not match" not in resumed.stderr
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(last, weights_only=True)
    assert a["global_step"] == b["global_step"] == 8
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k

    # the same checkpoint resumed in one process: finishes the epoch's unseen 54 - 2*2*8 = 22
    # subjects (3 batches), says that it is not bit-identical
    one = _bonenet_train(tmp_path, _config(tmp_path, "single", trainer__callbacks=[draws],
                                           data__init_args={"n": 72, "batch_size": 8}),
                         "--resume", str(tmp_path / "killed_step6.ckpt"))
    assert one.returncode == 0, one.stderr[-3000:]
    assert "checkpoint written by 2" in one.stderr and "will not match" in one.stderr
    assert torch.load(tmp_path / "single" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 9


class _NotAllowed:  # a pickled class: what weights_only=True must refuse
    pass


def test_corrupt_or_unsafe_checkpoint_is_a_checkpoint_error(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"junk\.ckpt.*not a readable PyTorch checkpoint.*best\.ckpt"):
        load_for_inference(junk)
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"state_dict": {}, "obj": _NotAllowed()}, unsafe)
    with pytest.raises(CheckpointError, match=r"unsafe\.ckpt.*refuses to unpickle"):
        load_for_inference(unsafe)


@pytest.mark.parametrize(("device", "precision_cfg", "want"), [
    ("cpu", None, {"accelerator": "cpu", "precision": "32-true", "deterministic": True}),
    ("cuda:1", None, {"accelerator": "gpu", "devices": [1], "precision": "16-mixed"}),
    ("cuda", "bf16-mixed", {"accelerator": "gpu"}),  # an explicit trainer.precision wins
])
def test_device_and_precision_are_chosen_from_the_device(tmp_path, monkeypatch, device, precision_cfg, want):
    """CUDA gets mixed precision and no forced determinism, the CPU fp32 and deterministic
    algorithms; the user's trainer settings are never overridden (checked without a GPU by
    capturing what would be handed to Lightning's Trainer)."""
    from lightning.pytorch.cli import LightningCLI

    from bonenet.training.cli import build_cli

    monkeypatch.setattr("bonenet.device.select_device", lambda requested=None: device)
    seen = {}
    monkeypatch.setattr(LightningCLI, "instantiate_trainer", lambda self, **kw: seen.update(kw))
    over = {} if precision_cfg is None else {"trainer__precision": precision_cfg}
    build_cli(["--config", str(_config(tmp_path, "dev", **over))])
    for key, value in want.items():
        assert seen[key] == value, key
    if device.startswith("cuda"):
        assert "deterministic" not in seen
    if precision_cfg is not None:
        assert "precision" not in seen  # left to the config's own value
    assert type(seen["callbacks"][0]).__name__ == "ExactResume"

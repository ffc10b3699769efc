"""predict under attack and bad luck: a killed decoding worker, a killed parent, two runs on
one --out, weak salts, run.json without a salt oracle, --out pointing at a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from inference_helpers import make_nifti_studies, tiny_predictor
from reliability_helpers import killer_predictor

from bonenet._atomic import output_lock
from bonenet._pseudo import salt_entropy_bits
from bonenet.cli import main
from bonenet.errors import ConfigError, OutputLockedError
from bonenet.inference import Pseudonymizer, discover_studies, predict_studies, resolve_salt

SALT = "reliability-salt-5f3a9c"
HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("rel")
    studies, clinical = make_nifti_studies(root, 6)
    return studies, clinical


def test_killed_decoding_worker_fails_one_study_and_the_run_goes_on(cohort, tmp_path):
    studies_dir, clinical = cohort
    studies = discover_studies(studies_dir, clinical=clinical)
    p = Pseudonymizer(SALT)
    s = predict_studies(studies, killer_predictor("P0002"), tmp_path / "out", pseudonymizer=p,
                        num_workers=2, batch_size=2)
    assert (s.n_predicted, s.n_failed) == (5, 1)
    err = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert err["subject_id"].tolist() == [p("P0002")]
    assert err["stage"].tolist() == ["decode"] and "SIGKILL" in err["reason"][0]
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert sorted(pred["subject_id"]) == sorted(p(f"P{i:04d}") for i in range(6) if i != 2)
    # a resume does not die on it again: it is recorded, so it is skipped
    s = predict_studies(studies, killer_predictor("P0002"), tmp_path / "out", pseudonymizer=p,
                        num_workers=1)
    assert (s.n_predicted, s.n_failed, s.n_skipped) == (0, 0, 6)


def _descendants_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_workers_and_fork_server_die_with_a_killed_predict(cohort, tmp_path):
    """SIGKILL of the predict process alone (not its group): every child goes with it."""
    studies_dir, clinical = cohort
    out = tmp_path / "out"
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(HERE)!r}, {str(ROOT)!r}]
        from inference_helpers import tiny_predictor
        from bonenet.inference import Pseudonymizer, discover_studies, predict_studies
        studies = discover_studies({str(studies_dir)!r}, clinical={str(clinical)!r})
        predict_studies(studies, tiny_predictor(delay=120), {str(out)!r},
                        pseudonymizer=Pseudonymizer({SALT!r}), batch_size=1, num_workers=2)
    """)
    env = {**os.environ, "BONENET_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        kids: list[int] = []
        while time.monotonic() < deadline:  # fork server + 2 workers
            kids = [c.pid for c in parent.children(recursive=True)]
            if len(kids) >= 3:
                break
            assert proc.poll() is None, "predict ended before its workers started"
            time.sleep(0.2)
        assert len(kids) >= 3, kids
        time.sleep(1.0)  # workers are now sleeping inside a study
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 30
        while _descendants_alive(kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _descendants_alive(kids) == []
    finally:
        for pid in [proc.pid, *_descendants_alive(locals().get("kids", []))]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(30)


def test_second_run_on_the_same_out_is_refused(cohort, tmp_path):
    studies_dir, clinical = cohort
    studies = discover_studies(studies_dir, clinical=clinical)
    out = tmp_path / "out"
    with output_lock(out):  # another run is writing out/
        with pytest.raises(OutputLockedError, match="--wait-lock"):
            predict_studies(studies, tiny_predictor(), out, pseudonymizer=Pseudonymizer(SALT),
                            num_workers=0)
    assert not (out / "predictions.csv").exists()
    s = predict_studies(studies, tiny_predictor(), out, pseudonymizer=Pseudonymizer(SALT),
                        num_workers=0)
    assert s.n_predicted == 6


def test_run_json_holds_no_cheap_salt_oracle(cohort, tmp_path):
    studies_dir, clinical = cohort
    studies = discover_studies(studies_dir, clinical=clinical)[:1]
    predict_studies(studies, tiny_predictor(), tmp_path / "out", pseudonymizer=Pseudonymizer(SALT),
                    num_workers=0)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert "salt_fingerprint" not in run
    check = run["salt_check"]
    assert check["kdf"] == "scrypt" and check["n"] >= 2**14 and len(check["run_key"]) == 32
    assert Pseudonymizer(SALT).matches(check) and not Pseudonymizer(SALT + "x").matches(check)
    with pytest.raises(ConfigError, match="another salt"):
        predict_studies(studies, tiny_predictor(), tmp_path / "out",
                        pseudonymizer=Pseudonymizer("a-different-salt-9f8e7d"), num_workers=0)


@pytest.mark.parametrize("weak", ["aaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaa", "password", "12345678",
                                  "abababababababab"])
def test_weak_salts_are_refused(weak, monkeypatch):
    monkeypatch.delenv("BONENET_SALT", raising=False)
    with pytest.raises(ConfigError, match=r"predictable|at least"):
        resolve_salt(weak, keep_ids=False)


def test_salt_sources_and_the_ps_warning(tmp_path, monkeypatch, caplog):
    strong = "3f2a9c0b7e1d4a5b6c8d9e0f1a2b3c4d"
    assert salt_entropy_bits(strong) > 100 and salt_entropy_bits("aaaaaaaa") == 0
    monkeypatch.delenv("BONENET_SALT", raising=False)
    f = tmp_path / "salt.txt"
    f.write_text(strong + "\n")
    assert resolve_salt(None, keep_ids=False, salt_file=f) == strong
    with pytest.raises(ConfigError, match="both"):
        resolve_salt(strong, keep_ids=False, salt_file=f)
    with caplog.at_level("WARNING"):
        assert resolve_salt(strong, keep_ids=False) == strong
    assert "visible" in caplog.text and strong not in caplog.text
    monkeypatch.setenv("BONENET_SALT", strong)
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert resolve_salt(None, keep_ids=False) == strong
    assert "visible" not in caplog.text


@pytest.mark.parametrize("argv", [
    ["predict", "--checkpoint", "x.ckpt", "--studies", "s", "--keep-ids", "--out", "{f}"],
    ["export", "x.ckpt", "--out", "{f}"],
    ["synth", "--n", "2", "--out", "{f}"],
    ["evaluate", "p.csv", "--report", "{f}"],
    ["scan", ".", "--csv", "{d}"],
])
def test_out_at_an_existing_file_is_a_usage_error(argv, tmp_path, capsys):
    f = tmp_path / "taken.txt"
    f.write_text("keep me")
    argv = [a.format(f=f, d=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("existing file" in err or "is a folder" in err)
    assert f.read_text() == "keep me"


def test_a_bomb_study_is_recorded_as_failed_and_the_run_goes_on(tmp_path):
    import gzip

    import nibabel as nib
    import numpy as np

    studies_dir, clinical = make_nifti_studies(tmp_path, 3)
    h = nib.Nifti1Header()
    h.set_data_shape((2048, 2048, 1024))
    h.set_data_dtype(np.float32)
    h["vox_offset"] = 352
    (studies_dir / "P0001" / "image.nii.gz").write_bytes(
        gzip.compress(h.binaryblock + b"\0" * 1028))
    p = Pseudonymizer(SALT)
    s = predict_studies(discover_studies(studies_dir, clinical=clinical), tiny_predictor(),
                        tmp_path / "out", pseudonymizer=p, num_workers=0)
    assert (s.n_predicted, s.n_failed) == (2, 1)
    err = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert err["subject_id"].tolist() == [p("P0001")]
    assert "memory ceiling" in err["reason"][0]


def test_a_nan_model_output_is_a_failed_study_not_a_blank_prediction(cohort, tmp_path):
    import numpy as np

    studies_dir, clinical = cohort
    pred = tiny_predictor()
    real = pred.runner

    class NanFirst:  # the model gives NaN for the first study of every batch
        device = "cpu"

        def __call__(self, batch):
            risks = {k: v.copy() for k, v in real(batch).items()}
            risks["fracture"][0] = np.nan
            return risks

    pred.runner = NanFirst()
    p = Pseudonymizer(SALT)
    s = predict_studies(discover_studies(studies_dir, clinical=clinical), pred, tmp_path / "out",
                        pseudonymizer=p, num_workers=0, batch_size=2)
    assert (s.n_predicted, s.n_failed) == (3, 3)
    rows = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert rows["p_tiny"].notna().all() and len(rows) == 3
    err = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert (err["stage"] == "model").all() and err["reason"].str.contains("NaN").all()


def test_ddp_rank_survives_a_killed_decoding_worker(tmp_path):
    """Two CPU ranks (gloo); one study kills its decoding worker: it is one failed row."""
    studies_dir, clinical = make_nifti_studies(tmp_path, 6)
    out = tmp_path / "out"
    script = tmp_path / "run_ddp.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(HERE)!r}, {str(ROOT)!r}]
        from reliability_helpers import killer_predictor
        from bonenet.inference import Pseudonymizer, discover_studies
        from bonenet.inference._ddp import predict_studies_ddp
        if __name__ == "__main__":
            studies = discover_studies({str(studies_dir)!r}, clinical={str(clinical)!r})
            s = predict_studies_ddp(studies, killer_predictor("P0003"), {str(out)!r},
                                    pseudonymizer=Pseudonymizer({SALT!r}), devices=2,
                                    accelerator="cpu", batch_size=2, num_workers=1)
            if s is not None:
                print("SUMMARY", s.n_predicted, s.n_failed)
    """))
    env = {**os.environ, "BONENET_PROGRESS": "0", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SUMMARY 5 1" in r.stdout, r.stdout + r.stderr[-2000:]
    p = Pseudonymizer(SALT)
    err = pd.read_csv(out / "errors.csv")
    assert err["subject_id"].tolist() == [p("P0003")] and "SIGKILL" in err["reason"][0]

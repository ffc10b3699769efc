"""A predict run killed with SIGKILL mid-run and re-run gives every study exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from inference_helpers import make_nifti_studies, tiny_predictor

from bonenet.inference import Pseudonymizer, discover_studies, predict_studies, read_rows

SALT = "kill-test-salt-0001"
HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def test_killed_run_resumes_without_duplicates(tmp_path):
    studies_dir, clinical = make_nifti_studies(tmp_path, 12)
    out = tmp_path / "out"
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(HERE)!r}, {str(ROOT)!r}]
        from inference_helpers import tiny_predictor
        from bonenet.inference import Pseudonymizer, discover_studies, predict_studies
        studies = discover_studies({str(studies_dir)!r}, clinical={str(clinical)!r})
        predict_studies(studies, tiny_predictor(delay=0.3), {str(out)!r},
                        pseudonymizer=Pseudonymizer({SALT!r}), batch_size=1, num_workers=1)
    """)
    env = {**os.environ, "BONENET_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pred = out / "predictions.csv"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if pred.exists() and len(read_rows(pred)[1]) >= 3:
                break
            if proc.poll() is not None:
                raise AssertionError(f"child ended early: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the child and its decoding workers
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    n_before = len(read_rows(pred)[1])
    assert 3 <= n_before < 12, n_before
    assert pred.read_bytes().endswith(b"\n")

    studies = discover_studies(studies_dir, clinical=clinical)
    s = predict_studies(studies, tiny_predictor(), out, pseudonymizer=Pseudonymizer(SALT),
                        num_workers=0)
    assert s.n_skipped == n_before and s.n_predicted == 12 - n_before
    ids = [r["subject_id"] for r in read_rows(pred)[1]]
    p = Pseudonymizer(SALT)
    assert sorted(ids) == sorted(p(f"P{i:04d}") for i in range(12))  # each exactly once

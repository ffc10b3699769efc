"""DDP prediction with two CPU processes (gloo): shards are written per rank and merged."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
from inference_helpers import make_nifti_studies

from bonenet.inference import Pseudonymizer, read_rows

SALT = "ddp-test-salt-0001"
HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def test_two_process_ddp_predict_merges_shards(tmp_path):
    studies_dir, clinical = make_nifti_studies(tmp_path, 9)
    d = studies_dir / "EMPTY"
    d.mkdir()
    out = tmp_path / "out"
    script = tmp_path / "run_ddp.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(HERE)!r}, {str(ROOT)!r}]
        from inference_helpers import tiny_predictor
        from bonenet.inference import Pseudonymizer, discover_studies
        from bonenet.inference._ddp import predict_studies_ddp
        if __name__ == "__main__":
            studies = discover_studies({str(studies_dir)!r}, clinical={str(clinical)!r})
            s = predict_studies_ddp(studies, tiny_predictor(), {str(out)!r},
                                    pseudonymizer=Pseudonymizer({SALT!r}), devices=2,
                                    accelerator="cpu", batch_size=2, num_workers=0)
            if s is not None:
                print("SUMMARY", s.n_predicted, s.n_failed, s.extra["world_size"])
    """))
    env = {**os.environ, "BONENET_PROGRESS": "0", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                       timeout=240, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SUMMARY 9 1 2" in r.stdout, r.stdout + r.stderr[-2000:]
    p = Pseudonymizer(SALT)
    ids = [row["subject_id"] for row in read_rows(out / "predictions.csv")[1]]
    assert sorted(ids) == sorted(p(f"P{i:04d}") for i in range(9))
    err = pd.read_csv(out / "errors.csv")
    assert list(err["subject_id"]) == [p("EMPTY")]
    assert not (out / ".shards").exists()

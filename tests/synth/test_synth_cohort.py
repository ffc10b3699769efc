"""Cohort folder contract, determinism, loading studies back, and the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bonenet import io
from bonenet.cli import main
from bonenet.synth import make_cohort

CLIN = ["age", "sex", "weight_kg", "height_cm", "bmi", "prior_fracture", "parent_hip_fracture",
        "current_smoking", "glucocorticoids", "rheumatoid_arthritis", "secondary_osteoporosis",
        "alcohol_3plus", "fn_bmd", "fn_tscore", "treatment"]


@pytest.fixture(scope="module")
def hr(tmp_path_factory):
    out = tmp_path_factory.mktemp("hr")
    return make_cohort(10, modality="hrpqct", seed=5, out=out, roi_size=32, workers=1,
                       show_progress=False)


def test_folder_layout_and_columns(hr):
    d = hr.out
    assert not hr.failed
    assert all(rel.endswith(".aim") for rel in hr.manifest["image"])
    for name in ("clinical.csv", "manifest.csv", "truth.csv", "cohort.json"):
        assert (d / name).is_file()
    man = pd.read_csv(d / "manifest.csv")
    assert list(man.columns[:7]) == ["subject_id", "image", "site", "split", "fracture",
                                     "time_years", "event"]
    assert set(CLIN) <= set(man.columns)
    clin = pd.read_csv(d / "clinical.csv")
    assert list(clin.columns) == ["subject_id", *CLIN]
    truth = pd.read_csv(d / "truth.csv")
    for col in ("oracle_risk_10y", "bone_quality", "bv_tv", "tb_th_mm", "tb_sp_mm",
                "tb_n_per_mm", "ct_th_mm"):
        assert col in truth.columns
    for rel in man["image"]:
        assert not Path(rel).is_absolute()
        assert rel.startswith("studies/")
        assert (d / rel).exists()
    cfg = json.loads((d / "cohort.json").read_text())
    assert cfg["seed"] == 5 and cfg["n"] == 10 and len(cfg["sites"]) == 3
    assert set(man["event"]) <= {0, 1, 2}
    assert ((man["fracture"] == 1) <= (man["event"] == 1)).all()


def test_studies_load_back_with_units_and_geometry(hr):
    man = hr.manifest
    for _, row in man.head(3).iterrows():
        vol = io.load(hr.out / row["image"])
        assert vol.units == "mgHA/cm3"
        assert vol.shape == (32, 32, 32)
        site = next(s for s in hr.config["sites"] if s["name"] == row["site"])
        np.testing.assert_allclose(vol.spacing, [site["hrpqct"]["voxel_mm"]] * 3, rtol=1e-5)
        truth = hr.truth.set_index("subject_id").loc[row["subject_id"]]
        # mean density of a trabecular region = BV/TV x bone density (+ noise)
        expect = truth["bv_tv"] * site["hrpqct"]["bone_density"]
        assert abs(vol.array.mean() - expect) < 25.0
        np.testing.assert_allclose(vol.direction, [[0, 0, 1], [0, 1, 0], [1, 0, 0]], atol=1e-6)


def test_same_seed_same_files(tmp_path):
    a = make_cohort(6, modality="qct", seed=3, out=tmp_path / "a", roi_size=48, workers=1,
                    show_progress=False)
    b = make_cohort(6, modality="qct", seed=3, out=tmp_path / "b", roi_size=48, workers=2,
                    show_progress=False)
    for name in ("clinical.csv", "manifest.csv", "truth.csv", "cohort.json"):
        assert (a.out / name).read_bytes() == (b.out / name).read_bytes(), name
    va = io.load(a.out / a.manifest["image"][0]).array
    vb = io.load(b.out / b.manifest["image"][0]).array
    np.testing.assert_array_equal(va, vb)
    c = make_cohort(6, modality="qct", seed=4, images=False, show_progress=False)
    assert not c.clinical.equals(a.clinical)


def test_qct_and_dxa_studies(tmp_path):
    q = make_cohort(3, modality="qct", seed=1, out=tmp_path / "q", roi_size=64, workers=1,
                    show_progress=False)
    vol = io.load(q.out / q.manifest["image"][0])
    assert vol.units == "HU"
    d = make_cohort(3, modality="dxa", seed=1, out=tmp_path / "d", roi_size=48, workers=1,
                    show_progress=False)
    img = io.load(d.out / d.manifest["image"][0])
    assert img.shape[0] == 1 and img.shape[1:] == (48, 48)
    assert 0.2 < d.truth["spine_abmd_gcm2"].mean() < 2.0


def test_in_memory_cohort_keeps_volumes():
    c = make_cohort(3, modality="hrpqct", seed=2, roi_size=24, workers=1, show_progress=False)
    assert c.out is None and len(c.images) == 3
    assert next(iter(c.images.values())).shape == (24, 24, 24)


def test_cli(tmp_path, capsys):
    rc = main(["synth", "--n", "4", "--modality", "hrpqct", "--out", str(tmp_path / "c"),
               "--seed", "0", "--roi-size", "24", "--workers", "1"])
    assert rc == 0
    assert "wrote 4 subjects" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "c" / "manifest.csv")) == 4
    bad = subprocess.run([sys.executable, "-m", "bonenet", "synth", "--n", "0", "--out",
                          str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and "n=0" in bad.stderr

"""`bonenet features` on a tiny manifest of NIfTI volumes written by the test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from bonenet import io
from bonenet.cli import main
from bonenet.volume import Volume

SP = 0.0607


def _hrpqct(seed: int) -> Volume:
    rng = np.random.default_rng(seed)
    p, n = 10, 120
    _, yy, xx = np.mgrid[0:p, 0:n, 0:n]
    rad = np.hypot(yy - n / 2 + 0.5, xx - n / 2 + 0.5) * SP
    f = ndi.gaussian_filter(rng.normal(size=(p, n, n)), 2.0, mode="wrap")
    rho = np.zeros((p, n, n), np.float32)
    rho[(rad < 2.6) & (f > np.quantile(f, 0.8))] = 600.0
    rho[(rad >= 2.6) & (rad < 3.3)] = 1000.0
    rho += rng.normal(0, 20, rho.shape).astype(np.float32)
    return Volume(rho, spacing=(SP, SP, SP), units="mgHA/cm3", modality="HRPQCT")


def test_features_cli_writes_rows_and_errors(tmp_path):
    studies = tmp_path / "studies"
    for i in range(2):
        io.save(_hrpqct(i), studies / f"s{i}" / "image.nii.gz")
    pd.DataFrame({
        "subject_id": ["s0", "s1", "s2"],
        "image": ["studies/s0/image.nii.gz", "studies/s1/image.nii.gz", "studies/missing.nii.gz"],
        "fracture": [0, 1, 0],
    }).to_csv(tmp_path / "manifest.csv", index=False)
    out = tmp_path / "features.csv"
    rc = main(["features", str(tmp_path / "manifest.csv"), "--out", str(out), "--no-smi"])
    assert rc == 1  # one study failed, the others were measured
    feats = pd.read_csv(out)
    assert feats["subject_id"].tolist() == ["s0", "s1"]
    for col in ("bv_tv", "tb_th_mm", "tb_sp_mm", "tb_n_per_mm", "conn_d_per_mm3", "da", "ct_th_mm",
                "ct_po", "tt_vbmd_mgcm3", "tb_vbmd_mgcm3", "ct_vbmd_mgcm3"):
        assert col in feats.columns
        assert np.isfinite(feats[col]).all()
    assert (feats["ct_th_mm"] - 0.7).abs().max() < 0.15
    errs = pd.read_csv(tmp_path / "features_errors.csv")
    assert errs["subject_id"].tolist() == ["s2"]
    assert "no such file" in errs["message"][0]


def test_features_bad_manifest(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("id,path\na,b\n")
    assert main(["features", str(tmp_path / "m.csv"), "--out", str(tmp_path / "f.csv")]) == 2
    assert "subject_id" in capsys.readouterr().err


@pytest.mark.slow
def test_features_parallel_workers(tmp_path):
    io.save(_hrpqct(3), tmp_path / "a.nii.gz")
    io.save(_hrpqct(4), tmp_path / "b.nii.gz")
    pd.DataFrame({"subject_id": ["a", "b"], "image": ["a.nii.gz", "b.nii.gz"]}).to_csv(
        tmp_path / "manifest.csv", index=False)
    rc = main(["features", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "f.csv"),
               "--workers", "2", "--no-smi"])
    assert rc == 0
    assert sorted(pd.read_csv(tmp_path / "f.csv")["subject_id"]) == ["a", "b"]


def test_trabecular_cube_is_measured_without_cortex():
    from bonenet.measure._study import measure_volume

    rng = np.random.default_rng(7)
    f = ndi.gaussian_filter(rng.normal(size=(40, 40, 40)), 2.0, mode="wrap")
    rho = np.where(f > np.quantile(f, 0.8), 800.0, 50.0).astype(np.float32)
    vol = Volume(rho, spacing=(SP, SP, SP), units="mgHA/cm3", modality="HRPQCT")
    res = measure_volume(vol, smi=False)
    assert "ct_th_mm" not in res
    assert res["bv_tv"] == pytest.approx(0.2, abs=0.05)
    assert res["tb_vbmd_mgcm3"] == pytest.approx(float(rho.mean()))


@pytest.mark.parametrize("bv_tv", [0.06, 0.10, 0.25])
def test_trabecular_cube_is_recognised_at_any_density(bv_tv):
    """Osteoporotic cubes (low mean density) are still cubes, not whole sections."""
    from bonenet.measure._study import _is_trabecular_cube
    from bonenet.segment import gaussian_segment

    rng = np.random.default_rng(3)
    f = ndi.gaussian_filter(rng.normal(size=(40, 48, 48)), 2.0, mode="wrap")
    rho = np.where(f > np.quantile(f, 1 - bv_tv), 700.0, 0.0).astype(np.float32)
    rho += rng.normal(0, 60, rho.shape).astype(np.float32)
    vol = Volume(rho, spacing=(SP, SP, SP), units="mgHA/cm3", modality="HRPQCT")
    assert float(rho.mean()) < 150 or bv_tv > 0.2      # the old mean-density test failed these
    assert _is_trabecular_cube(vol, gaussian_segment(vol, compartment="trabecular"))


def test_whole_section_is_not_a_cube():
    from bonenet.measure._study import _is_trabecular_cube
    from bonenet.segment import gaussian_segment

    vol = _hrpqct(1)
    assert not _is_trabecular_cube(vol, gaussian_segment(vol, compartment="trabecular"))


def test_features_on_synthetic_qct_cohort_with_phantom(tmp_path):
    synth = pytest.importorskip("bonenet.synth")
    synth.make_cohort(2, modality="qct", seed=0, out=tmp_path / "cq")
    out = tmp_path / "f.csv"
    rc = main(["features", str(tmp_path / "cq" / "manifest.csv"), "--out", str(out),
               "--phantom-rods", "0,50,100,200", "--rod-radius-mm", "2.5,3.4,4.5"])
    assert rc == 0
    feats = pd.read_csv(out).set_index("subject_id")
    truth = pd.read_csv(tmp_path / "cq" / "truth.csv").set_index("subject_id")
    rel = (feats["tb_vbmd_median_mgcm3"] / truth.loc[feats.index, "tb_vbmd_mgcm3"] - 1).abs()
    assert (rel < 0.08).all()
    # without the phantom description the HU images are reported, not guessed
    assert main(["features", str(tmp_path / "cq" / "manifest.csv"), "--out", str(tmp_path / "g.csv")]) == 1
    # the same --out again resumes: both studies are already done
    assert main(["features", str(tmp_path / "cq" / "manifest.csv"), "--out", str(out)]) == 0

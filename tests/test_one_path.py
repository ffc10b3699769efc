"""Train/serve skew: for every shipped data config, a model trained a few steps and then served
by ``bonenet predict`` gives the training module's own test predictions, to 1e-6, in the same
columns — because both go through :class:`bonenet.data.StudyInput` with the settings saved in
the checkpoint (units, masks, Preprocess, clinical encoder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bonenet.cli import main

REPO = Path(__file__).resolve().parents[1]

# (data config, model config, synthetic modality, extra --set overrides)
CASES = {
    "hrpqct": ("hrpqct.yaml", "fused_trabecular.yaml", "hrpqct", ["data.init_args.roi_size=[16,16,16]"]),
    "qct_masks": ("qct.yaml", "fused_trabecular.yaml", "qct",
                  ["data.init_args.roi_size=[16,24,24]", "data.init_args.crop=mask",
                   "data.init_args.mask_column=mask"]),
    "dxa": ("dxa.yaml", "fused_trabecular.yaml", "dxa", ["data.init_args.roi_size=[24,24]"]),
    "clinical_only": ("clinical_only.yaml", "clinical_only.yaml", "hrpqct", []),
    # per-vertebra crops from TotalSegmentator-style multilabel masks (the manifest's vertebra)
    "qct_vertebra_crops": ("qct.yaml", "image_only.yaml", "spine",
                           ["data.init_args.roi_size=[24,32,32]", "data.init_args.crop=mask",
                            "data.init_args.mask_column=mask", "data.init_args.use_clinical=false",
                            "data.init_args.target_spacing_mm=1.5"]),
}
REAL_CT = REPO / "tests" / "realdata" / "totalsegmentator"


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    from bonenet.synth import make_cohort
    from bonenet.synth.spine import synth_spine_cohort

    made = {"spine": synth_spine_cohort(tmp_path_factory.mktemp("spine"), 20, seed=2)}
    for modality in ("hrpqct", "qct", "dxa"):
        root = tmp_path_factory.mktemp(modality)
        make_cohort(24, modality=modality, seed=1, out=root, roi_size=32, workers=1,
                    show_progress=False)
        made[modality] = root / "manifest.csv"
    _add_vertebra_masks(made["qct"])
    return made


def _add_vertebra_masks(manifest: Path) -> None:
    """A VOI mask per QCT study (the vertebral body, as a user's segmentation would give it),
    in a mask column and in a ``masks/`` folder named like the studies."""
    from bonenet import Volume, io
    from bonenet.segment import vertebral_voi

    df = pd.read_csv(manifest, dtype=str)
    paths = []
    for sid, image in zip(df["subject_id"], df["image"], strict=True):
        vol = io.load(manifest.parent / image)
        voi = vertebral_voi(vol, margin_mm=1.5).astype(np.float32)
        mask = Volume(voi, spacing=vol.spacing, origin=vol.origin, direction=vol.direction,
                      units="raw", modality="SEG")
        io.save(mask, manifest.parent / "masks" / f"{sid}.nii.gz")
        paths.append(f"masks/{sid}.nii.gz")
    df["mask"] = paths
    df.to_csv(manifest, index=False)


def _train(case: str, manifest: Path, root: Path) -> Path:
    data_cfg, model_cfg, _, extra = CASES[case]
    cfgs = [REPO / "configs/data" / data_cfg, REPO / "configs/model" / model_cfg,
            REPO / "configs/trainer/cpu.yaml"]
    args = ["train"]
    for c in cfgs:
        args += ["--config", str(c)]
    for s in [f"data.init_args.manifest={manifest}", f"data.init_args.cache_dir={root / 'cache'}",
              "data.init_args.num_workers=0", "data.init_args.batch_size=4",
              f"trainer.default_root_dir={root / 'run'}", "trainer.max_epochs=1",
              "trainer.enable_progress_bar=false", "seed=0", *extra]:
        args += ["--set", s]
    assert main(args) == 0
    return root / "run"


@pytest.mark.parametrize("case", list(CASES))
def test_predict_repeats_training_test_predictions(case, cohorts, tmp_path, monkeypatch):
    monkeypatch.setenv("BONENET_PROGRESS", "0")
    manifest = cohorts[CASES[case][2]]
    run = _train(case, manifest, tmp_path)
    train_pred = pd.read_csv(run / "predictions_test.csv", dtype={"subject_id": str})
    model_cols = [c for c in train_pred.columns if c.startswith(("p_", "risk10y_", "bmd_change_"))]
    assert model_cols, train_pred.columns
    # the test subjects as a manifest (their images, masks and clinical columns)
    full = pd.read_csv(manifest, dtype=str)
    for col in ("image", "mask"):
        if col in full.columns:
            full[col] = [str(manifest.parent / v) for v in full[col]]
    test_manifest = tmp_path / "test_manifest.csv"
    full[full["subject_id"].isin(train_pred["subject_id"])].to_csv(test_manifest, index=False)
    ckpt = next(iter(sorted((run / "checkpoints").glob("best*.ckpt"))))
    out = tmp_path / "predict"
    code = main(["predict", "--checkpoint", str(ckpt), "--studies", str(test_manifest),
                 "--out", str(out), "--keep-ids", "--workers", "0"])
    errors = out / "errors.csv"
    assert code == 0, errors.read_text() if errors.exists() else ""
    served = pd.read_csv(out / "predictions.csv", dtype={"subject_id": str})
    assert set(model_cols) <= set(served.columns)
    assert not [c for c in served.columns if c.startswith(("p_", "risk10y_")) and c not in model_cols]
    both = train_pred.merge(served, on="subject_id", suffixes=("_train", "_serve"))
    assert len(both) == len(train_pred)
    for c in model_cols:
        diff = (both[f"{c}_train"] - both[f"{c}_serve"]).abs().max()
        assert diff < 1e-6, (c, diff)

    if case == "qct_masks":  # the same masks given as a folder (--masks), studies as folders
        studies = manifest.parent / "studies"
        out2 = tmp_path / "predict_folder"
        code = main(["predict", "--checkpoint", str(ckpt), "--studies", str(studies),
                     "--masks", str(manifest.parent / "masks"), "--clinical",
                     str(manifest.parent / "clinical.csv"), "--out", str(out2), "--keep-ids",
                     "--workers", "0"])
        assert code == 0
        served2 = pd.read_csv(out2 / "predictions.csv", dtype={"subject_id": str})
        again = train_pred.merge(served2, on="subject_id", suffixes=("_train", "_serve"))
        assert len(again) == len(train_pred)
        for c in model_cols:
            assert (again[f"{c}_train"] - again[f"{c}_serve"]).abs().max() < 1e-6
        # without the masks the mask-cropping model refuses each study, naming the fix
        out3 = tmp_path / "predict_nomask"
        assert main(["predict", "--checkpoint", str(ckpt), "--studies", str(studies),
                     "--out", str(out3), "--keep-ids", "--workers", "0"]) == 1
        err = pd.read_csv(out3 / "errors.csv")
        assert err["reason"].str.contains("--masks").all()


def test_a_vertebra_crop_model_serves_the_real_ct(cohorts, tmp_path, monkeypatch):
    """A QCT model trained on synthetic per-vertebra crops predicts the shipped real CT
    (TotalSegmentator's test scan, its own multilabel mask) with ``--masks`` and ``--vertebra``."""
    import shutil

    monkeypatch.setenv("BONENET_PROGRESS", "0")
    run = _train("qct_vertebra_crops", cohorts["spine"], tmp_path)
    ckpt = next(iter(sorted((run / "checkpoints").glob("best*.ckpt"))))
    studies, masks = tmp_path / "studies", tmp_path / "masks"
    studies.mkdir()
    masks.mkdir()
    shutil.copy(REAL_CT / "example_ct_sm.nii.gz", studies / "abdomen_ct.nii.gz")
    shutil.copy(REAL_CT / "example_seg.nii.gz", masks / "abdomen_ct.nii.gz")
    for level in ("L1", "T12"):
        out = tmp_path / f"predict_{level}"
        assert main(["predict", "--checkpoint", str(ckpt), "--studies", str(studies),
                     "--masks", str(masks), "--vertebra", level, "--out", str(out),
                     "--keep-ids", "--workers", "0"]) == 0
        row = pd.read_csv(out / "predictions.csv").iloc[0]
        assert row["subject_id"] == "abdomen_ct" and 0 <= row["p_image"] <= 1
    # a level the scan does not show is refused for that study, naming it
    out = tmp_path / "predict_c1"
    assert main(["predict", "--checkpoint", str(ckpt), "--studies", str(studies), "--masks",
                 str(masks), "--vertebra", "C1", "--out", str(out), "--keep-ids", "--workers", "0"]) == 1
    assert "holds no label 50" in pd.read_csv(out / "errors.csv")["reason"].iloc[0]

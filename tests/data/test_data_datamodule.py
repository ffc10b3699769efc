import json
from collections import Counter

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from data_cohort_helpers import edit_manifest, write_cohort

from bonenet.data import BoneDataModule, EpochShuffleSampler
from bonenet.errors import ConfigError, ManifestError

KW = {"roi_size": (8, 8, 8), "intensity_window": (-100, 1000), "units": "HU", "batch_size": 4}


def counts(dm):
    return {k: len(v) for k, v in dm.datasets.items()}


def test_properties_are_known_before_setup_and_match_batches(cohort):
    dm = BoneDataModule(str(cohort), **KW)
    assert dm.spatial_dims == 3 and dm.in_channels == 1 and dm.images_per_subject == 1
    assert dm.clinical_variables == ["age", "sex", "weight_kg", "height_cm", "bmi", "prior_fracture",
                                     "fn_bmd", "fn_tscore"]
    n = dm.n_clinical_features
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch.clinical.shape == (4, n) and batch.clinical_observed.shape == (4, n)
    assert batch.images.shape == (4, 1, 1, 8, 8, 8) and batch.image_present.all()
    assert set(batch.targets) == {"fracture", "time_years", "event"}


def test_stratified_split_is_seeded_and_keeps_both_classes(cohort):
    a = BoneDataModule(str(cohort), seed=1, val_fraction=0.25, test_fraction=0.25, **KW)
    b = BoneDataModule(str(cohort), seed=1, val_fraction=0.25, test_fraction=0.25, **KW)
    c = BoneDataModule(str(cohort), seed=2, val_fraction=0.25, test_fraction=0.25, **KW)
    for dm in (a, b, c):
        dm.setup()
    assert counts(a) == {"train": 12, "val": 6, "test": 6, "external": 0}
    for name in ("train", "val", "test"):
        frac = Counter(a.datasets[name].table["fracture"])
        assert frac[0.0] == frac[1.0]  # stratified on fracture
        assert a.datasets[name].subject_ids == b.datasets[name].subject_ids
    assert a.datasets["test"].subject_ids != c.datasets["test"].subject_ids
    assert a.state_dict()["split_digest"] == b.state_dict()["split_digest"]


def test_split_column_is_honoured_with_an_external_set(tmp_path):
    man = write_cohort(tmp_path, n=8, split=True)
    edit_manifest(man, 7, "split", "External")
    dm = BoneDataModule(str(man), **KW)
    dm.setup()
    assert dm.datasets["val"].subject_ids == ["S002", "S006"]
    assert dm.datasets["test"].subject_ids == ["S003"]
    assert dm.datasets["external"].subject_ids == ["S007"]
    assert [sid for b in dm.predict_dataloader() for sid in b.subject_ids] == ["S003"]
    assert [sid for b in dm.external_dataloader() for sid in b.subject_ids] == ["S007"]
    assert dm.state_dict()["split_counts"] == {"train": 4, "val": 2, "test": 1, "external": 1}


def test_leave_one_site_out(cohort):
    dm = BoneDataModule(str(cohort), split="site", external_site="B", **KW)
    dm.setup()
    assert set(dm.datasets["test"].table["site"]) == {"B"} and len(dm.datasets["test"]) == 12
    assert set(dm.datasets["train"].table["site"]) == {"A"}
    bad = BoneDataModule(str(cohort), split="site", external_site="Z", **KW)
    with pytest.raises(ManifestError, match="external_site 'Z' not in the 'site' column; sites present: A, B"):
        bad.setup()
    with pytest.raises(ConfigError, match="split='rnadom' unknown"):
        BoneDataModule(str(cohort), split="rnadom", **KW)
    with pytest.raises(ConfigError, match=r"augment_options key\(s\) \['rotate'\] unknown"):
        BoneDataModule(str(cohort), augment_options={"rotate": 5}, **KW)


def test_state_dict_carries_encoder_and_preprocess_for_inference(cohort, tmp_path):
    dm = BoneDataModule(str(cohort), **KW)
    dm.setup()
    state = json.loads(json.dumps(dm.state_dict()))
    torch.save({"BoneDataModule": state}, tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)["BoneDataModule"]
    # an inference-time module configured differently adopts the saved preprocessing exactly
    other = BoneDataModule(str(cohort), roi_size=(4, 4, 4), intensity_window=(0, 1), batch_size=4,
                           predict_manifest=str(cohort))
    other.load_state_dict(state)
    assert other.preprocess == dm.preprocess and other.n_clinical_features == dm.n_clinical_features
    pred = next(iter(other.predict_dataloader()))
    ref = dm.dataset_for(cohort)
    ids = [ref.subject_ids.index(s) for s in pred.subject_ids]
    torch.testing.assert_close(pred.clinical, torch.stack([ref[i].clinical for i in ids]))
    torch.testing.assert_close(pred.images, torch.stack([ref[i].images for i in ids]))


def test_clinical_only_and_train_only_augmentation(cohort):
    dm = BoneDataModule(str(cohort), use_images=False, **KW)
    dm.setup()
    b = next(iter(dm.val_dataloader()))
    assert b.images is None and b.clinical.shape[1] == dm.n_clinical_features
    dm2 = BoneDataModule(str(cohort), augment=True, **KW)
    dm2.setup()
    assert dm2.datasets["train"].augment is not None
    assert dm2.datasets["val"].augment is None and dm2.datasets["test"].augment is None


def test_epoch_shuffle_sampler_depends_on_seed_and_epoch_only():
    assert sorted(EpochShuffleSampler(10, seed=5)) == list(range(10))  # plain indices by default
    s = EpochShuffleSampler(10, seed=5, with_epoch=True)
    s.set_epoch(3)
    a = list(s)
    t = EpochShuffleSampler(10, seed=5, with_epoch=True)
    t.set_epoch(3)
    assert list(t) == a and sorted(i for i, _ in a) == list(range(10)) and {e for _, e in a} == {3}
    s.set_epoch(4)
    assert list(s) != a
    u = EpochShuffleSampler(10, seed=5, with_epoch=True)  # nobody calls set_epoch: advances per pass
    first, second = list(u), list(u)
    assert first != second and second[0][1] == 1
    t.skip(4, epoch=3)
    assert list(t) == a[4:]
    t.skip(4, epoch=3)
    t.set_epoch(5)  # a skip only applies to its own epoch
    assert len(list(t)) == 10


def test_augmentation_is_deterministic_per_seed_epoch_and_index(cohort):
    def images(seed, epoch):
        dm = BoneDataModule(str(cohort), seed=seed, augment_options={"flip_axes": [2], "prob": 1.0}, **KW)
        dm.setup()
        ds = dm.datasets["train"]
        return torch.stack([ds[(i, epoch)].images for i in range(4)])

    torch.testing.assert_close(images(0, 1), images(0, 1))
    assert not torch.equal(images(0, 1), images(0, 2))
    assert not torch.equal(images(0, 1), images(1, 1))


class _Tiny(pl.LightningModule):
    def __init__(self, n_clinical: int):
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, 3)
        self.head = torch.nn.Linear(2 + 2 * n_clinical, 1)

    def training_step(self, batch, _):
        x = self.conv(batch.images[:, 0]).mean(dim=(2, 3, 4))
        z = torch.cat([x, batch.clinical, batch.clinical_observed], dim=1)
        return torch.nn.functional.binary_cross_entropy_with_logits(
            self.head(z).squeeze(1), batch.targets["fracture"])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_lightning_checkpoint_contains_the_data_state(cohort, tmp_path):
    dm = BoneDataModule(str(cohort), cache_dir=str(tmp_path / "cache"), **KW)
    calls = []
    inner = dm.augment_batch
    dm.augment_batch = lambda b: calls.append(len(b)) or inner(b)
    trainer = pl.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=0)
    trainer.fit(_Tiny(dm.n_clinical_features), datamodule=dm)
    ckpt = torch.load(next((tmp_path / "checkpoints").glob("*.ckpt")), weights_only=True)
    state = ckpt["BoneDataModule"]
    assert state["encoder"]["fitted"] and state["preprocess"]["roi_size"] == [8, 8, 8]
    assert np.isfinite(list(state["encoder"]["mean"].values())).all()
    assert calls == [4, 4]  # batch-stage augmentation ran on each training batch (Lightning hook)
    assert ckpt["datamodule_hyper_parameters"]["roi_size"] == (8, 8, 8)


def _fit(dm, tmp_path, **kw):
    from bonenet.training import ExactResume  # the training room skips the consumed batches

    pl.seed_everything(0)
    model = _Tiny(dm.n_clinical_features)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=0,
                         deterministic=True, callbacks=[*kw.pop("callbacks", []), ExactResume()], **kw)
    return model, trainer


def test_kill_mid_epoch_and_resume_repeats_order_and_augmentation(cohort, tmp_path):
    pytest.importorskip("bonenet.training")
    kw = KW | {"augment_options": {"flip_axes": [2], "rotate_deg": 10, "noise_std": 0.05}}
    full_dm = BoneDataModule(str(cohort), **kw)
    model, trainer = _fit(full_dm, tmp_path / "a", max_epochs=2)
    trainer.fit(model, datamodule=full_dm)
    full = [p.detach().clone() for p in model.parameters()]

    ckpt_cb = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "b", every_n_train_steps=2, save_top_k=-1)
    dm = BoneDataModule(str(cohort), **kw)
    model, trainer = _fit(dm, tmp_path / "b", max_steps=2, callbacks=[ckpt_cb])
    trainer.fit(model, datamodule=dm)  # "killed" after 2 of the 4 batches of epoch 0
    ckpt = next((tmp_path / "b").glob("*step=2*.ckpt"))

    dm = BoneDataModule(str(cohort), **kw)
    model, trainer = _fit(dm, tmp_path / "c", max_epochs=2)
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt)
    for a, b in zip(full, model.parameters(), strict=True):
        torch.testing.assert_close(a, b.detach())


def test_loader_workers_start_from_a_fork_server_and_match_in_process_batches(cohort):
    """Loader workers are never a plain fork of the training process (its numba/OpenMP pools
    have usually run by then); two workers give the batches one process gives."""
    from bonenet.morphometry import local_thickness

    ball = np.zeros((16, 16, 16), bool)
    ball[4:12, 4:12, 4:12] = True
    local_thickness(ball, spacing=1.0)  # numba's parallel pool has run in this process
    one = BoneDataModule(str(cohort), **KW)
    two = BoneDataModule(str(cohort), num_workers=2, **KW)
    one.setup()
    two.setup()
    loader = two.train_dataloader()
    assert loader.multiprocessing_context.get_start_method() in ("forkserver", "spawn")
    for a, b in zip(one.train_dataloader(), loader, strict=True):
        torch.testing.assert_close(a.images, b.images)
        torch.testing.assert_close(a.clinical, b.clinical)

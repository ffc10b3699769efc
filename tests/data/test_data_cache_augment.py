import os

import numpy as np
import pytest
import torch
from data_cohort_helpers import write_cohort
from torch.utils.data import DataLoader

from bonenet import Volume, io
from bonenet.data import (
    Augment,
    BoneDataset,
    Preprocess,
    SampleCache,
    collate,
    fingerprint,
    read_manifest,
    worker_init_fn,
)

PRE = Preprocess(3, None, (12, 12, 12), (-100, 1000), "HU")


def test_fingerprint_follows_content_and_mode(tmp_path):
    f = tmp_path / "a.nii.gz"
    io.save(Volume(np.zeros((4, 4, 4)), spacing=(1, 1, 1)), f)
    fast, full = fingerprint(f), fingerprint(f, content_hash="full")
    assert fast != full and fast == fingerprint(f)
    st = f.stat()
    io.save(Volume(np.ones((4, 4, 4)), spacing=(1, 1, 1)), f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime, different bytes
    assert fingerprint(f) != fast and fingerprint(f, content_hash="full") != full
    series = tmp_path / "series"
    series.mkdir()
    (series / "1.dcm").write_bytes(b"x" * 10)
    before = fingerprint(series)
    (series / "2.dcm").write_bytes(b"y" * 10)
    assert fingerprint(series) != before


def test_cache_hits_return_identical_tensors_and_keys_follow_parameters(tmp_path):
    man = write_cohort(tmp_path / "c", n=4)
    cache = SampleCache(tmp_path / "cache")
    ds = BoneDataset(man, preprocess=PRE, cache=cache)
    first = [ds[i].images for i in range(4)]
    assert cache.misses == 4 and len(cache) == 4
    ds2 = BoneDataset(man, preprocess=PRE, cache=SampleCache(tmp_path / "cache"))
    again = [ds2[i].images for i in range(4)]
    assert ds2.cache.hits == 4 and ds2.cache.misses == 0
    for a, b in zip(first, again, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    other = Preprocess(3, None, (10, 10, 10), (-100, 1000), "HU")
    ds3 = BoneDataset(man, preprocess=other, cache=SampleCache(tmp_path / "cache"))
    assert ds3[0].images.shape == (1, 1, 10, 10, 10) and ds3.cache.misses == 1
    assert not list((tmp_path / "cache").rglob(".*"))  # no temporary files left behind


def test_corrupt_entry_is_a_miss_and_gets_rewritten(tmp_path):
    man = write_cohort(tmp_path / "c", n=2)
    cache = SampleCache(tmp_path / "cache")
    ds = BoneDataset(man, preprocess=PRE, cache=cache)
    good = ds[0].images
    entry = cache.path(ds._keys[0][0])
    entry.write_bytes(b"torn")
    torch.testing.assert_close(ds[0].images, good)
    assert np.load(entry).shape == (12, 12, 12)


def test_two_workers_fill_the_cache_safely(tmp_path):
    man = write_cohort(tmp_path / "c", n=8)
    ds = BoneDataset(man, preprocess=PRE, cache=SampleCache(tmp_path / "cache"))
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate, worker_init_fn=worker_init_fn)
    batches = list(loader)
    assert sum(len(b) for b in batches) == 8
    assert len(SampleCache(tmp_path / "cache")) == 8
    for f in (tmp_path / "cache").rglob("*.npy"):
        assert np.load(f, allow_pickle=False).shape == (12, 12, 12)


def test_augmentation_is_seeded_and_flips_only_allowed_axes():
    x = torch.arange(4 * 5 * 6, dtype=torch.float32).reshape(1, 4, 5, 6)
    a1 = Augment(3, flip_axes=(2,), seed=3)
    a2 = Augment(3, flip_axes=(2,), seed=3)
    outs1 = [a1(x) for _ in range(4)]
    outs2 = [a2(x) for _ in range(4)]
    for u, v in zip(outs1, outs2, strict=True):
        torch.testing.assert_close(u, v)
    assert any(not torch.equal(u, outs1[0]) for u in outs1[1:])
    flip = Augment(3, flip_axes=(2,), rotate_deg=0, scale=0, shift=0, noise_std=0, prob=1.0)
    y = flip(x)
    assert torch.equal(y, torch.flip(x, dims=(3,))) and type(y) is torch.Tensor
    flat = Augment(2, flip_axes=(), rotate_deg=5, prob=1.0)
    assert flat(torch.ones(1, 8, 8)).shape == (1, 8, 8)
    assert Augment.from_dict(a1.to_dict()).to_dict() == a1.to_dict()


def test_uncached_dataset_reads_images_each_time(tmp_path):
    man = write_cohort(tmp_path / "c", n=2)
    ds = BoneDataset(man, preprocess=PRE)
    s = ds[1]
    assert s.images.shape == (1, 1, 12, 12, 12) and s.image_present.tolist() == [True]
    assert s.clinical is None and s.targets["fracture"] == 1.0


def test_batch_stage_rotates_and_adds_noise_only_on_present_slots():
    imgs = torch.rand(2, 2, 1, 8, 8, 8)
    present = torch.tensor([[True, False], [True, True]])
    imgs[0, 1] = 0
    a = Augment(3, rotate_deg=15, noise_std=0.1, prob=1.0, seed=4)
    b = Augment(3, rotate_deg=15, noise_std=0.1, prob=1.0, seed=4)
    out_a, out_b = a.augment_batch(imgs, present), b.augment_batch(imgs, present)
    torch.testing.assert_close(out_a, out_b)
    assert out_a.shape == imgs.shape and not torch.equal(out_a[0, 0], imgs[0, 0])
    assert not out_a[0, 1].any()  # padded slot untouched
    off = Augment(3, rotate_deg=0, noise_std=0, prob=1.0)
    assert not off.has_batch_stage and off.augment_batch(imgs) is imgs
    inline = Augment(3, rotate_deg=15, noise_std=0.1, prob=1.0, batch_stage=False, scale=0, shift=0)
    assert not inline.has_batch_stage and not torch.equal(inline(imgs[1, 0]), imgs[1, 0])


def test_unreadable_study_stops_training_but_is_marked_for_inference(tmp_path):
    from bonenet.errors import ImageFormatError

    man = write_cohort(tmp_path / "c", n=3)
    (tmp_path / "c" / "studies" / "S001.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(ImageFormatError, match=r"S001\.nii\.gz"):
        BoneDataset(man, preprocess=PRE)[1]
    ds = BoneDataset(man, preprocess=PRE, on_error="mark")
    batch = collate([ds[i] for i in range(3)])
    assert batch.errors[0] is None and batch.errors[2] is None
    assert "image: " in batch.errors[1] and "S001.nii.gz" in batch.errors[1]
    assert batch.image_present[:, 0].tolist() == [True, False, True]
    assert not batch.images[1].any() and batch.to("cpu").errors == batch.errors


def test_missing_study_with_a_cache_is_marked_or_named(tmp_path):
    from bonenet.errors import ImageFormatError

    man = write_cohort(tmp_path / "c", n=3)
    table = read_manifest(man).table
    (tmp_path / "c" / "studies" / "S002.nii.gz").unlink()  # vanished after validation
    ds = BoneDataset(table, preprocess=PRE, cache=SampleCache(tmp_path / "cache"), on_error="mark")
    assert "S002.nii.gz" in ds[2].error and ds[0].error is None
    strict = BoneDataset(table, preprocess=PRE, cache=SampleCache(tmp_path / "cache"))
    with pytest.raises(ImageFormatError, match=r"S002\.nii\.gz"):
        strict[2]

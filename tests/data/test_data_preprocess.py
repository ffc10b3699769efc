import numpy as np
import pytest

from bonenet import Volume
from bonenet.data import Preprocess
from bonenet.errors import ConfigError, SegmentationError, VolumeError


def block_volume(shape=(40, 40, 40), spacing=(0.5, 0.5, 0.5), at=(10, 28, 12), half=4, units="HU"):
    rng = np.random.default_rng(1)
    a = rng.normal(0, 10, shape).astype(np.float32)
    sl = tuple(slice(c - half, c + half) for c in at)
    a[sl] += 1000.0
    return Volume(a, spacing=spacing, units=units)


def test_crops_around_the_bone_and_windows_to_unit_range():
    p = Preprocess(3, None, (16, 16, 16), (-100, 1100), "HU")
    x = p(block_volume())
    assert tuple(x.shape) == (1, 16, 16, 16) and x.dtype.is_floating_point
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    bright = np.argwhere(x[0].numpy() > 0.5)
    assert np.allclose(bright.mean(axis=0), 7.5, atol=0.6)  # block centred in the ROI
    assert len(bright) == 8**3


def test_resamples_to_target_spacing_in_mm():
    p = Preprocess(3, 1.0, (16, 16, 16), (-100, 1100), "HU")
    x = p(block_volume())  # block 8 voxels at 0.5 mm = 4 mm → 4 voxels at 1 mm
    extent = (x[0].numpy() > 0.5).any(axis=(1, 2)).sum()
    assert extent in (4, 5)


def test_refuses_other_units_instead_of_rescaling():
    p = Preprocess(3, None, (8, 8, 8), (0, 1000), "mgHA/cm3")
    with pytest.raises(VolumeError, match="units are 'HU' but this Preprocess expects 'mgHA/cm3'"):
        p(block_volume())


def test_two_d_one_slice_volumes():
    vol = block_volume(shape=(1, 60, 50), spacing=(1.0, 0.2, 0.2), at=(0, 30, 20))
    p = Preprocess(2, (0.4, 0.4), (24, 24), (-100, 1100), "HU")
    x = p(vol)
    assert tuple(x.shape) == (1, 24, 24)
    assert (x[0] > 0.5).sum() == 16  # 8x8 voxels at 0.2 mm → 4x4 at 0.4 mm
    with pytest.raises(VolumeError, match="one-slice"):
        p(block_volume())


def test_mask_crop_and_zscore():
    vol = block_volume()
    mask = Volume(np.zeros(vol.shape, np.float32), spacing=vol.spacing)
    mask.array[30:36, 2:8, 30:36] = 1
    p = Preprocess(3, None, (6, 6, 6), None, "HU", normalize="zscore", crop="mask")
    x = p(vol, mask=mask)
    assert abs(float(x.mean())) < 1e-4 and float(x.std()) == pytest.approx(1.0, abs=0.02)
    expect = vol.array[30:36, 2:8, 30:36]
    np.testing.assert_allclose(x[0].numpy(), (expect - expect.mean()) / expect.std(), atol=1e-4)
    with pytest.raises(SegmentationError, match="needs a VOI mask"):
        p(vol)


def test_parameters_round_trip_and_key():
    p = Preprocess(3, (0.5, 0.5, 0.5), (8, 8, 8), (-100, 1100), "HU", bone_threshold=300)
    q = Preprocess.from_dict(p.to_dict())
    assert q == p and q.key == p.key
    assert Preprocess(3, None, (8, 8, 8), (-100, 1000), "HU").key != p.key
    np.testing.assert_array_equal(p(block_volume()).numpy(), q(block_volume()).numpy())


def test_pads_with_window_low_end_at_the_border():
    vol = block_volume(shape=(12, 12, 12), at=(6, 6, 6), half=2)
    x = Preprocess(3, None, (20, 20, 20), (-100, 1100), "HU")(vol)
    assert float(x[0, 0, 0, 0]) == 0.0 and tuple(x.shape) == (1, 20, 20, 20)


@pytest.mark.parametrize("kw", [
    {"roi_size": (8, 8)}, {"intensity_window": (5, 1)}, {"units": "furlongs"},
    {"normalize": "unit", "intensity_window": None}, {"crop": "middle"}, {"target_spacing_mm": -1},
])
def test_bad_parameters_raise_config_error(kw):
    args = {"spatial_dims": 3, "roi_size": (8, 8, 8), "intensity_window": (0, 1)} | kw
    with pytest.raises(ConfigError):
        Preprocess(**args)


def test_downsampling_prefilters_against_aliasing():
    z, y, x = np.mgrid[:32, :32, :32]
    checker = np.where((z + y + x) % 2 == 0, 1000.0, 0.0).astype(np.float32)
    vol = Volume(checker, spacing=(0.1, 0.1, 0.1), units="HU")
    kw = {"roi_size": (8, 8, 8), "intensity_window": (0, 1000), "units": "HU", "crop": "center"}
    smooth = Preprocess(3, 0.3, antialias=True, **kw)(vol)
    raw = Preprocess(3, 0.3, antialias=False, **kw)(vol)
    assert float(smooth.std()) < 0.1 < float(raw.std())  # texture finer than 0.3 mm averaged out
    assert float(smooth.mean()) == pytest.approx(0.5, abs=0.05)

import numpy as np
import pytest

from bonenet import Volume, VolumeError


def _oblique_direction(seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


@pytest.fixture
def vol():
    rng = np.random.default_rng(1)
    arr = rng.normal(size=(5, 7, 9)).astype(np.float32)
    return Volume(arr, spacing=(2.5, 0.7, 0.6), origin=(-10.0, 20.0, 33.0),
                  direction=_oblique_direction(), units="HU", modality="CT")


def test_index_world_roundtrip(vol):
    idx = np.array([[0, 0, 0], [4, 6, 8], [1.5, 2.25, 3.0]])
    world = vol.index_to_world(idx)
    np.testing.assert_allclose(world[0], vol.origin)
    # one step along P moves spacing[0] mm along direction column 0
    step = vol.index_to_world([[1, 0, 0]])[0] - world[0]
    np.testing.assert_allclose(step, 2.5 * vol.direction[:, 0], atol=1e-12)
    np.testing.assert_allclose(vol.world_to_index(world), idx, atol=1e-9)


def test_sitk_roundtrip_geometry(vol):
    img = vol.to_sitk()
    # SimpleITK's own index->physical must agree with ours: ITK index is (x, y, z) = (c, r, p)
    for p, r, c in [(0, 0, 0), (4, 6, 8), (2, 3, 1)]:
        np.testing.assert_allclose(img.TransformIndexToPhysicalPoint((c, r, p)),
                                   vol.index_to_world([[p, r, c]])[0], atol=1e-9)
    back = Volume.from_sitk(img, units="HU", modality="CT")
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-12)


def test_nibabel_roundtrip_handles_ras(vol, tmp_path):
    import nibabel as nib

    img = vol.to_nibabel()
    # nibabel's voxel (x, y, z) = (c, r, p) maps to RAS = LPS with x, y negated
    ras = nib.affines.apply_affine(img.affine, [8, 6, 4])
    lps = vol.index_to_world([[4, 6, 8]])[0]
    np.testing.assert_allclose(ras, lps * [-1, -1, 1], atol=1e-9)
    nib.save(img, tmp_path / "v.nii.gz")
    back = Volume.from_nibabel(nib.load(tmp_path / "v.nii.gz"))
    assert back.units == "HU" and back.modality == "CT"
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-5)


def test_metatensor_roundtrip(vol):
    mt = vol.to_metatensor()
    assert tuple(mt.shape) == (1, *vol.shape)
    back = Volume.from_metatensor(mt)
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-6)
    assert back.units == "HU"


def test_resample_keeps_extent_and_values():
    arr = np.tile(np.arange(20, dtype=np.float32)[None, None, :], (4, 6, 1))
    v = Volume(arr, spacing=(1.0, 1.0, 1.0), units="HU")
    r = v.resample((1.0, 1.0, 0.5))
    assert r.shape == (4, 6, 40)
    assert r.spacing == (1.0, 1.0, 0.5)
    # linear ramp: value at column index c (0.5 mm) is c/2 inside the original extent
    np.testing.assert_allclose(r.array[0, 0, :39], np.arange(39) / 2, atol=1e-5)
    assert r.meta["history"][-1]["op"] == "resample"


def test_rescaled_records_history(vol):
    out = vol.rescaled(2.0, -1.0, units="mgHA/cm3", note="test")
    np.testing.assert_allclose(out.array, vol.array * 2 - 1, rtol=1e-6)
    assert out.units == "mgHA/cm3" and vol.units == "HU"
    assert out.meta["history"][-1]["op"] == "rescale"
    assert vol.meta["history"] == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"array": np.zeros((2, 2, 2, 2))}, "3 axes"),
        ({"spacing": (1.0, 0.0, 1.0)}, "positive"),
        ({"spacing": (1.0, 1.0)}, "3 positive"),
        ({"units": "furlongs"}, "furlongs"),
        ({"direction": np.ones((3, 3))}, "orthonormal"),
    ],
)
def test_bad_volume_raises(kwargs, match):
    base = {"array": np.zeros((2, 2, 2)), "spacing": (1.0, 1.0, 1.0)}
    base.update(kwargs)
    with pytest.raises(VolumeError, match=match):
        Volume(**base)


def test_orientation_code():
    d = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float)  # P->S, R->P, C->L
    v = Volume(np.zeros((2, 2, 2)), spacing=(1, 1, 1), direction=d)
    assert v.orientation() == "SPL"

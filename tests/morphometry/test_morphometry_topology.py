"""Euler characteristic (exact), Odgaard–Gundersen Δχ, Conn.D, DA and SMI."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from bonenet.errors import MorphometryError
from bonenet.morphometry import (
    analytic as A,
)
from bonenet.morphometry import (
    connectivity_density,
    degree_of_anisotropy,
    euler_characteristic,
    euler_delta,
    structure_model_index,
)


@pytest.mark.parametrize(
    ("mask", "chi"),
    [
        (A.torus(10, 3, shape=(12, 32, 32)), 0),
        (A.frame(20, 4), 0),
        (A.block_with_tunnels(1), 0),
        (A.block_with_tunnels(3), -2),
        (A.sphere(16, shape=(20, 20, 20)) & ~A.sphere(8, shape=(20, 20, 20)), 2),  # cavity
        (np.pad(np.ones((3, 3, 3), bool), 2), 1),
    ],
)
def test_euler_exact_on_known_topologies(mask, chi):
    assert euler_characteristic(mask) == chi
    assert euler_characteristic(mask, connectivity=6) == chi


def test_euler_matches_skimage_on_random_volumes():
    skm = pytest.importorskip("skimage.measure")
    rng = np.random.default_rng(1)
    m = rng.random((18, 19, 20)) < 0.35
    assert euler_characteristic(m, connectivity=26) == skm.euler_number(m, connectivity=3)
    assert euler_characteristic(m, connectivity=6) == skm.euler_number(m, connectivity=1)


def _og_inclusion_exclusion(m):
    """Odgaard–Gundersen: χ(X∩B) − ½Σχ(faces) + ¼Σχ(edges) − ⅛Σ(corners)."""
    def chi1(r):
        return int(r[0]) + int(np.sum(r[1:] & ~r[:-1]))

    faces = [m[0], m[-1], m[:, 0], m[:, -1], m[:, :, 0], m[:, :, -1]]
    f = sum(euler_characteristic(x[None]) for x in faces)
    e = sum(chi1(m[:, a, b]) + chi1(m[a, :, b]) + chi1(m[a, b, :]) for a in (0, -1) for b in (0, -1))
    v = sum(int(m[a, b, c]) for a in (0, -1) for b in (0, -1) for c in (0, -1))
    return euler_characteristic(m) - f / 2 + e / 4 - v / 8


def test_edge_corrected_delta_equals_odgaard_gundersen():
    rng = np.random.default_rng(2)
    for _ in range(3):
        m = ndi.gaussian_filter(rng.normal(size=(20, 22, 24)), 1.5) > 0.1
        assert euler_delta(m)[0] == pytest.approx(_og_inclusion_exclusion(m))


def test_conn_d_of_periodic_rod_lattice():
    # cubic lattice of rods, 8-voxel cells: 2 loops per cell -> Conn.D = 2 / 8³ per voxel³
    lattice = np.roll(A.rod_lattice(8, 3, 5), (4, 4, 4), axis=(0, 1, 2))
    cd = connectivity_density(lattice, spacing=0.1)
    assert cd == pytest.approx(2 / (0.8**3), rel=0.1)
    # the uncorrected Euler number of the cut sample is far off
    assert abs((1 - euler_characteristic(lattice)) / (40 * 0.1) ** 3 - 2 / 0.8**3) > 0.2 * 2 / 0.8**3


def test_degree_of_anisotropy_recovers_stretch():
    rng = np.random.default_rng(0)
    iso = ndi.gaussian_filter(rng.normal(size=(64, 64, 64)), 2, mode="wrap")
    aniso = ndi.gaussian_filter(rng.normal(size=(64, 64, 64)), (4, 2, 2), mode="wrap")
    r_iso = degree_of_anisotropy(iso > np.percentile(iso, 75), spacing=1)
    r_an = degree_of_anisotropy(aniso > np.percentile(aniso, 75), spacing=1)
    assert r_iso["DA"] < 1.1
    assert r_an["DA"] == pytest.approx(2.0, rel=0.12)
    assert abs(r_an["direction"][0]) > 0.95  # main orientation along P


def test_smi_of_ideal_shapes():
    n = 48
    roi = np.zeros((n, n, n), bool)
    roi[8:-8, 8:-8, 8:-8] = True
    sphere = structure_model_index(A.sphere(20, shape=(n, n, n)), spacing=1)
    rod = structure_model_index(A.rod(12, (1, 0.3, 0.5), shape=(n, n, n)), spacing=1, roi=roi)
    plate = structure_model_index(A.plate(8, (1, 0.3, 0.5), shape=(n, n, n)), spacing=1, roi=roi)
    assert 3.2 < sphere < 4.3
    assert 2.3 < rod < 3.3
    assert abs(plate) < 0.5


def test_bad_input():
    with pytest.raises(MorphometryError, match="connectivity"):
        euler_characteristic(np.ones((3, 3, 3)), connectivity=8)
    with pytest.raises(MorphometryError, match="shape"):
        connectivity_density(np.ones((4, 4, 4)), spacing=1, roi=np.ones((4, 4, 5), bool))
    with pytest.raises(MorphometryError, match="interface"):
        degree_of_anisotropy(np.ones((4, 4, 4)), spacing=1)


def test_numpy_values_print_as_plain_numbers():
    # issue 15: a value read from an array reaches the message as 8, not np.int64(8)
    with pytest.raises(MorphometryError) as info:
        euler_characteristic(np.ones((3, 3, 3)), connectivity=np.int64(8))
    assert "got 8" in str(info.value) and "np." not in str(info.value)
    with pytest.raises(MorphometryError) as info:
        euler_characteristic(np.ones((3, 3, 3)), connectivity=np.float64(1.7))
    assert "1.7" in str(info.value) and "np.float64" not in str(info.value)

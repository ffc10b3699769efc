"""Phantoms hit their targets when measured by methods independent of the generator:
bonenet.morphometry (BV/TV, Tb.Th, Tb.Sp, Tb.N), porespy local thickness (bone loss: Tb.Sp
rises more than Tb.Th changes), scipy distance transforms on the skeleton (rod radius)."""

import numpy as np
import porespy as ps
import pytest
from scipy import ndimage
from skimage.morphology import skeletonize

from bonenet.errors import SynthError
from bonenet.morphometry import trabecular
from bonenet.synth import trabecular_noise, trabecular_rodplate
from bonenet.synth.microstructure import feasible_targets

H = 0.0375  # mm; fine enough for local thickness to resolve 0.2 mm struts (≈ 6 voxels)


def _porespy_th_sp(mask: np.ndarray, h: float) -> tuple[float, float]:
    th = 2 * h * float(ps.filters.local_thickness(mask, method="dt")[mask].mean())
    sp = 2 * h * float(ps.filters.local_thickness(~mask, method="dt")[~mask].mean())
    return th, sp


@pytest.mark.parametrize("bv_tv, tb_th, tb_sp", [(0.16, 0.22, 0.93), (0.13, 0.22, 1.07)])
def test_noise_phantom_hits_targets_measured_by_bonenet_morphometry(bv_tv, tb_th, tb_sp):
    # XtremeCT II distal radius, postmenopausal women: control vs fracture (issue targets)
    ms = trabecular_noise((128, 128, 128), spacing=(H, H, H), bv_tv=bv_tv, tb_th=tb_th,
                          tb_sp=tb_sp, anisotropy=1.3, seed=7)
    assert abs(ms.mask.mean() - bv_tv) < 0.01
    assert ms.truth["bv_tv"] == pytest.approx(ms.mask.mean())
    got = trabecular(ms.mask, spacing=H, smi=False)
    assert got["BV/TV"] == pytest.approx(bv_tv, abs=0.01)
    assert got["Tb.Th"] == pytest.approx(tb_th, rel=0.10)
    assert got["Tb.Sp"] == pytest.approx(tb_sp, rel=0.10)
    assert got["Tb.N"] == pytest.approx(ms.truth["tb_n_per_mm"], rel=0.10)
    # partial-volume fraction agrees with the mask on average
    assert abs(float(ms.fraction.mean()) - bv_tv) < 0.02


def test_same_seed_same_phantom_and_different_seed_differs():
    a = trabecular_noise((32, 40, 48), spacing=(0.06,) * 3, seed=3)
    b = trabecular_noise((32, 40, 48), spacing=(0.06,) * 3, seed=3)
    c = trabecular_noise((32, 40, 48), spacing=(0.06,) * 3, seed=4)
    np.testing.assert_array_equal(a.fraction, b.fraction)
    assert not np.array_equal(a.mask, c.mask)


def test_bone_loss_perforates_more_than_it_thins():
    kw = {"spacing": (0.035,) * 3, "bv_tv": 0.16, "tb_th": 0.22, "tb_sp": 0.93, "seed": 5}
    healthy = trabecular_noise((96, 96, 96), **kw)
    lost = trabecular_noise((96, 96, 96), bone_loss=1.0, **kw)
    th0, sp0 = _porespy_th_sp(healthy.mask, 0.035)
    th1, sp1 = _porespy_th_sp(lost.mask, 0.035)
    assert lost.truth["bv_tv"] < healthy.truth["bv_tv"] - 0.03
    assert sp1 / sp0 - 1 > 0.08                    # Tb.Sp rises clearly (Khosla: +24 % life-long)
    assert abs(th1 / th0 - 1) < (sp1 / sp0 - 1)    # Tb.Th changes less than Tb.Sp
    assert lost.truth["tb_sp_mm"] > healthy.truth["tb_sp_mm"]


@pytest.mark.parametrize("radius", [0.06, 0.09])
def test_rodplate_rods_have_the_radius_asked(radius):
    h = 0.015
    ms = trabecular_rodplate((96, 96, 96), spacing=(h, h, h), cell_mm=0.8, rod_radius=radius,
                             plate_fraction=0.0, seed=3)
    dist = ndimage.distance_transform_edt(ms.mask) * h
    sk = skeletonize(ms.mask) > 0
    sk[[0, -1]] = False
    sk[:, [0, -1]] = False
    sk[:, :, [0, -1]] = False
    # medial-axis distance (+ half a voxel: EDT measures to background voxel centres)
    r_meas = float(np.percentile(dist[sk], 75)) + h / 2
    assert r_meas == pytest.approx(radius, rel=0.10)


def test_rodplate_bone_loss_turns_plates_into_rods_and_breaks_them():
    kw = {"spacing": (0.03,) * 3, "cell_mm": 0.9, "rod_radius": 0.07, "plate_fraction": 0.4,
          "seed": 1}
    a = trabecular_rodplate((48, 48, 48), **kw)
    b = trabecular_rodplate((48, 48, 48), bone_loss=0.8, **kw)
    assert b.truth["plate_fraction"] < a.truth["plate_fraction"]
    assert b.truth["rod_radius_mm"] < a.truth["rod_radius_mm"]
    assert b.truth["broken_rod_fraction"] > 0
    assert b.truth["bv_tv"] < 0.6 * a.truth["bv_tv"]


def test_infeasible_targets_are_explained_and_can_be_projected():
    with pytest.raises(SynthError, match=r"bv_tv=0\.05 cannot be built"):
        trabecular_noise((16, 16, 16), spacing=(0.06,) * 3, bv_tv=0.05, tb_th=0.25, tb_sp=0.6)
    ft = feasible_targets(bv_tv=0.08, tb_th=0.22, tb_sp=0.93, anisotropy=1.3)
    assert ft["tb_sp_mm"] > 0.93  # bone lost as spacing
    trabecular_noise((16, 16, 16), spacing=(0.06,) * 3, bv_tv=0.08, tb_th=0.22,
                     tb_sp=ft["tb_sp_mm"], anisotropy=1.3)
    with pytest.raises(SynthError, match="bone_loss"):
        trabecular_noise((16, 16, 16), spacing=(0.06,) * 3, bone_loss=2.0)

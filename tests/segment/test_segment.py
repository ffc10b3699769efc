"""HR-pQCT segmentation, autocontouring and cortical measures; QCT VOI."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from bonenet.errors import SegmentationError
from bonenet.morphometry import cortical, trabecular
from bonenet.segment import autocontour, gaussian_segment, vertebral_voi, voi_stats
from bonenet.volume import Volume

SP = 0.0607


def _radius_phantom(seed=0):
    """Cortical tube (outer 5 mm, 0.8 mm thick, 1000 mg/cm3, a few pores) around trabecular bone."""
    rng = np.random.default_rng(seed)
    p, n = 24, 200
    _zz, yy, xx = np.mgrid[0:p, 0:n, 0:n]
    rad = np.hypot(yy - n / 2 + 0.5, xx - n / 2 + 0.5) * SP
    rho = np.zeros((p, n, n), np.float32)
    f = ndi.gaussian_filter(rng.normal(size=(p, n, n)), 2.0, mode="wrap")
    trab = f > np.quantile(f, 0.8)
    rho[(rad < 4.2) & trab] = 600.0
    cort = (rad >= 4.2) & (rad < 5.0)
    rho[cort] = 1000.0
    pores = np.zeros_like(cort)
    for k in range(6):
        ang = k * np.pi / 3
        cy, cx = n / 2 + np.sin(ang) * 4.6 / SP, n / 2 + np.cos(ang) * 4.6 / SP
        pores |= (np.hypot(yy - cy, xx - cx) < 2.5) & cort
    rho[pores] = 0.0
    rho += rng.normal(0, 30, rho.shape).astype(np.float32)
    return Volume(rho, spacing=(SP, SP, SP), units="mgHA/cm3", modality="HRPQCT"), rad, pores


def test_autocontour_and_cortical_measures():
    vol, rad, _pores = _radius_phantom()
    comp = autocontour(vol)
    assert comp.trabecular.sum() > 0 and not (comp.trabecular & comp.cortical).any()
    outer = rad < 5.0
    assert (comp.periosteal ^ outer).sum() / outer.sum() < 0.04
    tb_area = comp.trabecular.sum() * SP * SP / vol.shape[0]
    assert tb_area == pytest.approx(np.pi * 4.2**2, rel=0.06)
    bone = gaussian_segment(vol, compartment="cortical")
    res = cortical(comp.cortical, comp.trabecular, spacing=vol.spacing, bone=bone, density=vol.array)
    assert res["Ct.Th"] == pytest.approx(0.8, rel=0.15)
    assert res["Ct.Po"] > 0.01
    assert res["Tt.Ar"] == pytest.approx(np.pi * 5.0**2, rel=0.03)
    assert res["Ct.vBMD"] > res["Tb.vBMD"]
    tb = gaussian_segment(vol)
    r = trabecular(tb, spacing=vol.spacing, roi=comp.trabecular, smi=False)
    assert 0.1 < r["BV/TV"] < 0.3


def test_segmentation_needs_density_units():
    vol, _, _ = _radius_phantom()
    with pytest.raises(SegmentationError, match="mgHA/cm3"):
        gaussian_segment(vol.replace(units="HU"))
    with pytest.raises(SegmentationError, match="unknown scanner"):
        gaussian_segment(vol, scanner="xtremect9")


def test_vertebral_voi_from_mask_and_automatic():
    p, n = 30, 80
    zz, yy, xx = np.mgrid[0:p, 0:n, 0:n]
    body = ((yy - 40) / 25.0) ** 2 + ((xx - 40) / 30.0) ** 2 <= 1
    body &= (zz >= 3) & (zz < 27)
    shell = body & ~ndi.binary_erosion(body, iterations=2)
    arr = np.where(body, 150.0, -50.0).astype(np.float32)
    arr[shell] = 400.0
    arr[body & ~shell] += np.random.default_rng(0).normal(0, 5, (body & ~shell).sum())
    vol = Volume(arr, spacing=(1.0, 0.5, 0.5), units="mgHA/cm3")
    voi = vertebral_voi(vol, vertebra_mask=body, margin_mm=3.0)
    st = voi_stats(vol, voi)
    assert st["median"] == pytest.approx(150.0, abs=2.0)
    assert not (voi & shell).any()
    auto = vertebral_voi(vol, bone_threshold=100.0, margin_mm=3.0)
    assert voi_stats(vol, auto)["mean"] == pytest.approx(150.0, abs=2.0)
    with pytest.raises(SegmentationError, match="inside the vertebra"):
        vertebral_voi(vol, vertebra_mask=body, margin_mm=50.0)

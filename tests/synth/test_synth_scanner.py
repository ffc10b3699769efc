"""Scanner models: Scanco calibration survives AIM round trips, QCT phantom rods give back the
scanner's HU = a + b·ρ, DXA projection units, whole-bone cortex thickness."""

import numpy as np
import pytest
from scipy import ndimage

from bonenet import io
from bonenet.synth import (
    QctScanner,
    distal_section,
    project_areal,
    simulate_hrpqct,
    simulate_qct,
    to_scanco_native,
    vertebral_body,
)


def test_hrpqct_aim_round_trip_keeps_density_and_geometry(tmp_path):
    frac = np.zeros((8, 24, 24), np.float32)
    frac[:, 8:16, 8:16] = 1.0
    vol = simulate_hrpqct(frac, spacing=(0.082,) * 3, scanner="xtremect1", seed=0)
    assert vol.units == "mgHA/cm3"
    native = to_scanco_native(vol)
    assert native.dtype == np.int16
    cal = vol.meta["scanco"]
    np.testing.assert_allclose(native / cal["mu_scaling"] * cal["density_slope"]
                               + cal["density_intercept"], vol.array, atol=0.05)
    path = io.save(vol, tmp_path / "x.aim", format="aim", mu_scaling=cal["mu_scaling"],
                   density_slope=cal["density_slope"],
                   density_intercept=cal["density_intercept"])
    back = io.load(path)
    assert back.units == "mgHA/cm3"
    np.testing.assert_allclose(back.spacing, vol.spacing, rtol=1e-5)
    np.testing.assert_allclose(back.array, vol.array, atol=0.5)
    # bone ≈ 1000–1200 mg HA/cm³ in the middle of the block, soft tissue ≈ 0
    assert 900 < np.median(back.array[:, 10:14, 10:14]) < 1300
    assert abs(np.median(back.array[:, :4, :4])) < 100


def test_qct_phantom_rods_recover_scanner_calibration(tmp_path):
    sc = QctScanner("t", pixel_mm=0.8, slice_mm=1.0, a_hu=-15.0, b_hu_per_mg=0.85,
                    noise_hu=15.0, rods_mg=(0.0, 50.0, 100.0, 200.0))
    vb = vertebral_body((12, 96, 96), spacing=(1.0, 0.8, 0.8), tb_vbmd=110.0, seed=1)
    vol = simulate_qct(vb["density"], vb["tissue"], spacing=(1.0, 0.8, 0.8), scanner=sc, seed=2)
    path = io.save(vol, tmp_path / "ct", format="dicom", uid_seed="t")
    back = io.load(path)
    assert back.units == "HU"
    np.testing.assert_allclose(back.array, vol.array, atol=0.51)
    ph = vol.meta["phantom"]
    rr, cc = np.mgrid[: back.shape[1], : back.shape[2]]
    hu = []
    for (r0, c0) in ph["centres_rc"]:
        disc = (rr - r0) ** 2 + (cc - c0) ** 2 <= (0.6 * ph["rod_radius_mm"] / 0.8) ** 2
        hu.append(float(back.array[:, disc].mean()))
    b, a = np.polyfit(ph["rods_mgcm3"], hu, 1)
    assert b == pytest.approx(0.85, rel=0.05)
    assert a == pytest.approx(-15.0, abs=3.0)
    # the phantom calibration turns the vertebra's HU back into its vBMD
    tb = vb["trabecular"]
    tb_hu = float(back.array[:, : tb.shape[1]][tb].mean())
    assert (tb_hu - a) / b == pytest.approx(110.0, abs=8.0)


def test_dxa_projection_is_areal_density():
    dens = np.zeros((20, 30, 20), np.float32)
    dens[:, 10:20, 5:15] = 200.0  # 200 mg/cm³ through 10 mm → 0.2 g/cm²
    img = project_areal(dens, spacing=(1.0, 1.0, 1.0), noise_fraction=0.0, psf_sigma_mm=0.01)
    assert img.shape == (1, 20, 20)
    assert img.array[0, 10, 10] == pytest.approx(0.2, rel=1e-3)
    assert img.meta["quantity"] == "aBMD g/cm2"


def test_distal_section_cortex_has_the_thickness_asked():
    h = 0.05
    sec = distal_section((4, 480, 480), spacing=(h, h, h), bone="radius", ct_th=1.0, ct_po=0.0,
                         seed=3)
    outline = sec.labels[2] > 0
    cortex = sec.labels[2] == 1
    depth = ndimage.distance_transform_edt(outline) * h
    assert depth[cortex].max() == pytest.approx(1.0, abs=h)
    # porosity: pores open in the cortex when asked
    por = distal_section((4, 480, 480), spacing=(h, h, h), ct_th=1.0, ct_po=0.08, seed=3)
    assert por.truth["ct_po"] == pytest.approx(0.08, abs=0.03)

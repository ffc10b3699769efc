"""Density calibration on synthetic QCT with a phantom, Scanco round trip, scores."""

from __future__ import annotations

import numpy as np
import pytest

from bonenet.calibrate import (
    Calibration,
    acr_category,
    apply_calibration,
    find_rods,
    internal_calibration,
    phantom_calibration,
    rod_mask,
    scanco_calibration,
    scanco_native,
    t_score,
    who_category,
    z_score,
)
from bonenet.errors import CalibrationError
from bonenet.volume import Volume

RODS_MG = [0.0, 50.0, 100.0, 200.0]  # K2HPO4 mg/cm3
A_HU, B_HU = -8.0, 1.27  # scanner: HU = a + b * density


def _synthetic_qct(seed: int = 0, noise: float = 12.0):
    """Body (water 0 HU with a vertebra of 150 mg/cm3) above a 4-rod phantom in a holder."""
    rng = np.random.default_rng(seed)
    p, r, c = 6, 164, 160
    rr, cc = np.mgrid[0:r, 0:c]
    img = np.full((r, c), -1000.0)
    body = ((rr - 60) / 50.0) ** 2 + ((cc - 80) / 70.0) ** 2 <= 1
    img[body] = A_HU + B_HU * 0.0  # soft tissue ~ water
    vert = (rr - 60) ** 2 + (cc - 80) ** 2 <= 15**2
    img[vert] = A_HU + B_HU * 150.0
    holder = (rr >= 115) & (rr <= 159) & (cc >= 12) & (cc <= 148)
    img[holder] = -100.0  # polyethylene-like holder: every rod stands out from it
    centres = [(137, 35), (137, 65), (137, 95), (137, 125)]
    for (y, x), rho in zip(centres, RODS_MG, strict=True):
        img[(rr - y) ** 2 + (cc - x) ** 2 <= 8**2] = A_HU + B_HU * rho
    arr = np.repeat(img[None], p, axis=0) + rng.normal(0, noise, (p, r, c))
    vol = Volume(arr.astype(np.float32), spacing=(2.0, 0.7, 0.7), units="HU", modality="CT")
    return vol, centres, vert


def test_phantom_calibration_given_rods_recovers_density_within_2_percent():
    vol, centres, vert = _synthetic_qct()
    rods = [(float(y), float(x), 6.0) for y, x in centres]
    cal = phantom_calibration(vol, RODS_MG, rods=rods)
    assert cal.r2 > 0.999
    assert len(cal.residuals) == 4
    dens = apply_calibration(vol, cal)
    assert dens.units == "mgK2HPO4/cm3"
    assert dens.meta["history"][-1]["op"] == "rescale"
    assert dens.meta["calibration"]["method"] == "phantom"
    measured = float(dens.array[:, vert].mean())
    assert measured == pytest.approx(150.0, rel=0.02)


def test_phantom_rods_found_automatically():
    vol, centres, vert = _synthetic_qct(seed=1)
    found = find_rods(vol, n=4, radius_mm=8 * 0.7)
    for (row, col, _), (y, x) in zip(found, centres, strict=True):
        assert abs(row - y) <= 2.5 and abs(col - x) <= 2.5
    cal = phantom_calibration(vol, RODS_MG, radius_mm=8 * 0.7, material="K2HPO4")
    assert float(cal(vol.array[:, vert].mean())) == pytest.approx(150.0, rel=0.02)


def test_poor_fit_and_missing_rod_raise():
    vol, centres, _ = _synthetic_qct()
    rods = [(float(y), float(x), 6.0) for y, x in centres]
    with pytest.raises(CalibrationError, match="poor"):
        phantom_calibration(vol, [0.0, 200.0, 50.0, 100.0], rods=rods)  # wrong order
    with pytest.raises(CalibrationError, match="rods but"):
        phantom_calibration(vol, RODS_MG, rods=rods[:3])
    with pytest.raises(CalibrationError, match=r"missing|outside"):
        phantom_calibration(vol, RODS_MG, rods=[*rods[:3], np.zeros(vol.shape, bool)])
    empty = vol.replace(array=np.full(vol.shape, -1000.0, np.float32))
    with pytest.raises(CalibrationError, match="found 0 of 4"):
        phantom_calibration(empty, RODS_MG, radius_mm=5.6)


def test_phantom_messages_print_numpy_values_as_plain_numbers():
    # issue 15: values from arrays reach messages as 1.7, not np.float64(1.7)
    vol, _, _ = _synthetic_qct()
    with pytest.raises(CalibrationError) as info:
        phantom_calibration(vol, [np.float64(1.7)], radius_mm=5.6)
    assert "1.7" in str(info.value) and "np.float64" not in str(info.value)
    with pytest.raises(CalibrationError) as info:
        phantom_calibration(vol, np.array([np.float64(1.7), "rod"], dtype=object), radius_mm=5.6)
    msg = str(info.value)
    assert "1.7" in msg and "'rod'" in msg and "np.float64" not in msg and "mg/cm³" in msg
    empty = vol.replace(array=np.full(vol.shape, -1000.0, np.float32))
    with pytest.raises(CalibrationError) as info:
        phantom_calibration(empty, RODS_MG, radius_mm=np.float64(1.7))
    assert "radius 1.7 mm" in str(info.value) and "np.float64" not in str(info.value)


def test_internal_calibration_within_stated_error():
    vol, _, vert = _synthetic_qct(noise=5.0)
    arr = vol.array.copy()
    shape = vol.shape
    rois = {}
    # tissues at their nominal CT numbers through the same scanner (HU' = a + b/1.22 * HU)
    for name, hu, (y, x) in [("air", -1000.0, (10, 10)), ("fat", -100.0, (30, 80)),
                             ("muscle", 50.0, (95, 80)), ("blood", 40.0, (60, 30))]:
        m = rod_mask(shape, (y, x, 4))
        arr[m] = A_HU + (B_HU / 1.22) * hu
        rois[name] = m
    cal = internal_calibration(vol.replace(array=arr), rois)
    assert cal.expected_error == pytest.approx(0.10)
    assert float(cal(arr[:, vert].mean())) == pytest.approx(150.0, rel=0.10)
    with pytest.raises(CalibrationError, match="unknown tissue"):
        internal_calibration(vol, {"bone": rois["air"], "air": rois["air"]})


def test_scanco_round_trip_exact():
    rng = np.random.default_rng(0)
    native = rng.integers(-2000, 12000, size=(4, 8, 8)).astype(np.int16)
    hdr = {"mu_scaling": 8192.0, "density_slope": 1603.51904, "density_intercept": -391.209015}
    cal = scanco_calibration(**hdr)
    assert isinstance(cal, Calibration)
    vol = Volume(native.astype(np.float32), spacing=(0.0607,) * 3, units="raw", modality="HRPQCT")
    dens = apply_calibration(vol, cal)
    assert dens.units == "mgHA/cm3"
    assert dens.array[0, 0, 0] == pytest.approx(native[0, 0, 0] / 8192.0 * 1603.51904 - 391.209015, rel=1e-5)
    back = scanco_native(dens, **hdr)
    assert np.array_equal(back, native)
    with pytest.raises(CalibrationError, match="already calibrated"):
        apply_calibration(dens, cal)
    with pytest.raises(CalibrationError, match="mu_scaling"):
        scanco_calibration(mu_scaling=0, density_slope=1, density_intercept=0)


def test_clinical_categories():
    assert acr_category([130.0, 125.0]) == "normal"
    assert acr_category([100.0, 85.0]) == "osteopenia"
    assert acr_category(79.9) == "osteoporosis"
    assert acr_category(120.0) == "osteopenia"
    assert t_score(0.858) == pytest.approx(0.0)
    assert t_score(0.558) == pytest.approx(-2.5)
    assert who_category(t_score(0.558)) == "osteoporosis"
    assert who_category(-1.0) == "normal"
    assert who_category(-1.8) == "osteopenia"
    assert z_score(0.70, age_mean=0.75, age_sd=0.1) == pytest.approx(-0.5)
    with pytest.raises(CalibrationError, match="plausible"):
        t_score(12.0)


def test_acr_categories_refuse_k2hpo4_and_convert_with_goodsitt():
    from bonenet.calibrate import GOODSITT_K2HPO4_PER_HA, k2hpo4_to_ha

    with pytest.raises(CalibrationError, match="k2hpo4_to_ha"):
        acr_category(100.0, units="mgK2HPO4/cm3")
    with pytest.raises(CalibrationError, match="HU"):
        acr_category(100.0, units="HU")
    # Goodsitt (1992): BMD(K2HPO4) / BMD(HA) = 0.86 at 80 kVp, 0.81 at 140 kVp, intercept 0
    assert GOODSITT_K2HPO4_PER_HA == {80: 0.86, 140: 0.81}
    assert float(k2hpo4_to_ha(86.0, kvp=80)) == pytest.approx(100.0)
    assert float(k2hpo4_to_ha(81.0, kvp=140)) == pytest.approx(100.0)
    # 100 mg K2HPO4/cm³ at 140 kVp is 123 mg HA/cm³: normal, not osteopenia
    assert acr_category(k2hpo4_to_ha(100.0, kvp=140), units="mgHA/cm3") == "normal"
    with pytest.raises(CalibrationError, match="kvp=120"):
        k2hpo4_to_ha(100.0, kvp=120)

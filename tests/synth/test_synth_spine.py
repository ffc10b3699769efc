"""Synthetic spine CT and the QCT cohort with vertebra masks."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from bonenet import io
from bonenet.errors import SynthError
from bonenet.measure import TS_TOTAL, vertebra_crop
from bonenet.synth.spine import synth_spine_cohort, synth_spine_ct


def test_synth_spine_truth_and_refusals():
    s = synth_spine_ct(("T12", "L1"), spacing=(2.0, 2.0, 2.0), trabecular_hu=120.0, gain=1.1, offset=-10.0)
    assert s.volume.units == "HU" and s.volume.orientation() == "SPL"
    assert set(np.unique(s.labels)) >= {0, 31, 32, 52, 86, 87}
    core = s.body & (s.labels == 31)
    from scipy import ndimage as ndi

    inner = ndi.binary_erosion(core, iterations=2)
    np.testing.assert_allclose(np.median(s.volume.array[inner]), 1.1 * 120.0 - 10.0, atol=1e-3)
    assert s.density["L1"] == pytest.approx(120.0 / 1.22)
    with pytest.raises(SynthError, match="adjacent"):
        synth_spine_ct(("T12", "L2"))
    with pytest.raises(SynthError, match="heights"):
        synth_spine_ct(("L1",), heights={"L1": (1.0, 1.0, 1.0)})


def test_cohort_manifest_reads_back_and_crops(tmp_path):
    manifest = synth_spine_cohort(tmp_path / "cohort", 3, seed=1, spacing=(2.0, 2.0, 2.0))
    rows = list(csv.DictReader(open(manifest)))
    assert [r["subject_id"] for r in rows] == ["sub0000", "sub0001", "sub0002"]
    assert set(rows[0]) == {"subject_id", "image", "mask", "vertebra", "vbmd_mg_cm3", "fracture"}
    r = rows[0]
    ct = io.load(manifest.parent / r["image"])
    assert ct.units == "HU"  # recorded in the NIfTI header by bonenet
    labels = io.load_mask(manifest.parent / r["mask"], like=ct)
    crop = vertebra_crop(ct, labels == TS_TOTAL[f"vertebrae_{r['vertebra']}"], size_mm=48.0)
    assert crop.shape == (24, 24, 24)
    assert float(np.median(crop.array)) > -200  # the crop holds the vertebra, not air

"""trabecular(): indices on structures with known answers, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from bonenet.errors import BoneNetError, MorphometryError
from bonenet.morphometry import TRABECULAR_KEYS, trabecular


def test_parallel_plates_give_known_indices():
    # plates 4 voxels thick every 12 voxels along P, 0.5 mm voxels:
    # Tb.Th 2 mm, Tb.Sp 4 mm, Tb.N 1/6 per mm, BV/TV 1/3, no connectivity
    n = 60
    z = np.arange(n)[:, None, None] + 0.3
    m = np.broadcast_to((z % 12) < 4, (n, n, n)).copy()
    r = trabecular(m, spacing=0.5)
    assert tuple(r) == TRABECULAR_KEYS
    assert r["BV/TV"] == pytest.approx(1 / 3, abs=0.01)
    assert r["Tb.Th"] == pytest.approx(2.0, abs=0.25)
    assert r["Tb.Sp"] == pytest.approx(4.0, abs=0.3)
    assert r["Tb.N"] == pytest.approx(1 / 6, rel=0.1)
    assert r["Tb.N(plate)"] == pytest.approx(r["BV/TV"] / r["Tb.Th"])
    assert abs(r["Conn.D"]) < 1e-3
    assert r["DA"] > 10
    assert abs(r["SMI"]) < 0.2  # no cut faces counted (was < 1.5 while they were)


def test_bad_inputs_name_the_problem():
    m = np.zeros((10, 10, 10), bool)
    m[3:6] = True
    with pytest.raises(MorphometryError, match="empty"):
        trabecular(np.zeros((8, 8, 8), bool), spacing=1)
    with pytest.raises(MorphometryError, match="all-bone"):
        trabecular(np.ones((8, 8, 8), bool), spacing=1)
    with pytest.raises(MorphometryError, match="shape"):
        trabecular(m, spacing=1, roi=np.ones((10, 10, 9), bool))
    with pytest.raises(MorphometryError, match="not binary"):
        trabecular(m * 2.5, spacing=1)
    with pytest.raises(BoneNetError, match="positive"):
        trabecular(m, spacing=(1, 1, 0))

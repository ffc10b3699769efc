"""Error messages print numbers as numbers (``1.7``), never ``np.float64(1.7)``."""

from __future__ import annotations

import numpy as np
import pytest

from bonenet._fmt import plain
from bonenet.errors import BoneNetError


def test_plain_unwraps_numpy_values():
    assert repr(plain(np.float64(1.7))) == "1.7"
    assert repr(plain((np.float64(0.5), np.int64(2)))) == "(0.5, 2)"
    assert plain(np.array([[1.0, 2.0]])) == [[1.0, 2.0]]
    assert plain("x") == "x"
    # object arrays keep numpy scalars in tolist(): they are unwrapped too
    assert repr(plain(np.array([np.float64(1.7), "rod"], dtype=object))) == "[1.7, 'rod']"


def _message(fn) -> str:
    with pytest.raises(BoneNetError) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("make", [
    lambda: __import__("bonenet").volume.Volume(np.zeros((2, 2, 2)), spacing=(np.float64(-1.7), 1.0, 1.0)),
    lambda: __import__("bonenet.synth", fromlist=["x"]).trabecular_noise(
        (8, 8, 8), spacing=(np.float64(-1.7),) * 3, bv_tv=0.1, tb_th=0.2, tb_sp=1.0),
    lambda: __import__("bonenet.evaluation", fromlist=["x"]).harrell_c(
        np.array([1.0, -1.7]), np.array([1, 0]), np.array([0.1, 0.2])),
    lambda: __import__("bonenet.evaluation", fromlist=["x"]).brier_score(
        np.array([0, 1]), np.array([0.2, np.float64(1.7)])),
    lambda: __import__("bonenet.evaluation", fromlist=["x"]).brier_score(
        np.array([0, 1.7]), np.array([0.2, 0.3])),
    lambda: __import__("bonenet.morphometry", fromlist=["x"]).euler_characteristic(
        np.ones((3, 3, 3)), connectivity=np.float64(1.7)),
    lambda: __import__("bonenet.calibrate", fromlist=["x"]).phantom_calibration(
        __import__("bonenet").volume.Volume(np.zeros((2, 8, 8)), spacing=(1.0, 1.0, 1.0)),
        np.array([np.float64(1.7), "rod"], dtype=object), radius_mm=2.0),
])
def test_messages_show_plain_numbers(make):
    msg = _message(make)
    assert "1.7" in msg and "np." not in msg, msg

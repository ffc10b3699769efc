"""Scanco HR-pQCT / micro-CT files: the public names, kept where they always were.

The code lives in one module per thing: :mod:`bonenet.io.aim` (AIM read/write, every voxel
type), :mod:`bonenet.io.isq` (ISQ), :mod:`bonenet.io.scanco_masks` (Scanco's masks on a grey
image's grid), :mod:`bonenet.io._vms` (VMS floating point), :mod:`bonenet.io._aim_codec`
(compressed voxel blocks) and :mod:`bonenet.io._scanco_common` (log, calibration, size checks).
"""

from __future__ import annotations

from ._scanco_common import (
    DEFAULT_DENSITY_INTERCEPT,
    DEFAULT_DENSITY_SLOPE,
    DEFAULT_MU_SCALING,
    DEFAULT_MU_WATER,
)
from ._vms import vms_d_decode as _vms_d_decode
from ._vms import vms_d_encode as _vms_d_encode
from ._vms import vms_f_decode as _vms_f_decode
from ._vms import vms_f_encode as _vms_f_encode
from .aim import AimHeader, read_aim, read_aim_array, read_aim_header, write_aim, write_aim_mask
from .isq import read_isq, write_isq
from .scanco_masks import find_scanco_masks, load_scanco_mask, load_scanco_masks

__all__ = [
    "DEFAULT_DENSITY_INTERCEPT",
    "DEFAULT_DENSITY_SLOPE",
    "DEFAULT_MU_SCALING",
    "DEFAULT_MU_WATER",
    "AimHeader",
    "find_scanco_masks",
    "load_scanco_mask",
    "load_scanco_masks",
    "read_aim",
    "read_aim_array",
    "read_aim_header",
    "read_isq",
    "write_aim",
    "write_aim_mask",
    "write_isq",
]

# private names older code and tests import from here
_ = (_vms_d_decode, _vms_d_encode, _vms_f_decode, _vms_f_encode)

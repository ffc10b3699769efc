"""Scanco ISQ files (the scanner's reconstructed int16 image stacks): read and write.

A 512-byte header starting ``CTDATA-HEADER_V1`` (dimensions in voxels and µm, ``mu_scaling``,
the data offset in 512-byte blocks), optional extended headers (one may be a ``Calibration``
block with density slope/intercept as VMS G-floats), then int16 voxels, x fastest. Layout as in
ITK's Apache-licensed ``IOScanco`` module. The claimed size is checked against the file size
and the memory ceiling before anything is allocated.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..errors import ImageFormatError
from ..volume import Volume
from ._scanco_common import (
    CANONICAL,
    DEFAULT_DENSITY_INTERCEPT,
    DEFAULT_DENSITY_SLOPE,
    DEFAULT_MU_SCALING,
    DEFAULT_MU_WATER,
    calibrated,
    check_claim,
    native_from_volume,
)
from ._vms import vms_d_decode, vms_d_encode

__all__ = ["read_isq", "write_isq"]


def read_isq(path: Path, *, native: bool = False, mu_scaling: float | None = None,
             density_slope: float | None = None, density_intercept: float | None = None,
             max_voxels: int | None = None, **_: Any) -> Volume:
    """Read a Scanco ISQ file (int16 native values) into a Volume.

    The density calibration comes from ``density_slope``/``density_intercept`` when given,
    else from the file's ``Calibration`` extended header; without either a
    :class:`~bonenet.errors.CalibrationError` says what to pass (or use ``native=True``).
    ``max_voxels`` (default ``$BONENET_MAX_VOXELS`` or 2**30) is the memory ceiling.

    Returns
    -------
    Volume
        Units ``"mgHA/cm3"`` (``"raw"`` with ``native=True``), spacing in mm.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(512)
    except OSError as exc:
        raise ImageFormatError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 512 or raw[:16] != b"CTDATA-HEADER_V1":
        raise ImageFormatError(f"{path}: not a Scanco ISQ file (no CTDATA-HEADER_V1 signature)")
    dim = struct.unpack_from("<3i", raw, 44)
    phys_um = struct.unpack_from("<3i", raw, 56)
    mu_file = struct.unpack_from("<i", raw, 88)[0]
    blocks = struct.unpack_from("<i", raw, 508)[0]
    if blocks < 0:
        raise ImageFormatError(f"{path}: ISQ data offset {blocks} blocks is invalid; the file is damaged")
    data_offset = (blocks + 1) * 512
    n = check_claim(path, dim, limit=max_voxels, what="ISQ")
    if data_offset + 2 * n > size:
        raise ImageFormatError(
            f"{path}: truncated: the header claims {tuple(dim)} int16 voxels ({2 * n:,} bytes at "
            f"{data_offset:,}) but the file has {size:,} bytes; the file is damaged")
    spacing_xyz = tuple((ph * 1e-3 / d) if ph > 0 else 1.0 for ph, d in zip(phys_um, dim, strict=True))
    slope_file = icpt_file = None
    if data_offset >= 2048:
        with open(path, "rb") as fh:
            ext = fh.read(data_offset)
        slope_file, icpt_file = _isq_calibration(ext)
    arr = np.fromfile(path, dtype="<i2", count=n, offset=data_offset)
    mu = mu_scaling if mu_scaling is not None else mu_file
    slope = density_slope if density_slope is not None else slope_file
    icpt = density_intercept if density_intercept is not None else icpt_file
    return calibrated(path, arr.reshape(dim[2], dim[1], dim[0]), mu_scaling=mu, slope=slope,
                      intercept=icpt, want_native=native, spacing=spacing_xyz[::-1],
                      origin=(0.0, 0.0, 0.0), direction=CANONICAL, meta={"format": "isq"})


def _isq_calibration(raw: bytes) -> tuple[float | None, float | None]:
    """Find the ``Calibration`` extended header and read its density slope/intercept."""
    h, hskip = 512, 1
    if raw[h + 8: h + 24] == b"MultiHeader     ":
        h, hskip = h + 512, hskip + 1
    for i in range(4):
        if h + i * 128 + 28 > len(raw):
            break
        name = raw[h + i * 128 + 8: h + i * 128 + 24]
        hsize = struct.unpack_from("<i", raw, h + i * 128 + 24)[0]
        if hsize <= 0 or (1 + hskip + hsize) * 512 > len(raw):
            break
        if name == b"Calibration     ":
            cal = (1 + hskip) * 512
            return vms_d_decode(raw[cal + 664: cal + 672]), vms_d_decode(raw[cal + 672: cal + 680])
        hskip += hsize
    return None, None


def write_isq(volume: Volume, path: str | Path, *, mu_scaling: float = DEFAULT_MU_SCALING,
              density_slope: float | None = DEFAULT_DENSITY_SLOPE,
              density_intercept: float | None = DEFAULT_DENSITY_INTERCEPT, **_: Any) -> Path:
    """Write ``volume`` as a Scanco ISQ (int16), with a Calibration block unless slope is None.

    Mainly for tests and synthetic data: scanner metadata fields are zero.
    """
    path = Path(path)
    slope = density_slope if density_slope is not None else DEFAULT_DENSITY_SLOPE
    icpt = density_intercept if density_intercept is not None else DEFAULT_DENSITY_INTERCEPT
    native = native_from_volume(volume, mu_scaling=mu_scaling, slope=slope, intercept=icpt, path=path)
    p, r, c = volume.shape
    sp = volume.spacing
    hdr = bytearray(512)
    hdr[0:16] = b"CTDATA-HEADER_V1"
    struct.pack_into("<i", hdr, 16, 3)
    struct.pack_into("<3i", hdr, 44, c, r, p)
    struct.pack_into("<3i", hdr, 56, round(c * sp[2] * 1e3), round(r * sp[1] * 1e3), round(p * sp[0] * 1e3))
    struct.pack_into("<3i", hdr, 68, round(sp[0] * 1e3), round(sp[0] * 1e3), 0)
    struct.pack_into("<3i", hdr, 80, int(native.min()), int(native.max()), int(mu_scaling))
    extra = b""
    if density_slope is not None:
        # one extended-header directory block naming a 2-block Calibration header
        ext = bytearray(512)
        ext[8:24] = b"Calibration     "
        struct.pack_into("<i", ext, 24, 2)
        cal = bytearray(1024)
        cal[664:672] = vms_d_encode(slope)
        cal[672:680] = vms_d_encode(icpt)
        cal[688:696] = vms_d_encode(DEFAULT_MU_WATER)
        extra = bytes(ext) + bytes(cal)
    struct.pack_into("<i", hdr, 508, len(extra) // 512)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(bytes(hdr) + extra)
            fh.write(native.tobytes())
    return path

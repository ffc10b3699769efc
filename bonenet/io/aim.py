"""Scanco AIM files (v020 and v030): every voxel type Scanco writes, read and write.

Layout (Numerics88 AimIO, MIT; ITK ``IOScanco``, Apache-2.0), little-endian throughout:

``v020``
    A pre-header of int32 block sizes (its own length 20 — or 16 without the associated-data
    block —, image struct 140, processing log, voxel data, associated data), the image struct
    (type code at byte 20; position, dimension, offset, supdim, suppos, subdim, testoff as int32
    triplets from byte 24; element size as three VMS F-floats in mm at byte 108), the processing
    log (text, ``key  value`` lines), then the voxel block (x fastest).
``v030``
    The 16-byte string ``AIMDATA_V030   \\0``, the same pre-header with int64 sizes, a 224-byte
    image struct (type code at byte 12, int64 triplets from byte 16, element size as int64
    nanometres at byte 184).

Voxel types (codes in :mod:`bonenet.io._aim_codec`): char, unsigned char, short, unsigned
short, int, float (VMS and IEEE), and the compressed mask types binary run-length
(``0x00150001``), char run-length (``0x00080002``) and packed bits (``0x00060001``).

Geometry: the array's first voxel sits at grid index ``position`` (x, y, z) of the scanner's
grid, so the origin is ``position * element_size`` mm (Scanco x, y, z = LPS x, y, z; ITK's
convention). The ``offset`` border is part of the returned array (zero for compressed masks).
Sizes claimed by the header are checked against the file and a memory ceiling
(:func:`bonenet.io._scanco_common.check_claim`) before anything is allocated.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..errors import ImageFormatError
from ..volume import Volume
from . import _aim_codec as codec
from ._scanco_common import (
    DEFAULT_DENSITY_INTERCEPT,
    DEFAULT_DENSITY_SLOPE,
    DEFAULT_MU_SCALING,
    DEFAULT_MU_WATER,
    bonenet_geometry,
    calibrated,
    check_claim,
    log_float,
    native_from_volume,
    parse_log,
)
from ._vms import vms_f_decode, vms_f_encode

__all__ = ["AimHeader", "read_aim", "read_aim_array", "read_aim_header", "write_aim", "write_aim_mask"]

_AIM030 = b"AIMDATA_V030   \x00"
_STRUCT020, _STRUCT030 = 140, 224
#: Processing-log keys that may identify a patient: removed from ``meta["processing_log"]``.
_PRIVATE_KEY = re.compile(r"patient|name|birth|\bID\b|sex|operator|comment", re.IGNORECASE)
#: Most voxels one stored byte can expand to, per compressed type (a cheap bomb check).
_MAX_EXPANSION = {codec.BINCMP: 254.0, codec.CHARCMP: 127.5, codec.BIT8: 8.0}


@dataclass(frozen=True)
class AimHeader:
    """What an AIM header says, read without touching the voxels.

    ``position``, ``dimensions`` and ``offset`` are (x, y, z) voxel triplets;
    ``element_size_mm`` is (x, y, z) in mm; ``data_offset``/``data_length`` locate the voxel
    block in bytes.
    """

    path: Path
    version: str
    type_code: int
    position: tuple[int, int, int]
    dimensions: tuple[int, int, int]
    offset: tuple[int, int, int]
    element_size_mm: tuple[float, float, float]
    log_text: str
    data_offset: int
    data_length: int

    @property
    def type_name(self) -> str:
        """A readable name of the voxel type."""
        if self.type_code in codec.PLAIN:
            return codec.PLAIN[self.type_code][1]
        return codec.COMPRESSED.get(self.type_code, f"unknown 0x{self.type_code:08x}")

    @property
    def is_mask_type(self) -> bool:
        """True for 8-bit and compressed types (Scanco writes segmentations and masks so)."""
        return self.type_code in codec.COMPRESSED or (
            self.type_code in codec.PLAIN and codec.PLAIN[self.type_code][0] in ("i1", "u1"))


def read_aim_header(path: str | Path, *, max_voxels: int | None = None) -> AimHeader:
    """Read and check an AIM header: version, voxel type, geometry, log and data location.

    Raises
    ------
    ImageFormatError
        Not an AIM, truncated, an unknown voxel type, or sizes the file cannot hold; a claim
        above the memory ceiling (``max_voxels``, ``$BONENET_MAX_VOXELS``) raises the memory
        error of :mod:`bonenet.errors` — always before any voxel memory is allocated.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(16)
            if head[:15] == _AIM030[:15]:
                isz, ver, base = 8, "v030", 16
                pre = fh.read(8)
            else:
                isz, ver, base = 4, "v020", 0
                pre = head[:4]
            if len(pre) < isz:
                raise ImageFormatError(f"{path}: truncated AIM pre-header; the file is damaged")
            pre_len = struct.unpack("<q" if isz == 8 else "<i", pre)[0]
            if pre_len not in (4 * isz, 5 * isz):
                raise ImageFormatError(f"{path}: not a Scanco AIM file (pre-header length {pre_len}); "
                                       "check the file type")
            fh.seek(base)
            blocks = struct.unpack(f"<{pre_len // isz}{'q' if isz == 8 else 'i'}", fh.read(pre_len))[1:]
            struct_len, log_len, data_len = blocks[0], blocks[1], blocks[2]
            if struct_len not in (_STRUCT020, _STRUCT030) or min(log_len, data_len) < 0:
                raise ImageFormatError(
                    f"{path}: AIM image struct of {struct_len} bytes (log {log_len}, data {data_len}); "
                    "bonenet reads AIM v020/v030 (struct 140/224 bytes) — re-export the file from IPL")
            data_offset = base + pre_len + struct_len + log_len
            if data_offset + data_len > size:
                raise ImageFormatError(
                    f"{path}: truncated: the header places {data_len:,} data bytes at {data_offset:,} "
                    f"but the file has {size:,} bytes; the file is damaged")
            st = fh.read(struct_len)
            log_text = fh.read(log_len).decode("latin-1").split("\x00", 1)[0]
    except OSError as exc:
        raise ImageFormatError(f"{path}: cannot read ({exc})") from exc
    if len(st) < struct_len:
        raise ImageFormatError(f"{path}: truncated AIM image struct; the file is damaged")
    if struct_len == _STRUCT020:
        type_code = struct.unpack_from("<i", st, 20)[0]
        ints = struct.unpack_from("<21i", st, 24)
        elem = tuple(vms_f_decode(st[108 + 4 * i: 112 + 4 * i]) for i in range(3))
    else:
        type_code = struct.unpack_from("<i", st, 12)[0]
        ints = struct.unpack_from("<21q", st, 16)
        elem = tuple(v * 1e-6 for v in struct.unpack_from("<3q", st, 16 + 21 * 8))
    pos, dim, off = ints[0:3], ints[3:6], ints[6:9]
    hdr = AimHeader(path, ver, type_code, pos, dim, off, tuple(e if e > 0 else 1.0 for e in elem),  # type: ignore[arg-type]
                    log_text, data_offset, data_len)
    if type_code not in codec.PLAIN and type_code not in codec.COMPRESSED:
        raise ImageFormatError(
            f"{path}: AIM voxel type 0x{type_code:08x} is not one bonenet reads (char, short, int, "
            "float, binary/char run-length, packed bits); convert it with IPL /convert_to_type")
    n = check_claim(path, dim, limit=max_voxels, what="AIM")
    if min(off) < 0 or any(2 * o > d for o, d in zip(off, dim, strict=True)):
        raise ImageFormatError(f"{path}: AIM offset {off} does not fit dimensions {dim}; the file is damaged")
    if type_code in codec.PLAIN:
        need = n * (4 if codec.PLAIN[type_code][0] == "vms-f4" else np.dtype(codec.PLAIN[type_code][0]).itemsize)
        if data_len < need:
            raise ImageFormatError(f"{path}: truncated: AIM data length {data_len:,} < {need:,} bytes "
                                   f"for {dim} voxels; the file is damaged")
    elif n > _MAX_EXPANSION[type_code] * max(data_len, 1) + 8:
        raise ImageFormatError(
            f"{path}: the header claims {n:,} voxels but its {data_len:,}-byte {hdr.type_name} block "
            "can hold at most {:,}; the file is damaged or crafted".format(int(_MAX_EXPANSION[type_code] * data_len)))
    return hdr


def read_aim_array(path: str | Path, *, max_voxels: int | None = None) -> tuple[np.ndarray, AimHeader]:
    """The stored voxels of an AIM as a (z, y, x) array of the stored type, and its header.

    Masks come back as int8 (Scanco writes 0/127 or 0/-1), grey values as int16/float32.
    """
    hdr = read_aim_header(path, max_voxels=max_voxels)
    block = np.fromfile(hdr.path, dtype=np.uint8, count=hdr.data_length, offset=hdr.data_offset)
    try:
        arr = codec.decode(block, hdr.type_code, hdr.dimensions, hdr.offset, wide=hdr.version == "v030")
    except codec.CodecError as exc:
        raise ImageFormatError(f"{hdr.path}: {hdr.type_name} voxel block: {exc}; the file is damaged") from exc
    return arr, hdr


def _public_log(text: str) -> str:
    """The processing log without lines whose key may identify the patient."""
    keep = []
    for line in text.replace("\r", "").split("\n"):
        key = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        if line.startswith("!") or not _PRIVATE_KEY.search(key):
            keep.append(line)
    return "\n".join(keep)


def read_aim(path: Path, *, native: bool = False, mu_scaling: float | None = None,
             density_slope: float | None = None, density_intercept: float | None = None,
             max_voxels: int | None = None, **_: Any) -> Volume:
    """Read a Scanco AIM file (v020 or v030, any voxel type) into a Volume.

    Parameters
    ----------
    path : Path
        The ``.aim`` file.
    native : bool
        Return the stored values (units ``"raw"``) without calibration.
    mu_scaling, density_slope, density_intercept : float, optional
        Override the processing log's ``Mu_Scaling``, ``Density: slope`` (mg HA/cm3 per 1/cm)
        and ``Density: intercept`` (mg HA/cm3).
    max_voxels : int, optional
        Memory ceiling in voxels (default ``$BONENET_MAX_VOXELS`` or 2**30).

    Returns
    -------
    Volume
        Grey-value types: units ``"mgHA/cm3"`` (``"raw"`` with ``native=True``), modality
        ``"HRPQCT"``, spacing in mm from the element size. 8-bit and compressed types
        (segmentations, masks) come back as stored, units ``"raw"``, with a warning.
        ``meta`` holds ``calibration``, ``aim_type``, ``position``/``offset`` (voxels, x y z)
        and ``processing_log`` (patient-identifying lines removed).
    """
    arr, hdr = read_aim_array(path, max_voxels=max_voxels)
    log = parse_log(hdr.log_text)
    spacing_xyz = hdr.element_size_mm
    default_origin = tuple(float(p * s) for p, s in zip(hdr.position, spacing_xyz, strict=True))
    origin, direction = bonenet_geometry(log, default_origin)  # type: ignore[arg-type]
    mu = mu_scaling if mu_scaling is not None else log_float(log, "Mu_Scaling", hdr.path)
    slope = density_slope if density_slope is not None else log_float(log, "Density: slope", hdr.path)
    icpt = density_intercept if density_intercept is not None else log_float(log, "Density: intercept", hdr.path)
    meta = {"format": f"aim-{hdr.version}", "density_unit": log.get("Density: unit"),
            "mu_water": log_float(log, "HU: mu water", hdr.path), "aim_type": hdr.type_name,
            "aim_type_code": hdr.type_code, "position": tuple(hdr.position), "offset": tuple(hdr.offset),
            "processing_log": _public_log(hdr.log_text)}
    as_mask = hdr.is_mask_type and not native
    vol = calibrated(hdr.path, arr, mu_scaling=mu, slope=slope, intercept=icpt,
                     want_native=native or as_mask, spacing=spacing_xyz[::-1], origin=origin,
                     direction=direction, meta=meta)
    if as_mask:
        vol.warn(f"{hdr.type_name} AIM (a segmentation/mask): values returned as stored, no density calibration")
    return vol


def _log_text(volume: Volume | None, *, mu_scaling: float, slope: float, intercept: float,
              mu_water: float, shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> str:
    now = _dt.datetime.now().strftime("%d-%b-%Y %H:%M:%S.00").upper()
    p, r, c = shape
    sp = spacing
    lines = [
        "!", "! Processing Log", "!",
        "!-------------------------------------------------------------------------------",
        f"{'Created by':<30}bonenet",
        f"{'Time':<30}{now}",
        f"{'Original Creation-Date':<30}{now}",
        f"{'Orig-ISQ-Dim-p':<30}{c:>12d}{r:>12d}{p:>12d}",
        f"{'Orig-ISQ-Dim-um':<30}{c * sp[2] * 1e3:>12.0f}{r * sp[1] * 1e3:>12.0f}{p * sp[0] * 1e3:>12.0f}",
        "!-------------------------------------------------------------------------------",
        f"{'Mu_Scaling':<30}{int(mu_scaling):>12d}",
        f"{'Calib. default unit type':<30}{2:>12d} (Density)",
        f"{'Density: unit':<30}mg HA/ccm",
        f"{'Density: slope':<30}{slope:>18.10g}",
        f"{'Density: intercept':<30}{intercept:>18.10g}",
        f"{'HU: mu water':<30}{mu_water:>18.10g}",
    ]
    if volume is not None:
        lines += [f"{'bonenet origin [mm]':<30}" + " ".join(f"{v:.9g}" for v in volume.origin),
                  f"{'bonenet direction':<30}" + " ".join(f"{v:.12g}" for v in volume.direction.reshape(-1))]
    lines.append("!-------------------------------------------------------------------------------")
    return "\n".join(lines) + "\n"


def _write(path: Path, *, version: str, type_code: int, data: bytes, log: bytes,
           dim_xyz: tuple[int, int, int], spacing_xyz: tuple[float, float, float],
           position: tuple[int, int, int] = (0, 0, 0)) -> Path:
    if version not in ("v020", "v030"):
        raise ImageFormatError(f"{path}: AIM version {version!r} unknown; use 'v020' or 'v030'")
    if version == "v020":
        st = bytearray(_STRUCT020)
        st[0:4] = vms_f_encode(1.6)
        struct.pack_into("<i", st, 20, type_code)
        struct.pack_into("<21i", st, 24, *position, *dim_xyz, *([0] * 15))
        for i, s in enumerate(spacing_xyz):
            st[108 + 4 * i: 112 + 4 * i] = vms_f_encode(s)
        header = struct.pack("<5i", 20, len(st), len(log), len(data), 0) + bytes(st)
    else:
        st = bytearray(_STRUCT030)
        struct.pack_into("<i", st, 12, type_code)
        struct.pack_into("<21q", st, 16, *position, *dim_xyz, *([0] * 15))
        struct.pack_into("<3q", st, 16 + 21 * 8, *(round(s * 1e6) for s in spacing_xyz))
        header = _AIM030 + struct.pack("<5q", 40, len(st), len(log), len(data), 0) + bytes(st)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(log)
            fh.write(data)
    return path


def write_aim(volume: Volume, path: str | Path, *, version: str = "v020",
              mu_scaling: float = DEFAULT_MU_SCALING, density_slope: float = DEFAULT_DENSITY_SLOPE,
              density_intercept: float = DEFAULT_DENSITY_INTERCEPT, mu_water: float = DEFAULT_MU_WATER,
              **_: Any) -> Path:
    """Write ``volume`` as a Scanco AIM (int16 native values) with the calibration in its log.

    Parameters
    ----------
    volume : Volume
        Units ``"mgHA/cm3"`` (converted to native with the calibration), ``"mu"`` (1/cm, times
        ``mu_scaling``) or ``"raw"`` (written as is, must be int16 integers).
    path : path
        Output ``.aim`` file, written atomically.
    version : {"v020", "v030"}
        AIM header version.
    mu_scaling : float
        Native units per 1/cm of linear attenuation.
    density_slope, density_intercept : float
        mg HA/cm3 per 1/cm, and mg HA/cm3: ``density = slope * mu + intercept``.
    mu_water : float
        Linear attenuation of water (1/cm), recorded for HU conversion.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    native = native_from_volume(volume, mu_scaling=mu_scaling, slope=density_slope,
                                intercept=density_intercept, path=path)
    sp = tuple(float(s) for s in volume.spacing)
    log = _log_text(volume, mu_scaling=mu_scaling, slope=density_slope, intercept=density_intercept,
                    mu_water=mu_water, shape=volume.shape, spacing=sp).encode("latin-1")  # type: ignore[arg-type]
    p, r, c = volume.shape
    return _write(path, version=version, type_code=0x00020002, data=native.tobytes(), log=log,
                  dim_xyz=(c, r, p), spacing_xyz=(sp[2], sp[1], sp[0]))


_STORAGE = {"char": 0x00010001, "bincmp": codec.BINCMP, "charcmp": codec.CHARCMP, "bit8": codec.BIT8}


def write_aim_mask(mask: np.ndarray, path: str | Path, *, spacing_mm: tuple[float, float, float],
                   position: tuple[int, int, int] = (0, 0, 0), storage: str = "bincmp",
                   version: str = "v020", value: int = 127) -> Path:
    """Write a mask or label array as a Scanco AIM the way Scanco stores segmentations.

    Parameters
    ----------
    mask : ndarray, shape (P, R, C) = (z, y, x)
        Boolean (written as 0/``value``) or integer labels in -128..127.
    path : path
        Output ``.aim`` file, written atomically.
    spacing_mm : tuple of float
        Voxel size (z, y, x) in mm.
    position : tuple of int
        Grid index (x, y, z) of the first voxel on the scanner's grid (Scanco's ``position``).
    storage : {"bincmp", "charcmp", "bit8", "char"}
        Binary run-length (``0x00150001``, at most two values), char run-length
        (``0x00080002``), packed bits (``0x00060001``, one non-zero value) or plain char.
    version : {"v020", "v030"}
        AIM header version.
    value : int
        The stored value of True voxels of a boolean mask (Scanco uses 127).
    """
    path = Path(path)
    arr = np.asarray(mask)
    if arr.ndim != 3:
        raise ImageFormatError(f"{path}: a mask must be 3-D (z, y, x); got shape {arr.shape}")
    if storage not in _STORAGE:
        raise ImageFormatError(f"{path}: AIM storage {storage!r} unknown; use one of {sorted(_STORAGE)}")
    if arr.dtype == bool:
        arr = np.where(arr, np.int8(value), np.int8(0))
    elif arr.size and (arr.min() < -128 or arr.max() > 127):
        raise ImageFormatError(f"{path}: labels {arr.min()}..{arr.max()} do not fit a char AIM (-128..127)")
    arr = arr.astype(np.int8)
    try:
        data = codec.encode(arr, _STORAGE[storage], wide=version == "v030")
    except codec.CodecError as exc:
        raise ImageFormatError(f"{path}: {exc}; use storage='charcmp' for label maps") from exc
    sp = tuple(float(s) for s in spacing_mm)
    log = _log_text(None, mu_scaling=DEFAULT_MU_SCALING, slope=DEFAULT_DENSITY_SLOPE,
                    intercept=DEFAULT_DENSITY_INTERCEPT, mu_water=DEFAULT_MU_WATER,
                    shape=arr.shape, spacing=sp).encode("latin-1")  # type: ignore[arg-type]
    p, r, c = arr.shape
    return _write(path, version=version, type_code=_STORAGE[storage], data=data, log=log,
                  dim_xyz=(c, r, p), spacing_xyz=(sp[2], sp[1], sp[0]), position=tuple(position))  # type: ignore[arg-type]

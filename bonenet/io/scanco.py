"""Scanco HR-pQCT / micro-CT files: AIM (v020 and v030) read and write, ISQ read and write.

Layouts follow the public descriptions of the formats (e.g. ITK's Apache-licensed ``IOScanco``
module); everything is little-endian.

AIM
    ``v020``: a pre-header of five int32 (pre-header length 20, image-struct length 140,
    processing-log length, data length, associated-data length), the image struct (type code,
    position/dimension/... as int32 triplets, element size as three VMS F-floats in mm), the
    processing log (text, ``key  value`` lines), then the voxels (x fastest).
    ``v030``: the 16-byte string ``AIMDATA_V030``, the same pre-header with int64 fields, an
    image struct with int64 triplets and the element size as int64 nanometres (1e-6 mm).
    The processing log carries the calibration: ``Mu_Scaling``, ``Density: slope``,
    ``Density: intercept`` (``mg HA/ccm`` per unit of linear attenuation ``mu`` in 1/cm),
    ``HU: mu water``. So ``density = slope * native / mu_scaling + intercept``.
ISQ
    A 512-byte header starting ``CTDATA-HEADER_V1`` (dimensions in voxels and µm, ``mu_scaling``,
    the data offset in 512-byte blocks), optional extended headers (one may be a
    ``Calibration`` block with density slope/intercept), then int16 voxels.

The Volume's geometry: Scanco x, y, z map to LPS x, y, z (ITK's convention), so the array
(z, y, x) has direction columns (S, P, L) = ``[[0,0,1],[0,1,0],[1,0,0]]``; files written by
bonenet also carry the exact origin/direction in the processing log and get them back.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..errors import CalibrationError, ImageFormatError
from ..volume import Volume

__all__ = ["read_aim", "read_isq", "write_aim", "write_isq"]

#: Typical XtremeCT calibration (mg HA/cm3 per 1/cm) used when the caller gives none.
DEFAULT_MU_SCALING = 8192
DEFAULT_DENSITY_SLOPE = 1603.51904
DEFAULT_DENSITY_INTERCEPT = -391.209015
DEFAULT_MU_WATER = 0.2409

_AIM030 = b"AIMDATA_V030   \x00"
_TYPES = {  # AIM type code -> numpy dtype
    0x00010001: np.int8,
    0x00160001: np.uint8,
    0x000D0001: np.uint8,
    0x00020002: np.int16,
    0x00170002: np.uint16,
    0x00030004: np.int32,
    0x001A0004: np.float32,
}
_CANONICAL = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


# ------------------------------------------------------------------ VMS number codecs
def _vms_f_decode(b: bytes) -> float:
    """VMS F-float (4 bytes, word-swapped, exponent bias 128) → Python float."""
    u = (b[0] << 16) | (b[1] << 24) | b[2] | (b[3] << 8)
    return float(np.array([u], dtype=np.uint32).view(np.float32)[0]) * 0.25


def _vms_f_encode(x: float) -> bytes:
    u = int(np.array([x * 4.0], dtype=np.float32).view(np.uint32)[0])
    return bytes(((u >> 16) & 255, (u >> 24) & 255, u & 255, (u >> 8) & 255))


def _vms_d_decode(b: bytes) -> float:
    """VMS G-float (8 bytes) as Scanco calibration blocks store it → Python float."""
    l1 = (b[0] << 16) | (b[1] << 24) | b[2] | (b[3] << 8)
    l2 = (b[4] << 16) | (b[5] << 24) | b[6] | (b[7] << 8)
    return float(np.array([(l1 << 32) | l2], dtype=np.uint64).view(np.float64)[0]) * 0.25


def _vms_d_encode(x: float) -> bytes:
    u = int(np.array([x * 4.0], dtype=np.float64).view(np.uint64)[0])
    out = b""
    for w in ((u >> 32) & 0xFFFFFFFF, u & 0xFFFFFFFF):
        out += bytes(((w >> 16) & 255, (w >> 24) & 255, w & 255, (w >> 8) & 255))
    return out


# ------------------------------------------------------------------ processing log
def _parse_log(text: str) -> dict[str, str]:
    """``key  value`` lines (two or more spaces apart); ``!`` lines are comments."""
    out: dict[str, str] = {}
    for line in text.replace("\r", "").split("\n"):
        if not line or line.startswith("!"):
            continue
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        if len(parts) == 2:
            out[parts[0]] = parts[1].strip()
    return out


def _log_float(log: dict[str, str], key: str, path: Path) -> float | None:
    if key not in log:
        return None
    try:
        return float(log[key].split()[0])
    except (ValueError, IndexError) as exc:
        raise ImageFormatError(f"{path}: processing-log entry {key!r} = {log[key]!r} is not a number") from exc


def _calibrated(path: Path, native: np.ndarray, *, mu_scaling: float | None, slope: float | None,
                intercept: float | None, want_native: bool, spacing: tuple[float, float, float],
                origin: tuple[float, float, float], direction: np.ndarray, meta: dict[str, Any]) -> Volume:
    """Build the Volume in mg HA/cm3 (or native units) from native integer values."""
    meta = {**meta, "source": [str(path)], "calibration": {
        "mu_scaling": mu_scaling, "density_slope": slope, "density_intercept": intercept}}
    vol = Volume(native, spacing=spacing, origin=origin, direction=direction, units="raw",
                 modality="HRPQCT", meta=meta)
    if want_native:
        return vol
    if not mu_scaling or mu_scaling <= 0:
        raise CalibrationError(f"{path}: Mu_Scaling is missing or {mu_scaling!r}; cannot convert to "
                               "density — pass mu_scaling= or native=True")
    if slope is None or intercept is None:
        raise CalibrationError(
            f"{path}: no density calibration (Density: slope/intercept) in the header; pass "
            "density_slope= and density_intercept= (mg HA/cm3 per 1/cm), or native=True")
    return vol.rescaled(slope / mu_scaling, intercept, units="mgHA/cm3",
                        note=f"Scanco calibration: density = {slope:g} * native / {mu_scaling:g} + {intercept:g}")


def _bonenet_geometry(log: dict[str, str], default_origin: tuple[float, float, float]
                      ) -> tuple[tuple[float, float, float], np.ndarray]:
    origin, direction = default_origin, _CANONICAL
    try:
        if "bonenet origin [mm]" in log:
            origin = tuple(float(x) for x in log["bonenet origin [mm]"].split())  # type: ignore[assignment]
        if "bonenet direction" in log:
            direction = np.array([float(x) for x in log["bonenet direction"].split()]).reshape(3, 3)
    except ValueError:
        pass
    return origin, direction


# ------------------------------------------------------------------ AIM
def read_aim(path: Path, *, native: bool = False, mu_scaling: float | None = None,
             density_slope: float | None = None, density_intercept: float | None = None,
             **_: Any) -> Volume:
    """Read a Scanco AIM file (v020 or v030) into a Volume in mg HA/cm3.

    Parameters
    ----------
    path : Path
        The ``.aim`` file.
    native : bool
        Return the stored integers (units ``"raw"``) without calibration.
    mu_scaling, density_slope, density_intercept : float, optional
        Override the processing log's ``Mu_Scaling``, ``Density: slope`` (mg HA/cm3 per 1/cm)
        and ``Density: intercept`` (mg HA/cm3).

    Returns
    -------
    Volume
        Units ``"mgHA/cm3"`` (``"raw"`` with ``native=True``), modality ``"HRPQCT"``, spacing
        in mm from the element size; ``meta["calibration"]`` holds the constants used.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if head == _AIM030:
                isz, ver, base = 8, "v030", 16
            else:
                isz, ver, base = 4, "v020", 0
                fh.seek(0)
            pre = fh.read(5 * isz)
            if len(pre) < 5 * isz:
                raise ImageFormatError(f"{path}: truncated AIM pre-header; the file is damaged")
            pre_len, struct_len, log_len, data_len, _assoc = struct.unpack("<5q" if isz == 8 else "<5i", pre)
            if pre_len != 5 * isz or not (100 <= struct_len <= 4096):
                raise ImageFormatError(f"{path}: not a Scanco AIM file (pre-header {pre_len}/{struct_len}); "
                                       "check the file type")
            st = fh.read(struct_len)
            log_text = fh.read(log_len).decode("latin-1").rstrip("\x00")
            data_offset = base + pre_len + struct_len + log_len
    except OSError as exc:
        raise ImageFormatError(f"{path}: cannot read ({exc})") from exc
    if len(st) < struct_len:
        raise ImageFormatError(f"{path}: truncated AIM image struct; the file is damaged")
    if isz == 4:
        type_code = struct.unpack_from("<i", st, 20)[0]
        ints = struct.unpack_from("<21i", st, 24)
        elem = tuple(_vms_f_decode(st[108 + 4 * i: 112 + 4 * i]) for i in range(3))
    else:
        type_code = struct.unpack_from("<i", st, 12)[0]
        ints = struct.unpack_from("<21q", st, 16)
        elem = tuple(v * 1e-6 for v in struct.unpack_from("<3q", st, 16 + 21 * 8))
    dtype = _TYPES.get(type_code)
    if dtype is None:
        raise ImageFormatError(f"{path}: AIM voxel type 0x{type_code:08x} is not supported (compressed "
                               "or binary AIMs); export a gray-value AIM (char/short/float)")
    pos, dim = ints[0:3], ints[3:6]
    if min(dim) < 1:
        raise ImageFormatError(f"{path}: AIM dimensions {dim} are invalid")
    spacing_xyz = tuple(e if e > 0 else 1.0 for e in elem)
    n = int(np.prod(dim))
    itemsize = np.dtype(dtype).itemsize
    if data_len < n * itemsize:
        raise ImageFormatError(f"{path}: AIM data length {data_len} < {n * itemsize} bytes for {dim}")
    arr = np.fromfile(path, dtype=np.dtype(dtype).newbyteorder("<"), count=n, offset=data_offset)
    if arr.size < n:
        raise ImageFormatError(f"{path}: truncated: {arr.size} of {n} voxels present; the file is damaged")
    log = _parse_log(log_text)
    default_origin = tuple(float(p * s) for p, s in zip(pos, spacing_xyz, strict=True))
    origin, direction = _bonenet_geometry(log, default_origin)  # type: ignore[arg-type]
    mu = mu_scaling if mu_scaling is not None else _log_float(log, "Mu_Scaling", path)
    slope = density_slope if density_slope is not None else _log_float(log, "Density: slope", path)
    icpt = density_intercept if density_intercept is not None else _log_float(log, "Density: intercept", path)
    meta = {"format": f"aim-{ver}", "density_unit": log.get("Density: unit"),
            "mu_water": _log_float(log, "HU: mu water", path)}
    if itemsize == 1 and not native:  # char AIMs are segmentations (0/127), not gray values
        vol = _calibrated(path, arr.reshape(dim[2], dim[1], dim[0]), mu_scaling=mu, slope=slope,
                          intercept=icpt, want_native=True, spacing=spacing_xyz[::-1], origin=origin,
                          direction=direction, meta=meta)
        vol.warn("8-bit AIM (a segmentation/mask): values returned as stored, no density calibration")
        return vol
    return _calibrated(path, arr.reshape(dim[2], dim[1], dim[0]), mu_scaling=mu, slope=slope,
                       intercept=icpt, want_native=native, spacing=spacing_xyz[::-1], origin=origin,
                       direction=direction, meta=meta)


def _native_from_volume(volume: Volume, *, mu_scaling: float, slope: float, intercept: float,
                        path: Path) -> np.ndarray:
    """Convert a Volume to Scanco native int16 (mgHA/cm3 via calibration; raw as is)."""
    a = volume.array.astype(np.float64)
    if volume.units == "mgHA/cm3":
        native = (a - intercept) / slope * mu_scaling
    elif volume.units == "mu":
        native = a * mu_scaling
    elif volume.units == "raw":
        native = a
    else:
        raise CalibrationError(f"{path}: cannot write a {volume.units} volume as Scanco data; convert "
                               "it to mgHA/cm3 (or mu) first with bonenet.calibrate")
    native = np.round(native)
    if native.min() < -32768 or native.max() > 32767:
        raise CalibrationError(
            f"{path}: values {a.min():g}..{a.max():g} {volume.units} overflow int16 with "
            f"Mu_Scaling {mu_scaling:g}; choose a smaller mu_scaling")
    return native.astype("<i2")


def _log_text(volume: Volume, *, mu_scaling: float, slope: float, intercept: float,
              mu_water: float) -> str:
    now = _dt.datetime.now().strftime("%d-%b-%Y %H:%M:%S.00").upper()
    p, r, c = volume.shape
    sp = volume.spacing
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
        f"{'bonenet origin [mm]':<30}" + " ".join(f"{v:.9g}" for v in volume.origin),
        f"{'bonenet direction':<30}" + " ".join(f"{v:.12g}" for v in volume.direction.reshape(-1)),
        "!-------------------------------------------------------------------------------",
    ]
    return "\n".join(lines) + "\n"


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
    if version not in ("v020", "v030"):
        raise ImageFormatError(f"{path}: AIM version {version!r} unknown; use 'v020' or 'v030'")
    native = _native_from_volume(volume, mu_scaling=mu_scaling, slope=density_slope,
                                 intercept=density_intercept, path=path)
    log = _log_text(volume, mu_scaling=mu_scaling, slope=density_slope, intercept=density_intercept,
                    mu_water=mu_water).encode("latin-1")
    p, r, c = volume.shape
    sx, sy, sz = volume.spacing[2], volume.spacing[1], volume.spacing[0]
    data = native.tobytes()
    if version == "v020":
        st = bytearray(140)
        st[0:4] = _vms_f_encode(1.6)
        struct.pack_into("<i", st, 20, 0x00020002)
        struct.pack_into("<21i", st, 24, 0, 0, 0, c, r, p, *([0] * 15))
        for i, s in enumerate((sx, sy, sz)):
            st[108 + 4 * i: 112 + 4 * i] = _vms_f_encode(s)
        header = struct.pack("<5i", 20, len(st), len(log), len(data), 0) + bytes(st)
    else:
        st = bytearray(16 + 24 * 8 + 16)
        struct.pack_into("<i", st, 12, 0x00020002)
        struct.pack_into("<21q", st, 16, 0, 0, 0, c, r, p, *([0] * 15))
        struct.pack_into("<3q", st, 16 + 21 * 8, *(round(s * 1e6) for s in (sx, sy, sz)))
        header = _AIM030 + struct.pack("<5q", 40, len(st), len(log), len(data), 0) + bytes(st)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header)
            fh.write(log)
            fh.write(data)
    return path


# ------------------------------------------------------------------ ISQ
def read_isq(path: Path, *, native: bool = False, mu_scaling: float | None = None,
             density_slope: float | None = None, density_intercept: float | None = None,
             **_: Any) -> Volume:
    """Read a Scanco ISQ file (int16 native values) into a Volume.

    The density calibration comes from ``density_slope``/``density_intercept`` when given,
    else from the file's ``Calibration`` extended header; without either a
    :class:`~bonenet.errors.CalibrationError` says what to pass (or use ``native=True``).

    Returns
    -------
    Volume
        Units ``"mgHA/cm3"`` (``"raw"`` with ``native=True``), spacing in mm.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(512)
    except OSError as exc:
        raise ImageFormatError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 512 or raw[:16] != b"CTDATA-HEADER_V1":
        raise ImageFormatError(f"{path}: not a Scanco ISQ file (no CTDATA-HEADER_V1 signature)")
    dim = struct.unpack_from("<3i", raw, 44)
    phys_um = struct.unpack_from("<3i", raw, 56)
    mu_file = struct.unpack_from("<i", raw, 88)[0]
    data_offset = (struct.unpack_from("<i", raw, 508)[0] + 1) * 512
    if min(dim) < 1:
        raise ImageFormatError(f"{path}: ISQ dimensions {dim} are invalid")
    spacing_xyz = tuple((ph * 1e-3 / d) if ph > 0 else 1.0 for ph, d in zip(phys_um, dim, strict=True))
    slope_file = icpt_file = None
    if data_offset >= 2048:
        with open(path, "rb") as fh:
            ext = fh.read(data_offset)
        slope_file, icpt_file = _isq_calibration(ext)
    n = int(np.prod(dim))
    arr = np.fromfile(path, dtype="<i2", count=n, offset=data_offset)
    if arr.size < n:
        raise ImageFormatError(f"{path}: truncated: {arr.size} of {n} voxels present; the file is damaged")
    mu = mu_scaling if mu_scaling is not None else mu_file
    slope = density_slope if density_slope is not None else slope_file
    icpt = density_intercept if density_intercept is not None else icpt_file
    return _calibrated(path, arr.reshape(dim[2], dim[1], dim[0]), mu_scaling=mu, slope=slope,
                       intercept=icpt, want_native=native, spacing=spacing_xyz[::-1],
                       origin=(0.0, 0.0, 0.0), direction=_CANONICAL, meta={"format": "isq"})


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
            return _vms_d_decode(raw[cal + 664: cal + 672]), _vms_d_decode(raw[cal + 672: cal + 680])
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
    native = _native_from_volume(volume, mu_scaling=mu_scaling, slope=slope, intercept=icpt, path=path)
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
        cal[664:672] = _vms_d_encode(slope)
        cal[672:680] = _vms_d_encode(icpt)
        cal[688:696] = _vms_d_encode(DEFAULT_MU_WATER)
        extra = bytes(ext) + bytes(cal)
    struct.pack_into("<i", hdr, 508, len(extra) // 512)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(bytes(hdr) + extra)
            fh.write(native.tobytes())
    return path

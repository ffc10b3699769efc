"""A small, fast DICOM header reader for the common case (the series-loading hot path).

pydicom parses and converts every element of a header (about 10 ms per CT file here);
loading a 300-slice series spends most of its time there. This reader walks the data set
of a Part-10 file with Explicit or Implicit VR Little Endian encoding (which includes every
encapsulated/compressed transfer syntax), converts only the ~30 elements bonenet needs,
skips everything else by length (sequences included) and stops at PixelData, whose offset
and length it records. It gives up — returning None so the caller uses pydicom — on anything
unusual: no preamble, big-endian or deflated data sets, enhanced multi-frame objects,
non-Latin-1 character sets, malformed lengths. Tests check it agrees with pydicom field by
field.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ._headers import FileHeader

__all__ = ["fast_header"]

_IMPLICIT = "1.2.840.10008.1.2"
_GIVE_UP_TS = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}  # big endian, deflate
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_OK_CHARSETS = {"", "ISO_IR 100", "ISO_IR 6", "ISO 2022 IR 6"}
_UNDEFINED = 0xFFFFFFFF

# tag -> (field, kind); kinds: s string, m multi-string, f float, F float list, i int, u uint16
_WANT: dict[int, tuple[str, str]] = {
    0x00080005: ("charset", "s"),
    0x00080008: ("image_type", "m"),
    0x00080016: ("sop_class", "s"),
    0x00080018: ("sop_uid", "s"),
    0x00080060: ("modality", "s"),
    0x0008103E: ("series_description", "s"),
    0x00100020: ("patient_id", "s"),
    0x00180050: ("slice_thickness", "f"),
    0x00180088: ("spacing_between_slices", "f"),
    0x00181120: ("gantry_tilt", "f"),
    0x00181164: ("imager_pixel_spacing", "F"),
    0x0020000D: ("study_uid", "s"),
    0x0020000E: ("series_uid", "s"),
    0x00200011: ("series_number", "i"),
    0x00200012: ("acquisition_number", "i"),
    0x00200013: ("instance_number", "i"),
    0x00200020: ("patient_orientation", "m"),
    0x00200032: ("ipp", "F"),
    0x00200037: ("iop", "F"),
    0x00200052: ("for_uid", "s"),
    0x00280002: ("samples_per_pixel", "u"),
    0x00280004: ("photometric", "s"),
    0x00280008: ("n_frames", "i"),
    0x00280010: ("rows", "u"),
    0x00280011: ("columns", "u"),
    0x00280030: ("pixel_spacing", "F"),
    0x00280100: ("bits_allocated", "u"),
    0x00280101: ("bits_stored", "u"),
    0x00280103: ("pixel_representation", "u"),
    0x00281052: ("intercept", "f"),
    0x00281053: ("slope", "f"),
    0x00281054: ("rescale_type", "s"),
}
_ENHANCED = (0x52009229, 0x52009230)
_PIXEL_DATA = 0x7FE00010


class _GiveUp(Exception):
    pass


def _text(b: bytes) -> str:
    return b.decode("latin-1").rstrip("\x00 ").strip()


def _convert(kind: str, raw: bytes) -> object:
    if kind == "u":
        if len(raw) < 2:
            raise _GiveUp
        return struct.unpack_from("<H", raw)[0]
    s = _text(raw)
    if kind == "s":
        return s
    if kind == "m":
        return tuple(v.strip().upper() for v in s.split("\\") if v.strip())
    if kind == "i":
        return int(s) if s else None
    if kind == "f":
        return float(s) if s else None
    return tuple(float(v) for v in s.split("\\")) if s else None


def _skip_undefined(buf: bytes, pos: int, implicit: bool, end: int) -> int:
    """Skip an undefined-length sequence starting at ``pos``; return the position after it."""
    while pos + 8 <= end:
        group, elem = struct.unpack_from("<HH", buf, pos)
        length = struct.unpack_from("<I", buf, pos + 4)[0]
        pos += 8
        if (group, elem) == (0xFFFE, 0xE0DD):  # sequence delimiter
            return pos
        if (group, elem) != (0xFFFE, 0xE000):
            raise _GiveUp
        if length != _UNDEFINED:
            pos += length
            continue
        pos = _walk(buf, pos, implicit, end, item=True)[0]
    raise _GiveUp


_TAG_VR_LEN = struct.Struct("<HH2sH")
_TAG_LEN = struct.Struct("<HHI")
_U32 = struct.Struct("<I")


def _walk(buf: bytes, pos: int, implicit: bool, end: int, *, item: bool = False,
          out: dict[str, object] | None = None) -> tuple[int, bool]:
    """Walk elements from ``pos``; fill ``out`` (top level only). Returns (pos, hit_pixels)."""
    want = _WANT if out is not None else {}
    while pos + 8 <= end:
        if implicit:
            group, elem, length = _TAG_LEN.unpack_from(buf, pos)
            vr = None
            pos += 8
        else:
            group, elem, vr, length = _TAG_VR_LEN.unpack_from(buf, pos)
            if group == 0xFFFE:
                length = _U32.unpack_from(buf, pos + 4)[0]
                vr = None
                pos += 8
            elif vr in _LONG_VRS:
                if pos + 12 > end:
                    raise _GiveUp
                length = _U32.unpack_from(buf, pos + 8)[0]
                pos += 12
            else:
                pos += 8
        tag = (group << 16) | elem
        if item and tag == 0xFFFEE00D:  # item delimiter
            return pos, False
        if out is not None:
            if tag == _PIXEL_DATA:
                out["pixel_offset"], out["pixel_length"] = pos, length
                return pos, True
            if tag in _ENHANCED:
                raise _GiveUp  # functional groups: let pydicom read these
        if length == _UNDEFINED:
            if implicit or vr in (b"SQ", b"UN"):
                pos = _skip_undefined(buf, pos, implicit, end)
                continue
            raise _GiveUp
        if pos + length > end:
            raise _GiveUp  # header longer than the buffer: caller retries with more bytes
        spec = want.get(tag)
        if spec is not None:
            try:
                out[spec[0]] = _convert(spec[1], buf[pos: pos + length])  # type: ignore[index]
            except ValueError as exc:
                raise _GiveUp from exc
        pos += length
    if item:
        raise _GiveUp
    return pos, False


def fast_header(path: Path, *, with_patient: bool = False, chunk: int = 1 << 13) -> FileHeader | None:
    """Parse ``path``'s header quickly; None when the fast path does not apply (use pydicom)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            buf = fh.read(min(size, chunk))
        if len(buf) < 144 or buf[128:132] != b"DICM":
            return None
        # file meta group: always explicit VR little endian, length in (0002,0000)
        if buf[132:136] != b"\x02\x00\x00\x00" or buf[136:138] != b"UL":
            return None
        meta_end = 144 + struct.unpack_from("<I", buf, 140)[0]
        meta: dict[str, object] = {}
        pos = 144
        while pos < meta_end:
            group, elem = struct.unpack_from("<HH", buf, pos)
            vr = buf[pos + 4: pos + 6]
            if vr in _LONG_VRS:
                length = struct.unpack_from("<I", buf, pos + 8)[0]
                pos += 12
            else:
                length = struct.unpack_from("<H", buf, pos + 6)[0]
                pos += 8
            if (group, elem) == (0x0002, 0x0010):
                meta["ts"] = _text(buf[pos: pos + length])
            elif (group, elem) == (0x0002, 0x0002):
                meta["ms_class"] = _text(buf[pos: pos + length])
            pos += length
        ts = str(meta.get("ts", ""))
        if not ts or ts in _GIVE_UP_TS:
            return None
        implicit = ts == _IMPLICIT
        out: dict[str, object] = {}
        while True:
            try:
                out.clear()
                _, hit = _walk(buf, meta_end, implicit, len(buf), out=out)
                break
            except _GiveUp:
                if len(buf) >= size:
                    return None
                with open(path, "rb") as fh:  # header longer than the first chunk
                    buf = fh.read(min(size, len(buf) * 4))
        if str(out.get("charset", "")) not in _OK_CHARSETS:
            return None
        if not hit and len(buf) < size:
            return None
    except (OSError, struct.error, UnicodeDecodeError, _GiveUp):
        return None
    out.pop("charset", None)
    if not with_patient:
        out.pop("patient_id", None)
    sop_class = str(out.pop("sop_class", "") or meta.get("ms_class", "") or "")
    h = FileHeader(path=path, sop_class=sop_class, transfer_syntax=ts, file_size=size,
                   has_pixels=hit)
    for k, v in out.items():
        if v is None:
            continue
        if k == "modality" or k == "photometric":
            v = str(v).upper()
        if k in ("pixel_spacing", "imager_pixel_spacing") and (len(v) != 2 or min(v) <= 0):  # type: ignore[arg-type]
            continue
        if (k == "ipp" and len(v) != 3) or (k == "iop" and len(v) != 6):  # type: ignore[arg-type]
            continue
        setattr(h, k, v)
    if not h.bits_stored:
        h.bits_stored = h.bits_allocated
    h.slope = h.slope or 1.0
    h.intercept = h.intercept or 0.0
    h.n_frames = h.n_frames or 1
    h.samples_per_pixel = h.samples_per_pixel or 1
    return h

"""VMS floating-point numbers as Scanco files store them (OpenVMS heritage).

A VMS F-float is an IEEE-754 single whose two 16-bit words are swapped and whose exponent
bias is two larger, so ``value = ieee(word-swapped bits) / 4``; a G-float (8 bytes, Scanco
calibration blocks) is the same with a double. Layouts as in ITK's Apache-licensed
``IOScanco`` (``DecodeFloat``/``DecodeDouble``) and Numerics88 AimIO's ``PlatformFloat.h``.
Scalar codecs for header fields; array codecs for float AIM voxels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["vms_d_decode", "vms_d_encode", "vms_f_decode", "vms_f_decode_array",
           "vms_f_encode", "vms_f_encode_array"]


def vms_f_decode(b: bytes) -> float:
    """VMS F-float (4 bytes, word-swapped, exponent bias 128) → Python float."""
    u = (b[0] << 16) | (b[1] << 24) | b[2] | (b[3] << 8)
    return float(np.array([u], dtype=np.uint32).view(np.float32)[0]) * 0.25


def vms_f_encode(x: float) -> bytes:
    """Python float → VMS F-float bytes (inverse of :func:`vms_f_decode`)."""
    u = int(np.array([x * 4.0], dtype=np.float32).view(np.uint32)[0])
    return bytes(((u >> 16) & 255, (u >> 24) & 255, u & 255, (u >> 8) & 255))


def vms_d_decode(b: bytes) -> float:
    """VMS G-float (8 bytes) as Scanco calibration blocks store it → Python float."""
    l1 = (b[0] << 16) | (b[1] << 24) | b[2] | (b[3] << 8)
    l2 = (b[4] << 16) | (b[5] << 24) | b[6] | (b[7] << 8)
    return float(np.array([(l1 << 32) | l2], dtype=np.uint64).view(np.float64)[0]) * 0.25


def vms_d_encode(x: float) -> bytes:
    """Python float → VMS G-float bytes (inverse of :func:`vms_d_decode`)."""
    u = int(np.array([x * 4.0], dtype=np.float64).view(np.uint64)[0])
    out = b""
    for w in ((u >> 32) & 0xFFFFFFFF, u & 0xFFFFFFFF):
        out += bytes(((w >> 16) & 255, (w >> 24) & 255, w & 255, (w >> 8) & 255))
    return out


def vms_f_decode_array(raw: np.ndarray) -> np.ndarray:
    """Little-endian VMS F-float bytes (uint8, length 4n) → float32 array of n values."""
    words = np.ascontiguousarray(raw).view("<u2").reshape(-1, 2)[:, ::-1]
    return np.ascontiguousarray(words).view("<f4").reshape(-1) * np.float32(0.25)


def vms_f_encode_array(values: np.ndarray) -> bytes:
    """float32 values → VMS F-float bytes (inverse of :func:`vms_f_decode_array`)."""
    ieee = (np.asarray(values, dtype="<f4").reshape(-1) * np.float32(4.0)).astype("<f4")
    return np.ascontiguousarray(ieee.view("<u2").reshape(-1, 2)[:, ::-1]).tobytes()

"""Memory ceiling for images read from files: refuse a header's claim before allocating.

A 1.4 KB ``.nii.gz`` whose header claims 2048 × 2048 × 1024 voxels would otherwise make the
reader allocate gigabytes (or be killed by the OOM killer, taking the run with it). Every
reader checks the claimed array against

* the **memory ceiling**: ``$BONENET_MAX_VOXELS`` voxels, default :data:`DEFAULT_MAX_VOXELS`
  = 2**30 ≈ 1.07e9 voxels (4.3 GB as float32; a full 2304 × 2304 × 168 XtremeCT II ISQ is
  0.89e9) — :class:`~bonenet.errors.MemoryLimitError`, exit status 3;
* **what the file can hold**: an uncompressed file must have at least the claimed bytes; a
  gzip file at most 1032 times its compressed size (deflate's largest possible ratio), and
  other compressed files are stream-decompressed with a byte limit —
  :class:`~bonenet.errors.ImageFormatError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import ImageFormatError, MemoryLimitError

__all__ = ["DEFAULT_MAX_VOXELS", "DEFLATE_MAX_RATIO", "MAX_VOXELS_ENV", "check_claim",
           "check_decompressed_size", "max_voxels"]

DEFAULT_MAX_VOXELS = 2**30
MAX_VOXELS_ENV = "BONENET_MAX_VOXELS"
#: Largest expansion of deflate data (RFC 1951: a 258-byte match in about 2 bits → 1032:1).
DEFLATE_MAX_RATIO = 1032


def max_voxels(override: int | None = None) -> int:
    """The memory ceiling in voxels: ``override``, else ``$BONENET_MAX_VOXELS``, else 2**30."""
    if override is not None:
        return int(override)
    env = os.environ.get(MAX_VOXELS_ENV, "").strip()
    if not env:
        return DEFAULT_MAX_VOXELS
    try:
        return int(float(env))
    except ValueError as exc:
        raise ImageFormatError(f"${MAX_VOXELS_ENV}={env!r} is not a number of voxels; unset it or "
                               "give an integer such as 2000000000") from exc


def check_claim(path: str | os.PathLike[str], shape: Sequence[int], *, what: str,
                limit: int | None = None) -> int:
    """Refuse a claimed array ``shape`` that is invalid or above the ceiling; return its voxels.

    Raises
    ------
    ImageFormatError
        A dimension is below 1.
    MemoryLimitError
        More voxels than :func:`max_voxels` allows.
    """
    dims = tuple(int(d) for d in shape)
    if not dims or min(dims) < 1:
        raise ImageFormatError(f"{path}: the {what} header claims dimensions {dims}; the file is "
                               "damaged")
    n = 1
    for d in dims:
        n *= d
    cap = max_voxels(limit)
    if n > cap:
        raise MemoryLimitError(
            f"{path}: the {what} header claims {dims} = {n:,} voxels, above the memory ceiling "
            f"of {cap:,} voxels; if the image is genuine raise the ceiling (${MAX_VOXELS_ENV}), "
            "else the header is damaged or crafted")
    return n


def check_decompressed_size(path: str | os.PathLike[str], expected: int, *, what: str,
                            opener: object = None, chunk: int = 1 << 20) -> None:
    """Stream-decompress ``path`` and check it yields at least ``expected`` bytes, reading at
    most that many (a decompression bomb is never held in memory).

    ``opener`` is a callable like ``bz2.open`` (default: chosen from the suffix).
    """
    import bz2
    import gzip
    import lzma

    p = Path(path)
    if opener is None:
        suffix = p.suffix.lower()
        opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(suffix)
        if suffix == ".zst":
            try:
                import pyzstd  # type: ignore[import-not-found]

                opener = pyzstd.open
            except ImportError:
                return  # nibabel cannot read it either; it reports that itself
    if opener is None:
        return
    got = 0
    try:
        with opener(p, "rb") as fh:  # type: ignore[operator]
            while got < expected:
                block = fh.read(min(chunk, expected - got))
                if not block:
                    break
                got += len(block)
    except (OSError, EOFError, ValueError) as exc:
        raise ImageFormatError(f"{p}: cannot decompress the {what} file ({exc}); re-export it") from exc
    if got < expected:
        raise ImageFormatError(f"{p}: the {what} header claims {expected:,} bytes of data but the "
                               f"file decompresses to only {got:,}; the file is truncated or "
                               "crafted, re-export it")

"""On-disk cache of preprocessed image tensors, safe for several DataLoader workers.

Key = SHA-256 of (image fingerprint, mask fingerprint, ``Preprocess.key``). The fingerprint
of a file is, by default (``content_hash="fast"``), its size, its modification time in ns
and the SHA-256 of its first and last MiB; of a folder (a DICOM series) the sorted list of
(relative path, size, mtime) of every file in it plus the first/last MiB of its first and
last file. ``content_hash="full"`` hashes every byte instead (slower, immune to a file
rewritten with the same size and time). Entries are ``.npy`` float32 arrays written
atomically (temporary file + rename), read with ``allow_pickle=False``; two workers writing
the same entry both write complete files and the last rename wins.

An entry is trusted only after checks (a cache folder can be shared, copied or tampered
with): its header is read first and must claim a float32 array within the memory ceiling
(``$BONENET_MAX_VOXELS``), of the expected shape when the caller knows it, whose bytes are
exactly the file's (a torn entry is a miss and is rewritten); the values must be finite. A
well-formed but poisoned entry raises :class:`~bonenet.errors.CacheError` naming the entry
and the study, never a NaN training.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import CacheError, ConfigError, MemoryLimitError

__all__ = ["SampleCache", "fingerprint"]

_MIB = 1 << 20


def _hash_ends(h: hashlib._Hash, path: Path, size: int) -> None:
    with open(path, "rb") as fh:
        h.update(fh.read(_MIB))
        if size > 2 * _MIB:
            fh.seek(-_MIB, os.SEEK_END)
            h.update(fh.read(_MIB))
        elif size > _MIB:
            h.update(fh.read())


def _hash_full(h: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 * _MIB), b""):
            h.update(chunk)


def fingerprint(path: str | os.PathLike[str], *, content_hash: str = "fast") -> str:
    """Hex fingerprint of an image file or folder (see the module docstring for what it hashes)."""
    if content_hash not in ("fast", "full"):
        raise ConfigError(f"content_hash must be 'fast' or 'full'; got {content_hash!r}")
    p = Path(path)
    h = hashlib.sha256(content_hash.encode())
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for i, f in enumerate(files):
        st = f.stat()
        rel = f.name if f == p else str(f.relative_to(p))
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        if content_hash == "full":
            _hash_full(h, f)
        elif i in (0, len(files) - 1):
            _hash_ends(h, f, st.st_size)
    return h.hexdigest()


class SampleCache:
    """A folder of preprocessed tensors keyed by content fingerprint and transform parameters.

    Parameters
    ----------
    directory : path
        Where entries live (created on first write); ``<dir>/<key[:2]>/<key>.npy``.
    content_hash : {"fast", "full"}
        How image files are fingerprinted (see module docstring).
    """

    def __init__(self, directory: str | os.PathLike[str], *, content_hash: str = "fast") -> None:
        if content_hash not in ("fast", "full"):
            raise ConfigError(f"SampleCache: content_hash must be 'fast' or 'full'; got {content_hash!r}")
        self.directory = Path(directory)
        self.content_hash = content_hash
        self.hits = 0
        self.misses = 0

    def key(self, image: str | os.PathLike[str], preprocess_key: str,
            mask: str | os.PathLike[str] | None = None) -> str:
        """Cache key of ``image`` (and ``mask``) under the Preprocess with ``preprocess_key``."""
        h = hashlib.sha256()
        h.update(fingerprint(image, content_hash=self.content_hash).encode())
        h.update(b"|" + (fingerprint(mask, content_hash=self.content_hash).encode() if mask else b"-"))
        h.update(b"|" + preprocess_key.encode())
        return h.hexdigest()

    def path(self, key: str) -> Path:
        """File of entry ``key``."""
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str, *, study: str | None = None,
            shape: tuple[int, ...] | None = None) -> np.ndarray | None:
        """The cached array, or None when absent (a miss).

        Parameters
        ----------
        key : str
            From :meth:`key`.
        study : str, optional
            Named in the error of a poisoned entry (subject id or image path).
        shape : tuple of int, optional
            Expected array shape (``Preprocess`` output), checked when given.

        Raises
        ------
        CacheError
            The entry is not a float32 array of the expected shape, its header disagrees
            with its size, or it holds NaN/Inf values.
        MemoryLimitError
            Its header claims more voxels than the memory ceiling.
        """
        from ..io._limits import check_claim

        p = self.path(key)
        who = f" (study {study})" if study else ""
        fix = f"delete it (or the whole cache folder {self.directory}) and re-run"
        try:
            with open(p, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                claimed, fortran, dtype = read(fh)
                header_end = fh.tell()
                size = os.fstat(fh.fileno()).st_size
                if dtype != np.dtype("<f4") or fortran:
                    raise CacheError(f"cache entry {p}{who} holds {dtype} "
                                     f"{'Fortran-order ' if fortran else ''}data, not the float32 "
                                     f"arrays bonenet writes; {fix}")
                try:
                    n = check_claim(p, claimed or (1,), what="cache entry")
                except MemoryLimitError as exc:
                    raise MemoryLimitError(f"{exc}{who}; {fix}") from None
                if header_end + 4 * n != size:  # torn (the next put rewrites it)
                    self.misses += 1
                    return None
                if shape is not None and tuple(claimed) != tuple(shape):
                    raise CacheError(f"cache entry {p}{who} has shape {tuple(claimed)}, expected "
                                     f"{tuple(shape)}; {fix}")
                arr = np.fromfile(fh, dtype=dtype, count=n).reshape(claimed)
        except (FileNotFoundError, ValueError, OSError, EOFError):  # absent or torn: a miss
            self.misses += 1
            return None
        if not np.isfinite(arr).all():
            bad = int(arr.size - np.isfinite(arr).sum())
            raise CacheError(f"cache entry {p}{who} holds {bad} NaN/Inf value(s) of {arr.size}; "
                             f"preprocessed images are always finite, so the entry is corrupt or "
                             f"was tampered with; {fix}")
        self.hits += 1
        return arr

    def put(self, key: str, array: np.ndarray) -> Path:
        """Store ``array`` (float32) atomically under ``key``."""
        p = self.path(key)
        with atomic_path(p, suffix=".npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        return p

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.npy")) if self.directory.exists() else 0

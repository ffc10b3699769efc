"""Read DICOM folders and files into a :class:`~bonenet.volume.Volume` you can trust.

Rules (see also :mod:`bonenet.io.scan` for how the series is chosen):

* slices are sorted by ImagePositionPatient projected on the slice normal, never by
  InstanceNumber; the slice spacing comes from the positions, not from SliceThickness;
* each slice's own RescaleSlope/Intercept is applied (CT → HU);
* geometry is LPS for any orientation, oblique included: direction = [normal, column
  cosine, row cosine] for the array axes (P, R, C), origin = first slice's position;
* **gantry tilt** (slice origins drifting in-plane along the stack) is corrected by default:
  every slice is resampled (linear) onto the orthogonal grid of the first slice, and a
  warning records the angle. ``gantry_tilt="refuse"`` raises instead;
* **missing slices / non-uniform spacing** are refused with an error naming the gap;
  ``allow_gaps=True`` interpolates (linearly, along the normal) onto a uniform grid at the
  median spacing and records it in ``meta["warnings"]``;
* duplicate positions (same position, different SOP instance) are refused; exact duplicate
  files (same SOPInstanceUID) are dropped silently;
* enhanced multi-frame CT/MR: positions, orientation, pixel spacing and rescale come from
  the per-frame and shared functional groups; when a file holds several stacks or temporal
  positions the largest stack is read and a warning names the others;
* 2-D images (CR/DX/MG, DXA and other exports without patient position) give a one-slice
  Volume with ``meta["projection"] = True``, spacing from PixelSpacing or ImagerPixelSpacing;
* compressed transfer syntaxes (JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE,
  deflate) and big-endian are decoded by pydicom with the pylibjpeg plugins; uncompressed
  little-endian pixel bytes are read straight from the file into the output buffer, in
  parallel threads;
* non-images (RT plan/dose/struct, SR, SEG), colour images and truncated or corrupt files
  raise :class:`~bonenet.errors.DicomError` naming the file and the reason.

``Volume.meta`` gets ``source`` (files in slice order), ``series_uid``, ``study_uid``,
``series_description``, ``series_number``, ``series_choice`` (why this series),
``warnings``, ``transfer_syntax``; never patient identifiers.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .._pool import worker_context
from ..errors import DicomError
from ..volume import UNITS, Volume
from ._enhanced import enhanced_frame_headers
from ._geometry import StackGeometry, analyse_stack
from ._headers import PROJECTION_MODALITIES, UNCOMPRESSED, FileHeader, read_header
from ._limits import check_claim

__all__ = ["enhanced_frame_headers", "load_dicom"]


_GANTRY = ("resample", "refuse")


def load_dicom(path: str | os.PathLike[str], *, series: str | int | None = None,
               allow_gaps: bool = False, gantry_tilt: str = "resample", threads: int | None = None,
               **opts: Any) -> Volume:
    """Read a DICOM folder (best or named series) or a single DICOM file.

    Parameters
    ----------
    path : path
        Folder (searched recursively) or file.
    series : str or int, optional
        ``SeriesInfo.key``, SeriesInstanceUID or SeriesNumber of the series to read
        (folders only). Default: the best series by :func:`bonenet.io.scan.choose_series`.
    allow_gaps : bool
        Accept missing slices / non-uniform spacing by interpolating onto a uniform grid
        (recorded in ``meta["warnings"]``). Default False: such series raise DicomError.
    gantry_tilt : {"resample", "refuse"}
        What to do with a sheared (gantry-tilted) stack.
    threads : int, optional
        Threads for reading/decoding pixel data (default ``min(4, cpu_count)``).

    Returns
    -------
    Volume
        float32 (P, R, C); units ``"HU"`` for CT, the RescaleType when it names a bonenet
        unit, else ``"raw"``.
    """
    opts.pop("units", None)
    opts.pop("modality", None)
    if opts:
        raise DicomError(f"{path}: unknown DICOM load option(s) {sorted(opts)}; known: series, "
                         "allow_gaps, gantry_tilt, threads")
    if gantry_tilt not in _GANTRY:
        raise DicomError(f"gantry_tilt={gantry_tilt!r} unknown; use 'resample' or 'refuse'")
    p = Path(path)
    nthreads = max(1, threads if threads is not None else min(4, os.cpu_count() or 1))
    if p.is_file():
        h = read_header(p)
        if h is None:
            raise DicomError(f"{p}: not a DICOM file (no DICM preamble or DICOM data set); check the path")
        from .scan import group_parts

        part = group_parts([h])[0]
        reason = "single file"
    else:
        from .scan import choose_series, group_parts, read_headers

        headers, bad = read_headers(p)
        if not headers:
            extra = f"; {len(bad)} damaged file(s), e.g. {bad[0]}" if bad else ""
            raise DicomError(f"{p}: no DICOM image files found{extra}")
        parts = group_parts(headers)
        if series is not None:
            parts = _select(parts, series, p)
        part, reason = choose_series(parts)
        vol = _load_part(part, reason, allow_gaps=allow_gaps, gantry_tilt=gantry_tilt, threads=nthreads)
        for b in bad[:5]:
            vol.warn(f"skipped a damaged file in the folder: {b}")
        if len(bad) > 5:
            vol.warn(f"skipped {len(bad) - 5} more damaged files")
        return vol
    return _load_part(part, reason, allow_gaps=allow_gaps, gantry_tilt=gantry_tilt, threads=nthreads)


def _select(parts: list[Any], series: str | int, root: Path) -> list[Any]:
    s = str(series)
    hit = [q for q in parts if s in (q.info.key, q.info.series_uid)]
    if not hit and s.lstrip("-").isdigit():
        hit = [q for q in parts if q.info.series_number == int(s)]
    if not hit:
        known = ", ".join(f"{q.info.key} (#{q.info.series_number} {q.info.series_description!r})"
                          for q in parts[:12])
        raise DicomError(f"{root}: no series {series!r}; found {known}. Run `bonenet scan {root}` to list them")
    return hit


def _units(h: FileHeader) -> str:
    rt = h.rescale_type.strip()
    for u in UNITS:
        if rt.lower() == u.lower():
            return u
    if h.modality == "CT" and rt.upper() in ("", "HU"):
        return "HU"
    return "raw"


def _base_meta(h: FileHeader, reason: str) -> dict[str, Any]:
    return {"format": "dicom", "series_uid": h.series_uid, "study_uid": h.study_uid,
            "frame_of_reference_uid": h.for_uid, "series_description": h.series_description,
            "series_number": h.series_number, "sop_class": h.sop_class,
            "transfer_syntax": h.transfer_syntax, "image_type": list(h.image_type),
            "series_choice": reason, "projection": False}


def _load_part(part: Any, reason: str, *, allow_gaps: bool, gantry_tilt: str, threads: int) -> Volume:
    hs: list[FileHeader] = part.headers
    h0 = hs[0]
    why = h0.problem()
    if why:
        raise DicomError(f"{h0.path}: {why}")
    warnings: list[str] = []
    if h0.enhanced:
        if len(hs) > 1:
            warnings.append(f"series has {len(hs)} enhanced multi-frame files; read {h0.path.name} only")
        frames, notes = enhanced_frame_headers(h0.path, h0)
        warnings += notes
        return _load_stack(frames, reason, warnings, allow_gaps=allow_gaps, gantry_tilt=gantry_tilt,
                           threads=threads)
    if h0.modality in PROJECTION_MODALITIES or h0.ipp is None or h0.iop is None:
        if len(hs) > 1:
            warnings.append(f"{len(hs)} 2-D images in this series; read {h0.path.name} only")
        return _load_planar(h0, reason, warnings)
    if h0.n_frames > 1:
        raise DicomError(f"{h0.path}: multi-frame image without functional groups ({h0.n_frames} frames, "
                         f"{h0.modality}); bonenet reads enhanced multi-frame CT/MR or one slice per file")
    return _load_stack(hs, reason, warnings, allow_gaps=allow_gaps, gantry_tilt=gantry_tilt, threads=threads)


# ---------------------------------------------------------------------------- stacks
def _load_stack(hs: list[FileHeader], reason: str, warnings: list[str], *, allow_gaps: bool,
                gantry_tilt: str, threads: int) -> Volume:
    for h in hs:
        if h.rows != hs[0].rows or h.columns != hs[0].columns:
            raise DicomError(f"{h.path}: image size {h.rows}x{h.columns} differs from "
                             f"{hs[0].rows}x{hs[0].columns} in the same series part")
        why = h.problem()
        if why and h.frame_index is None:
            raise DicomError(f"{h.path}: {why}")
    geo = _geometry(hs)
    if geo.duplicates:  # drop exact duplicate files first
        seen: dict[str, FileHeader] = {}
        for h in hs:
            seen.setdefault(f"{h.sop_uid}/{h.frame_index}" if h.sop_uid else str(h.path), h)
        if len(seen) < len(hs):
            warnings.append(f"dropped {len(hs) - len(seen)} duplicate file(s) of the same SOP instance")
            hs = list(seen.values())
            geo = _geometry(hs)
    if geo.duplicates:
        i, j = geo.duplicates[0]
        a, b = hs[geo.order[i]], hs[geo.order[j]]
        raise DicomError(
            f"{a.path.parent}: duplicate slice positions: {a.path.name} and {b.path.name} are both at "
            f"{geo.positions[i]:.3f} mm along the normal ({geo.details[0]}); pick one acquisition with "
            "series= after `bonenet scan`, or separate the files")
    blocking = [d for c, d in zip(geo.problems, geo.details, strict=True)
                if c in ("missing_slices", "non_uniform_spacing")]
    if blocking and not allow_gaps:
        i, j, _ = geo.gaps[0]
        a, b = hs[geo.order[i]], hs[geo.order[j]]
        raise DicomError(f"{a.path.parent}: {'; '.join(blocking)} (between {a.path.name} and {b.path.name}); "
                         "pass allow_gaps=True to interpolate onto a uniform grid (recorded in meta['warnings'])")
    if geo.shifts_mm is not None and gantry_tilt == "refuse":
        raise DicomError(f"{hs[0].path.parent}: gantry tilt: {geo.details[-1]}; pass gantry_tilt='resample' "
                         "to resample onto an orthogonal grid")
    ordered = [hs[k] for k in geo.order]
    arr = _read_pixels(ordered, threads=threads)
    if blocking:
        arr, n_new = _to_uniform(arr, geo, source=ordered[0].path.parent)
        warnings.append(f"{'; '.join(blocking)}: interpolated linearly onto a uniform {geo.slice_spacing:.4g} mm "
                        f"grid ({len(ordered)} -> {n_new} slices) because allow_gaps=True")
    if geo.shifts_mm is not None:
        arr = _unshear(arr, geo)
        warnings.append(f"gantry tilt {geo.tilt_deg:.2f} degrees: slices resampled (linear) onto the "
                        "orthogonal grid of the first slice; voxels shifted in from outside hold the minimum")
    h0 = ordered[0]
    meta = _base_meta(h0, reason)
    meta["source"] = list(dict.fromkeys(str(h.path) for h in ordered))
    meta["warnings"] = warnings
    if h0.photometric == "MONOCHROME1":
        meta["photometric"] = "MONOCHROME1"
    if geo.tilt_deg:
        meta["gantry_tilt_deg"] = geo.tilt_deg
    return Volume(arr, spacing=(geo.slice_spacing, *geo.pixel_spacing), origin=tuple(geo.origin),
                  direction=geo.direction, units=_units(h0), modality=h0.modality or "OT", meta=meta)


def _geometry(hs: list[FileHeader]) -> StackGeometry:
    h0 = hs[0]
    ps = h0.pixel_spacing or h0.imager_pixel_spacing or (1.0, 1.0)
    for h in hs:
        if h.iop is None or h.ipp is None:
            raise DicomError(f"{h.path}: no ImagePositionPatient/ImageOrientationPatient; cannot place the slice")
        if np.max(np.abs(np.subtract(h.iop, h0.iop))) > 1e-3:
            raise DicomError(f"{h.path}: ImageOrientationPatient {h.iop} differs from {h0.iop} in the same stack")
    return analyse_stack(np.array([h.ipp for h in hs]), h0.iop, ps,  # type: ignore[arg-type]
                         default_spacing=h0.spacing_between_slices or h0.slice_thickness)


def _to_uniform(arr: np.ndarray, geo: StackGeometry, *,
                source: object = "DICOM series") -> tuple[np.ndarray, int]:
    """Linear interpolation along P from the acquired positions onto a uniform grid."""
    pos = geo.positions
    n_new = int(np.round((pos[-1] - pos[0]) / geo.slice_spacing)) + 1
    check_claim(str(source), (n_new, *arr.shape[1:]), what="DICOM series resampled to uniform "
                f"{geo.slice_spacing:.4g} mm slices")
    target = pos[0] + geo.slice_spacing * np.arange(n_new)
    out = np.empty((n_new, *arr.shape[1:]), dtype=np.float32)
    hi = np.clip(np.searchsorted(pos, target, side="right"), 1, len(pos) - 1)
    lo = hi - 1
    w = np.clip((target - pos[lo]) / np.maximum(pos[hi] - pos[lo], 1e-9), 0.0, 1.0).astype(np.float32)
    for k in range(n_new):
        np.multiply(arr[lo[k]], 1.0 - w[k], out=out[k])
        out[k] += w[k] * arr[hi[k]]
    return out, n_new


def _unshear(arr: np.ndarray, geo: StackGeometry) -> np.ndarray:
    """Shift each slice in-plane so all share the first slice's grid (gantry tilt)."""
    from scipy import ndimage

    fill = float(arr.min())
    rs, cs = geo.pixel_spacing
    for k in range(arr.shape[0]):
        dr, dc = geo.shifts_mm[k] / (rs, cs)  # type: ignore[index]
        if abs(dr) > 1e-6 or abs(dc) > 1e-6:
            # slice k's pixel (i, j) lies at grid pixel (i + dr, j + dc): output[x] = slice[x - shift]
            arr[k] = ndimage.shift(arr[k], (dr, dc), order=1, mode="constant", cval=fill)
    return arr


# ---------------------------------------------------------------------------- pixels
def _read_pixels(hs: list[FileHeader], *, threads: int) -> np.ndarray:
    """Rescaled float32 (N, R, C) from the headers, in the given order.

    Uncompressed little-endian slices are read straight into place by a thread pool (file
    reads and numpy conversion release the GIL). Compressed single-frame files are decoded
    by a process pool on Linux, because the pylibjpeg decoders hold the GIL; its workers
    come from a fork server (:func:`bonenet._pool.worker_context`), never a plain fork of
    this process, whose thread pools may have run.
    """
    rows, cols = hs[0].rows, hs[0].columns
    _check_allocation(hs, (len(hs), rows, cols))
    out = np.empty((len(hs), rows, cols), dtype=np.float32)
    decoded: dict[Path, np.ndarray] = {}
    compressed = [k for k, h in enumerate(hs) if not h.is_uncompressed and h.frame_index is None]
    done: set[int] = set()
    if threads > 1 and len(compressed) >= 4 and _can_use_processes():
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        try:
            with ProcessPoolExecutor(max_workers=min(threads, len(compressed)),
                                     mp_context=worker_context(_DECODER_PRELOAD,
                                                                import_main=False)) as ex:
                for k, raw in zip(compressed, ex.map(_decode, [hs[k] for k in compressed]), strict=True):
                    _rescale_into(out[k], raw, hs[k])
                    done.add(k)
        except (BrokenProcessPool, OSError):  # no processes here: decode in this one
            pass

    def work(k: int) -> None:
        if k in done:
            return
        h = hs[k]
        if h.is_uncompressed:
            raw = _read_raw(h)
        elif h.frame_index is not None:
            if h.path not in decoded:
                decoded[h.path] = _decode(h)
            full = decoded[h.path]
            raw = full[h.frame_index] if full.ndim == 3 else full
        else:
            raw = _decode(h)
        _rescale_into(out[k], raw, h)

    framed = any(h.frame_index is not None and not h.is_uncompressed for h in hs)
    if threads > 1 and len(hs) - len(done) >= 8 and not framed:
        with ThreadPoolExecutor(max_workers=threads) as ex:
            list(ex.map(work, range(len(hs))))
    else:
        for k in range(len(hs)):
            work(k)
    return out


def _check_allocation(hs: list[FileHeader], shape: tuple[int, ...]) -> None:
    """Before allocating ``shape``: the memory ceiling, and uncompressed files must hold the
    pixel bytes their headers claim (a crafted Rows × Columns never reaches ``np.empty``)."""
    check_claim(hs[0].path if len(hs) == 1 else hs[0].path.parent, shape, what="DICOM")
    for h in hs:
        if not h.is_uncompressed or h.frame_index is not None or h.pixel_offset is None:
            continue
        need = h.rows * h.columns * max(1, h.bits_allocated // 8)
        have = (h.file_size or h.path.stat().st_size) - h.pixel_offset
        if have < need:
            raise DicomError(f"{h.path}: truncated pixel data ({max(have, 0)} of {need} bytes claimed "
                             f"by Rows {h.rows} x Columns {h.columns}); re-export the file")


# what the decoding workers' fork server imports once: pydicom's pixel handlers and the
# pylibjpeg plugins (a name that is not installed is skipped)
_DECODER_PRELOAD = ("numpy", "bonenet.io.dicom", "pydicom", "pydicom.pixels", "pylibjpeg",
                    "openjpeg", "libjpeg", "rle", "jpeg_ls")


def _can_use_processes() -> bool:
    """Process-pool decoding only where it is safe: Linux, not inside a daemon (DataLoader
    worker), and not switched off with ``BONENET_IO_PROCESSES=0``."""
    import multiprocessing as mp

    return (sys.platform.startswith("linux") and not mp.current_process().daemon
            and os.environ.get("BONENET_IO_PROCESSES", "1") != "0")


def _rescale_into(dst: np.ndarray, raw: np.ndarray, h: FileHeader) -> None:
    if raw.shape != dst.shape:
        raise DicomError(f"{h.path}: pixel data has shape {raw.shape}, expected {dst.shape}")
    if h.slope == 1.0:  # one pass: convert and shift together
        np.add(raw, np.float32(h.intercept), out=dst, casting="unsafe")
        return
    np.multiply(raw, np.float32(h.slope), out=dst, casting="unsafe")
    if h.intercept != 0.0:
        dst += np.float32(h.intercept)


def _read_raw(h: FileHeader) -> np.ndarray:
    """Uncompressed pixel bytes straight from the file (no pydicom decode, one copy)."""
    order = UNCOMPRESSED[h.transfer_syntax]
    nbytes = h.bits_allocated // 8
    kind = "i" if h.pixel_representation == 1 else "u"
    dtype = np.dtype(f"{order}{kind}{nbytes}") if nbytes > 1 else np.dtype(f"{kind}1")
    count = h.rows * h.columns
    buf = np.empty(count, dtype=dtype)
    with open(h.path, "rb") as fh:
        fh.seek(h.pixel_offset)  # type: ignore[arg-type]
        n = fh.readinto(memoryview(buf).cast("B"))
    if n != count * nbytes:
        raise DicomError(f"{h.path}: truncated pixel data ({n} of {count * nbytes} bytes); re-export the file")
    if h.bits_stored < h.bits_allocated:
        shift = h.bits_allocated - h.bits_stored
        if kind == "i":
            buf = (buf << shift) >> shift  # sign-extend from BitsStored
        else:
            buf &= (1 << h.bits_stored) - 1
    return buf.reshape(h.rows, h.columns)


def _decode(h: FileHeader) -> np.ndarray:
    """Decode pixel data with pydicom (compressed, big-endian, deflate...)."""
    import pydicom

    try:
        ds = pydicom.dcmread(h.path)
        arr = ds.pixel_array
    except Exception as exc:  # decoders raise many types
        raise DicomError(f"{h.path}: cannot decode pixel data ({type(exc).__name__}: {str(exc)[:200]}; "
                         f"transfer syntax {h.transfer_syntax}); the file may be truncated or need a "
                         "pylibjpeg plugin") from exc
    return np.asarray(arr)


# ---------------------------------------------------------------------------- 2-D
_LETTER = {"L": (1, 0, 0), "R": (-1, 0, 0), "P": (0, 1, 0), "A": (0, -1, 0), "H": (0, 0, 1), "F": (0, 0, -1)}


def _load_planar(h: FileHeader, reason: str, warnings: list[str]) -> Volume:
    if h.n_frames > 1:
        raise DicomError(f"{h.path}: {h.n_frames}-frame image without per-frame geometry ({h.modality}, no "
                         "functional groups or positions); bonenet reads enhanced multi-frame CT/MR with plane "
                         "positions, or single-frame 2-D images")
    _check_allocation([h], (1, h.rows, h.columns))
    raw = _read_raw(h) if h.is_uncompressed else _decode(h)
    arr = np.empty((h.rows, h.columns), dtype=np.float32)
    _rescale_into(arr, raw, h)
    ps = h.pixel_spacing or h.imager_pixel_spacing
    if ps is None:
        ps = (1.0, 1.0)
        warnings.append("no PixelSpacing or ImagerPixelSpacing: 1 mm pixels assumed")
    elif h.pixel_spacing is None:
        warnings.append("spacing from ImagerPixelSpacing (at the detector, not corrected for magnification)")
    row_cos, col_cos = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    po = h.patient_orientation
    if len(po) == 2 and po[0][:1] in _LETTER and po[1][:1] in _LETTER:
        r, c = np.array(_LETTER[po[0][0]], float), np.array(_LETTER[po[1][0]], float)
        if abs(r @ c) < 1e-6:
            row_cos, col_cos = r, c
    elif h.iop is not None:
        row_cos, col_cos = np.array(h.iop[:3]), np.array(h.iop[3:])
    else:
        warnings.append("no PatientOrientation: image axes not tied to patient directions")
    normal = np.cross(row_cos, col_cos)
    meta = _base_meta(h, reason)
    meta.update(source=[str(h.path)], warnings=warnings, projection=True)
    if h.photometric == "MONOCHROME1":
        meta["photometric"] = "MONOCHROME1"
    units = _units(h) if h.modality == "CT" else "raw"
    return Volume(arr[np.newaxis], spacing=(1.0, float(ps[0]), float(ps[1])),
                  origin=tuple(h.ipp) if h.ipp else (0.0, 0.0, 0.0),
                  direction=np.column_stack([normal, col_cos, row_cos]), units=units,
                  modality=h.modality or "OT", meta=meta)

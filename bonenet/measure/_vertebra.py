"""One vertebra: its body, its own axis, its three heights and its trabecular VOI.

Rules (documented in docs/spine.md):

* **Body** — with a ``vertebrae_body`` mask, vertebra ∩ body. Without one, the body is
  found inside the whole-vertebra mask by a morphological opening computed with in-plane
  distance maps in mm (each axial slice): the deepest point of the mask lies in the body
  (the widest part of a vertebra); the mask eroded by ``r = 0.5 × that depth`` keeps only
  the piece around it (pedicles and processes are narrower than ``2r`` and vanish);
  dilating that piece back (in 3D, so the endplate slices return) by ``r + 1.5`` in-plane
  voxels inside the mask restores the body's outline (an opening keeps convex shapes whose
  curvature radius exceeds ``r``) while the pedicles stay cut about 1.5 voxels behind the
  posterior wall.
* **Axis** — the spine curve: the direction between the neighbouring vertebrae's
  posterior-element centroids (caudal → cranial; a fractured body does not tilt it; body
  centroids when a mask holds bodies only); a vertebra without measured neighbours uses its body's
  shortest principal axis (bodies are wider and deeper than high). **Anterior** points from
  the whole vertebra's centroid to its body's centroid (valid prone or supine), made
  orthogonal to the axis.
* **Heights** — in the mid-sagittal slab of the body (± 15 % of its width), the extent along
  the axis (edge to edge, voxel size included) of the body voxels in three bands across the
  antero-posterior depth: anterior and posterior bands centred 12 % of the depth inside the
  walls, middle band at the centre, each ± 5 % of the depth (at least ± 0.6 voxel).
* **Trabecular VOI** — body voxels at least ``margin_mm`` (default 4 mm) from the body's
  surface (cortex and endplates) by a Euclidean distance map in mm; the margin halves once
  (flagged) when fewer than ``min_voxels`` voxels remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SegmentationError
from ..volume import Volume

__all__ = ["VertebraGeometry", "find_body", "mask_box", "measure_vertebra", "world_anterior"]

_BAND_CENTRE = 0.12
_BAND_HALF = 0.05
_SLAB_HALF = 0.15


def mask_box(mask: np.ndarray, *, pad: int = 2) -> tuple[slice, slice, slice] | None:
    """Bounding box of a bool mask, ``pad`` voxels wider on each side (one C pass); None if empty."""
    from scipy import ndimage as ndi

    m = np.ascontiguousarray(mask, dtype=bool)
    found = ndi.find_objects(m.view(np.uint8))
    if not found or found[0] is None:
        return None
    return tuple(slice(max(sl.start - pad, 0), min(sl.stop + pad, n))  # type: ignore[return-value]
                 for sl, n in zip(found[0], m.shape, strict=True))


def world_anterior() -> np.ndarray:
    """The patient's anterior direction in LPS coordinates."""
    return np.array([0.0, -1.0, 0.0])


@dataclass
class VertebraGeometry:
    """What :func:`measure_vertebra` finds (masks on the full image grid, vectors in LPS)."""

    body: np.ndarray
    voi: np.ndarray
    axis: np.ndarray
    anterior: np.ndarray
    body_centroid_mm: np.ndarray
    heights_mm: tuple[float, float, float]
    margin_mm: float
    truncated: bool
    flags: list[str] = field(default_factory=list)
    box: tuple[slice, slice, slice] | None = None
    axis_voxel_mm: float = float("nan")


def _edt(mask: np.ndarray, spacing: tuple[float, ...], *, border: bool = True) -> np.ndarray:
    """Distance (mm) of each voxel of ``mask`` to the nearest voxel outside it; with
    ``border`` the space outside the array counts as outside the mask."""
    import edt

    return edt.edt(np.ascontiguousarray(mask, dtype=np.uint8), anisotropy=spacing, black_border=border)


def find_body(vertebra: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """The vertebral body inside a whole-vertebra mask (bool, same shape); see module rules.

    Distances are measured in the image plane of each slice (axial CT cuts the spine
    across): a body is 25–50 mm wide in-plane even when crushed flat, pedicles and
    processes 5–10 mm, so the in-plane opening separates them at any body height.
    """
    from scipy import ndimage as ndi

    flat = (1e4, float(spacing[1]), float(spacing[2]))  # no distance across slices
    depth = _edt(vertebra, flat)
    dmax = float(depth.max())
    if dmax <= 0:
        raise SegmentationError("empty vertebra mask: no body to find")
    r = max(0.5 * dmax, 1.5 * min(spacing[1:]))
    core = depth > r
    if not core.any():
        core = depth >= dmax
    lab, _ = ndi.label(core)
    centre = np.unravel_index(int(np.argmax(depth)), depth.shape)
    core = lab == lab[centre]
    grow = _edt(~core, spacing, border=False)  # grow back in 3D: endplate slices return
    return vertebra & (grow <= r + 1.5 * max(spacing[1:]))


def _principal_short_axis(points: np.ndarray) -> np.ndarray:
    c = points - points.mean(axis=0)
    _, vecs = np.linalg.eigh(c.T @ c)
    return vecs[:, 0]


def _extent(s: np.ndarray, sel: np.ndarray, ext_u: float) -> float:
    if sel.sum() == 0:
        return float("nan")
    v = s[sel]
    return float(v.max() - v.min() + ext_u)


def measure_vertebra(volume: Volume, vertebra: np.ndarray, *, body: np.ndarray | None = None,
                     axis: np.ndarray | None = None, margin_mm: float = 4.0,
                     min_voxels: int = 20, box: tuple[slice, slice, slice] | None = None
                     ) -> VertebraGeometry:
    """Body, axis, heights (anterior, middle, posterior; mm) and trabecular VOI of one vertebra.

    Parameters
    ----------
    volume : Volume
        The CT (only its geometry is used here).
    vertebra : bool ndarray (P, R, C)
        Whole-vertebra mask.
    body : bool ndarray, optional
        Vertebral-body mask (e.g. TotalSegmentator ``vertebrae_body`` ∩ vertebra).
    axis : (3,) array, optional
        The spine's cranial direction at this vertebra (LPS); default the body's shortest
        principal axis, pointing superior.
    margin_mm : float
        Distance kept from the body surface (cortex and endplates), mm.
    min_voxels : int
        Smallest VOI accepted before the margin is halved (flagged).
    box : tuple of slices, optional
        A bounding box holding the whole vertebra (saves a pass over the full mask).
    """
    flags: list[str] = []
    full = np.asarray(vertebra, dtype=bool)
    box = box if box is not None else mask_box(full)
    if box is None:
        raise SegmentationError("empty vertebra mask")
    shape = np.asarray(volume.shape)
    lo = np.array([b.start for b in box])
    inner = full[box]
    nz = [np.nonzero(inner.any(axis=tuple(j for j in range(3) if j != k)))[0] + lo[k] for k in range(3)]
    truncated = any(n[0] == 0 or n[-1] == s - 1 for n, s in zip(nz, shape, strict=True))
    vm = full[box]
    sp = volume.spacing
    if not vm.any():
        raise SegmentationError("empty vertebra mask")
    if body is not None and np.asarray(body)[box].any():
        bd = np.asarray(body, dtype=bool)[box] & vm
        if not bd.any():
            bd = np.asarray(body, dtype=bool)[box]
    else:
        if body is not None:
            flags.append("body mask empty at this level: body found from the vertebra mask")
        bd = find_body(vm, sp)
    idx_b = np.argwhere(bd).astype(np.float64) + lo
    idx_v = np.argwhere(vm).astype(np.float64) + lo
    pts = volume.index_to_world(idx_b)
    c_body = pts.mean(axis=0)
    c_vert = volume.index_to_world(idx_v).mean(axis=0)
    if axis is None:
        u = _principal_short_axis(pts)
        if u[2] < 0:  # LPS +z is superior
            u = -u
    else:
        u = np.asarray(axis, dtype=np.float64)
        u = u / np.linalg.norm(u)
    a = c_body - c_vert
    a = a - (a @ u) * u
    if np.linalg.norm(a) < 1.0:  # body and vertebra centroids coincide: no posterior elements
        a = world_anterior() - (world_anterior() @ u) * u
    a = a / np.linalg.norm(a)
    lat = np.cross(u, a)
    rel = pts - c_body
    s, ta, tl = rel @ u, rel @ a, rel @ lat
    ext_u = float(np.sum(np.abs(u @ volume.direction) * np.asarray(sp)))
    ext_a = float(np.sum(np.abs(a @ volume.direction) * np.asarray(sp)))
    ext_l = float(np.sum(np.abs(lat @ volume.direction) * np.asarray(sp)))
    width = float(tl.max() - tl.min()) + ext_l
    slab = np.abs(tl - np.median(tl)) <= max(_SLAB_HALF * width, 0.6 * ext_l)
    ta_s = ta[slab]
    front, back = float(ta_s.max()), float(ta_s.min())
    depth = front - back + ext_a
    half = max(_BAND_HALF * depth, 0.6 * ext_a)
    centres = (front - _BAND_CENTRE * depth + 0.5 * ext_a, 0.5 * (front + back),
               back + _BAND_CENTRE * depth - 0.5 * ext_a)
    heights = tuple(_extent(s, slab & (np.abs(ta - c) <= half), ext_u) for c in centres)
    if truncated:
        flags.append("vertebra cut by the field of view: heights not measured")
        heights = (float("nan"),) * 3
    # trabecular VOI
    dist = _edt(bd, sp)
    margin = float(margin_mm)
    voi = dist >= margin
    if voi.sum() < min_voxels:
        margin = 0.5 * margin
        voi = dist >= margin
        flags.append(f"VOI margin halved to {margin:g} mm (body too small or coarse voxels)")
    if not voi.any():
        raise SegmentationError(
            f"no voxel of the vertebral body lies {margin:g} mm inside its surface; the mask is "
            "too small for a trabecular VOI at this resolution")
    body_full = np.zeros(full.shape, dtype=bool)
    body_full[box] = bd
    voi_full = np.zeros(full.shape, dtype=bool)
    voi_full[box] = voi
    return VertebraGeometry(body=body_full, voi=voi_full, axis=u, anterior=a,
                            body_centroid_mm=c_body, heights_mm=heights,  # type: ignore[arg-type]
                            margin_mm=margin, truncated=truncated, flags=flags, box=box,
                            axis_voxel_mm=ext_u)

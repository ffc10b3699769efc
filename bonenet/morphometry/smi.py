"""Structure model index (Hildebrand & Rüegsegger 1997), mesh-based.

SMI = 6 · BV · S′ / S², where S is the bone surface area and S′ its derivative when every
surface point moves outwards along its normal. The surface is the marching-cubes mesh of
the mask (scikit-image); S′ is the central difference of the mesh area after moving each
vertex by ±ε along its area-weighted vertex normal. Ideal plates give 0, rods 3, spheres 4;
concave structures (marrow-like, or rod-and-plate networks with many nodes) give negative
values. The mesh is not smoothed, so the staircase of a binary image slightly lowers SMI
on small structures. Mesh faces where the array edge cuts the structure are excluded (they
are no bone surface), as are, with an ROI, faces outside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import MorphometryError
from ._validate import binary, same_shape, spacing3

__all__ = ["structure_model_index"]


def _area(verts: np.ndarray, faces: np.ndarray) -> float:
    a = verts[faces[:, 1]] - verts[faces[:, 0]]
    b = verts[faces[:, 2]] - verts[faces[:, 0]]
    return float(0.5 * np.linalg.norm(np.cross(a, b), axis=1).sum())


def structure_model_index(mask: np.ndarray, *, spacing: float | Sequence[float],
                          roi: np.ndarray | None = None, eps: float = 0.05) -> float:
    """SMI of the structure (dimensionless).

    Parameters
    ----------
    mask : ndarray (P, R, C), bool or 0/1
    spacing : float or (3,) floats, keyword-only
        Voxel size in mm.
    roi : ndarray of bool, optional
        Only mesh faces whose centre lies in ``roi`` (and structure voxels in ``roi``) count,
        so structures cut by the region edge keep no spurious end faces. Default: all.
        Faces where the *array* edge cuts the structure never count (with or without
        ``roi``): a trabecular cube is a sample of a larger structure, and an infinite
        plate crossing the array reads 0, not 1.9.
    eps : float
        Normal offset for the area derivative, in units of the smallest voxel size.
    """
    try:
        from skimage.measure import marching_cubes
    except ImportError as exc:  # pragma: no cover - scikit-image ships with the dev extra
        raise MorphometryError("SMI needs scikit-image (pip install scikit-image)") from exc

    sp = spacing3(spacing)
    m = binary(mask, name="mask")
    r = None
    if roi is not None:
        r = binary(roi, name="roi")
        same_shape(m, r, names=("mask", "roi"))
    padded = np.pad(m, 1).astype(np.float32)
    verts, faces, _, _ = marching_cubes(padded, level=0.5, spacing=sp, allow_degenerate=False)
    verts = verts - np.asarray(sp)  # undo the padding offset
    if faces.shape[0] == 0:
        raise MorphometryError("structure has no surface: SMI undefined")
    # faces where the array edge cuts the structure are no bone surface: marching cubes
    # closes the structure in the cells between the outermost voxel centres and the zero
    # padding, so every face of those cells (the cut face and the chamfer that joins it to
    # the true surface) has its centre outside [0, n - 1]; the true surface lies in the
    # cells between voxel centres of the array, whose faces never do
    cpos = verts[faces].mean(axis=1) / np.asarray(sp)
    tol = 1e-6
    inside = np.all((cpos >= -tol) & (cpos <= np.asarray(m.shape) - 1 + tol), axis=1)
    faces = faces[inside]
    if r is not None:
        centre = verts[faces].mean(axis=1) / np.asarray(sp)
        idx = np.clip(np.rint(centre).astype(np.int64), 0, np.asarray(m.shape) - 1)
        faces = faces[r[idx[:, 0], idx[:, 1], idx[:, 2]]]
        bv_vox = int(np.count_nonzero(m & r))
    else:
        bv_vox = int(np.count_nonzero(m))
    if faces.shape[0] == 0:
        raise MorphometryError("no structure surface inside the region: SMI undefined")
    # area-weighted vertex normals pointing out of the structure
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    vn = np.divide(vn, norm, out=np.zeros_like(vn), where=norm > 0)
    # marching_cubes orients faces towards increasing values (into the structure): flip
    # the sign if the normals point inwards on average
    probe = verts + 0.5 * min(sp) * vn
    pi = np.clip(np.rint(probe / np.asarray(sp)).astype(np.int64), 0, np.asarray(m.shape) - 1)
    if m[pi[:, 0], pi[:, 1], pi[:, 2]].mean() > 0.5:
        vn = -vn
    h = eps * min(sp)
    s0 = _area(verts, faces)
    dsdr = (_area(verts + h * vn, faces) - _area(verts - h * vn, faces)) / (2 * h)
    bv = bv_vox * sp[0] * sp[1] * sp[2]
    return float(6.0 * bv * dsdr / s0**2)

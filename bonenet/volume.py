"""The ``Volume``: one image array with its geometry, units and provenance.

Conventions (the same everywhere in bonenet):

* ``array`` is float32 with axes (P, R, C) = (slice, row, column) = (z, y, x).
* ``spacing`` is millimetres per axis in the same (P, R, C) order.
* ``origin`` is the patient-LPS position (mm) of the centre of voxel (0, 0, 0).
* ``direction`` is a 3×3 matrix whose column ``k`` is the LPS unit vector along array axis
  ``k`` (so column 0 is the slice normal direction of increasing P).
* A voxel index ``(p, r, c)`` maps to LPS millimetres as
  ``origin + direction @ (spacing * (p, r, c))``.

Units never change silently: :meth:`Volume.rescaled` is the one way to change them and it
records itself in ``meta["history"]``.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._fmt import plain
from .errors import VolumeError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import nibabel as nib
    import SimpleITK as sitk
    from monai.data import MetaTensor

__all__ = ["UNITS", "Volume"]

#: The units a Volume may carry.
UNITS = ("HU", "mgHA/cm3", "mgK2HPO4/cm3", "mu", "raw")

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(eq=False)
class Volume:
    """A 3D image (a 2D image is a one-slice Volume) with LPS geometry and explicit units.

    Parameters
    ----------
    array : ndarray of shape (P, R, C)
        Intensities, stored as float32.
    spacing : sequence of 3 floats
        Voxel size in mm along (P, R, C).
    origin : sequence of 3 floats, optional
        LPS position in mm of the centre of voxel (0, 0, 0). Default zeros.
    direction : (3, 3) array, optional
        Column ``k`` is the LPS unit vector of array axis ``k``. Default identity
        (P → +S would be ``[[0,0,1],[0,1,0],[1,0,0]]``-like; identity means P → +L).
    units : str
        One of :data:`UNITS`.
    modality : str
        DICOM-style modality (``"CT"``, ``"MR"``, ``"DX"``, ``"HRPQCT"``...).
    meta : dict
        Provenance: ``source`` files, ``series_uid``, ``history`` (list of operations),
        ``warnings`` (list of str), and anything a reader wants to keep.
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    units: str = "raw"
    modality: str = "OT"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.ndim != 3:
            raise VolumeError(
                f"Volume array must have 3 axes (P, R, C) (or 2 for a single slice); got shape {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise VolumeError(f"Volume array must be real numbers; got dtype {arr.dtype}")
        self.array = arr.astype(np.float32, copy=False)
        spacing = np.asarray(self.spacing, dtype=np.float64).reshape(-1)
        if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
            raise VolumeError(
                f"Volume spacing must be 3 positive finite mm values (P, R, C); got {plain(self.spacing)!r}"
            )
        self.spacing = tuple(float(s) for s in spacing)  # type: ignore[assignment]
        origin = np.asarray(self.origin, dtype=np.float64).reshape(-1)
        if origin.shape != (3,) or not np.all(np.isfinite(origin)):
            raise VolumeError(f"Volume origin must be 3 finite LPS mm values; got {plain(self.origin)!r}")
        self.origin = tuple(float(o) for o in origin)  # type: ignore[assignment]
        direction = np.asarray(self.direction, dtype=np.float64)
        if direction.shape != (3, 3) or not np.all(np.isfinite(direction)):
            raise VolumeError(f"Volume direction must be a finite 3x3 matrix; got {plain(self.direction)!r}")
        norms = np.linalg.norm(direction, axis=0)
        if np.any(np.abs(norms - 1.0) > 1e-3) or abs(abs(np.linalg.det(direction)) - 1.0) > 1e-3:
            raise VolumeError(
                "Volume direction columns must be orthonormal unit vectors (LPS axis directions); "
                f"got {direction.tolist()}"
            )
        self.direction = direction
        if self.units not in UNITS:
            raise VolumeError(f"Volume units {self.units!r} unknown; use one of {', '.join(UNITS)}")
        self.meta = dict(self.meta)
        self.meta.setdefault("history", [])
        self.meta.setdefault("warnings", [])

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (P, R, C)."""
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def affine(self) -> np.ndarray:
        """4×4 matrix mapping homogeneous (p, r, c, 1) indices to LPS millimetres."""
        a = np.eye(4)
        a[:3, :3] = self.direction * np.asarray(self.spacing)[np.newaxis, :]
        a[:3, 3] = self.origin
        return a

    @property
    def affine_ras(self) -> np.ndarray:
        """4×4 matrix mapping (p, r, c, 1) indices to RAS millimetres (nibabel/MONAI space)."""
        a = self.affine
        a[:3, :] = _LPS_TO_RAS @ a[:3, :]
        return a

    def replace(self, **changes: Any) -> Volume:
        """A copy with some fields replaced (``meta`` is deep-copied unless given)."""
        if "meta" not in changes:
            changes["meta"] = copy.deepcopy(self.meta)
        return dataclasses.replace(self, **changes)

    def copy(self) -> Volume:
        """A deep copy (array included)."""
        return self.replace(array=self.array.copy())

    def warn(self, message: str) -> None:
        """Record a warning about this volume in ``meta["warnings"]`` (no duplicates)."""
        if message not in self.meta["warnings"]:
            self.meta["warnings"].append(message)

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.4g}" for s in self.spacing)
        return (
            f"Volume(shape={self.shape}, spacing_mm=({sp}), units={self.units!r}, "
            f"modality={self.modality!r}, origin_lps={tuple(round(o, 3) for o in self.origin)})"
        )

    # ---------------------------------------------------------------- geometry
    def index_to_world(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 3) voxel indices (p, r, c) — fractional allowed — to (N, 3) LPS mm."""
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if pts.shape[-1] != 3:
            raise VolumeError(f"index_to_world expects points of shape (N, 3); got {pts.shape}")
        a = self.affine
        return pts @ a[:3, :3].T + a[:3, 3]

    def world_to_index(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 3) LPS mm positions to fractional (p, r, c) voxel indices."""
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if pts.shape[-1] != 3:
            raise VolumeError(f"world_to_index expects points of shape (N, 3); got {pts.shape}")
        a = self.affine
        return np.linalg.solve(a[:3, :3], (pts - a[:3, 3]).T).T

    def orientation(self) -> str:
        """Three letters naming the patient direction each array axis (P, R, C) increases to.

        Letters are DICOM's L/R, P/A, S/I. A standard axial CT sorted from feet to head is
        ``"SPL"``: slices go superior, rows go posterior, columns go to the patient's left.
        """
        letters = []
        for k in range(3):
            v = self.direction[:, k]
            i = int(np.argmax(np.abs(v)))
            pos = ("L", "P", "S")[i]
            neg = ("R", "A", "I")[i]
            letters.append(pos if v[i] > 0 else neg)
        return "".join(letters)

    # ----------------------------------------------------------------- units
    def rescaled(self, slope: float, intercept: float, *, units: str, note: str) -> Volume:
        """Return ``slope * array + intercept`` in new ``units``, recording ``note`` in meta."""
        if units not in UNITS:
            raise VolumeError(f"units {units!r} unknown; use one of {', '.join(UNITS)}")
        out = self.replace(array=(self.array * np.float32(slope) + np.float32(intercept)), units=units)
        out.meta["history"].append(
            {"op": "rescale", "slope": float(slope), "intercept": float(intercept),
             "from": self.units, "to": units, "note": note}
        )
        return out

    # ------------------------------------------------------------- resampling
    def resample(self, spacing: float | tuple[float, float, float], *, order: int = 1,
                 fill: float | None = None) -> Volume:
        """Resample onto a grid of new ``spacing`` (mm, P, R, C) covering the same extent.

        The origin (centre of the first voxel) and direction are kept; the number of voxels
        along each axis is ``round(extent / spacing)``. ``order`` 0 is nearest neighbour
        (for masks), 1 linear, 3 B-spline. ``fill`` is the value outside the image (default
        the array minimum).
        """
        import SimpleITK as sitk

        new = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (3,))
        if np.any(new <= 0) or not np.all(np.isfinite(new)):
            raise VolumeError(f"resample spacing must be positive mm values; got {plain(spacing)!r}")
        old = np.asarray(self.spacing)
        size = np.maximum(1, np.round(np.asarray(self.shape) * old / new)).astype(int)
        interp = {0: sitk.sitkNearestNeighbor, 1: sitk.sitkLinear, 3: sitk.sitkBSpline}.get(order)
        if interp is None:
            raise VolumeError(f"resample order must be 0, 1 or 3; got {order}")
        img = self.to_sitk()
        ref = sitk.Image([int(s) for s in size[::-1]], sitk.sitkFloat32)
        ref.SetSpacing([float(s) for s in new[::-1]])
        ref.SetOrigin(img.GetOrigin())
        ref.SetDirection(img.GetDirection())
        default = float(self.array.min()) if fill is None else float(fill)
        out = sitk.Resample(img, ref, sitk.Transform(), interp, default, sitk.sitkFloat32)
        vol = Volume.from_sitk(out, units=self.units, modality=self.modality, meta=copy.deepcopy(self.meta))
        vol.meta["history"].append({"op": "resample", "from_spacing": list(self.spacing),
                                    "to_spacing": [float(s) for s in new], "order": order})
        return vol

    # ------------------------------------------------------------ SimpleITK
    def to_sitk(self) -> sitk.Image:
        """A SimpleITK image with the same voxels and LPS geometry (ITK axis order x, y, z)."""
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(self.array)  # array (z, y, x) -> image (x, y, z)
        img.SetSpacing([float(s) for s in self.spacing[::-1]])
        img.SetOrigin([float(o) for o in self.origin])
        img.SetDirection([float(d) for d in self.direction[:, ::-1].reshape(-1)])
        return img

    @classmethod
    def from_sitk(cls, image: sitk.Image, *, units: str = "raw", modality: str = "OT",
                  meta: dict[str, Any] | None = None) -> Volume:
        """Build a Volume from a 2D or 3D single-component SimpleITK image."""
        import SimpleITK as sitk

        if image.GetNumberOfComponentsPerPixel() != 1:
            raise VolumeError(
                f"cannot make a Volume from a {image.GetNumberOfComponentsPerPixel()}-component "
                "(colour/vector) image; convert it to grayscale first"
            )
        dim = image.GetDimension()
        arr = sitk.GetArrayViewFromImage(image)
        if dim == 2:
            sp = (1.0, *image.GetSpacing()[::-1])
            org = (*image.GetOrigin(), 0.0)
            d2 = np.asarray(image.GetDirection(), dtype=np.float64).reshape(2, 2)
            d = np.eye(3)
            d[:2, :2] = d2
            direction = d[:, [2, 1, 0]]
            arr = arr[np.newaxis]
        elif dim == 3:
            sp = image.GetSpacing()[::-1]
            org = image.GetOrigin()
            direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)[:, ::-1]
        else:
            raise VolumeError(f"cannot make a Volume from a {dim}-D image; expected 2-D or 3-D")
        return cls(np.array(arr, dtype=np.float32), spacing=tuple(sp), origin=tuple(org),
                   direction=direction.copy(), units=units, modality=modality, meta=meta or {})

    # -------------------------------------------------------------- nibabel
    def to_nibabel(self) -> nib.Nifti1Image:
        """A NIfTI-1 image (RAS affine, data axes (x, y, z) = (C, R, P))."""
        import nibabel as nib

        data = np.ascontiguousarray(self.array.transpose(2, 1, 0))
        aff = self.affine_ras[:, [2, 1, 0, 3]]
        img = nib.Nifti1Image(data, aff)
        img.header.set_xyzt_units("mm")
        img.header.set_qform(aff, code=1)
        img.header.set_sform(aff, code=1)
        desc = f"bonenet units={self.units} modality={self.modality}"
        img.header["descrip"] = desc[:79].encode()
        return img

    @classmethod
    def from_nibabel(cls, image: nib.spatialimages.SpatialImage, *, units: str | None = None,
                     modality: str | None = None, meta: dict[str, Any] | None = None) -> Volume:
        """Build a Volume from a 2D/3D nibabel image (RAS → LPS handled; 4-D refused)."""
        data = np.asanyarray(image.dataobj)
        aff = np.asarray(image.affine, dtype=np.float64)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim == 2:
            data = data[..., np.newaxis]
        if data.ndim != 3:
            raise VolumeError(f"cannot make a Volume from a NIfTI image of shape {data.shape}; expected 3-D")
        lin = _LPS_TO_RAS @ aff[:3, :3]  # LPS-space linear part, columns = data axes (x, y, z)
        off = _LPS_TO_RAS @ aff[:3, 3]
        spacing_xyz = np.linalg.norm(lin, axis=0)
        if np.any(spacing_xyz <= 0):
            raise VolumeError("NIfTI affine has a zero-length axis; the file's qform/sform is broken")
        direction_xyz = lin / spacing_xyz
        desc_units, desc_modality = _parse_descrip(image)
        return cls(
            np.asarray(data, dtype=np.float32).transpose(2, 1, 0),
            spacing=tuple(spacing_xyz[::-1]),
            origin=tuple(off),
            direction=direction_xyz[:, ::-1],
            units=units or desc_units or "raw",
            modality=modality or desc_modality or "OT",
            meta=meta or {},
        )

    # ----------------------------------------------------------------- MONAI
    def to_metatensor(self) -> MetaTensor:
        """A channel-first MONAI ``MetaTensor`` of shape (1, P, R, C) with its RAS affine.

        The affine maps the spatial axes (P, R, C) to RAS, MONAI's default space, so MONAI's
        spatial transforms (``Orientation``, ``Spacing``) act on the right physical axes.
        """
        import torch
        from monai.data import MetaTensor

        meta = {
            "space": "RAS",
            "units": self.units,
            "modality": self.modality,
            "pixdim": list(self.spacing),
            "original_affine": torch.as_tensor(self.affine_ras),
        }
        return MetaTensor(torch.from_numpy(np.ascontiguousarray(self.array))[None],
                          affine=torch.as_tensor(self.affine_ras), meta=meta)

    @classmethod
    def from_metatensor(cls, tensor: MetaTensor, *, units: str | None = None,
                        modality: str | None = None) -> Volume:
        """Build a Volume from a (1, P, R, C) or (P, R, C) MetaTensor (RAS or LPS affine)."""
        arr = tensor.detach().cpu().numpy()
        if arr.ndim == 4:
            if arr.shape[0] != 1:
                raise VolumeError(f"expected a single-channel MetaTensor; got {arr.shape[0]} channels")
            arr = arr[0]
        aff = np.asarray(tensor.affine.detach().cpu().numpy(), dtype=np.float64)
        space = str(tensor.meta.get("space", "RAS")).upper()
        lin, off = aff[:3, :3], aff[:3, 3]
        if space == "RAS":
            lin, off = _LPS_TO_RAS @ lin, _LPS_TO_RAS @ off
        sp = np.linalg.norm(lin, axis=0)
        return cls(arr, spacing=tuple(sp), origin=tuple(off), direction=lin / sp,
                   units=units or tensor.meta.get("units", "raw"),
                   modality=modality or tensor.meta.get("modality", "OT"))


def _parse_descrip(image: Any) -> tuple[str | None, str | None]:
    """Read back the units/modality bonenet writes into a NIfTI header's descrip field."""
    try:
        desc = image.header["descrip"].tobytes().decode("ascii", "ignore").strip("\x00 ")
    except Exception:
        return None, None
    units = modality = None
    for tok in desc.split():
        if tok.startswith("units=") and tok[6:] in UNITS:
            units = tok[6:]
        elif tok.startswith("modality="):
            modality = tok[9:]
    return units, modality

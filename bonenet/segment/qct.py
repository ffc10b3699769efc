"""QCT: a trabecular VOI in a vertebral body, and its mean and median density."""

from __future__ import annotations

import numpy as np

from ..errors import SegmentationError
from ..volume import Volume

__all__ = ["vertebral_voi", "voi_stats"]


def vertebral_voi(volume: Volume, *, vertebra_mask: np.ndarray | None = None, margin_mm: float = 4.0,
                  bone_threshold: float = 50.0, height_fraction: float = 0.6) -> np.ndarray:
    """Trabecular VOI in a vertebral body, away from the cortex and endplates.

    With ``vertebra_mask`` (a bool mask of one vertebra or its body, for example from
    TotalSegmentator) the mask is eroded by ``margin_mm`` in physical units (distance map,
    so anisotropic voxels are handled); thin posterior elements vanish and the largest
    remaining piece — the body — is kept. Without a mask the vertebra is found as the
    largest piece above ``bone_threshold`` (volume units, after ≈1 mm in-plane smoothing)
    once each slice's holes are filled — the cortical shell encloses the body; this suits
    phantoms and synthetic scans, not clinical CT with several bones.
    The VOI is limited to the central ``height_fraction`` of the body along P.

    Returns
    -------
    ndarray of bool, shape (P, R, C)

    Raises
    ------
    SegmentationError
        The mask is empty or of the wrong shape, or nothing survives the margin.
    """
    import edt
    from scipy import ndimage as ndi

    if vertebra_mask is None:
        # smooth in-plane (≈1 mm) so a thin cortical shell stays closed, threshold, fill
        # each slice, and keep the largest filled piece: the vertebral body
        sig = [0.0] + [max(0.5, 1.0 / s) for s in volume.spacing[1:]]
        bone = ndi.gaussian_filter(volume.array, sig) > bone_threshold
        if not bone.any():
            raise SegmentationError(
                f"no voxel above {bone_threshold} {volume.units}: give vertebra_mask or a lower bone_threshold"
            )
        filled = np.stack([ndi.binary_fill_holes(s) for s in bone])
        lab, _ = ndi.label(filled)
        sizes = np.bincount(lab.ravel())[1:]
        vm = lab == int(np.argmax(sizes)) + 1
    else:
        vm = np.asarray(vertebra_mask).astype(bool)
        if vm.shape != volume.shape:
            raise SegmentationError(f"vertebra_mask has shape {vm.shape}, image has {volume.shape}")
        if not vm.any():
            raise SegmentationError("vertebra_mask is empty: nothing to place a VOI in")
    depth = edt.edt(vm, anisotropy=volume.spacing, black_border=True)
    core = depth > margin_mm
    if not core.any():
        raise SegmentationError(
            f"no voxel is more than {margin_mm} mm inside the vertebra; lower margin_mm"
        )
    lab, _n = ndi.label(core)
    sizes = np.bincount(lab.ravel())[1:]
    voi = lab == int(np.argmax(sizes)) + 1
    zs = np.nonzero(voi.any(axis=(1, 2)))[0]
    keep = max(1, round(len(zs) * height_fraction))
    start = zs[0] + (len(zs) - keep) // 2
    limit = np.zeros(voi.shape[0], dtype=bool)
    limit[start:start + keep] = True
    return voi & limit[:, None, None]


def voi_stats(volume: Volume, voi: np.ndarray) -> dict[str, float]:
    """Mean and median (volume units), voxel count and volume (mm³) inside the VOI."""
    m = np.asarray(voi).astype(bool)
    if m.shape != volume.shape:
        raise SegmentationError(f"VOI has shape {m.shape}, image has {volume.shape}")
    vals = volume.array[m]
    if vals.size == 0:
        raise SegmentationError("VOI is empty")
    return {"mean": float(vals.mean()), "median": float(np.median(vals)), "voxels": int(vals.size),
            "volume_mm3": float(vals.size * np.prod(volume.spacing))}

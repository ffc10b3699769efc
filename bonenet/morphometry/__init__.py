"""Standard bone measurements as pure functions: binary arrays in, numbers or maps out.

Every function takes ``spacing`` (mm per voxel along (P, R, C), anisotropic allowed) as a
keyword and raises :class:`~bonenet.errors.MorphometryError` for input it cannot measure
(empty or all-bone mask, non-binary mask, shapes that differ, zero or negative spacing).

- :func:`local_thickness` — Hildebrand–Rüegsegger thickness map, ``convention="subvoxel"``
  (default: sub-voxel spheres) or ``"hildebrand"`` (plain voxel grid); see :data:`CONVENTIONS`.
- :func:`trabecular` — BV/TV, Tb.Th, Tb.Sp, Tb.N, Tb.1/N.SD, Conn.D, DA, SMI.
- :func:`cortical` — Ct.Th, Ct.Po, Tt/Ct/Tb.Ar, Tt/Ct/Tb.vBMD.
- :func:`euler_characteristic`, :func:`euler_delta`, :func:`connectivity_density`.
- :func:`degree_of_anisotropy` (MIL), :func:`structure_model_index`.
"""

from __future__ import annotations

from .anisotropy import degree_of_anisotropy, fabric_tensor
from .cortical import CORTICAL_KEYS, cortical
from .smi import structure_model_index
from .thickness import CONVENTIONS, local_thickness, thickness_stats
from .topology import connectivity_density, euler_characteristic, euler_delta
from .trabecular import TRABECULAR_KEYS, trabecular

__all__ = [
    "CONVENTIONS",
    "CORTICAL_KEYS",
    "TRABECULAR_KEYS",
    "connectivity_density",
    "cortical",
    "degree_of_anisotropy",
    "euler_characteristic",
    "euler_delta",
    "fabric_tensor",
    "local_thickness",
    "structure_model_index",
    "thickness_stats",
    "trabecular",
]

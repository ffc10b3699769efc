"""bonenet: osteoporosis and fracture-risk research from bone CT.

The public API is importable from the top level; heavy submodules load lazily on first use,
so ``import bonenet`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .errors import (
    BoneNetError,
    CacheError,
    CalibrationError,
    CheckpointError,
    ClinicalValueError,
    ConfigError,
    DicomError,
    DiskFullError,
    EvaluationError,
    ImageFormatError,
    ManifestError,
    MemoryLimitError,
    MorphometryError,
    OutputLockedError,
    ResourceError,
    SegmentationError,
    SynthError,
    VolumeError,
)
from .volume import Volume

# Submodules loaded on first attribute access (``bonenet.io``, ``bonenet.synth``...).
_LAZY_SUBMODULES = (
    "io",
    "calibrate",
    "segment",
    "morphometry",
    "synth",
    "clinical",
    "data",
    "models",
    "training",
    "evaluation",
    "baselines",
    "inference",
    "measure",
    "tables",
    "device",
)

__all__ = [
    "BoneNetError",
    "CacheError",
    "CalibrationError",
    "CheckpointError",
    "ClinicalValueError",
    "ConfigError",
    "DicomError",
    "DiskFullError",
    "EvaluationError",
    "ImageFormatError",
    "ManifestError",
    "MemoryLimitError",
    "MorphometryError",
    "OutputLockedError",
    "ResourceError",
    "SegmentationError",
    "SynthError",
    "Volume",
    "VolumeError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'bonenet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_LAZY_SUBMODULES])


if TYPE_CHECKING:  # pragma: no cover - what type checkers and IDEs see behind the lazy names
    from . import (  # noqa: F401
        baselines,
        calibrate,
        clinical,
        data,
        device,
        evaluation,
        inference,
        io,
        measure,
        models,
        morphometry,
        segment,
        synth,
        tables,
        training,
    )

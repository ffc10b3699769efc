"""The exceptions bonenet raises for problems a user can cause.

Every message names the file, column or key involved, the offending value, and what to do
about it. Catch :class:`BoneNetError` to handle all of them.
"""

from __future__ import annotations

__all__ = [
    "BoneNetError",
    "CalibrationError",
    "CheckpointError",
    "ClinicalValueError",
    "ConfigError",
    "DicomError",
    "EvaluationError",
    "ImageFormatError",
    "ManifestError",
    "MorphometryError",
    "SegmentationError",
    "SynthError",
    "VolumeError",
]


class BoneNetError(Exception):
    """Base class of every error bonenet raises for bad input or bad configuration."""


class VolumeError(BoneNetError, ValueError):
    """A Volume was built or converted with inconsistent array, geometry or units."""


class ImageFormatError(BoneNetError):
    """A file could not be read as an image (unknown format, corrupt, unsupported content)."""


class DicomError(ImageFormatError):
    """A DICOM file or series cannot be read into a trustworthy Volume."""


class CalibrationError(BoneNetError):
    """A density calibration failed (poor fit, missing rod, wrong units)."""


class SegmentationError(BoneNetError):
    """A segmentation could not be produced from the given image or masks."""


class MorphometryError(BoneNetError, ValueError):
    """A measurement got input it cannot measure (empty mask, bad spacing, shape mismatch)."""


class ManifestError(BoneNetError):
    """A manifest or features CSV is missing a file, a column, or has a bad row."""


class ClinicalValueError(BoneNetError, ValueError):
    """A clinical variable has an impossible or unparseable value."""


class ConfigError(BoneNetError):
    """A configuration (YAML or arguments) names an unknown key or an invalid value."""


class CheckpointError(BoneNetError):
    """A checkpoint or exported model cannot be loaded or does not match."""


class EvaluationError(BoneNetError, ValueError):
    """Predictions or outcomes cannot be evaluated as given."""


class SynthError(BoneNetError, ValueError):
    """Synthetic-data parameters are out of range or inconsistent."""

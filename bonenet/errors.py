"""The exceptions bonenet raises for problems a user can cause.

Every message names the file, column or key involved, the offending value, and what to do
about it. Catch :class:`BoneNetError` to handle all of them.

Exit statuses of the ``bonenet`` command (each error class carries its own in
``exit_status``; :func:`exit_status_for` maps any exception):

====  ===========================================================================
code  meaning
====  ===========================================================================
0     everything asked for was done
1     the run finished but some studies failed (listed in ``errors.csv`` or the
      command's failure file); the others are written
2     usage or input error (bad argument, unreadable input, untrusted checkpoint,
      output folder locked by another run); nothing or only complete files written
3     resource exhaustion: disk full, a file that claims more memory than the
      ceiling (``BONENET_MAX_VOXELS``), out of memory
130   interrupted (Ctrl-C)
====  ===========================================================================
"""

from __future__ import annotations

__all__ = [
    "EXIT_FAILED_STUDIES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RESOURCE",
    "EXIT_USAGE",
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
    "VolumeError",
    "exit_status_for",
]

EXIT_OK = 0
EXIT_FAILED_STUDIES = 1
EXIT_USAGE = 2
EXIT_RESOURCE = 3
EXIT_INTERRUPTED = 130


class BoneNetError(Exception):
    """Base class of every error bonenet raises for bad input or bad configuration."""

    #: Exit status of the ``bonenet`` command when this error ends it.
    exit_status: int = EXIT_USAGE


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


class CacheError(BoneNetError):
    """A preprocessed-image cache entry is corrupt or poisoned (wrong shape, dtype, NaN/Inf)."""


class OutputLockedError(BoneNetError):
    """Another bonenet run holds the lock on the output folder (``OUT/.lock``)."""


class ResourceError(BoneNetError):
    """A resource ran out or would run out: disk space, or memory a file asks for.

    The ``bonenet`` command exits with status 3 (:data:`EXIT_RESOURCE`) on these.
    """

    exit_status = EXIT_RESOURCE


class DiskFullError(ResourceError, OSError):
    """Writing an output failed because the disk (or the user's quota) is full."""


class MemoryLimitError(ResourceError):
    """A file claims an array larger than the memory ceiling or than its own size allows."""


def exit_status_for(exc: BaseException) -> int:
    """Exit status of the ``bonenet`` command for an exception that ended it.

    :class:`BoneNetError` subclasses carry their own; disk-full and quota ``OSError`` and
    ``MemoryError`` count as resource exhaustion (3); ``KeyboardInterrupt`` is 130; anything
    else is 2.
    """
    import errno

    if isinstance(exc, BoneNetError):
        return int(exc.exit_status)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, MemoryError):
        return EXIT_RESOURCE
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return EXIT_RESOURCE
    return EXIT_USAGE

"""Manifests, datasets, transforms and the Lightning DataModule.

``Sample``/``Batch``/``collate`` are the records that flow into models; ``read_manifest``
validates a manifest CSV; ``Preprocess`` turns a Volume into a network tensor in physical
units; ``Augment`` is the MONAI training augmentation; ``SampleCache`` the on-disk cache;
``StudyInput`` turns one study (images, masks, declared units, clinical row) into a model
input — the one path training and ``bonenet predict`` share, saved in checkpoints;
``BoneDataset`` the plain PyTorch dataset; ``BoneDataModule`` the LightningDataModule
(imported lazily: it pulls in Lightning).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._batch import TARGET_KEYS, Batch, Sample, collate

_LAZY = {
    "Augment": "._augment",
    "BoneDataModule": "._datamodule",
    "BoneDataset": "._dataset",
    "worker_init_fn": "._dataset",
    "EpochShuffleSampler": "._sampler",
    "derive_seed": "._augment",
    "Manifest": "._manifest",
    "SPLITS": "._manifest",
    "read_manifest": "._manifest",
    "read_manifest_header": "._manifest",
    "Preprocess": "._preprocess",
    "SampleCache": "._cache",
    "fingerprint": "._cache",
    "assign_splits": "._splits",
    "StudyInput": "._study_input",
    "StudyError": "._study_input",
    "load_study_image": "._study_input",
    "load_study_mask": "._study_input",
    "UNITS_COLUMN": "._study_input",
    "MASK_LABEL_COLUMN": "._study_input",
    "VERTEBRA_COLUMN": "._study_input",
}

__all__ = [
    "MASK_LABEL_COLUMN",
    "SPLITS",
    "TARGET_KEYS",
    "UNITS_COLUMN",
    "VERTEBRA_COLUMN",
    "Augment",
    "Batch",
    "BoneDataModule",
    "BoneDataset",
    "EpochShuffleSampler",
    "Manifest",
    "Preprocess",
    "Sample",
    "SampleCache",
    "StudyError",
    "StudyInput",
    "assign_splits",
    "collate",
    "derive_seed",
    "fingerprint",
    "load_study_image",
    "load_study_mask",
    "read_manifest",
    "read_manifest_header",
    "worker_init_fn",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'bonenet.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from ._augment import Augment, derive_seed
    from ._cache import SampleCache, fingerprint
    from ._datamodule import BoneDataModule
    from ._dataset import BoneDataset, worker_init_fn
    from ._manifest import SPLITS, Manifest, read_manifest, read_manifest_header
    from ._preprocess import Preprocess
    from ._sampler import EpochShuffleSampler
    from ._splits import assign_splits
    from ._study_input import (
        MASK_LABEL_COLUMN,
        UNITS_COLUMN,
        VERTEBRA_COLUMN,
        StudyError,
        StudyInput,
        load_study_image,
        load_study_mask,
    )

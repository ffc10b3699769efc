"""Manifests, datasets, transforms and the Lightning DataModule.

``Sample``/``Batch``/``collate`` are the records that flow into models.
"""

from __future__ import annotations

from ._batch import TARGET_KEYS, Batch, Sample, collate

__all__ = ["TARGET_KEYS", "Batch", "Sample", "collate"]

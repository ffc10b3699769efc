"""``BoneDataset``: manifest rows → :class:`Sample` records (usable without Lightning)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .._progress import progress
from ..errors import BoneNetError, ConfigError
from ._augment import derive_seed
from ._batch import TARGET_KEYS, Sample
from ._manifest import Manifest, read_manifest
from ._study_input import MASK_LABEL_COLUMN, UNITS_COLUMN, VERTEBRA_COLUMN, StudyInput

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..clinical import ClinicalEncoder
    from ._augment import Augment
    from ._cache import SampleCache
    from ._preprocess import Preprocess

__all__ = ["BoneDataset", "worker_init_fn"]


class BoneDataset(Dataset):
    """Subjects of a manifest as :class:`Sample` records for ``DataLoader(collate_fn=collate)``.

    Parameters
    ----------
    manifest : Manifest, DataFrame or path
        A validated :class:`Manifest` (or its ``table``), or a CSV path to read and validate.
    image_columns : sequence of str
        Image path columns; each subject gets K = len(image_columns) slots, absent ones are
        zeros with ``image_present`` False.
    preprocess : Preprocess, optional
        Volume → tensor; None means no images are loaded (clinical-only).
    encoder : ClinicalEncoder, optional
        A *fitted* encoder; None means no clinical tensors.
    augment : Augment, optional
        Random augmentation (training split only).
    cache : SampleCache, optional
        On-disk cache of preprocessed tensors (keys computed once here).
    mask_column : str, optional
        Column with a VOI mask path per subject (for ``Preprocess(crop="mask")``); the mask
        applies to every image column of the row.
    load_options : dict, optional
        Further reader options for :func:`bonenet.io.load` (``series``, ``allow_gaps``…).
    units : str, optional
        Declared units of NIfTI/NRRD images (a manifest ``units`` column overrides per row).
    vertebra : str, optional
        Vertebral level whose TotalSegmentator label is the VOI of multilabel masks (a
        manifest ``vertebra`` or ``mask_label`` column overrides per row).
    on_error : {"raise", "mark"}
        What a study that cannot be read or preprocessed does: stop (training), or become an
        absent image slot with the reason in ``Sample.error`` / ``Batch.errors`` so batch
        inference goes on past it.
    """

    def __init__(self, manifest: Manifest | pd.DataFrame | str | os.PathLike[str], *,
                 image_columns: Sequence[str] = ("image",), preprocess: Preprocess | None = None,
                 encoder: ClinicalEncoder | None = None, augment: Augment | None = None,
                 cache: SampleCache | None = None, mask_column: str | None = None,
                 load_options: dict[str, Any] | None = None, units: str | None = None,
                 vertebra: str | None = None, on_error: str = "raise") -> None:
        if on_error not in ("raise", "mark"):
            raise ConfigError(f"BoneDataset: on_error must be 'raise' or 'mark'; got {on_error!r}")
        self.on_error = on_error
        if isinstance(manifest, (str, os.PathLike)):
            manifest = read_manifest(manifest, image_columns=image_columns,
                                     require_images=preprocess is not None)
        table = manifest.table if isinstance(manifest, Manifest) else manifest
        self.table = table.reset_index(drop=True)
        self.image_columns = tuple(image_columns)
        self.preprocess = preprocess
        self.encoder = encoder
        self.augment = augment
        self.cache = cache
        self.mask_column = mask_column
        # the same object turns a study into a model input at predict time (bonenet.inference)
        self.input = StudyInput(preprocess=preprocess, encoder=encoder,
                                image_columns=self.image_columns, mask_column=mask_column,
                                units=units, load_options=dict(load_options or {}),
                                vertebra=vertebra)
        self.load_options = self.input.load_options
        if preprocess is not None:
            missing = [c for c in self.image_columns if c not in self.table.columns]
            if missing:
                raise ConfigError(f"BoneDataset: image column(s) {missing} not in the manifest")
        self.subject_ids = [str(s) for s in self.table["subject_id"]]
        self._clinical: tuple[torch.Tensor, torch.Tensor] | None = None
        if encoder is not None:
            values, observed = encoder.transform(self.table)
            self._clinical = (torch.from_numpy(values), torch.from_numpy(observed))
        self._targets = [self._row_targets(i) for i in range(len(self.table))]
        self._path_cache: list[tuple[list[str], str | None]] | None = None
        self._row_units = self._optional_column(UNITS_COLUMN)
        self._mask_labels = [self.input.mask_label_for(lab, lv) for lab, lv in zip(
            self._optional_column(MASK_LABEL_COLUMN), self._optional_column(VERTEBRA_COLUMN),
            strict=True)]
        self._keys: list[list[str | None]] | None = None
        if cache is not None and preprocess is not None:
            self._keys = self._cache_keys()

    def _optional_column(self, name: str) -> list[str | None]:
        if name not in self.table.columns:
            return [None] * len(self.table)
        return [None if v is None or (isinstance(v, float) and math.isnan(v)) or not str(v).strip()
                else str(v).strip() for v in self.table[name]]

    def _variant(self, i: int) -> str:
        """What besides the file and the Preprocess changes the input (cache key part)."""
        u = self._row_units[i] or self.input.units
        lab = self._mask_labels[i]
        return "" if u is None and lab is None else f"|units={u}|label={lab}"

    def _row_targets(self, i: int) -> dict[str, torch.Tensor]:
        out = {}
        for k in TARGET_KEYS:
            if k in self.table.columns:
                v = self.table[k].iloc[i]
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(v):
                    out[k] = torch.tensor(int(v)) if k == "event" else torch.tensor(v, dtype=torch.float32)
        return out

    def _paths(self, i: int) -> tuple[list[str], str | None]:
        if self._path_cache is None:
            def cell(v: Any) -> str:
                return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()

            cols = {c: [cell(v) for v in self.table[c]] for c in self.image_columns}
            masks = ([cell(v) for v in self.table[self.mask_column]] if self.mask_column is not None
                     else [""] * len(self.table))
            self._path_cache = [([cols[c][r] for c in self.image_columns], masks[r] or None)
                                for r in range(len(self.table))]
        return self._path_cache[i]

    def _cache_keys(self) -> list[list[str | None]]:
        assert self.cache is not None and self.preprocess is not None
        pkey = self.preprocess.key
        keys = []
        for i in progress(range(len(self.table)), desc="fingerprint images", total=len(self.table)):
            paths, mask = self._paths(i)
            row: list[str | None] = []
            for p in paths:
                try:
                    row.append(self.cache.key(p, pkey + self._variant(i), mask) if p else None)
                except OSError:  # unreadable now: loading it names the file (or marks it)
                    row.append(None)
            keys.append(row)
        return keys

    def __len__(self) -> int:
        return len(self.table)

    def load_image(self, i: int, k: int) -> np.ndarray | None:
        """Preprocessed image ``k`` of subject ``i`` (float32 ``roi_size``), from the cache if there."""
        if self.preprocess is None:
            raise ConfigError("BoneDataset: no preprocess given, so no images are read")
        paths, mask = self._paths(i)
        path = paths[k]
        if not path:
            return None
        key = None if self._keys is None else self._keys[i][k]
        if key is not None and self.cache is not None:
            arr = self.cache.get(key, study=self.subject_ids[i],
                                  shape=tuple(self.preprocess.output_shape)[1:])  # no channel axis
            if arr is not None:
                return arr
        arr = self.input.image(path, mask=mask, mask_label=self._mask_labels[i],
                               units=self._row_units[i])
        if key is not None and self.cache is not None:
            self.cache.put(key, arr)
        return arr

    def __getitem__(self, item: int | tuple[int, int]) -> Sample:
        """Sample ``item``: an index, or ``(index, epoch)`` from :class:`EpochShuffleSampler`,
        in which case the loader-stage augmentation is seeded from ``(seed, epoch, index)``."""
        if isinstance(item, tuple):
            i, epoch = int(item[0]), int(item[1])
            if self.augment is not None:
                self.augment.reseed(derive_seed(self.augment.seed, epoch, i))
        else:
            i = int(item)
        images = present = None
        error: str | None = None
        if self.preprocess is not None:
            shape = self.preprocess.output_shape
            imgs = []
            flags = []
            for k in range(len(self.image_columns)):
                try:
                    arr = self.load_image(i, k)
                except BoneNetError as exc:
                    if self.on_error == "raise":
                        raise
                    error = f"{self.image_columns[k]}: {exc}" if error is None else error
                    arr = None
                if arr is None:
                    imgs.append(torch.zeros(shape))
                    flags.append(False)
                    continue
                t = torch.from_numpy(arr).unsqueeze(0)
                if self.augment is not None:
                    t = self.augment(t)
                imgs.append(t)
                flags.append(True)
            images = torch.stack(imgs)
            present = torch.tensor(flags, dtype=torch.bool)
        clin = obs = None
        if self._clinical is not None:
            clin, obs = self._clinical[0][i], self._clinical[1][i]
        return Sample(subject_id=self.subject_ids[i], images=images, clinical=clin,
                      clinical_observed=obs, targets=dict(self._targets[i]), image_present=present,
                      error=error)

    def warm_cache(self) -> int:
        """Preprocess every image into the cache now (with a progress bar); returns entries made."""
        if self.cache is None or self.preprocess is None:
            return 0
        before = self.cache.misses
        for i in progress(range(len(self)), desc="preprocess → cache", total=len(self)):
            for k in range(len(self.image_columns)):
                self.load_image(i, k)
        return self.cache.misses - before


def worker_init_fn(worker_id: int) -> None:
    """Give each DataLoader worker its own augmentation stream from PyTorch's worker seed."""
    info = torch.utils.data.get_worker_info()
    if info is None:
        return
    ds = info.dataset
    aug = getattr(ds, "augment", None)
    if aug is not None:
        aug.reseed(torch.initial_seed() % (2**32))

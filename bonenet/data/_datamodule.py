"""``BoneDataModule``: manifest → splits → fitted clinical encoder → cached, augmented loaders."""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from .._pool import worker_context
from ..errors import CheckpointError, ConfigError, ManifestError
from ._augment import Augment
from ._batch import Batch, collate
from ._cache import SampleCache
from ._dataset import BoneDataset, worker_init_fn
from ._manifest import read_manifest, read_manifest_header
from ._preprocess import Preprocess
from ._sampler import EpochShuffleSampler
from ._splits import SPLIT_MODES, assign_splits

# what the loader workers' fork server imports once (each worker then starts in a fraction
# of a second); see bonenet._pool.worker_context
_LOADER_PRELOAD = ("torch", "numpy", "pandas", "bonenet.io", "bonenet.data")

__all__ = ["BoneDataModule"]

_FORMAT = "bonenet.BoneDataModule/1"
_PARTS = ("train", "val", "test", "external")


def _default_clinical_variables(columns: Sequence[str], declared: Sequence[Any] = ()) -> list[str]:
    from ..clinical import SCHEMA, clinical_columns

    present = {name for name, _ in clinical_columns(columns).values()}
    if {"weight_kg", "height_cm"} <= present:
        present.add("bmi")
    if "fn_bmd" in present:
        present.add("fn_tscore")
    # device variables (dxa_manufacturer) harmonise fn_bmd; they are inputs only when listed
    return [v for v in SCHEMA if v in present and SCHEMA[v].group != "device"] + [d.name for d in declared]


class BoneDataModule(pl.LightningDataModule):
    """Lightning DataModule over a bonenet manifest.

    The constructor only stores arguments and checks the manifest's header (raising
    :class:`~bonenet.errors.ManifestError` naming a missing column); :meth:`setup` reads and
    validates every row, splits, fits the :class:`~bonenet.clinical.ClinicalEncoder` on the
    training split and builds the datasets. ``n_clinical_features``, ``in_channels``,
    ``spatial_dims`` and ``images_per_subject`` are known right after construction.

    Parameters
    ----------
    manifest : str
        Manifest CSV (columns: :mod:`bonenet.data._manifest`).
    root : str, optional
        Folder relative image paths are resolved against (default the manifest's folder).
    image_columns : sequence of str
        Image path columns (K images per subject).
    spatial_dims : {2, 3}
    target_spacing_mm : float or sequence, optional
        Resampling target, mm; None keeps native spacing.
    roi_size : sequence of int
        Network input size, voxels.
    intensity_window : (float, float), optional
        Clip range in the images' ``units``.
    units : str, optional
        The images' units ("HU", "mgHA/cm3"...): the one way to declare them. NIfTI/NRRD files
        (which do not record units) are read in these units; DICOM/AIM files carry their own,
        and a mismatch is an error, never a rescale. A manifest ``units`` column declares them
        per study. Checked for every image when the manifest is read, before training starts.
    normalize : {"auto", "unit", "zscore", "none"}
        "auto" = "unit" with a window, else "zscore".
    crop : {"bone", "mask", "center"}
    bone_threshold : float, optional
        In ``units``; default Otsu.
    mask_column : str, optional
        Manifest column of VOI masks (for ``crop="mask"``).
    augment : bool
        Augment the training split.
    augment_options : dict, optional
        Keyword arguments of :class:`Augment` (``flip_axes``, ``rotate_deg``, ``scale``,
        ``shift``, ``noise_std``, ``prob``).
    clinical_variables : list of str or dict, optional
        Canonical variables to encode (strings), and user-declared variables (mappings or
        :class:`bonenet.clinical.ClinicalVariable`: ``{name: nlr, kind: continuous,
        valid_range: [0, 100], aliases: [NLR], required: true}``), which are always encoded
        and saved with the encoder in the checkpoint. With no strings: every schema variable
        the manifest has (or can derive: ``bmi``, ``fn_tscore``), plus the declared ones.
    use_images, use_clinical : bool
    split : {"auto", "column", "stratified", "site"}
    external_site : str, optional
        Site held out as the test set.
    val_fraction, test_fraction : float
    batch_size, num_workers : int
        Loader workers start from a fork server (never a plain fork of the training
        process, whose thread pools have run); a script that calls ``fit`` itself with
        ``num_workers > 0`` needs an ``if __name__ == "__main__":`` guard.
    persistent_workers : bool, optional
        Default: True when ``num_workers > 0``.
    pin_memory : bool, optional
        Default: True when CUDA is available.
    cache_dir : str, optional
        On-disk cache of preprocessed images.
    content_hash : {"fast", "full"}
        How the cache fingerprints image files.
    predict_manifest : str, optional
        Manifest for :meth:`predict_dataloader` (default: the test split).
    load_options : dict, optional
        Further reader options for :func:`bonenet.io.load` (``series``, ``allow_gaps``,
        ``gantry_tilt``, ``native``); units are declared with ``units``.
    vertebra : str, optional
        With multilabel TotalSegmentator masks (``mask_column``, ``crop: mask``): the vertebral
        level (``L1``…) to crop around; a manifest ``vertebra`` column sets it per row.
    seed : int
    """

    def __init__(self, manifest: str, *, root: str | None = None,
                 image_columns: Sequence[str] = ("image",), spatial_dims: int = 3,
                 target_spacing_mm: float | Sequence[float] | None = None,
                 roi_size: Sequence[int] = (64, 64, 64),
                 intensity_window: Sequence[float] | None = None, units: str | None = None,
                 normalize: str = "auto", crop: str = "bone", bone_threshold: float | None = None,
                 mask_column: str | None = None, augment: bool = True,
                 augment_options: dict[str, Any] | None = None,
                 clinical_variables: list[str | dict[str, Any]] | None = None, use_images: bool = True,
                 use_clinical: bool = True, split: str = "auto", external_site: str | None = None,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, batch_size: int = 8,
                 num_workers: int = 0, persistent_workers: bool | None = None,
                 pin_memory: bool | None = None, cache_dir: str | None = None,
                 content_hash: str = "fast", predict_manifest: str | None = None,
                 load_options: dict[str, Any] | None = None, vertebra: str | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        from ..clinical import split_spec

        names, declared = split_spec(clinical_variables)
        if clinical_variables:  # hparams hold plain dicts (checkpoints load with weights_only=True)
            clinical_variables = [*(s for s in clinical_variables if isinstance(s, str)),
                                  *(d.to_dict() for d in declared)]
        self.save_hyperparameters()  # the arguments (no data) go into checkpoints
        if not use_images and not use_clinical:
            raise ConfigError("BoneDataModule: use_images and use_clinical are both False; enable one")
        if split not in SPLIT_MODES:
            raise ConfigError(f"BoneDataModule: split={split!r} unknown; use one of {', '.join(SPLIT_MODES)}")
        if batch_size < 1 or num_workers < 0:
            raise ConfigError("BoneDataModule: batch_size must be ≥ 1 and num_workers ≥ 0")
        self.manifest = str(manifest)
        self.root = root
        self.image_columns = tuple(image_columns)
        self.use_images = use_images
        self.use_clinical = use_clinical
        self.columns = read_manifest_header(self.manifest, image_columns=self.image_columns,
                                            require_images=use_images)
        if mask_column is not None and mask_column not in self.columns:
            raise ManifestError(f"manifest {self.manifest}: mask column {mask_column!r} is missing")
        if normalize == "auto":
            normalize = "unit" if intensity_window is not None else "zscore"
        self._preprocess_cfg = Preprocess(
            spatial_dims, target_spacing_mm, roi_size, intensity_window, units, normalize, crop,
            bone_threshold, mask_outside=False) if use_images else None
        self._spatial_dims = int(spatial_dims)
        self.mask_column = mask_column
        self.augment = augment
        self.augment_options = dict(augment_options or {})
        known = {"flip_axes", "rotate_deg", "scale", "shift", "noise_std", "prob", "batch_stage"}
        unknown = sorted(set(self.augment_options) - known)
        if unknown:
            raise ConfigError(f"BoneDataModule: augment_options key(s) {unknown} unknown; use "
                              f"{', '.join(sorted(known))}")
        if augment and use_images:
            Augment(spatial_dims, **self.augment_options)  # validate values now
        self.explicit_clinical = names is not None
        self.clinical_declared = declared
        self.clinical_variables = (list(names) if names is not None
                                   else _default_clinical_variables(self.columns, declared)) if use_clinical else []
        from ..clinical import ClinicalEncoder

        self._encoder = ClinicalEncoder(self.clinical_variables, declared=declared) if use_clinical else None
        self.split = split
        self.external_site = external_site
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.persistent_workers = (num_workers > 0) if persistent_workers is None else persistent_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.cache_dir = cache_dir
        self.content_hash = content_hash
        self.predict_manifest = predict_manifest
        from ._study_input import StudyInput

        # validates load_options now (a typo fails at config time, not at the first image)
        spec = StudyInput(image_columns=self.image_columns, mask_column=mask_column, units=units,
                          load_options=dict(load_options or {}), vertebra=vertebra)
        self.vertebra = spec.vertebra
        self.units = spec.units
        self.load_options = spec.load_options
        self.seed = seed
        self.datasets: dict[str, BoneDataset] = {}
        self.split_labels: np.ndarray | None = None

    # ------------------------------------------------------------ properties
    @property
    def n_clinical_features(self) -> int:
        """Width of the encoded clinical vector (0 without clinical data)."""
        return 0 if self._encoder is None else self._encoder.n_features

    @property
    def in_channels(self) -> int:
        """Image channels per slot (1)."""
        return 1

    @property
    def spatial_dims(self) -> int:
        """2 or 3."""
        return self._spatial_dims

    @property
    def images_per_subject(self) -> int:
        """K, the image slots per subject (0 without images)."""
        return len(self.image_columns) if self.use_images else 0

    @property
    def encoder(self) -> Any:
        """The (fitted after :meth:`setup`) ClinicalEncoder, or None."""
        return self._encoder

    @property
    def preprocess(self) -> Preprocess | None:
        """The Preprocess applied to every image (None without images)."""
        return self._preprocess_cfg

    # ----------------------------------------------------------------- setup
    def _cache(self) -> SampleCache | None:
        return SampleCache(self.cache_dir, content_hash=self.content_hash) if self.cache_dir else None

    def setup(self, stage: str | None = None) -> None:
        """Read and validate the manifest, split it, fit the encoder on train, build datasets."""
        if self.datasets:
            return
        m = read_manifest(self.manifest, image_columns=self.image_columns, root=self.root,
                          require_images=self.use_images, check_files=self.use_images,
                          require_split=self.split == "column",
                          clinical_required=[v for v in self.clinical_variables if v not in
                                             {d.name for d in self.clinical_declared}]
                          if self.explicit_clinical else (),  # declared: their own `required`
                          clinical_declared=self.clinical_declared,
                          mask_column=self.mask_column if self.use_images else None,
                          units=self.units if self.use_images else None)
        labels = assign_splits(m.table, mode=self.split, external_site=self.external_site,
                               val_fraction=self.val_fraction, test_fraction=self.test_fraction,
                               seed=self.seed, source=f"manifest {self.manifest}")
        self.split_labels = labels
        train = m.table[labels == "train"]
        if len(train) == 0:
            raise ManifestError(f"manifest {self.manifest}: the training split is empty; check the split column "
                                "or fractions")
        if self._encoder is not None and not self._encoder.fitted_:
            train.attrs["source"] = f"manifest {self.manifest}"
            self._encoder.fit(train)
        cache = self._cache()
        for name in _PARTS:
            part = m.table[labels == name]
            aug = None
            if name == "train" and self.augment and self.use_images:
                aug = Augment(self.spatial_dims, seed=self.seed, **self.augment_options)
            self.datasets[name] = self._dataset(part, augment=aug, cache=cache)

    def _dataset(self, table: Any, *, augment: Augment | None, cache: SampleCache | None,
                 on_error: str = "raise") -> BoneDataset:
        return BoneDataset(table, image_columns=self.image_columns,
                           preprocess=self._preprocess_cfg if self.use_images else None,
                           encoder=self._encoder, augment=augment, cache=cache,
                           mask_column=self.mask_column, load_options=self.load_options,
                           units=self.units, vertebra=self.vertebra, on_error=on_error)

    def dataset_for(self, manifest: str | os.PathLike[str], *, require_outcomes: bool = False,
                    check_files: bool = True, on_error: str = "raise") -> BoneDataset:
        """A dataset (no augmentation) over another manifest with this module's fitted encoder
        and Preprocess — what inference uses. ``check_files=False, on_error="mark"`` lets
        batch inference go on past missing or unreadable studies (see ``Batch.errors``)."""
        if self._encoder is not None and not self._encoder.fitted_:
            raise ConfigError("BoneDataModule.dataset_for: call setup() or load_state_dict() first "
                              "(the clinical encoder is not fitted)")
        m = read_manifest(manifest, image_columns=self.image_columns, root=None,
                          require_images=self.use_images, check_files=self.use_images and check_files,
                          clinical_declared=getattr(self._encoder, "declared", ()),
                          mask_column=self.mask_column if self.use_images else None,
                          units=self.units if self.use_images else None)
        if require_outcomes and "fracture" not in m.table.columns:
            raise ManifestError(f"manifest {manifest}: column 'fracture' is missing")
        return self._dataset(m.table, augment=None, cache=self._cache(), on_error=on_error)

    # ------------------------------------------------------------ loaders
    def _loader(self, ds: BoneDataset, *, shuffle: bool) -> DataLoader:
        common = {"batch_size": self.batch_size, "num_workers": self.num_workers, "collate_fn": collate,
                  "pin_memory": self.pin_memory, "drop_last": False, "worker_init_fn": worker_init_fn,
                  "persistent_workers": self.persistent_workers and self.num_workers > 0,
                  "generator": torch.Generator().manual_seed(self.seed)}
        if self.num_workers > 0:  # never a plain fork of a process whose thread pools ran
            common["multiprocessing_context"] = worker_context(_LOADER_PRELOAD)
        if not shuffle:
            return DataLoader(ds, **common)
        return DataLoader(ds, sampler=EpochShuffleSampler(len(ds), seed=self.seed, with_epoch=True),
                          **common)

    def _need(self, name: str) -> BoneDataset:
        if not self.datasets:
            self.setup()
        return self.datasets[name]

    def train_dataloader(self) -> DataLoader:
        """Shuffled (per seed and epoch), augmented training batches."""
        return self._loader(self._need("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches in manifest order."""
        return self._loader(self._need("val"), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches in manifest order."""
        return self._loader(self._need("test"), shuffle=False)

    def external_dataloader(self) -> DataLoader:
        """Batches of the rows labelled ``external`` in the split column (may be empty)."""
        return self._loader(self._need("external"), shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """Batches over ``predict_manifest`` when given, else over the test split (the
        ``external`` split has :meth:`external_dataloader`)."""
        if self.predict_manifest is not None:
            if not self.datasets and self._encoder is not None and not self._encoder.fitted_:
                self.setup()
            return self._loader(self.dataset_for(self.predict_manifest), shuffle=False)
        return self._loader(self._need("test"), shuffle=False)

    # --------------------------------------------------- batch-stage augmentation
    def augment_batch(self, batch: Batch) -> Batch:
        """Apply the batch stage of the training augmentation (rotations, noise) to ``batch``
        on whatever device it is on. Lightning calls it through :meth:`on_after_batch_transfer`
        for training batches; a plain PyTorch loop calls it after ``batch.to(device)``."""
        ds = self.datasets.get("train")
        aug = None if ds is None else ds.augment
        if aug is None or batch.images is None or not aug.has_batch_stage:
            return batch
        trainer = getattr(self, "trainer", None)
        epoch = int(getattr(trainer, "current_epoch", 0) or 0) if trainer is not None else 0
        ids = zlib.crc32("\0".join(batch.subject_ids).encode())
        batch.images = aug.augment_batch(batch.images, batch.image_present, key=(epoch, ids))
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Lightning hook: batch-stage augmentation for training batches only."""
        trainer = getattr(self, "trainer", None)
        if isinstance(batch, Batch) and trainer is not None and trainer.training:
            return self.augment_batch(batch)
        return batch

    # -------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Fitted encoder, Preprocess parameters and a digest of the split (no subject ids)."""
        state: dict[str, Any] = {
            "format": _FORMAT,
            "encoder": None if self._encoder is None or not self._encoder.fitted_ else self._encoder.to_dict(),
            "preprocess": None if self._preprocess_cfg is None else self._preprocess_cfg.to_dict(),
            "clinical_variables": list(self.clinical_variables),
            "image_columns": list(self.image_columns),
            "use_images": self.use_images, "use_clinical": self.use_clinical,
            # how a study becomes an input (bonenet.data.StudyInput): predict repeats it
            "mask_column": self.mask_column, "units": self.units,
            "load_options": dict(self.load_options), "vertebra": self.vertebra,
        }
        if self.split_labels is not None and self.datasets:
            ids = [sid for n in _PARTS for sid in self.datasets[n].subject_ids]
            lab = [n for n in _PARTS for _ in self.datasets[n].subject_ids]
            h = hashlib.sha256("\n".join(f"{i}\t{s}" for i, s in sorted(zip(ids, lab, strict=True))).encode())
            state["split_counts"] = {n: len(self.datasets[n]) for n in _PARTS}
            state["split_digest"] = h.hexdigest()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the fitted encoder and the Preprocess (inference and resume repeat them exactly)."""
        from ..clinical import ClinicalEncoder

        if not isinstance(state_dict, dict) or state_dict.get("format") != _FORMAT:
            raise CheckpointError("not a BoneDataModule state (missing format "
                                  f"{_FORMAT!r}); was the checkpoint made by bonenet?")
        enc = state_dict.get("encoder")
        if self.use_clinical and state_dict.get("use_clinical") and enc is None:
            raise CheckpointError("checkpoint's data state has no fitted clinical encoder")
        self.use_images = bool(state_dict["use_images"])
        self.use_clinical = bool(state_dict["use_clinical"])
        self.image_columns = tuple(state_dict["image_columns"])
        self.clinical_variables = list(state_dict["clinical_variables"])
        self.mask_column = state_dict.get("mask_column", self.mask_column)
        self.units = state_dict.get("units", self.units)
        self.load_options = dict(state_dict.get("load_options", self.load_options))
        self.vertebra = state_dict.get("vertebra", self.vertebra)
        self._encoder = ClinicalEncoder.from_dict(enc) if enc is not None else None
        self.clinical_declared = getattr(self._encoder, "declared", ())
        pre = state_dict.get("preprocess")
        self._preprocess_cfg = Preprocess.from_dict(pre) if pre is not None else None
        if self._preprocess_cfg is not None:
            self._spatial_dims = self._preprocess_cfg.spatial_dims
        if self.datasets:  # rebuild with the restored state
            for name, ds in list(self.datasets.items()):
                self.datasets[name] = self._dataset(ds.table, augment=ds.augment, cache=ds.cache)

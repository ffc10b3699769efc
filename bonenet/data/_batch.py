"""The sample and batch records that flow from datasets into models.

Plain dataclasses with an explicit collate function: no dict subclasses (TorchIO's dict-subclass ``Subject`` broke with a PyTorch collate change).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["TARGET_KEYS", "Batch", "Sample", "collate"]

#: Target names a sample may carry; an unknown target is NaN.
TARGET_KEYS = ("fracture", "time_years", "event", "bmd_change")


@dataclass
class Sample:
    """One subject.

    Attributes
    ----------
    subject_id : str
        Pseudonymous subject identifier.
    images : Tensor of shape (K, C, *spatial) or None
        K preprocessed images of the subject (radius and tibia, several vertebrae...).
    clinical : Tensor of shape (F,) or None
        Encoded clinical values (missing → 0).
    clinical_observed : Tensor of shape (F,) or None
        1 where the clinical value was observed, 0 where missing (same layout as ``clinical``).
    targets : dict of str → 0-d Tensor
        Any of :data:`TARGET_KEYS`; ``event`` is 0 censored, 1 fracture, 2 competing death.
    image_present : Tensor of shape (K,) bool or None
        Which of the K image slots hold a real image (a subject may lack, say, the tibia
        scan: its slot is zeros and False here). None means all K are present.
    error : str or None
        Why an image of this subject could not be read or preprocessed, when the dataset was
        asked to go on past bad studies (``BoneDataset(on_error="mark")``); its slot is
        then marked absent.
    info : dict
        What serving reports about the study besides the model's output (pseudonymised
        series, QC flags, warnings, measurements, missing clinical values); empty in training.
    """

    subject_id: str
    images: torch.Tensor | None = None
    clinical: torch.Tensor | None = None
    clinical_observed: torch.Tensor | None = None
    targets: dict[str, torch.Tensor] = field(default_factory=dict)
    image_present: torch.Tensor | None = None
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Batch:
    """A collated batch; every tensor has the batch axis first.

    ``images`` is (B, K, C, *spatial) with ``image_present`` (B, K) marking real (not padded)
    image slots; ``clinical`` and ``clinical_observed`` are (B, F); ``targets`` maps each of
    :data:`TARGET_KEYS` present in any sample to a (B,) tensor (NaN where unknown; ``event``
    is long with -1 where unknown). ``errors`` holds each subject's :attr:`Sample.error`
    (None where all went well), ``info`` each subject's :attr:`Sample.info`. ``failed`` holds
    the records of studies that could not become samples at all (serving: they go to
    ``errors.csv``; always empty in training). The one batch type of training and serving.
    """

    subject_ids: list[str]
    images: torch.Tensor | None = None
    image_present: torch.Tensor | None = None
    clinical: torch.Tensor | None = None
    clinical_observed: torch.Tensor | None = None
    targets: dict[str, torch.Tensor] = field(default_factory=dict)
    errors: list[str | None] = field(default_factory=list)
    info: list[dict[str, Any]] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.subject_ids)

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Batch:
        """Move every tensor to ``device`` (returns a new Batch)."""

        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=non_blocking)

        return Batch(
            subject_ids=list(self.subject_ids),
            images=mv(self.images),
            image_present=mv(self.image_present),
            clinical=mv(self.clinical),
            clinical_observed=mv(self.clinical_observed),
            targets={k: v.to(device, non_blocking=non_blocking) for k, v in self.targets.items()},
            errors=list(self.errors),
            info=self.info,
            failed=self.failed,
        )

    def pin_memory(self) -> Batch:
        """Pin host memory (called by DataLoader when ``pin_memory=True``)."""
        return Batch(
            subject_ids=self.subject_ids,
            images=None if self.images is None else self.images.pin_memory(),
            image_present=None if self.image_present is None else self.image_present.pin_memory(),
            clinical=None if self.clinical is None else self.clinical.pin_memory(),
            clinical_observed=None if self.clinical_observed is None else self.clinical_observed.pin_memory(),
            targets={k: v.pin_memory() for k, v in self.targets.items()},
            errors=self.errors,
            info=self.info,
            failed=self.failed,
        )


def _stack_images(samples: list[Sample]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    imgs = [s.images for s in samples]
    if all(i is None for i in imgs):
        return None, None
    ref = next(i for i in imgs if i is not None)
    k_max = max(0 if i is None else i.shape[0] for i in imgs)
    out = ref.new_zeros((len(samples), k_max, *ref.shape[1:]))
    present = torch.zeros((len(samples), k_max), dtype=torch.bool)
    for b, im in enumerate(imgs):
        if im is None:
            continue
        if im.shape[1:] != ref.shape[1:]:
            raise ValueError(
                f"collate: subject {samples[b].subject_id!r} has image shape {tuple(im.shape[1:])}, "
                f"others {tuple(ref.shape[1:])}; preprocess to one roi_size"
            )
        out[b, : im.shape[0]] = im
        slot = samples[b].image_present
        present[b, : im.shape[0]] = True if slot is None else slot.to(torch.bool)
    return out, present


def _stack_optional(samples: list[Sample], attr: str) -> torch.Tensor | None:
    vals = [getattr(s, attr) for s in samples]
    if all(v is None for v in vals):
        return None
    ref = next(v for v in vals if v is not None)
    return torch.stack([v if v is not None else torch.zeros_like(ref) for v in vals])


def collate(samples: list[Sample]) -> Batch:
    """Collate :class:`Sample` records into a :class:`Batch` (pads the K image axis)."""
    images, present = _stack_images(samples)
    keys = [k for k in TARGET_KEYS if any(k in s.targets for s in samples)]
    targets: dict[str, torch.Tensor] = {}
    for k in keys:
        if k == "event":
            targets[k] = torch.tensor(
                [int(s.targets[k]) if k in s.targets else -1 for s in samples], dtype=torch.long
            )
        else:
            targets[k] = torch.tensor(
                [float(s.targets[k]) if k in s.targets else math.nan for s in samples],
                dtype=torch.float32,
            )
    return Batch(
        subject_ids=[s.subject_id for s in samples],
        images=images,
        image_present=present,
        clinical=_stack_optional(samples, "clinical"),
        clinical_observed=_stack_optional(samples, "clinical_observed"),
        targets=targets,
        errors=[s.error for s in samples],
        info=[s.info for s in samples],
    )

"""Study → model input: the ONE path that training (``BoneDataset``) and serving
(``bonenet predict``) both take, with everything it needs saved in the checkpoint.

A study is one or more images (a DICOM folder or file, a NIfTI, an AIM…, or a Volume already
read), optional VOI masks (one per image, or one for all), the units the user declared for
files that do not carry theirs, and a clinical row. :class:`StudyInput` holds the settings
(image columns, mask column, declared units, reader options, the :class:`Preprocess` and the
fitted clinical encoder) and turns a study into arrays; :meth:`StudyInput.to_state` /
:meth:`StudyInput.from_state` put those settings into a checkpoint and back, so a model
trained with ``crop: mask`` or a NIfTI declared ``units: HU`` is served the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BoneNetError, ConfigError, ImageFormatError, ManifestError
from ..volume import UNITS, Volume

if TYPE_CHECKING:  # pragma: no cover
    import os

    import pandas as pd

    from ..clinical import ClinicalEncoder
    from ._preprocess import Preprocess

__all__ = ["MASK_LABEL_COLUMN", "UNITS_COLUMN", "VERTEBRA_COLUMN", "StudyError", "StudyInput", "load_study_image",
           "load_study_mask"]

_FORMAT = "bonenet.StudyInput/1"
#: Manifest column declaring one study's units (for NIfTI/NRRD files that do not say).
UNITS_COLUMN = "units"
#: Manifest column naming the label of a multilabel mask to use as the VOI (an integer id).
MASK_LABEL_COLUMN = "mask_label"
#: Manifest column naming the vertebral level (``L1``…) whose TotalSegmentator label is the VOI.
VERTEBRA_COLUMN = "vertebra"
#: Reader options that change what a file reads as; anything else is refused in configs.
_LOAD_OPTIONS = {"series", "allow_gaps", "gantry_tilt", "native", "threads", "modality"}


class StudyError(BoneNetError):
    """One study cannot be turned into a model input; ``stage`` says where (read, qc,
    clinical, preprocess)."""

    def __init__(self, message: str, *, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


def _is_image_file(p: Path) -> bool:
    """An image file that can be a study (Scanco's mask AIMs beside a grey AIM are not)."""
    from ..io import IMAGE_SUFFIXES
    from ..io.scanco_masks import is_scanco_mask_file

    name = p.name.lower()
    return (any(name.endswith(s) for s in IMAGE_SUFFIXES if s not in (".dcm", ".dicom", ".ima"))
            and not is_scanco_mask_file(p))


def load_study_image(path: str | os.PathLike[str], *, units: str | None = None,
                     load_options: Mapping[str, Any] | None = None,
                     threads: int | None = None) -> Volume:
    """Read one study image: a file, a folder holding one image file, or a DICOM folder.

    Parameters
    ----------
    path : path-like
        DICOM folders go to :func:`bonenet.io.load`, which chooses the series by its rules
        (CT over others, the largest axial series, localizers and derived images skipped).
    units : str, optional
        The units the user declared. NIfTI/NRRD/MetaImage files (which do not say) are read
        in these units — unless bonenet wrote the file and noted other units, which is an
        error; DICOM and Scanco files carry their own, and a declaration that disagrees is an
        error rather than a silent choice.
    load_options : mapping, optional
        Further :func:`bonenet.io.load` options (``series``, ``allow_gaps``…).
    threads : int, optional
        Caps the DICOM reader's threads (1 inside decoding worker processes).
    """
    from .. import io as bio

    path = Path(path)
    if not str(path).strip() or str(path) == ".":
        raise StudyError("no image path given (a blank manifest cell?); fill in the image column",
                         stage="read")
    if path.is_dir():
        entries = [e for e in path.iterdir() if not e.name.startswith(".")]
        if not entries:
            raise StudyError(f"{path}: empty folder, no images to read", stage="read")
        from ..io.scanco_masks import is_scanco_mask_file

        # Scanco's mask AIMs ride beside the grey AIM: they are not files of the study
        files = [e for e in entries if e.is_file() and not is_scanco_mask_file(e)]
        dirs = [e for e in entries if e.is_dir()]
        images = [f for f in files if _is_image_file(f)]
        if len(images) == 1 and len(files) == 1 and not dirs:
            path = images[0]
        elif not files and len(dirs) == 1:
            return load_study_image(dirs[0], units=units, load_options=load_options, threads=threads)
        elif len(images) > 1:
            raise StudyError(
                f"{path}: holds {len(images)} image files; keep one image per study folder or "
                "list the images in a manifest", stage="read")
    if units is not None and units not in UNITS:
        raise ConfigError(f"units {units!r} unknown; declare one of {', '.join(UNITS)}")
    opts = dict(load_options or {})
    opts.pop("units", None)
    if threads is not None and (path.is_dir() or path.suffix.lower() == ".dcm"):
        opts["threads"] = threads
    unit_free = bio.declares_units(path)
    vol = bio.load(path, **opts)  # its errors name the file; missing paths included
    if units is None:
        return vol
    if unit_free and vol.units == "raw":
        return vol.replace(units=units)
    if vol.units != units:
        where = "its header note" if unit_free else "the file"
        raise StudyError(
            f"{path}: {where} says units {vol.units!r} but {units!r} was declared; fix the "
            "declaration (--units, the manifest's units column or the data config's units) or "
            "calibrate the image", stage="read")
    return vol


def load_study_mask(path: str | os.PathLike[str], like: Volume, *, label: int | None = None) -> Volume:
    """Read a VOI mask onto ``like``'s grid as a 0/1 Volume.

    Label maps (NIfTI/NRRD/MHA, DICOM SEG, a folder of per-structure files) are read with
    :func:`bonenet.io.load_mask` (nearest-neighbour in patient space when the grids differ; a
    mask that does not overlap the image is refused naming the file); Scanco mask AIMs with
    :func:`bonenet.io.load_scanco_mask` (placed by their header position). A multilabel mask
    keeps ``label`` only (every non-zero voxel when None).
    """
    from .. import io as bio

    p = Path(path)
    name = p.name.lower().split(";")[0]
    if name.endswith(".aim"):
        arr = bio.load_scanco_mask(p, like).astype(np.int32)
    else:
        arr = bio.load_mask(p, like)
    sel = (arr == label) if label is not None else (arr != 0)
    if not sel.any():
        what = f"label {label}" if label is not None else "any voxel"
        raise StudyError(f"mask {p}: holds no {what} inside the image; check the mask file and "
                         "the mask_label column", stage="read")
    return like.replace(array=sel.astype(np.float32), units="raw", modality="SEG",
                        meta={"source": [str(p)], "format": "mask"})


@dataclass
class StudyInput:
    """How a study becomes a model input, identically at training and at serving time.

    Attributes
    ----------
    preprocess : Preprocess or None
        Volume → array (None: a clinical-only model reads no images).
    encoder : ClinicalEncoder or None
        Fitted clinical encoder (None: an image-only model).
    image_columns : tuple of str
        Manifest columns of the image slots.
    mask_column : str or None
        Manifest column of VOI masks (``crop: mask``); at predict time also ``--masks DIR``.
    units : str or None
        Declared units of images that do not carry theirs (NIfTI/NRRD); images that carry
        units must agree. A manifest ``units`` column declares them per study.
    load_options : dict
        Further reader options (``series``, ``allow_gaps``, ``gantry_tilt``, ``native``).
    vertebra : str or None
        Default vertebral level (``L1``…) of multilabel TotalSegmentator masks: the VOI is that
        vertebra's label (per-vertebra crops for QCT models). A manifest ``vertebra`` or
        ``mask_label`` column wins for its row.
    """

    preprocess: Preprocess | None = None
    encoder: ClinicalEncoder | None = None
    image_columns: tuple[str, ...] = ("image",)
    mask_column: str | None = None
    units: str | None = None
    load_options: dict[str, Any] = field(default_factory=dict)
    vertebra: str | None = None

    def __post_init__(self) -> None:
        self.image_columns = tuple(self.image_columns)
        opts = dict(self.load_options)
        if "units" in opts:  # the old spelling: one declaration, under one name
            declared = opts.pop("units")
            if self.units is not None and declared != self.units:
                raise ConfigError(f"load_options.units={declared!r} disagrees with units={self.units!r}; "
                                  "declare the images' units once, with data.init_args.units")
            self.units = declared
        unknown = sorted(set(opts) - _LOAD_OPTIONS)
        if unknown:
            raise ConfigError(f"load_options {unknown} unknown; use {', '.join(sorted(_LOAD_OPTIONS))} "
                              "(declare units with data.init_args.units)")
        self.load_options = opts
        if self.units is not None and self.units not in UNITS:
            raise ConfigError(f"units {self.units!r} unknown; use one of {', '.join(UNITS)}")
        if self.vertebra is not None:
            self.mask_label_for(None, self.vertebra)  # a typo fails now, naming the levels

    def mask_label_for(self, label: int | str | None, vertebra: str | None) -> int | None:
        """The mask label of one study: its ``mask_label``, else its ``vertebra``'s
        TotalSegmentator id, else the default :attr:`vertebra`'s, else None (any non-zero)."""
        from ..io.totalseg import vertebra_label

        if label is not None and str(label).strip():
            try:
                return int(float(label))
            except ValueError as exc:
                raise ConfigError(f"mask_label {label!r}: give an integer label") from exc
        level = vertebra or self.vertebra
        return vertebra_label(level) if level else None

    # ------------------------------------------------------------ images
    def read(self, path: str | os.PathLike[str], *, units: str | None = None,
             threads: int | None = None) -> Volume:
        """Read one study image with the declared units (``units`` overrides per study)."""
        return load_study_image(path, units=units or self.units, load_options=self.load_options,
                                threads=threads)

    def image(self, source: str | os.PathLike[str] | Volume, *,
              mask: str | os.PathLike[str] | Volume | None = None, mask_label: int | None = None,
              units: str | None = None, threads: int | None = None) -> np.ndarray:
        """One image slot's model input: read (if a path) → mask on its grid → preprocess.

        Returns a float32 array of ``preprocess.output_shape``; non-finite values are an error.
        """
        if self.preprocess is None:
            raise ConfigError("this model reads no images (clinical-only): nothing to preprocess")
        vol = source if isinstance(source, Volume) else self.read(source, units=units, threads=threads)
        src = vol.meta.get("source", "image")
        where = str(source) if not isinstance(source, Volume) else str(
            src[0] if isinstance(src, (list, tuple)) and src else src)
        m: Volume | None = None
        if mask is not None:
            m = mask if isinstance(mask, Volume) else load_study_mask(mask, vol, label=mask_label)
        elif self.preprocess.crop == "mask":
            raise StudyError(
                "the model crops around a VOI mask (crop: mask) but no mask was given for this "
                f"study; give the manifest a {self.mask_column or 'mask'!r} column or predict "
                "--masks DIR", stage="read")
        if not np.isfinite(vol.array).all():
            raise StudyError(f"{where}: the image holds NaN or infinite voxels; re-export it",
                             stage="read")
        arr = self.preprocess.apply_numpy(vol, mask=m, source=where)
        if not np.isfinite(arr).all():
            raise StudyError(f"{where}: non-finite values after preprocessing", stage="preprocess")
        return arr

    # ---------------------------------------------------------- clinical
    def clinical(self, rows: pd.DataFrame, *, source: str = "clinical table", first_line: int = 2
                 ) -> tuple[np.ndarray, np.ndarray, list[list[str]], list[list[str]]]:
        """Parse (names, units, ranges, user-declared variables) and encode clinical rows with
        the fitted encoder.

        Returns ``(values, observed, missing, flags)``: float32 (N, F) arrays; per row, the
        variables that were missing; per row, the parser's flags that were set
        (:data:`bonenet.clinical.FLAG_COLUMNS`: a T-score computed on an assumed DXA scale, an
        age outside FRAX's range).
        """
        from ..clinical import FLAG_COLUMNS, parse_clinical

        if self.encoder is None:
            raise ConfigError("this model uses no clinical variables")
        df = parse_clinical(rows, source=source, first_line=first_line, required=(),
                            variables=getattr(self.encoder, "declared", ()))
        variables = list(getattr(self.encoder, "variables", None) or [])
        for v in variables:
            if v not in df.columns:
                df[v] = math.nan
        values, observed = self.encoder.transform(df)
        missing = [[v for v in variables if _blank(df[v].iloc[i])] for i in range(len(df))]
        flags = [[f for f in FLAG_COLUMNS if f in df.columns and df[f].iloc[i] == 1]
                 for i in range(len(df))]
        return (np.asarray(values, dtype=np.float32), np.asarray(observed, dtype=np.float32),
                missing, flags)

    # ------------------------------------------------------------- state
    def to_state(self) -> dict[str, Any]:
        """JSON-able settings for a checkpoint (the encoder's fitted state included)."""
        enc = self.encoder
        return {"format": _FORMAT,
                "preprocess": None if self.preprocess is None else self.preprocess.to_dict(),
                "encoder": None if enc is None or not getattr(enc, "fitted_", True) else enc.to_dict(),
                "image_columns": list(self.image_columns), "mask_column": self.mask_column,
                "units": self.units, "load_options": dict(self.load_options),
                "vertebra": self.vertebra}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> StudyInput:
        """Rebuild from :meth:`to_state` output, or from a BoneDataModule state of bonenet 0.1
        (which had no mask column or units: those models were trained without them)."""
        from ..clinical import ClinicalEncoder
        from ._preprocess import Preprocess

        if not isinstance(state, Mapping):
            raise ManifestError("checkpoint data state is not a mapping; re-save it with bonenet train")
        pre = state.get("preprocess")
        enc = state.get("encoder")
        use_images = state.get("use_images", pre is not None)
        use_clinical = state.get("use_clinical", enc is not None)
        return cls(preprocess=Preprocess.from_dict(pre) if (pre is not None and use_images) else None,
                   encoder=ClinicalEncoder.from_dict(enc) if (enc is not None and use_clinical) else None,
                   image_columns=tuple(state.get("image_columns") or ("image",)),
                   mask_column=state.get("mask_column"), units=state.get("units"),
                   load_options=dict(state.get("load_options") or {}),
                   vertebra=state.get("vertebra"))


def _blank(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(np.isnan(v))
    except TypeError:
        return isinstance(v, str) and not v.strip()


def check_units_declared(paths: Sequence[str], *, units: str | None, per_row: Sequence[str | None],
                         source: str) -> None:
    """Up-front check: every NIfTI/NRRD image has declared units (config or manifest column).

    Raises :class:`ManifestError` listing the first rows without a declaration, with the one
    documented way to declare them.
    """
    from ..io import declares_units

    bad = [p for p, u in zip(paths, per_row, strict=True)
           if p and not (u or units) and declares_units(p) and not _bonenet_nifti(p)]
    if bad:
        raise ImageFormatError(
            f"{source}: {len(bad)} image(s) in a format that does not record its units (NIfTI/NRRD), "
            f"e.g. {bad[0]}; declare them with data.init_args.units (e.g. HU or mgHA/cm3), a "
            f"'{UNITS_COLUMN}' manifest column, or --units on the command line")


def _bonenet_nifti(path: str) -> bool:
    """True when the NIfTI header carries bonenet's own units note."""
    if not (path.endswith(".nii") or path.endswith(".nii.gz")):
        return False
    try:
        import nibabel as nib

        desc = nib.load(path).header.get("descrip")
        text = desc.tobytes().decode("ascii", "ignore") if hasattr(desc, "tobytes") else str(desc)
    except Exception:  # unreadable: the read itself will name the file
        return True
    return "units=" in text

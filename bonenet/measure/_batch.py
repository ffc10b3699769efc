"""Measure every study of a manifest into a features CSV (``bonenet features``).

Studies run in worker processes (:class:`bonenet._pool.RobustPool`: a worker killed while
measuring — by the OOM killer, say — fails only its study and is replaced). Each finished study
is appended to the features CSV, or to the errors CSV with its reason, as one complete row
(:class:`bonenet._writer.ResumableCSV`), so a killed run resumes where it stopped: studies
already in either file are skipped. One run at a time writes a given features file (a lock
beside it). Text cells are neutralised against spreadsheet formula injection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import output_lock
from .._pool import RobustPool, WorkerDied, worker_context
from .._progress import progress
from .._writer import ResumableCSV
from ..errors import ManifestError
from ..tables import read_subject_table

__all__ = ["ERROR_COLUMNS", "MASK_COLUMNS", "MeasureSummary", "measure_batch",
           "read_measure_manifest"]

ERROR_COLUMNS = ("subject_id", "error", "message")
#: Manifest columns naming Scanco's mask AIMs of a study (blank = look beside the grey AIM).
MASK_COLUMNS = ("trab_mask", "cort_mask", "periosteal_mask")


@dataclass
class MeasureSummary:
    """What a batch measurement did (this run's counts)."""

    features: Path
    errors: Path
    n_studies: int
    n_measured: int
    n_skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return len(self.failed)


def read_measure_manifest(path: str | os.PathLike[str], *, image_column: str = "image",
                          with_masks: bool = False) -> list[tuple[Any, ...]]:
    """``[(subject_id, absolute image path)]`` from a manifest (one reader, blank paths refused);
    with ``with_masks`` a third item: the row's Scanco mask files ``{role: absolute path}``
    (roles ``trab_mask``, ``cort_mask``, ``periosteal_mask``; absent or blank cells left out)."""
    t = read_subject_table(path, what="manifest", required=(image_column,), nonblank=(image_column,))
    root = t.path.parent

    def absolute(cell: str) -> str:
        f = Path(cell).expanduser()
        return str(f if f.is_absolute() else root / f)

    out: list[tuple[Any, ...]] = []
    for row in t.table.to_dict("records"):
        item: tuple[Any, ...] = (row["subject_id"], absolute(row[image_column]))
        if with_masks:
            item += ({k: absolute(row[k]) for k in MASK_COLUMNS if row.get(k)},)
        out.append(item)
    return out


def _work(job: tuple[str, str, dict[str, Any], dict[str, Any] | None]) -> dict[str, Any]:
    _sid, path, kw, masks = job
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # pragma: no cover - numba missing or already configured
        pass
    from ._study import measure_study

    return measure_study(path, masks=masks, **kw)


def _failure(sid: str, exc: BaseException) -> dict[str, str]:
    if isinstance(exc, WorkerDied):
        return {"subject_id": sid, "error": "WorkerDied", "message": exc.reason}
    return {"subject_id": sid, "error": type(exc).__name__, "message": " ".join(str(exc).split())}


def measure_batch(studies: list[tuple[Any, ...]], out: str | os.PathLike[str], *,
                  errors: str | os.PathLike[str] | None = None, workers: int = 1,
                  modality: str = "auto", smi: bool = True,
                  phantom: dict[str, Any] | None = None,
                  load_options: dict[str, Any] | None = None,
                  retry_errors: bool = False, wait_lock: bool = False) -> MeasureSummary:
    """Measure ``studies`` into the features CSV ``out``, resumably.

    Parameters
    ----------
    studies : list of (subject_id, image path[, masks])
        From :func:`read_measure_manifest` (masks: Scanco mask AIMs per role, or None).
    out : path-like
        Features CSV: ``subject_id`` and every column of :func:`feature_columns` (blank where
        an index does not apply), one row per measured study, in completion order. An
        existing file of an interrupted run is continued.
    errors : path-like, optional
        Errors CSV (``subject_id, error, message``); default ``<out stem>_errors.csv``.
    workers : int
        Worker processes (1: in this process).
    modality, smi, phantom, load_options
        As :func:`bonenet.measure.measure_study`.
    retry_errors : bool
        Measure again the studies listed in the errors CSV (their rows are removed first).
    wait_lock : bool
        Wait for another run writing ``out`` instead of refusing.
    """
    from ._study import feature_columns

    if workers < 1:
        raise ManifestError(f"workers must be ≥ 1; got {workers}")
    out = Path(out)
    if out.is_dir():
        raise ManifestError(f"--out {out}: is a folder; give the features CSV file to write")
    err_path = Path(errors) if errors else out.with_name(f"{out.stem}_errors.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    kw = {"modality": modality, "smi": smi, "phantom": phantom, "load_options": load_options}
    with output_lock(out.parent, wait=wait_lock, command="bonenet features",
                     name=f".{out.name}.lock"):
        feats = ResumableCSV(out, ["subject_id", *feature_columns()])
        errs = ResumableCSV(err_path, ERROR_COLUMNS)
        if retry_errors and errs.done:
            errs.remove_keys(set(errs.done))
        skip = feats.done | errs.done
        todo = [s for s in studies if s[0] not in skip]
        jobs = [(s[0], s[1], kw, s[2] if len(s) > 2 else None) for s in todo]
        n_ok = 0
        failed: list[dict[str, str]] = []

        def take(sid: str, ok: bool, value: Any) -> None:
            nonlocal n_ok
            if ok:
                feats.append({"subject_id": sid, **value})
                n_ok += 1
            else:
                row = _failure(sid, value)
                errs.append(row)
                failed.append(row)

        if workers == 1:
            for job in progress(jobs, desc="features", total=len(jobs), unit="study"):
                try:
                    take(job[0], True, _work(job))
                except Exception as exc:  # one bad study must not stop the batch
                    take(job[0], False, exc)
        else:
            with RobustPool(_work, workers=workers,
                            context=worker_context(import_main=False)) as pool:
                for idx, ok, value in progress(pool.imap(jobs), desc="features", total=len(jobs),
                                               unit="study"):
                    take(jobs[idx][0], ok, value)
    return MeasureSummary(out, err_path, len(studies), n_ok, len(studies) - len(todo), failed)

"""Measure every study of a manifest into a features CSV (``bonenet features``).

Studies run in worker processes; a study that fails is listed with its reason in the errors
CSV and the others go on. Both files are written atomically at the end.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import multiprocessing as mp
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import write_text_atomic
from .._progress import progress
from ..errors import ManifestError
from ..tables import read_subject_table

__all__ = ["ERROR_COLUMNS", "MeasureSummary", "measure_batch", "read_measure_manifest"]

ERROR_COLUMNS = ("subject_id", "error", "message")


@dataclass
class MeasureSummary:
    """What a batch measurement did."""

    features: Path
    errors: Path
    n_studies: int
    n_measured: int
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return len(self.failed)


def read_measure_manifest(path: str | os.PathLike[str], *, image_column: str = "image",
                          with_masks: bool = False) -> list[tuple]:
    """``[(subject_id, absolute image path)]`` from a manifest (one reader, blank paths refused).

    With ``with_masks`` each entry gets a third element: the row's Scanco mask files
    (optional columns ``trab_mask``, ``cort_mask``, ``periosteal_mask``; blank cells left out),
    for :func:`bonenet.measure.measure_study`'s ``masks``.
    """
    t = read_subject_table(path, what="manifest", required=(image_column,), nonblank=(image_column,))
    root = t.path.parent
    mask_cols = [c for c in ("trab_mask", "cort_mask", "periosteal_mask") if c in t.table.columns]

    def absolute(v: Any) -> str:
        f = Path(str(v).strip()).expanduser()
        return str(f if f.is_absolute() else root / f)

    out: list[tuple] = []
    for i, (sid, img) in enumerate(zip(t.table["subject_id"], t.table[image_column], strict=True)):
        if not with_masks:
            out.append((sid, absolute(img)))
            continue
        cells = {c: t.table[c].iloc[i] for c in mask_cols}
        masks = {c: absolute(v) for c, v in cells.items() if str(v).strip() and str(v).strip().lower() != "nan"}
        out.append((sid, absolute(img), masks))
    return out


def _work(job: tuple[str, str, dict[str, Any]]) -> tuple[str, dict | None, tuple[str, str] | None]:
    sid, path, kw = job
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # pragma: no cover - numba missing or already configured
        pass
    try:
        from ._study import measure_study

        return sid, measure_study(path, **kw), None
    except Exception as exc:  # one bad study must not stop the batch
        return sid, None, (type(exc).__name__, " ".join(str(exc).split()))


def measure_batch(studies: list[tuple], out: str | os.PathLike[str], *,
                  errors: str | os.PathLike[str] | None = None, workers: int = 1,
                  modality: str = "auto", smi: bool = True,
                  phantom: dict[str, Any] | None = None,
                  load_options: dict[str, Any] | None = None) -> MeasureSummary:
    """Measure ``studies`` (``[(subject_id, image path[, masks])]``) into the features CSV ``out``.

    Parameters
    ----------
    studies : list of (str, str)
        From :func:`read_measure_manifest`.
    out : path-like
        Features CSV (one row per measured subject; columns of :func:`feature_columns`).
    errors : path-like, optional
        Errors CSV (``subject_id, error, message``); default ``<out stem>_errors.csv``.
    workers : int
        Worker processes (1: in this process).
    modality, smi, phantom, load_options
        As :func:`bonenet.measure.measure_study`.
    """
    import pandas as pd

    if workers < 1:
        raise ManifestError(f"workers must be ≥ 1; got {workers}")
    out = Path(out)
    if out.is_dir():
        raise ManifestError(f"--out {out}: is a folder; give the features CSV file to write")
    err_path = Path(errors) if errors else out.with_name(f"{out.stem}_errors.csv")
    kw = {"modality": modality, "smi": smi, "phantom": phantom, "load_options": load_options}
    jobs = [(s[0], s[1], {**kw, "masks": s[2]} if len(s) > 2 else kw) for s in studies]
    rows: dict[str, dict] = {}
    failed: list[dict[str, str]] = []

    def take(result: tuple[str, dict | None, tuple[str, str] | None]) -> None:
        sid, res, err = result
        if res is not None:
            rows[sid] = res
        else:
            failed.append({"subject_id": sid, "error": err[0], "message": err[1]})  # type: ignore[index]

    if workers == 1:
        for job in progress(jobs, desc="features", total=len(jobs), unit="study"):
            take(_work(job))
    else:
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = [pool.submit(_work, j) for j in jobs]
            for fut in progress(cf.as_completed(futs), desc="features", total=len(futs), unit="study"):
                take(fut.result())
    order = [s[0] for s in studies if s[0] in rows]
    feats = pd.DataFrame([{"subject_id": sid, **rows[sid]} for sid in order])
    if feats.empty:
        feats = pd.DataFrame(columns=["subject_id"])
    buf = io.StringIO()
    feats.to_csv(buf, index=False, float_format="%.6g")
    write_text_atomic(out, buf.getvalue())
    ebuf = io.StringIO()
    pd.DataFrame(failed, columns=list(ERROR_COLUMNS)).to_csv(ebuf, index=False)
    write_text_atomic(err_path, ebuf.getvalue())
    return MeasureSummary(out, err_path, len(jobs), len(rows), failed)

"""The predict loop: parallel decoding, batched model calls, resumable row-atomic output."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._atomic import output_lock, write_text_atomic
from .._pool import RobustPool, WorkerDied, die_with_parent, worker_context
from .._progress import progress
from .._pseudo import Pseudonymizer
from .._research import RESEARCH_NOTICE, describe_categories
from .._writer import ResumableCSV
from ..data import Batch, Sample
from ..errors import ConfigError
from ._prepare import Failed, StudyDataset
from ._runner import RISK_THRESHOLDS, Predictor, collate_studies, risk_category
from ._studies import PASSTHROUGH_COLUMNS, Study

log = logging.getLogger(__name__)

__all__ = ["ERROR_COLUMNS", "PredictSummary", "decode_studies", "output_columns", "predict_studies",
           "prepare_output", "rows_for_batch"]

ERROR_COLUMNS = ("subject_id", "stage", "reason", "model", "model_sha256")
_TRAILING = ("series", "qc_flags", "clinical_missing", "clinical_handling", "warnings", "model",
             "model_sha256")


@dataclass
class PredictSummary:
    """What a predict run did (also written to ``OUT/run.json``)."""

    out: Path
    n_studies: int
    n_skipped: int
    n_predicted: int
    n_failed: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def predictions(self) -> Path:
        return self.out / "predictions.csv"

    @property
    def errors(self) -> Path:
        return self.out / "errors.csv"

    def message(self) -> str:
        rate = 60 * self.n_predicted / self.seconds if self.seconds > 0 else float("nan")
        msg = (f"{self.n_predicted} predicted, {self.n_failed} failed, {self.n_skipped} already "
               f"done (of {self.n_studies}) in {self.seconds:.1f} s ({rate:.1f} studies/min); "
               f"predictions: {self.predictions}")
        if self.n_failed or self.errors.exists():
            msg += f"; errors with reasons: {self.errors}"
        return msg


def output_columns(predictor: Predictor, studies: Sequence[Study]) -> list[str]:
    """The ``predictions.csv`` header for this model and study set."""
    passthrough = [c for c in PASSTHROUGH_COLUMNS if any(c in s.extra for s in studies)]
    text = ["series_description"] if predictor.preparer.keep_text else []
    return ["subject_id", *passthrough, *predictor.head_columns, "risk_category",
            *predictor.measure_columns, *_TRAILING[:1], *text, *_TRAILING[1:]]


def rows_for_batch(batch: Batch, risks: dict[str, np.ndarray], predictor: Predictor, *,
                   thresholds: Sequence[float] = RISK_THRESHOLDS) -> list[dict[str, Any]]:
    """Output rows (dicts keyed by column) for the studies of ``batch``.

    A study whose model output is not finite (NaN or infinite) gets no row: it joins
    ``batch.failed`` (stage ``model``) so that it is reported, never written as a blank risk.
    """
    rows = []
    headline = "survival" if "survival" in predictor.heads else "fracture"
    for i, (sid, info) in enumerate(zip(batch.subject_ids, batch.info, strict=True)):
        values = {h: float(np.asarray(risks[h][i]).reshape(-1)[0]) for h in predictor.heads}
        bad = [h for h, v in values.items() if not np.isfinite(v)]
        if bad:
            batch.failed.append(Failed(sid, "model", f"the model's {', '.join(bad)} output is not "
                                       "finite (NaN/inf); check the checkpoint and the input"))
            continue
        row: dict[str, Any] = {"subject_id": sid, **info.get("extra", {})}
        for head in predictor.heads:
            row[predictor.head_columns[predictor.heads.index(head)]] = values[head]
        if headline in risks:
            row["risk_category"] = risk_category(float(risks[headline][i]), thresholds)
        for c in predictor.measure_columns:
            row[c] = info.get("measurements", {}).get(c)
        row["series"] = ";".join(info.get("series", []))
        if predictor.preparer.keep_text:
            row["series_description"] = ";".join(info.get("series_description", []))
        row["qc_flags"] = ";".join(dict.fromkeys(info.get("qc_flags", [])))
        row["clinical_missing"] = ";".join(info.get("clinical_missing", []))
        row["clinical_handling"] = info.get("clinical_handling", "")
        row["warnings"] = " | ".join(dict.fromkeys(info.get("warnings", [])))
        row["model"] = predictor.name
        row["model_sha256"] = predictor.checksum
        rows.append(row)
    return rows


def _error_row(f: Failed, predictor: Predictor) -> dict[str, Any]:
    return {"subject_id": f.sid, "stage": f.stage, "reason": f.reason, "model": predictor.name,
            "model_sha256": predictor.checksum}


def prepare_output(out: Path, predictor: Predictor, studies: Sequence[Study],
                   pseudonymizer: Pseudonymizer, *, retry_errors: bool = False,
                   suffix: str = "") -> tuple[ResumableCSV, ResumableCSV, list[Study], set[str]]:
    """Open the writers, check ``run.json`` for a resumable run, and return the studies to do.

    ``suffix`` names per-rank shard files (``predictions{suffix}.csv``). Raises
    :class:`ConfigError` when ``out`` holds a run of another checkpoint or salt.
    """
    predictor.preparer.check_studies(studies)  # a table without a required declared column
    out.mkdir(parents=True, exist_ok=True)
    run_json = out / "run.json"
    identity = {"model": predictor.name, "model_sha256": predictor.checksum}
    salt_check = None
    if run_json.exists():
        try:
            prev = json.loads(run_json.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{run_json}: unreadable ({exc}); this folder does not hold a "
                              "bonenet predict run, choose a new --out") from exc
        for k, v in identity.items():
            if prev.get(k) != v:
                raise ConfigError(
                    f"{out} holds a run with another {k.replace('_', ' ')} ({prev.get(k)!r}, now "
                    f"{v!r}); resume with the same checkpoint and salt, or choose a new --out")
        salt_check = prev.get("salt_check")
        if "salt_fingerprint" in prev and salt_check is None:
            raise ConfigError(f"{run_json} was written by an older bonenet (salt fingerprint); "
                              "choose a new --out")
        if not pseudonymizer.matches(salt_check):
            raise ConfigError(f"{out} holds a run made with another salt (or with/without "
                              "--keep-ids); resume with the same salt, or choose a new --out")
    identity["salt_check"] = salt_check or pseudonymizer.salt_check()
    columns = output_columns(predictor, studies)
    shard_dir = out / ".shards"
    preds = ResumableCSV((shard_dir if suffix else out) / f"predictions{suffix}.csv", columns)
    errors = ResumableCSV((shard_dir if suffix else out) / f"errors{suffix}.csv", ERROR_COLUMNS)
    done = set(ResumableCSV(out / "predictions.csv", columns).done) if suffix else set(preds.done)
    failed_before = set(ResumableCSV(out / "errors.csv", ERROR_COLUMNS).done) if suffix \
        else set(errors.done)
    if shard_dir.exists():  # shards of an earlier, interrupted distributed run
        for f in shard_dir.glob("predictions*.csv"):
            done |= ResumableCSV(f, columns).done
        for f in shard_dir.glob("errors*.csv"):
            failed_before |= ResumableCSV(f, ERROR_COLUMNS).done
    is_main = not suffix or suffix.endswith("rank0")
    if retry_errors and failed_before:
        if is_main:
            errors.remove_keys(failed_before)
            if suffix:
                ResumableCSV(out / "errors.csv", ERROR_COLUMNS).remove_keys(failed_before)
                for f in shard_dir.glob("errors*.csv"):
                    if f != errors.path:
                        ResumableCSV(f, ERROR_COLUMNS).remove_keys(failed_before)
        failed_before = set()
    skip = done | failed_before
    todo = [s for s in studies if pseudonymizer(s.key) not in skip]
    if is_main:
        write_text_atomic(run_json, json.dumps({**identity, "notice": RESEARCH_NOTICE, "columns": columns},
                                               indent=2) + "\n")
    return preds, errors, todo, skip


def _identity(item: Any) -> Any:
    return item


_PRELOAD = ["torch", "numpy", "pandas", "bonenet.io", "bonenet.inference._prepare"]


def _mp_context() -> Any:
    """Start method of the decoding workers: :func:`bonenet._pool.worker_context` (a fork
    server with torch and bonenet preloaded, so workers start in a fraction of a second; never
    plain ``fork``)."""
    return worker_context(_PRELOAD)


def _worker_init(_: int, owner_pid: int | None = None) -> None:
    die_with_parent(owner_pid)  # a SIGKILLed run takes its decoding workers with it
    torch.set_num_threads(1)


def _pool_init() -> None:
    torch.set_num_threads(1)


def decode_studies(dataset: StudyDataset, studies: Sequence[Study], pseudonymizer: Pseudonymizer,
                   *, num_workers: int, context: Any = None) -> Any:
    """Yield a :class:`bonenet.data.Sample` or :class:`Failed` for every study of ``dataset``.

    With ``num_workers > 0`` the studies are decoded in a :class:`bonenet._pool.RobustPool`
    (completion order): a worker killed while decoding (out of memory) turns its study into
    a ``Failed(stage="decode")`` and a new worker takes over, so the run goes on and the
    study reaches ``errors.csv`` instead of killing every resume.
    """
    if num_workers <= 0:
        for i in range(len(dataset)):
            yield dataset[i]
        return
    with RobustPool(dataset.__getitem__, workers=num_workers,
                    context=context if context is not None else _mp_context(),
                    initializer=_pool_init) as pool:
        for idx, ok, value in pool.imap(range(len(dataset))):
            if ok:
                yield value
                continue
            sid = pseudonymizer(studies[idx].key)
            reason = value.reason if isinstance(value, WorkerDied) \
                else f"{type(value).__name__}: {value}"
            yield Failed(sid, "decode", reason)


def make_loader(dataset: StudyDataset, *, num_workers: int, batch_size: int | None,
                prefetch: int = 2, collate: bool = True) -> torch.utils.data.DataLoader:
    """DataLoader decoding studies in ``num_workers`` processes with bounded prefetch.

    At most ``num_workers * prefetch`` items are in flight, so memory does not grow with the
    number of studies.
    """
    kw: dict[str, Any] = {}
    if num_workers > 0:
        import functools

        kw = {"prefetch_factor": prefetch,
              "worker_init_fn": functools.partial(_worker_init, owner_pid=os.getpid()),
              "persistent_workers": False, "multiprocessing_context": _mp_context()}
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=collate_studies if collate else _identity, **kw)


def default_workers() -> int:
    """Decoding processes: one per core, at most eight (the main process mostly waits on
    them: a batched model call costs a fraction of a study's decoding on the CPU)."""
    return max(1, min(8, os.cpu_count() or 1))


def predict_studies(studies: Sequence[Study], predictor: Predictor, out: str | os.PathLike[str],
                    *, pseudonymizer: Pseudonymizer, batch_size: int = 8,
                    num_workers: int | None = None, retry_errors: bool = False,
                    thresholds: Sequence[float] = RISK_THRESHOLDS,
                    wait_lock: bool = False) -> PredictSummary:
    """Predict ``studies`` into ``out/predictions.csv`` and ``out/errors.csv`` (single process).

    Parameters
    ----------
    studies : sequence of Study
        From :func:`discover_studies`.
    predictor : Predictor
        From :func:`load_predictor` (or built by hand around any fusion network).
    out : path-like
        Output folder. A folder holding an interrupted run of the same model and salt is
        resumed: studies already in ``predictions.csv`` or ``errors.csv`` are skipped.
    pseudonymizer : Pseudonymizer
        Maps study keys to the ``subject_id`` written.
    batch_size : int
        Studies per model call.
    num_workers : int, optional
        Decoding processes (default :func:`default_workers`; 0 decodes in this process).
    retry_errors : bool
        Retry studies listed in ``errors.csv`` (their rows are removed first).
    thresholds : (float, float)
        Risk category cut-offs (low < t0 <= moderate < t1 <= high).
    wait_lock : bool
        Another run holding ``out`` (``out/.lock``): wait for it instead of raising
        :class:`~bonenet.errors.OutputLockedError`.
    """
    out = Path(out)
    with output_lock(out, wait=wait_lock, command="bonenet predict"):
        return _predict_locked(studies, predictor, out, pseudonymizer=pseudonymizer,
                               batch_size=batch_size, num_workers=num_workers,
                               retry_errors=retry_errors, thresholds=thresholds)


def _predict_locked(studies: Sequence[Study], predictor: Predictor, out: Path, *,
                    pseudonymizer: Pseudonymizer, batch_size: int, num_workers: int | None,
                    retry_errors: bool, thresholds: Sequence[float]) -> PredictSummary:
    t0 = time.perf_counter()
    preds, errors, todo, skip = prepare_output(out, predictor, studies, pseudonymizer,
                                               retry_errors=retry_errors)
    n_workers = default_workers() if num_workers is None else num_workers
    preparer = predictor.preparer
    if n_workers > 0 and preparer.io_threads is None:
        preparer = dataclasses.replace(preparer, io_threads=1)
    dataset = StudyDataset(todo, preparer, pseudonymizer)
    # items one by one (progress per study); stacking here costs little next to decoding
    items = decode_studies(dataset, todo, pseudonymizer, num_workers=n_workers)
    n_ok = n_fail = 0
    pending: list[Sample | Failed] = []

    def flush() -> None:
        nonlocal n_ok, n_fail
        batch = collate_studies(pending)
        pending.clear()
        if len(batch):
            try:
                risks = predictor.runner(batch)
            except Exception as exc:  # keep going: record the batch's studies as failed
                log.exception("model call failed")
                batch.failed.extend(Failed(sid, "model", f"{type(exc).__name__}: {exc}")
                                    for sid in batch.subject_ids)
                risks = None
            if risks is not None:
                for row in rows_for_batch(batch, risks, predictor, thresholds=thresholds):
                    preds.append(row)
                    n_ok += 1
        for f in batch.failed:
            errors.append(_error_row(f, predictor))
            n_fail += 1

    for item in progress(items, desc="predict", total=len(dataset), unit="study"):
        pending.append(item)
        if sum(isinstance(p, Sample) for p in pending) >= batch_size:
            flush()
    flush()
    summary = PredictSummary(out, len(studies), len(skip & {pseudonymizer(s.key) for s in studies}),
                             n_ok, n_fail, time.perf_counter() - t0,
                             extra={**clinical_match_summary(studies, pseudonymizer),
                                    "risk_categories": describe_categories(thresholds)})
    _write_summary(out, summary)
    return summary


def clinical_match_summary(studies: Sequence[Study], pseudonymizer: Pseudonymizer) -> dict[str, Any]:
    """How the clinical table matched the studies, for ``run.json`` (pseudonyms only).

    Rows of the clinical table that match no study, and studies without a clinical row, are
    listed by pseudonym (the same salted HMAC as ``subject_id``), never by original id.
    """
    report = getattr(studies, "clinical_match", None)
    if report is None:
        return {}
    return {"clinical_match": {
        "table": report.table,
        "rows_matching_no_study": sorted(pseudonymizer(k) for k in report.unmatched_rows),
        "studies_without_clinical_row": sorted(pseudonymizer(k) for k in report.studies_without_row),
    }}


def _write_summary(out: Path, summary: PredictSummary) -> None:
    run_json = out / "run.json"
    data = json.loads(run_json.read_text()) if run_json.exists() else {}
    data["notice"] = RESEARCH_NOTICE
    extra = dict(summary.extra)
    if "risk_categories" in extra:  # what the risk_category column means, with its source
        data["risk_categories"] = extra.pop("risk_categories")
    data["last_run"] = {"studies": summary.n_studies, "skipped": summary.n_skipped,
                        "predicted": summary.n_predicted, "failed": summary.n_failed,
                        "seconds": round(summary.seconds, 2), **extra}
    write_text_atomic(run_json, json.dumps(data, indent=2) + "\n")

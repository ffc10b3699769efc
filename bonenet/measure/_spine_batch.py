"""Spine measurement over a folder of studies: resumable, pseudonymised, sharded, in a pool.

Outputs in ``out`` (the same guarantees as ``bonenet predict``):

* ``spine.csv`` — one row per vertebra, ``subject_id`` (pseudonym) first;
* ``studies.csv`` — one row per finished study (the ledger that makes a study "done": its
  vertebra rows are written first, then this row, so a killed run never counts a study
  with half its rows; those rows are removed on resume);
* ``errors.csv`` — one row with a reason per failed study; ``qa/<pseudonym>.png``.

Rows are appended one complete line at a time by the row-atomic writer of
:mod:`bonenet._writer`. ``shard=(i, n)`` measures every n-th study into
``out/.shards/*.shard<i>of<n>.csv``; :func:`merge_spine_shards` (or the next unsharded
run) merges them. Studies are measured in worker processes (one Python start for the
whole batch, not one per study).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._pool import worker_context
from ..errors import BoneNetError, ConfigError
from ..io import image_stem

__all__ = ["SpineBatchSummary", "find_spine_studies", "measure_spine_batch", "merge_spine_shards",
           "parse_shard"]

STUDY_COLUMNS = ("subject_id", "n_vertebrae", "levels", "masks", "calibration", "phase")
ERROR_COLUMNS = ("subject_id", "stage", "reason")


@dataclass
class SpineBatchSummary:
    """What a batch run did (counts in this run) and where the files are."""

    out: Path
    n_studies: int
    n_done: int
    n_failed: int
    n_skipped: int

    def message(self) -> str:
        msg = (f"spine: {self.n_done} studies measured, {self.n_skipped} already done, "
               f"{self.n_failed} failed -> {self.out / 'spine.csv'}")
        if self.n_failed:
            msg += f"; reasons in {self.out / 'errors.csv'}"
        return msg


def _stem(p: Path) -> str | None:
    return image_stem(p)


def _entries(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        key = child.name if child.is_dir() else _stem(child)
        if key is not None:
            out.setdefault(key, child)
    return out


def find_spine_studies(studies: str | os.PathLike[str], masks: str | os.PathLike[str], *,
                       body: str | os.PathLike[str] | None = None
                       ) -> list[tuple[str, Path, Path | None, Path | None]]:
    """Pair each study (subfolder or image file) with its mask entry of the same name.

    Returns ``(key, image, masks or None, body or None)`` tuples sorted by key; a study
    without masks is kept (it fails with a reason in ``errors.csv``).
    """
    sroot, mroot = Path(studies), Path(masks)
    for p, opt in ((sroot, "--studies"), (mroot, "--masks")):
        if not p.is_dir():
            raise ConfigError(f"{p}: {opt} must be a folder (one entry per study, matched by name)")
    imgs, msks = _entries(sroot), _entries(mroot)
    bods = _entries(Path(body)) if body is not None else {}
    if not imgs:
        raise ConfigError(f"{sroot}: no study folders or image files found")
    return [(k, imgs[k], msks.get(k), bods.get(k)) for k in sorted(imgs)]


def _work(key: str, image: Path, masks: Path | None, body: Path | None, opts: dict[str, Any],
          qa_path: Path | None) -> tuple[str, list[dict[str, Any]] | None, dict[str, Any] | None, str]:
    """Measure one study in a worker; never raises for a bad study (returns the reason)."""
    from .spine import measure_spine

    if masks is None:
        return key, None, None, "no masks of this name in the masks folder"
    try:
        res = measure_spine(image, masks, body=body, **opts)
        if qa_path is not None:
            from ._spine_qa import save_qa_png

            save_qa_png(res, qa_path)
        rec = res.record()
        return key, res.rows, rec, ""
    except BoneNetError as exc:
        return key, None, None, str(exc).replace(str(image), "<study>").replace(str(masks), "<masks>")
    except Exception as exc:  # one broken study must not stop the batch
        return key, None, None, f"unexpected {type(exc).__name__}: {exc}"


def _files(out: Path, shard: tuple[int, int] | None) -> dict[str, Path]:
    if shard is None:
        return {n: out / f"{n}.csv" for n in ("spine", "studies", "errors")}
    i, n = shard
    return {k: out / ".shards" / f"{k}.shard{i}of{n}.csv" for k in ("spine", "studies", "errors")}


def merge_spine_shards(out: str | os.PathLike[str]) -> int:
    """Merge ``out/.shards`` into ``spine.csv``/``studies.csv``/``errors.csv``; return studies done."""
    from .._atomic import write_text_atomic
    from .._writer import format_row, merge_shards, read_rows
    from .spine import SPINE_COLUMNS

    out = Path(out)
    sd = out / ".shards"
    if not sd.is_dir():
        return len(read_rows(out / "studies.csv")[1])
    studies = sorted(sd.glob("studies.shard*.csv"))
    done = {r["subject_id"] for f in [out / "studies.csv", *studies] for r in read_rows(f)[1]}
    cols = ["subject_id", *SPINE_COLUMNS]
    lines, seen = [format_row(cols)], set()
    spine_files = [out / "spine.csv", *sorted(sd.glob("spine.shard*.csv"))]
    for f in spine_files:
        for r in read_rows(f)[1]:
            k = (r.get("subject_id"), r.get("vertebra"))
            if r.get("subject_id") in done and k not in seen:
                seen.add(k)
                lines.append(format_row([r.get(c, "") for c in cols]))
    write_text_atomic(out / "spine.csv", "\n".join(lines) + "\n")
    for f in spine_files[1:]:
        f.unlink()
    merge_shards(out / "errors.csv", sorted(sd.glob("errors.shard*.csv")), columns=ERROR_COLUMNS)
    n = merge_shards(out / "studies.csv", studies, columns=STUDY_COLUMNS)
    if not any(sd.iterdir()):
        sd.rmdir()
    return n


def measure_spine_batch(studies: str | os.PathLike[str], masks: str | os.PathLike[str],
                        out: str | os.PathLike[str], *, pseudonymizer: Any,
                        body: str | os.PathLike[str] | None = None, workers: int = 1,
                        shard: tuple[int, int] | None = None, retry_errors: bool = False,
                        qa: bool = True, options: Mapping[str, Any] | None = None,
                        progress: bool = True) -> SpineBatchSummary:
    """Measure every study of ``studies`` with the masks of the same name in ``masks``.

    Parameters
    ----------
    studies, masks : path
        Folders with one entry (subfolder or file) per study, matched by name
        (``masks/<name>.nii.gz``, ``masks/<name>/`` of per-structure files or a SEG).
    out : path
        Output folder; a re-run resumes (studies in ``studies.csv`` or ``errors.csv`` are
        skipped; ``retry_errors`` retries the latter).
    pseudonymizer : bonenet.inference.Pseudonymizer
        Maps study names to the ``subject_id`` written (names never reach the outputs).
    workers : int
        Worker processes (≥ 1).
    shard : (i, n), optional
        Measure only studies ``i, i+n, i+2n ...`` (0 ≤ i < n), into shard files.
    options : mapping
        Keyword arguments of :func:`bonenet.measure.measure_spine` (units, calibrate, phase...).
    """
    from .._progress import progress as bar
    from .._writer import ResumableCSV
    from .spine import SPINE_COLUMNS

    if shard is not None:
        i, n = shard
        if not (isinstance(i, int) and isinstance(n, int) and 0 <= i < n):
            raise ConfigError(f"shard {shard!r}: give i/n with 0 <= i < n (e.g. --shard 0/4)")
    if workers < 1:
        raise ConfigError(f"workers={workers}: give at least 1")
    out = Path(out)
    items = find_spine_studies(studies, masks, body=body)
    if shard is not None:
        items = items[shard[0]::shard[1]]
    else:
        merge_spine_shards(out)
    f = _files(out, shard)
    spine = ResumableCSV(f["spine"], ["subject_id", *SPINE_COLUMNS])
    ledger = ResumableCSV(f["studies"], STUDY_COLUMNS)
    errors = ResumableCSV(f["errors"], ERROR_COLUMNS)
    partial = spine.done - ledger.done
    if partial:
        spine.remove_keys(partial)
    if retry_errors and errors.done:
        errors.remove_keys(set(errors.done))
    opts = dict(options or {})
    todo = [(pseudonymizer(k), k, img, m, b) for k, img, m, b in items]
    todo = [t for t in todo if t[0] not in ledger.done and t[0] not in errors.done]
    n_skipped = len(items) - len(todo)
    by_key = {t[1]: t[0] for t in todo}
    qa_dir = out / "qa" if qa else None
    if qa_dir is not None:
        qa_dir.mkdir(parents=True, exist_ok=True)
    n_ok = n_fail = 0

    def record(result: tuple[str, Any, Any, str]) -> None:
        nonlocal n_ok, n_fail
        key, rows, rec, reason = result
        sid = by_key[key]
        if rows is None:
            errors.append({"subject_id": sid, "stage": "measure", "reason": reason})
            n_fail += 1
            return
        for r in rows:
            spine.append({"subject_id": sid, **r})
        ledger.append({"subject_id": sid, "n_vertebrae": len(rows),
                       "levels": " ".join(rec["levels"]), "masks": rec["masks"],
                       "calibration": (rec["calibration"] or {}).get("method", ""), "phase": rec["phase"]})
        n_ok += 1

    args = [(k, img, m, b, opts, qa_dir / f"{sid}.png" if qa_dir else None) for sid, k, img, m, b in todo]
    ticks = bar(range(len(args)), desc="spine", total=len(args), unit="study", disable=not progress or None)
    tick = iter(ticks)
    if workers == 1 or len(args) <= 1:
        for a in args:
            record(_work(*a))
            next(tick, None)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=worker_context(import_main=False)) as pool:
            pending = set()
            queue = list(args)
            while queue or pending:
                while queue and len(pending) < 2 * workers:
                    pending.add(pool.submit(_work, *queue.pop(0)))
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    record(fut.result())
                    next(tick, None)
    for _ in tick:
        pass
    return SpineBatchSummary(out=out, n_studies=len(items), n_done=n_ok, n_failed=n_fail,
                             n_skipped=n_skipped)


def parse_shard(text: str | None, env: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``"i/n"`` → (i, n); without text, SLURM_PROCID/SLURM_NTASKS when set (one shard per task)."""
    env = os.environ if env is None else env
    if not text:
        if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
            return int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"])
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: give i/n, e.g. 0/4 (shard 0 of 4)") from None
    if not 0 <= i < n:
        raise ConfigError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


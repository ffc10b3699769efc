"""The one reader of subject-keyed tables (manifests, clinical spreadsheets, features, predictions).

Every CSV that holds one row per subject goes through :func:`read_subject_table`, so all of
them follow the same rules:

- **encoding**: UTF-8 (with or without a byte-order mark); a file that is not valid UTF-8 is
  read as Windows-1252 (the superset of Latin-1 that spreadsheet programs write on Windows)
  and the encoding is recorded in :attr:`SubjectTable.encoding`; bytes undefined in both are
  refused with the file named and the fix (save as UTF-8).
- **delimiter**: comma, semicolon or tab, sniffed from the header line and named in errors.
- **identifier column**: ``subject_id`` or one of :data:`ID_ALIASES` (``Patient ID``,
  ``patient_id``, ``study_id``, ``ID``…; case, spaces and punctuation ignored), renamed to
  ``subject_id``. Two candidate columns are an error naming both.
- **identifiers** are stripped of surrounding whitespace and matched exactly (case kept);
  blank and duplicate identifiers are errors with their line numbers.
- **required columns** missing are named with the close matches; **blank required cells**
  (an image path, say) are errors with their line numbers — never a path ``""`` that loads
  the working directory.
- **matching** a table against a set of studies (:func:`match_subjects`) reports the rows
  that match no study and the studies with no row, never silently treating them as missing.

Cells are kept as stripped strings; parsing values is the caller's job (clinical parsing,
outcome checks). Line numbers are those of the file (header = line 1).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ManifestError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ID_ALIASES", "ID_COLUMN", "MatchReport", "SubjectTable", "match_subjects",
           "numeric_columns", "read_subject_table", "resolve_id_column"]

ID_COLUMN = "subject_id"
#: Header spellings accepted for the identifier column (compared after lower-casing and
#: removing spaces, dashes, dots and underscores).
ID_ALIASES = ("subject_id", "subject", "subj_id", "participant_id", "participant", "patient_id",
              "patient", "pat_id", "pid", "study_id", "record_id", "case_id", "id")
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_MAX_LISTED = 20


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", str(name).strip().lower())


_ALIAS_KEYS = {_norm(a) for a in ID_ALIASES}


@dataclass
class SubjectTable:
    """A subject-keyed table as read by :func:`read_subject_table`.

    Attributes
    ----------
    table : DataFrame
        String cells (stripped), the identifier column named ``subject_id``, other headers
        stripped of surrounding whitespace; column ``_line`` holds each row's line number.
    path : Path
    encoding : str
        ``utf-8``, ``utf-8-sig`` (with BOM) or ``cp1252``.
    delimiter : str
        ``,``, ``;`` or a tab.
    id_column : str
        The identifier column's header as written in the file.
    """

    table: pd.DataFrame
    path: Path
    encoding: str
    delimiter: str
    id_column: str

    @property
    def ids(self) -> list[str]:
        return list(self.table[ID_COLUMN])

    def line_of(self) -> dict[str, int]:
        """``{subject_id: line}``."""
        return dict(zip(self.table[ID_COLUMN], self.table["_line"], strict=True))

    def describe(self) -> str:
        """``file (semicolon-delimited, cp1252)`` for messages."""
        enc = "" if self.encoding.startswith("utf-8") else f", {self.encoding}"
        return f"{self.path} ({_DELIMITERS[self.delimiter]}-delimited{enc})"


@dataclass
class MatchReport:
    """Rows of a table that match no study, and studies that have no row."""

    table: str
    unmatched_rows: list[str] = field(default_factory=list)
    studies_without_row: list[str] = field(default_factory=list)

    def message(self) -> str:
        """One line for stderr (counts only: identifiers go to the run's JSON, not to logs)."""
        parts = []
        if self.unmatched_rows:
            parts.append(f"{len(self.unmatched_rows)} row(s) match no study")
        if self.studies_without_row:
            parts.append(f"{len(self.studies_without_row)} study(ies) have no row")
        return f"{self.table}: {'; '.join(parts)}" if parts else ""

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "unmatched_rows": self.unmatched_rows,
                "studies_without_row": self.studies_without_row}


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{path}: starts with a UTF-8 mark but byte {exc.start} is not UTF-8; "
                                "save the file again as UTF-8 CSV") from exc
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{path}: neither UTF-8 nor Windows-1252/Latin-1 text (byte 0x{raw[exc.start]:02x} at "
            f"offset {exc.start}); save it as 'CSV UTF-8' from your spreadsheet program") from exc


def _sniff(path: Path, text: str) -> str:
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        return ","  # a one-column table
    tied = [d for d, n in counts.items() if n == counts[best]]
    if len(tied) > 1:
        names = " and ".join(_DELIMITERS[d] for d in tied)
        raise ManifestError(f"{path}: the header has as many {names} characters; cannot tell the "
                            "delimiter — save the file with commas (or quote the headers)")
    return best


def resolve_id_column(columns: Iterable[object], *, source: str = "table",
                      id_aliases: Iterable[str] = ID_ALIASES) -> str:
    """The header in ``columns`` that holds subject identifiers.

    ``subject_id`` itself wins; otherwise exactly one header must match one of
    :data:`ID_ALIASES` after lower-casing and removing spaces, dashes, dots, underscores and a
    byte-order mark (``"Patient ID"`` → ``patientid``). Callers rename it to ``subject_id``.

    Raises
    ------
    ManifestError
        No identifier column (the message lists the accepted names and the columns found), or
        several columns that look like one (all named: keep or rename one).
    """
    cols = [str(c) for c in columns]
    if ID_COLUMN in cols:
        return ID_COLUMN
    keys = {_norm(a) for a in id_aliases}
    hits = [c for c in cols if _norm(c.lstrip("\ufeff")) in keys]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ManifestError(
            f"{source}: columns {', '.join(repr(h) for h in hits)} all look like the subject "
            "identifier; rename the one to use to 'subject_id' (or drop the others)")
    close = difflib.get_close_matches(ID_COLUMN, cols, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    shown = ", ".join(repr(c) for c in cols[:15]) + (" ..." if len(cols) > 15 else "")
    raise ManifestError(
        f"{source}: no subject identifier column{hint} (columns found: {shown or 'none'}); name "
        "it 'subject_id' (also accepted: 'Patient ID', 'patient_id', 'study_id', "
        "'participant_id', 'subject', 'ID')")


def _problems(path: str, problems: list[str]) -> str:
    more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    return f"{path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:_MAX_LISTED]) + more


def read_subject_table(
    path: str | os.PathLike[str],
    *,
    what: str = "table",
    required: Sequence[str] = (),
    nonblank: Sequence[str] = (),
    id_aliases: Iterable[str] = ID_ALIASES,
    problems: list[str] | None = None,
) -> SubjectTable:
    """Read a subject-keyed CSV with the rules of this module (see its docstring).

    Parameters
    ----------
    path : path-like
        The CSV file.
    what : str
        What the file is (``manifest``, ``clinical table``…), used in messages.
    required : sequence of str
        Columns that must be present (besides the identifier).
    nonblank : sequence of str
        Columns whose every cell must be filled (e.g. the image path of a features manifest).
    id_aliases : iterable of str
        Accepted spellings of the identifier column.
    problems : list of str, optional
        When given, row problems (blank/duplicate ids, blank cells) are appended to it instead
        of raised, so a caller can report them together with its own checks.

    Raises
    ------
    ManifestError
        Missing file or column, undecodable bytes, ambiguous delimiter, blank or duplicate
        identifiers, blank required cells — with the file, the lines and the fix.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        kind = "a folder" if p.is_dir() else "no such file"
        raise ManifestError(f"{what} {p}: {kind}; pass the path of a CSV file")
    raw = p.read_bytes()
    text, encoding = _decode(p, raw)
    if not text.strip():
        raise ManifestError(f"{what} {p}: the file is empty; it needs a header line and one row per subject")
    delim = _sniff(p, text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False,
                         quoting=csv.QUOTE_MINIMAL, skipinitialspace=False)
    except (pd.errors.ParserError, csv.Error) as exc:
        raise ManifestError(f"{what} {p}: not a readable {_DELIMITERS[delim]}-delimited CSV ({exc}); "
                            "check for unbalanced quotes or a different delimiter") from exc
    df.columns = [str(c).strip() for c in df.columns]
    dup_cols = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup_cols:
        raise ManifestError(f"{what} {p}: column(s) {dup_cols} appear twice in the header; keep one")
    id_col = resolve_id_column(df.columns, source=f"{what} {p}", id_aliases=id_aliases)
    if id_col != ID_COLUMN:
        df = df.rename(columns={id_col: ID_COLUMN})
    cols = list(df.columns)
    missing = [c for c in required if c not in cols]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, cols, n=1, cutoff=0.6)
            hints.append(f"required column {c!r} is missing" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ManifestError(f"{what} {p}: {'; '.join(hints)}; columns present "
                            f"({_DELIMITERS[delim]}-delimited): {', '.join(cols[:15])}")
    df = df.apply(lambda s: s.str.strip())
    lines = list(range(2, len(df) + 2))
    own = problems is None
    problems = [] if problems is None else problems
    seen: dict[str, int] = {}
    for line, sid in zip(lines, df[ID_COLUMN], strict=True):
        if not sid:
            problems.append(f"line {line}, column {id_col!r}: blank identifier; give every row one")
        elif sid in seen:
            problems.append(f"line {line}, column {id_col!r}: {sid!r} is a duplicate of line "
                            f"{seen[sid]}; keep one row per subject (merge or rename)")
        else:
            seen[sid] = line
    for col in nonblank:
        if col not in df.columns:
            continue
        for line, sid, v in zip(lines, df[ID_COLUMN], df[col], strict=True):
            if not v:
                problems.append(f"line {line} (subject {sid!r}), column {col!r}: blank; fill it in "
                                "or drop the row")
    if own and problems:
        raise ManifestError(_problems(f"{what} {p}", problems))
    df["_line"] = lines
    df.attrs["source"] = str(p)
    return SubjectTable(df.reset_index(drop=True), p, encoding, delim, id_col)


def match_subjects(table: SubjectTable, study_ids: Iterable[str]) -> MatchReport:
    """Which rows of ``table`` match none of ``study_ids`` and which studies have no row."""
    ids = list(study_ids)
    have = set(table.ids)
    want = set(ids)
    return MatchReport(table=str(table.path.name),
                       unmatched_rows=[s for s in table.ids if s not in want],
                       studies_without_row=[s for s in ids if s not in have])


def numeric_columns(df: pd.DataFrame, *, keep_text: Iterable[str] = ()) -> pd.DataFrame:
    """Columns whose every filled cell is a number become float (blank → NaN); others stay text.

    ``keep_text`` names columns never converted (identifiers, site names, split labels).
    """
    import pandas as pd

    out = df.copy()
    keep = {ID_COLUMN, "_line", *keep_text}
    for c in out.columns:
        if c in keep or out[c].dtype != object:
            continue
        filled = out[c].astype(str).str.strip()
        blank = filled.isin(["", "NA", "NaN", "nan", "N/A", "n/a"])
        num = pd.to_numeric(filled.where(~blank), errors="coerce")
        if num[~blank].notna().all():
            out[c] = num.astype(float)
    return out

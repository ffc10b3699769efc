"""The subject-identifier column of a subject table, found by the same rules as clinical headers.

Spreadsheets name it ``Patient ID``, ``patient_id``, ``study_id``, ``ID``, ``Subject``...;
bonenet's tables call it ``subject_id``. :func:`resolve_id_column` picks the one header that
means it (case, spaces and punctuation ignored) or says which name to use.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ManifestError
from ._schema import _norm_name

__all__ = ["ID_ALIASES", "resolve_id_column"]

#: Normalised headers accepted for ``subject_id`` (in order of preference).
ID_ALIASES = ("subject_id", "subjectid", "subject", "subj_id", "participant_id", "participant",
              "patient_id", "patientid", "patient", "pat_id", "pid", "study_id", "studyid",
              "record_id", "case_id", "id")


def resolve_id_column(columns: Iterable[object], *, source: str = "table") -> str:
    """Return the header in ``columns`` that holds subject identifiers.

    ``subject_id`` itself wins; otherwise exactly one header must normalise to one of
    :data:`ID_ALIASES` (``"Patient ID"`` → ``patient_id``). Callers rename it to
    ``subject_id``.

    Raises
    ------
    ManifestError
        No identifier column (the message lists the accepted names and the columns found),
        or two columns that both look like one (both named, keep or rename one).
    """
    cols = [str(c) for c in columns]
    if "subject_id" in cols:
        return "subject_id"
    stripped = {c: _norm_name(c.lstrip("\ufeff")) for c in cols}
    hits = [c for c in cols if stripped[c] in ID_ALIASES]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ManifestError(
            f"{source}: columns {', '.join(repr(h) for h in hits)} all look like the subject "
            "identifier; rename the one to use to 'subject_id' (or drop the others)")
    shown = ", ".join(repr(c) for c in cols[:15]) + (" ..." if len(cols) > 15 else "")
    raise ManifestError(
        f"{source}: no subject identifier column (columns found: {shown or 'none'}); name it "
        "'subject_id' (also accepted: 'Patient ID', 'patient_id', 'study_id', 'participant_id', "
        "'subject', 'ID')")

"""The subject-identifier column of a subject table (``Patient ID``, ``study_id``, ``ID``...).

One rule for every table: :func:`bonenet.tables.resolve_id_column`, re-exported here for the
clinical API.
"""

from __future__ import annotations

from ..tables import ID_ALIASES, resolve_id_column

__all__ = ["ID_ALIASES", "resolve_id_column"]

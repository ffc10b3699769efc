"""TotalSegmentator's class ids: the vertebra labels users already have.

TotalSegmentator v2 (Wasserthal et al., Radiol Artif Intell 2023; Apache-2.0) writes one
multilabel map per study for its ``total`` task; the ids below are those of its
``map_to_binary.py`` ``class_map["total"]`` (v2). bonenet reads them to pick one vertebra of a
multilabel mask (the ``vertebra`` manifest column, ``--vertebra``) and to measure the spine.
"""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["LEVELS", "TS_TOTAL", "ts_vertebra_ids", "vertebra_label"]

#: Vertebral levels from head to pelvis.
LEVELS = (*(f"C{i}" for i in range(1, 8)), *(f"T{i}" for i in range(1, 13)),
          *(f"L{i}" for i in range(1, 6)), "S1")


def ts_vertebra_ids() -> dict[str, int]:
    """``{level: class id}`` of TotalSegmentator v2's ``total`` task (S1 26 … C1 50)."""
    ids = {"S1": 26}
    ids.update({f"L{i}": 32 - i for i in range(1, 6)})  # L1 31 … L5 27
    ids.update({f"T{i}": 44 - i for i in range(1, 13)})  # T1 43 … T12 32
    ids.update({f"C{i}": 51 - i for i in range(1, 8)})  # C1 50 … C7 44
    return ids


#: TotalSegmentator v2 ``total`` task: structure name → class id (the ones the spine uses).
TS_TOTAL: dict[str, int] = {
    **{f"vertebrae_{lv}": i for lv, i in ts_vertebra_ids().items()},
    "sacrum": 25, "aorta": 52, "spinal_cord": 79, "autochthon_left": 86, "autochthon_right": 87,
    "iliopsoas_left": 88, "iliopsoas_right": 89,
}


def vertebra_label(level: str) -> int:
    """TotalSegmentator ``total``-task id of a vertebral level (``"L1"`` → 31)."""
    key = str(level).strip().upper()
    ids = ts_vertebra_ids()
    if key not in ids:
        raise ConfigError(f"vertebra {level!r} unknown; use a level such as T12, L1 ... L5 "
                          f"(one of {', '.join(LEVELS)})")
    return ids[key]

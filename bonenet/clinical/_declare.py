"""User-declared clinical variables: a researcher's own covariates beside the FRAX schema.

A :class:`ClinicalVariable` says what a column means (kind, unit, valid range, header
aliases, categories, missing-value policy, whether a table must have it). Declarations are
given as dicts in YAML (``data.init_args.clinical_variables``) or as objects in Python, flow
through :func:`bonenet.clinical.parse_clinical` and :class:`bonenet.clinical.ClinicalEncoder`,
and are saved inside the encoder's state in the checkpoint, so ``bonenet predict`` needs
nothing else.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClinicalValueError, ConfigError
from ._schema import SCHEMA, Variable, _norm_name, _norm_unit, canonical_header

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["KINDS", "MISSING_POLICIES", "ClinicalVariable", "check_required", "declare_variables",
           "declared_schema", "load_declarations"]

KINDS = ("continuous", "binary", "categorical")
#: ``indicator``: a blank cell is encoded as missing (value 0, mask 0) and the model sees it;
#: ``error``: a blank cell is a :class:`~bonenet.errors.ClinicalValueError` naming the row.
MISSING_POLICIES = ("indicator", "error")
#: Column names that are never clinical variables (identifiers, images, outcomes, bookkeeping).
RESERVED = frozenset({"subject_id", "image", "mask", "site", "split", "fracture", "time_years",
                      "event", "bmd_change", "_line"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _err(name: str, text: str) -> ConfigError:
    return ConfigError(f"clinical variable {name!r}: {text}")


@dataclass(frozen=True)
class ClinicalVariable:
    """A clinical variable declared by the user.

    Parameters
    ----------
    name : str
        Canonical snake_case column name (``nlr``, ``ecog``); must not be a schema variable
        (see :data:`bonenet.clinical.SCHEMA`) or a reserved column (``subject_id``, outcomes).
    kind : {"continuous", "binary", "categorical"}
    unit : str
        Canonical unit of a continuous variable (``""`` for a ratio or a score).
    valid_range : (float, float), optional
        Inclusive range of possible values in ``unit``; a value outside is a
        ``ClinicalValueError`` naming row, column, value and the range. ``None``: any finite
        number (continuous only).
    aliases : sequence of str
        Other spreadsheet headers that mean this variable (case, spaces and punctuation are
        ignored, as for the schema's headers).
    categories : sequence of str
        Levels of a categorical variable, in one-hot order (≥ 2). Cells match them ignoring
        case; ``"1.0"`` matches ``"1"``.
    units : mapping of str → float
        Unit spellings a header may carry (``"NLR (ratio)"``) and the factor to ``unit``.
    missing : {"indicator", "error"}
        What a blank cell means (see :data:`MISSING_POLICIES`).
    required : bool
        Whether every clinical table (training manifest, ``predict --clinical``) must have
        the column; a table without it is refused with the column named.
    description : str
    """

    name: str
    kind: str
    unit: str = ""
    valid_range: tuple[float, float] | None = None
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    units: tuple[tuple[str, float], ...] = field(default=())
    missing: str = "indicator"
    required: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        name = str(self.name)
        if not _NAME_RE.match(name):
            raise _err(name, "the name must be snake_case (a-z, 0-9, _; starting with a letter)")
        if name in SCHEMA:
            raise _err(name, f"already a schema variable ({SCHEMA[name].description}); use it by "
                             "name instead of declaring it")
        if name in RESERVED:
            raise _err(name, f"{name!r} is a reserved column ({', '.join(sorted(RESERVED))})")
        if self.kind not in KINDS:
            raise _err(name, f"kind {self.kind!r} unknown; use one of {', '.join(KINDS)}")
        if self.missing not in MISSING_POLICIES:
            raise _err(name, f"missing={self.missing!r} unknown; use one of "
                             f"{', '.join(MISSING_POLICIES)}")
        aliases = tuple(str(a) for a in (self.aliases or ()))
        if isinstance(self.aliases, str):
            aliases = (self.aliases,)
        object.__setattr__(self, "aliases", aliases)
        cats = tuple(str(c).strip() for c in (self.categories or ()))
        if self.kind == "categorical":
            if len(cats) < 2 or len({c.lower() for c in cats}) != len(cats):
                raise _err(name, "a categorical variable needs ≥ 2 distinct categories, e.g. "
                                 "categories: ['0', '1', '2', '3', '4']")
        elif cats:
            raise _err(name, f"categories are only for kind 'categorical' (this one is {self.kind})")
        object.__setattr__(self, "categories", cats)
        rng = self.valid_range
        if rng is not None:
            try:
                lo, hi = (float(v) for v in rng)
            except (TypeError, ValueError):
                raise _err(name, f"valid_range {rng!r} must be two numbers [low, high]") from None
            if not lo < hi or math.isnan(lo) or math.isnan(hi):
                raise _err(name, f"valid_range {rng!r} must have low < high")
            if self.kind != "continuous":
                raise _err(name, "valid_range is only for kind 'continuous'")
            rng = (lo, hi)
        object.__setattr__(self, "valid_range", rng)
        units = self.units.items() if isinstance(self.units, Mapping) else (self.units or ())
        try:
            pairs = tuple((_norm_unit(str(u)), float(f)) for u, f in units)
        except (TypeError, ValueError):
            raise _err(name, f"units {self.units!r} must map unit spellings to factors, e.g. "
                             "{'mg/dl': 0.2495}") from None
        if pairs and self.kind != "continuous":
            raise _err(name, "units are only for kind 'continuous'")
        object.__setattr__(self, "units", pairs)
        object.__setattr__(self, "unit", str(self.unit or ""))
        object.__setattr__(self, "required", bool(self.required))

    # ---------------------------------------------------------------- conversions
    def variable(self) -> Variable:
        """The schema :class:`Variable` this declaration stands for (group ``"user"``)."""
        units = dict(self.units)
        if self.kind == "continuous" and self.unit:
            units.setdefault(_norm_unit(self.unit), 1.0)
        if self.kind == "binary":
            rng: tuple[float, float] | None = (0.0, 1.0)
        elif self.kind == "continuous":
            rng = self.valid_range or (-math.inf, math.inf)
        else:
            rng = None
        return Variable(self.name, self.kind, self.unit, rng, (self.name, *self.aliases), units,
                        self.categories, self.required, "user", self.description)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what YAML declares and what the checkpoint stores)."""
        return {"name": self.name, "kind": self.kind, "unit": self.unit,
                "valid_range": None if self.valid_range is None else list(self.valid_range),
                "aliases": list(self.aliases), "categories": list(self.categories),
                "units": dict(self.units), "missing": self.missing, "required": self.required,
                "description": self.description}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> ClinicalVariable:
        """Build from a YAML/JSON mapping; an unknown key is a ConfigError with close matches."""
        if not isinstance(spec, Mapping):
            raise ConfigError(f"clinical variable declaration {spec!r} must be a mapping with at "
                              "least 'name' and 'kind'")
        known = [f.name for f in fields(cls)]
        for key in spec:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=2)
                hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
                raise ConfigError(f"clinical variable {spec.get('name', '?')!r}: unknown key "
                                  f"{key!r}{hint}; keys are {', '.join(known)}")
        for key in ("name", "kind"):
            if key not in spec:
                raise ConfigError(f"clinical variable declaration {dict(spec)!r}: {key!r} is missing")
        return cls(**{k: v for k, v in spec.items()})


def declare_variables(specs: Iterable[ClinicalVariable | Mapping[str, Any]] | None
                      ) -> tuple[ClinicalVariable, ...]:
    """Validate a list of declarations (objects or dicts) as a whole.

    Refuses a name declared twice and an alias that already means another variable (a
    schema variable's header or another declaration's), naming both.
    """
    out: list[ClinicalVariable] = []
    for spec in specs or ():
        out.append(spec if isinstance(spec, ClinicalVariable) else ClinicalVariable.from_dict(spec))
    owner: dict[str, str] = {}
    for d in out:
        if d.name in owner and owner[d.name] == d.name:
            raise _err(d.name, "declared twice; keep one declaration")
        for alias in (d.name, *d.aliases):
            key = _norm_name(alias)
            taken, _ = canonical_header(alias)
            if taken is not None:
                raise _err(d.name, f"alias {alias!r} already means schema variable {taken!r}; "
                                   "drop the alias or rename the column")
            if key in owner and owner[key] != d.name:
                raise _err(d.name, f"alias {alias!r} also belongs to {owner[key]!r}")
            owner[key] = d.name
    return tuple(out)


def declared_schema(declared: Iterable[ClinicalVariable]) -> dict[str, Variable]:
    """Name → :class:`Variable` for declarations (what ``canonical_header(declared=)`` takes)."""
    return {d.name: d.variable() for d in declared}


def load_declarations(path: str | os.PathLike[str]) -> tuple[ClinicalVariable, ...]:
    """Read declarations from a YAML file: a list of mappings, a mapping with a
    ``clinical_variables`` list, or a training config (``data.init_args.clinical_variables``).

    Strings in the list (schema variables selected by name) are skipped here.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: clinical-variable declarations file not found")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from exc
    items: Any = doc
    if isinstance(doc, Mapping):
        data = doc.get("data")
        if isinstance(data, Mapping):
            items = (data.get("init_args") or data).get("clinical_variables")
        else:
            items = doc.get("clinical_variables")
    if not isinstance(items, list):
        raise ConfigError(f"{p}: no list of clinical variables found (give a YAML list, a "
                          "'clinical_variables:' list, or data.init_args.clinical_variables)")
    return declare_variables([i for i in items if not isinstance(i, str)])


def split_spec(spec: Sequence[str | Mapping[str, Any] | ClinicalVariable] | None
               ) -> tuple[list[str] | None, tuple[ClinicalVariable, ...]]:
    """Split a ``clinical_variables`` config value into (selected names or None, declarations).

    Strings select schema (or declared) variables by name; mappings / objects declare new
    ones, which are always selected. With no strings the selection is ``None`` (the default:
    every schema variable the table has, plus the declared ones).
    """
    if spec is None:
        return None, ()
    if isinstance(spec, str | Mapping | ClinicalVariable):
        spec = [spec]  # type: ignore[list-item]
    names = [str(s) for s in spec if isinstance(s, str)]
    declared = declare_variables([s for s in spec if not isinstance(s, str)])
    if not names:
        return None, declared
    return [*names, *(d.name for d in declared if d.name not in names)], declared


def check_required(df: pd.DataFrame | Iterable[str], variables: Iterable[ClinicalVariable], *,
                   source: str = "clinical table") -> None:
    """Refuse a table that lacks the column of a ``required`` declared variable.

    ``df`` is a DataFrame or its column names (headers are matched with the aliases, so
    ``"NLR"`` satisfies ``nlr``). Raises :class:`ClinicalValueError` naming every missing
    variable, the headers accepted for it and the fix.
    """
    declared = list(variables)
    columns = [str(c) for c in (df.columns if hasattr(df, "columns") else df)]
    schema = declared_schema(declared)
    present = {canonical_header(c, declared=schema)[0] for c in columns}
    missing = [d for d in declared if d.required and d.name not in present]
    if missing:
        parts = [f"{d.name!r} (headers accepted: {', '.join(repr(a) for a in (d.name, *d.aliases))})"
                 for d in missing]
        raise ClinicalValueError(
            f"{source}: required clinical column(s) missing: {'; '.join(parts)}. The model was "
            "trained with them declared required; add the column(s) (blank cells allowed only "
            "when the declaration says missing: indicator)")

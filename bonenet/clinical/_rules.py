"""Screening rules as data: indications, exclusions, cautions and monitoring per regimen component.

The default rules live in ``screening_rules.yaml`` beside this module (each with its label or
guideline source and every threshold a named parameter with its cited default); users add
their own in a file of the same format. This module only *reads and checks* rules and parses
regimen names; ``_screen.py`` evaluates them.

A research tool for defining study populations, not a prescribing aid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._schema import SCHEMA, _norm_unit
from ._screen_regimen import DRUGS, Regimen, _norm, parse_regimen

__all__ = [
    "COMPONENTS",
    "DEFAULT_RULES_PATH",
    "DRUGS",
    "KINDS",
    "Condition",
    "Node",
    "Param",
    "Regimen",
    "Rule",
    "default_rules",
    "load_rules",
    "parse_regimen",
    "set_params",
]

#: Regimen components the rules are written for ("all" = every regimen).
COMPONENTS = ("estrogen", "active_vitamin_d", "bisphosphonate", "denosumab")
KINDS = ("indication", "exclusion", "caution", "monitoring")
_OPS = (">", ">=", "<", "<=", "==", "!=")
_MISSING = ("unknown", "false", "true")
DEFAULT_RULES_PATH = Path(__file__).with_name("screening_rules.yaml")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Param:
    """A named threshold: ``value`` in ``unit`` with the source of its default."""

    value: float | str
    unit: str = ""
    source: str = ""


@dataclass(frozen=True)
class Condition:
    """A leaf: ``var op threshold`` with a rule for a missing value.

    ``threshold`` is a literal or the name of a rule parameter (``param``); numeric thresholds
    are converted from ``unit`` to the variable's canonical unit when the rule is evaluated.
    ``if_missing``: "unknown" (default: the leaf is undecided), "false" or "true".
    """

    var: str
    op: str
    value: float | str | None = None
    param: str | None = None
    unit: str = ""
    if_missing: str = "unknown"


@dataclass(frozen=True)
class Node:
    """``any`` / ``all`` of children, or ``not`` of one child (three-valued logic)."""

    op: str
    children: tuple[Node | Condition, ...]


@dataclass(frozen=True)
class Rule:
    """One screening rule (see ``screening_rules.yaml`` for the format and the defaults).

    Attributes
    ----------
    name : str
    components : tuple of str
        Components of :data:`COMPONENTS` it applies to, or ``("all",)``.
    kind : {"indication", "exclusion", "caution", "monitoring"}
    when : Node or Condition or None
        The logic; None only for unconditional monitoring.
    params : dict of str → Param
        Thresholds by name, with their cited defaults.
    source : str
        Guideline or label.
    drugs : tuple of str
        When non-empty, applies only if the regimen names one of these drugs (or the class).
    description, action, note : str
    origin : str
        File the rule came from.
    """

    name: str
    components: tuple[str, ...]
    kind: str
    when: Node | Condition | None
    params: dict[str, Param] = field(default_factory=dict)
    source: str = ""
    drugs: tuple[str, ...] = ()
    description: str = ""
    action: str = ""
    note: str = ""
    origin: str = ""

    @property
    def variables(self) -> tuple[str, ...]:
        """Clinical variables the rule reads, in order of appearance."""
        out: list[str] = []
        for leaf in leaves(self.when):
            if leaf.var not in out:
                out.append(leaf.var)
        return tuple(out)

    def threshold(self, leaf: Condition) -> tuple[float | str, str]:
        """``(value, unit)`` of a leaf's threshold after parameter lookup."""
        if leaf.param is not None:
            p = self.params[leaf.param]
            return p.value, p.unit
        return leaf.value, leaf.unit  # type: ignore[return-value]


def leaves(node: Node | Condition | None, *, negated: bool = False,
           with_sign: bool = False) -> list[Any]:
    """All leaf conditions under ``node`` (with ``negated`` flags when ``with_sign``)."""
    if node is None:
        return []
    if isinstance(node, Condition):
        return [(node, negated)] if with_sign else [node]
    out: list[Any] = []
    for child in node.children:
        out.extend(leaves(child, negated=negated ^ (node.op == "not"), with_sign=with_sign))
    return out


# ------------------------------------------------------------------------------ loading
def _bad(origin: str, where: str, msg: str) -> ConfigError:
    return ConfigError(f"{origin}: {where}: {msg}")


def _missing_mode(raw: Any, origin: str, where: str) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    s = str(raw).strip().lower()
    if s not in _MISSING:
        raise _bad(origin, where, f"if_missing {raw!r} must be one of {', '.join(_MISSING)}")
    return s


def _yes_no(raw: Any, origin: str, where: str) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    s = str(raw).strip().lower()
    if s in ("yes", "true", "1", "y"):
        return 1.0
    if s in ("no", "false", "0", "n"):
        return 0.0
    raise _bad(origin, where, f"'is: {raw!r}' must be yes or no")


def _node(raw: Any, origin: str, where: str, params: Mapping[str, Param]) -> Node | Condition:
    if not isinstance(raw, Mapping):
        raise _bad(origin, where, f"expected a mapping (var/op/value or any/all/not), got {raw!r}")
    keys = set(raw)
    for op in ("any", "all"):
        if op in keys:
            if keys != {op} or not isinstance(raw[op], list) or not raw[op]:
                raise _bad(origin, where, f"'{op}' takes a non-empty list and nothing beside it")
            return Node(op, tuple(_node(c, origin, f"{where}.{op}[{i}]", params)
                                  for i, c in enumerate(raw[op])))
    if "not" in keys:
        if keys != {"not"}:
            raise _bad(origin, where, "'not' takes one condition and nothing beside it")
        return Node("not", (_node(raw["not"], origin, f"{where}.not", params),))
    unknown = keys - {"var", "op", "value", "param", "unit", "if_missing", "is"}
    if unknown or "var" not in keys:
        raise _bad(origin, where, f"a condition needs 'var' plus 'op' and 'value'/'param' (or 'is'); "
                                  f"unknown keys {sorted(unknown)}" if unknown else
                   "a condition needs 'var'")
    var = str(raw["var"])
    mode = _missing_mode(raw.get("if_missing", "unknown"), origin, where)
    if "is" in keys:
        if keys & {"op", "value", "param"}:
            raise _bad(origin, where, "use either 'is: yes|no' or 'op' with 'value'/'param'")
        if var in SCHEMA and SCHEMA[var].kind != "binary":
            raise _bad(origin, where, f"'is' needs a 0/1 variable; {var} is {SCHEMA[var].kind}")
        return Condition(var, "==", _yes_no(raw["is"], origin, where), None, "", mode)
    op = str(raw.get("op", ""))
    if op not in _OPS:
        raise _bad(origin, where, f"op {op!r} must be one of {' '.join(_OPS)}")
    has_v, has_p = "value" in keys, "param" in keys
    if has_v == has_p:
        raise _bad(origin, where, "give exactly one of 'value' and 'param'")
    if has_p and str(raw["param"]) not in params:
        raise _bad(origin, where, f"param {raw['param']!r} is not defined under the rule's 'params' "
                                  f"(defined: {', '.join(params) or 'none'})")
    value = raw.get("value")
    if has_v and not isinstance(value, str):
        value = _number(value, origin, where)
    cond = Condition(var, op, value, str(raw["param"]) if has_p else None,
                     str(raw.get("unit", "")), mode)
    _check_var(cond, origin, where, params)
    return cond


def _number(raw: Any, origin: str, where: str) -> float:
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise _bad(origin, where, f"{raw!r} is not a number") from None
    if not math.isfinite(v):
        raise _bad(origin, where, f"{raw!r} is not a finite number")
    return v


def unit_factor(var: str, unit: str) -> float:
    """Factor converting a threshold in ``unit`` to ``var``'s canonical unit (KeyError if unknown)."""
    if var not in SCHEMA or not unit:
        return 1.0
    v = SCHEMA[var]
    u = _norm_unit(unit)
    if u == _norm_unit(v.unit) or (u in ("sd", "%") and v.unit in ("SD", "%")):
        return 1.0
    return v.units_in_header[u]


def _check_var(cond: Condition, origin: str, where: str, params: Mapping[str, Param]) -> None:
    value, unit = (params[cond.param].value, params[cond.param].unit) if cond.param else (cond.value, cond.unit)
    if cond.var not in SCHEMA:
        if unit:
            raise _bad(origin, where, f"{cond.var!r} is not a bonenet clinical variable, so bonenet "
                                      f"cannot convert unit {unit!r}; give the threshold in the column's "
                                      "own unit and drop 'unit'")
        return  # a user column: must exist in the data when screened
    v = SCHEMA[cond.var]
    if v.kind == "categorical":
        if cond.op not in ("==", "!=") or str(value) not in v.categories:
            raise _bad(origin, where, f"{cond.var} is categorical: use == or != with one of "
                                      f"{', '.join(v.categories)} (got {cond.op} {value!r})")
        return
    if isinstance(value, str):
        raise _bad(origin, where, f"{cond.var} is {v.kind}: the threshold must be a number, got {value!r}")
    try:
        unit_factor(cond.var, unit)
    except KeyError:
        raise _bad(origin, where, f"unit {unit!r} is not known for {cond.var} (canonical {v.unit}; known: "
                                  f"{', '.join(sorted(v.units_in_header)) or v.unit})") from None


def _rule(raw: Any, origin: str, index: int) -> Rule:
    where = f"rule {index + 1}"
    if not isinstance(raw, Mapping):
        raise _bad(origin, where, f"expected a mapping, got {type(raw).__name__}")
    name = str(raw.get("name", ""))
    if not _NAME_RE.match(name):
        raise _bad(origin, where, f"name {name!r} must be snake_case (a-z, 0-9, _), starting with a letter")
    where = f"rule {name!r}"
    allowed = {"name", "component", "kind", "when", "params", "source", "drugs", "description",
               "action", "note"}
    extra = set(raw) - allowed
    if extra:
        raise _bad(origin, where, f"unknown key(s) {sorted(extra)}; allowed: {', '.join(sorted(allowed))}")
    comps = raw.get("component")
    comps = tuple(str(c) for c in (comps if isinstance(comps, list) else [comps]))
    for c in comps:
        if c not in (*COMPONENTS, "all"):
            raise _bad(origin, where, f"component {c!r} must be one of {', '.join(COMPONENTS)} or all")
    kind = str(raw.get("kind", ""))
    if kind not in KINDS:
        raise _bad(origin, where, f"kind {kind!r} must be one of {', '.join(KINDS)}")
    source = str(raw.get("source", "")).strip()
    if not source:
        raise _bad(origin, where, "every rule needs a 'source' (the guideline or label it restates)")
    params: dict[str, Param] = {}
    for pname, p in (raw.get("params") or {}).items():
        if not isinstance(p, Mapping) or "value" not in p:
            raise _bad(origin, f"{where} param {pname!r}", "give {value: X, unit: U, source: ...}")
        val = p["value"] if isinstance(p["value"], str) else _number(p["value"], origin, f"{where} param {pname!r}")
        params[str(pname)] = Param(val, str(p.get("unit", "")), str(p.get("source", "")))
    when = raw.get("when")
    if when is None and kind != "monitoring":
        raise _bad(origin, where, f"a {kind} rule needs 'when'")
    node = _node(when, origin, f"{where} when", params) if when is not None else None
    if kind == "monitoring" and not str(raw.get("action", "")).strip():
        raise _bad(origin, where, "a monitoring rule needs 'action' (what to monitor)")
    drugs = tuple(_norm(str(d)) for d in (raw.get("drugs") or ()))
    for d in drugs:
        if d not in DRUGS:
            raise _bad(origin, where, f"drug {d!r} unknown; known: {', '.join(sorted(DRUGS))}")
    return Rule(name, comps, kind, node, params, source, drugs, str(raw.get("description", "")),
                str(raw.get("action", "")), str(raw.get("note", "")).strip(), origin)


def load_rules(source: str | Path | Mapping[str, Any] | list[Any]) -> tuple[Rule, ...]:
    """Read and check a rules file (YAML or JSON) or an already-loaded mapping/list.

    Raises
    ------
    ConfigError
        Naming the file, the rule and the key for anything malformed (unknown component, kind,
        operator, unit or parameter; a rule without source; duplicated names).
    """
    import yaml

    if isinstance(source, (str, Path)):
        path = Path(source)
        origin = str(path)
        if not path.is_file():
            raise ConfigError(f"{origin}: rules file not found; pass an existing YAML file of rules")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"),  # safe loader (C when built)
                             Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{origin}: not a readable YAML rules file ({exc})") from None
    else:
        origin, data = "rules", source
    if isinstance(data, Mapping):
        unknown = set(data) - {"version", "rules"}
        if unknown:
            raise ConfigError(f"{origin}: unknown top-level key(s) {sorted(unknown)}; expected 'rules:' (a list)")
        data = data.get("rules")
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{origin}: expected 'rules:' followed by a non-empty list of rules")
    rules = tuple(_rule(r, origin, i) for i, r in enumerate(data))
    seen: set[str] = set()
    for r in rules:
        if r.name in seen:
            raise ConfigError(f"{origin}: rule name {r.name!r} used twice; names must be unique")
        seen.add(r.name)
    return rules


_DEFAULTS: tuple[Rule, ...] | None = None


def default_rules() -> tuple[Rule, ...]:
    """The shipped rules (``screening_rules.yaml``), loaded once."""
    global _DEFAULTS
    if _DEFAULTS is None:
        _DEFAULTS = load_rules(DEFAULT_RULES_PATH)
    return _DEFAULTS


_SET_RE = re.compile(r"^\s*(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>\S.*)?$")


def set_params(rules: Iterable[Rule], values: Mapping[str, float | str]) -> tuple[Rule, ...]:
    """Return ``rules`` with parameters replaced: ``{"hypercalcaemia.upper_limit": "10.5 mg/dL"}``.

    A bare number is taken in the parameter's declared unit; a number followed by a unit is
    converted (for schema variables). Raises :class:`ConfigError` for an unknown rule or
    parameter or an unknown unit.
    """
    rules = tuple(rules)
    by_name = {r.name: r for r in rules}
    new = dict(by_name)
    for key, raw in values.items():
        rname, _, pname = str(key).partition(".")
        if rname not in by_name or pname not in by_name[rname].params:
            known = [f"{r.name}.{p}" for r in rules for p in r.params]
            raise ConfigError(f"parameter {key!r} unknown; known: {', '.join(known)}")
        rule = new[rname]
        p = rule.params[pname]
        value: float | str
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            value, unit = float(raw), p.unit
        else:
            m = _SET_RE.match(str(raw))
            if not m:
                raise ConfigError(f"parameter {key}: {raw!r} is not a number with an optional unit "
                                  f"(e.g. {p.value} {p.unit})")
            value, unit = float(m.group("num")), (m.group("unit") or p.unit).strip()
        if _norm_unit(unit) != _norm_unit(p.unit):
            var = next((leaf.var for leaf in leaves(rule.when) if leaf.param == pname), "")
            try:
                value = value * unit_factor(var, unit) / unit_factor(var, p.unit)
            except KeyError:
                raise ConfigError(f"parameter {key}: unit {unit!r} cannot be converted to {p.unit!r}") from None
        params = dict(rule.params)
        params[pname] = Param(value, p.unit, f"set by the user (default {p.value} {p.unit}: {p.source})")
        new[rname] = replace(rule, params=params)
    return tuple(new[r.name] for r in rules)

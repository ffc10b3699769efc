"""Regimen names: drugs joined with '+' → the regimen components whose screening rules apply.

A research tool for defining study populations, not a prescribing aid.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ._rules import Rule

__all__ = ["DRUGS", "Regimen", "parse_regimen"]

#: Drug (or class) names accepted in a regimen → the component whose rules apply.
DRUGS: dict[str, str] = {
    **dict.fromkeys(("estrogen", "oestrogen", "estrogens", "estradiol", "oestradiol",
                     "conjugated_estrogens", "conjugated_oestrogens", "hrt", "ht",
                     "hormone_therapy", "estrogen_therapy"), "estrogen"),
    **dict.fromkeys(("active_vitamin_d", "calcitriol", "alfacalcidol", "eldecalcitol"),
                    "active_vitamin_d"),
    **dict.fromkeys(("bisphosphonate", "bisphosphonates", "alendronate", "risedronate",
                     "ibandronate", "etidronate", "zoledronate", "zoledronic_acid"),
                    "bisphosphonate"),
    **dict.fromkeys(("denosumab",), "denosumab"),
}
#: Class names: a regimen naming the class gets drug-restricted rules too (the conservative reading).
_CLASSES = frozenset(("estrogen", "oestrogen", "estrogens", "hrt", "ht", "hormone_therapy",
                      "estrogen_therapy", "active_vitamin_d", "bisphosphonate", "bisphosphonates"))


@dataclass(frozen=True)
class Regimen:
    """A parsed regimen: the drugs as written (canonical spelling) and their components."""

    text: str
    drugs: tuple[str, ...]
    components: tuple[str, ...]

    @property
    def slug(self) -> str:
        """Column-safe name, e.g. ``estrogen_calcitriol`` for ``"estrogen+calcitriol"``."""
        return "_".join(self.drugs)

    def applies(self, rule: Rule) -> bool:
        """Whether ``rule`` belongs to this regimen."""
        if "all" in rule.components:
            return True
        for drug, comp in zip(self.drugs, self.components, strict=True):
            if comp in rule.components and (not rule.drugs or drug in rule.drugs or drug in _CLASSES):
                return True
        return False


def _norm(s: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", s.strip().lower()).strip("_")


def parse_regimen(text: str) -> Regimen:
    """Parse ``"estrogen+calcitriol"`` (also ``,``, ``&`` or ``and``) into a :class:`Regimen`.

    Raises
    ------
    ConfigError
        Naming an unknown drug, the closest known spelling and every accepted name.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("regimen is empty; name the drugs, e.g. --regimen estrogen+calcitriol")
    parts = [p for p in re.split(r"\s*(?:\+|,|&|\band\b)\s*", text.strip().lower()) if p.strip()]
    drugs, comps = [], []
    for part in parts:
        key = _norm(part)
        if key not in DRUGS:
            close = difflib.get_close_matches(key, list(DRUGS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"regimen {text!r}: unknown drug {part!r}{hint}; known names: "
                f"{', '.join(sorted(DRUGS))}. Join drugs with '+', e.g. estrogen+calcitriol")
        if key in drugs:
            raise ConfigError(f"regimen {text!r}: {part!r} named twice")
        drugs.append(key)
        comps.append(DRUGS[key])
    return Regimen(text=text.strip(), drugs=tuple(drugs), components=tuple(comps))

"""What bonenet's outputs are: research results, and the published thresholds they may be read against.

bonenet is research software, not a medical device. Every report and run record carries
:data:`RESEARCH_NOTICE`. A risk threshold means something only for the outcome it was defined
for: the US treatment thresholds are a 10-year probability of a major osteoporotic fracture
(MOF: hip, clinical spine, forearm, humerus) ≥ 20 % or of a hip fracture ≥ 3 % (National
Osteoporosis Foundation: Cosman et al., Osteoporos Int 2014;25:2359–2381; Bone Health and
Osteoporosis Foundation: LeBoff et al., Osteoporos Int 2022;33:2049–2102). The 10 % / 20 %
low–moderate–high bands for 10-year MOF probability are Osteoporosis Canada's (Papaioannou et
al., CMAJ 2010;182:1864–1873). For any other outcome (a generic "fracture" column, another
horizon) no published threshold applies: the thresholds are the user's and are labelled so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["OUTCOMES", "PUBLISHED_THRESHOLDS", "RESEARCH_NOTICE", "default_thresholds",
           "describe_categories", "describe_threshold"]

RESEARCH_NOTICE = ("bonenet is research software, not a medical device: its risks, categories and "
                   "reports are research results and must not be used to diagnose or treat anyone.")

#: Outcomes a prediction may stand for: 10-year major osteoporotic fracture, 10-year hip
#: fracture, or a generic fracture outcome (no published threshold).
OUTCOMES = ("mof", "hip", "fracture")

_NOF = ("NOF Clinician's Guide, Cosman et al., Osteoporos Int 2014;25:2359-2381; "
        "BHOF, LeBoff et al., Osteoporos Int 2022;33:2049-2102")
_CAROC = "Osteoporosis Canada, Papaioannou et al., CMAJ 2010;182:1864-1873"

#: outcome → (threshold, what it is, source): the published treatment thresholds.
PUBLISHED_THRESHOLDS: dict[str, tuple[float, str, str]] = {
    "mof": (0.20, "10-year major osteoporotic fracture probability ≥ 20 % (US treatment threshold)", _NOF),
    "hip": (0.03, "10-year hip fracture probability ≥ 3 % (US treatment threshold)", _NOF),
}
_OUTCOME_NAMES = {"mof": "10-year major osteoporotic fracture", "hip": "10-year hip fracture",
                  "fracture": "fracture (generic outcome)"}


def default_thresholds(outcome: str) -> tuple[float, ...]:
    """The published threshold of ``outcome`` (none for a generic fracture outcome)."""
    return (PUBLISHED_THRESHOLDS[outcome][0],) if outcome in PUBLISHED_THRESHOLDS else ()


def describe_threshold(threshold: float, outcome: str) -> dict[str, Any]:
    """``{"threshold", "outcome", "kind", "label", "source"}`` for one risk threshold.

    ``kind`` is ``"published"`` when ``threshold`` is the published threshold *of this
    outcome*, else ``"user"`` (a user's choice, with no published meaning for this outcome).
    """
    t = float(threshold)
    pub = PUBLISHED_THRESHOLDS.get(outcome)
    if pub is not None and abs(pub[0] - t) < 1e-12:
        return {"threshold": t, "outcome": outcome, "kind": "published", "label": pub[1], "source": pub[2]}
    return {"threshold": t, "outcome": outcome, "kind": "user",
            "label": f"{t * 100:g} %: user-chosen threshold for {_OUTCOME_NAMES.get(outcome, outcome)}",
            "source": "the user (no published threshold for this outcome at this value)"}


def describe_categories(thresholds: Sequence[float]) -> dict[str, Any]:
    """What ``bonenet predict``'s low / moderate / high categories are (for ``run.json``)."""
    lo, hi = (float(t) for t in thresholds)
    canada = abs(lo - 0.10) < 1e-12 and abs(hi - 0.20) < 1e-12
    return {
        "kind": "research categories, not clinical advice",
        "cutoffs": {"low": f"< {lo:g}", "moderate": f"{lo:g} to < {hi:g}", "high": f">= {hi:g}"},
        "meaning": ("10-year major osteoporotic fracture probability bands (valid only when the "
                    "model predicts that outcome)" if canada else "user-chosen cut-offs"),
        "source": f"{_CAROC}; 20 %: {_NOF}" if canada else "the user (--thresholds)",
        "notice": RESEARCH_NOTICE,
    }

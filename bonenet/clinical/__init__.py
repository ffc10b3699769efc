"""Clinical variables: the FRAX schema and extras, spreadsheet parsing, and the encoder.

``SCHEMA`` lists the variables with units and valid ranges; ``parse_clinical`` turns a real
spreadsheet into canonical columns (raising ``ClinicalValueError`` for impossible values);
``ClinicalEncoder`` turns them into a fixed-width matrix plus a missing-value mask.
``screen`` applies regimen screening rules (indications, exclusions, cautions, monitoring; data in
``screening_rules.yaml``) — a research tool for defining study populations, not a prescribing aid.
"""

from __future__ import annotations

from ._encoder import ClinicalEncoder
from ._parse import clinical_columns, parse_clinical
from ._rules import DRUGS, Regimen, Rule, default_rules, load_rules, parse_regimen
from ._schema import (
    FN_BMD_REFERENCE,
    SCHEMA,
    SCREENING_VARIABLES,
    TREATMENTS,
    Variable,
    canonical_header,
    fn_tscore_from_bmd,
)
from ._screen import DISCLAIMER, STATUSES, ScreeningResult, screen
from ._screen_report import filter_population, population_ids, read_screening, write_screening

__all__ = [
    "DISCLAIMER",
    "DRUGS",
    "FN_BMD_REFERENCE",
    "SCHEMA",
    "SCREENING_VARIABLES",
    "STATUSES",
    "TREATMENTS",
    "ClinicalEncoder",
    "Regimen",
    "Rule",
    "ScreeningResult",
    "Variable",
    "canonical_header",
    "clinical_columns",
    "default_rules",
    "filter_population",
    "fn_tscore_from_bmd",
    "load_rules",
    "parse_clinical",
    "parse_regimen",
    "population_ids",
    "read_screening",
    "screen",
    "write_screening",
]

"""Clinical variables: the FRAX schema and extras, user-declared variables, parsing, encoding.

``SCHEMA`` lists the variables with units and valid ranges; ``ClinicalVariable`` declares a
researcher's own covariate (name, kind, unit, range, aliases, categories, missing policy);
``parse_clinical`` turns a real spreadsheet into canonical columns (raising
``ClinicalValueError`` for impossible values, ambiguous headers and missing required
columns); ``ClinicalEncoder`` turns them into a fixed-width matrix plus a missing-value mask
and carries the declarations into checkpoints. ``fn_bmd_to_hologic`` puts GE Lunar and
Norland femoral-neck BMD on the Hologic scale (Lu et al. 2001) before the T-score.
``resolve_id_column`` finds the subject identifier column of any subject table.
``screen`` applies regimen screening rules (indications, exclusions, cautions, monitoring; data in
``screening_rules.yaml``) — a research tool for defining study populations, not a prescribing aid.
"""

from __future__ import annotations

from ._declare import (
    ClinicalVariable,
    check_required,
    declare_variables,
    load_declarations,
    split_spec,
)
from ._dxa import FN_SBMD_EQUATIONS, fn_bmd_to_hologic, parse_manufacturer
from ._encoder import ClinicalEncoder
from ._ids import ID_ALIASES, resolve_id_column
from ._parse import FLAG_COLUMNS, clinical_columns, parse_clinical
from ._rules import DRUGS, Regimen, Rule, default_rules, load_rules, parse_regimen
from ._schema import (
    AMBIGUOUS_HEADERS,
    DXA_MANUFACTURERS,
    FN_BMD_REFERENCE,
    FRAX_AGE_RANGE,
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
    "AMBIGUOUS_HEADERS",
    "DISCLAIMER",
    "DRUGS",
    "DXA_MANUFACTURERS",
    "FLAG_COLUMNS",
    "FN_BMD_REFERENCE",
    "FN_SBMD_EQUATIONS",
    "FRAX_AGE_RANGE",
    "ID_ALIASES",
    "SCHEMA",
    "SCREENING_VARIABLES",
    "STATUSES",
    "TREATMENTS",
    "ClinicalEncoder",
    "ClinicalVariable",
    "Regimen",
    "Rule",
    "ScreeningResult",
    "Variable",
    "canonical_header",
    "check_required",
    "clinical_columns",
    "declare_variables",
    "default_rules",
    "filter_population",
    "fn_bmd_to_hologic",
    "fn_tscore_from_bmd",
    "load_declarations",
    "load_rules",
    "parse_clinical",
    "parse_manufacturer",
    "parse_regimen",
    "population_ids",
    "read_screening",
    "resolve_id_column",
    "screen",
    "split_spec",
    "write_screening",
]

"""Clinical variables: the FRAX schema and extras, spreadsheet parsing, and the encoder.

``SCHEMA`` lists the variables with units and valid ranges; ``parse_clinical`` turns a real
spreadsheet into canonical columns (raising ``ClinicalValueError`` for impossible values);
``ClinicalEncoder`` turns them into a fixed-width matrix plus a missing-value mask.
"""

from __future__ import annotations

from ._encoder import ClinicalEncoder
from ._parse import clinical_columns, parse_clinical
from ._schema import (
    FN_BMD_REFERENCE,
    SCHEMA,
    TREATMENTS,
    Variable,
    canonical_header,
    fn_tscore_from_bmd,
)

__all__ = [
    "FN_BMD_REFERENCE",
    "SCHEMA",
    "TREATMENTS",
    "ClinicalEncoder",
    "Variable",
    "canonical_header",
    "clinical_columns",
    "fn_tscore_from_bmd",
    "parse_clinical",
]

"""Synthetic bone: trabecular phantoms, whole-bone sections, scanner models and cohorts whose
true fracture risk is known (bonenet's built-in dataset).

Quick start::

    from bonenet.synth import make_cohort
    c = make_cohort(200, modality="hrpqct", seed=0, out="cohort")
    c.manifest.head()

Heavy work happens only when a function is called; importing is cheap.
"""

from __future__ import annotations

from .bone import BoneSection, distal_section, vertebral_body
from .cohort import MODALITIES, Cohort, make_cohort
from .microstructure import Microstructure, noise_parameters, trabecular_noise
from .risk import (
    FRAX_COLUMNS,
    RISK_FACTORS,
    TREATMENTS,
    CaseMix,
    RiskModel,
    oracle_risk,
    simulate_clinical,
    simulate_outcomes,
)
from .rodplate import trabecular_rodplate
from .scanner import (
    HRPQCT_SCANNERS,
    HrpqctScanner,
    QctScanner,
    project_areal,
    simulate_hrpqct,
    simulate_qct,
    to_scanco_native,
)
from .sites import DEFAULT_SITES, Site, default_sites

__all__ = [
    "DEFAULT_SITES",
    "FRAX_COLUMNS",
    "HRPQCT_SCANNERS",
    "MODALITIES",
    "RISK_FACTORS",
    "TREATMENTS",
    "BoneSection",
    "CaseMix",
    "Cohort",
    "HrpqctScanner",
    "Microstructure",
    "QctScanner",
    "RiskModel",
    "Site",
    "default_sites",
    "distal_section",
    "make_cohort",
    "noise_parameters",
    "oracle_risk",
    "project_areal",
    "simulate_clinical",
    "simulate_hrpqct",
    "simulate_outcomes",
    "simulate_qct",
    "to_scanco_native",
    "trabecular_noise",
    "trabecular_rodplate",
    "vertebral_body",
]

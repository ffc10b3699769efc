"""Fixtures of the data tests (helpers live in data_cohort_helpers.py: a unique module name,
so importing them never picks up another room's conftest)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from data_cohort_helpers import write_cohort  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return write_cohort(tmp_path_factory.mktemp("cohort"))

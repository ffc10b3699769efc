"""Train/val/test assignment: a fixed column, stratified random, or leave-one-site-out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, ManifestError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["SPLIT_MODES", "assign_splits"]

SPLIT_MODES = ("auto", "column", "stratified", "site")


def _stratified(strata: list[str], idx: np.ndarray, val_fraction: float, test_fraction: float,
                rng: np.random.Generator, labels: np.ndarray) -> None:
    """Within each stratum, shuffle and cut ``test``, ``val``, rest ``train`` (in place)."""
    for s in sorted(set(strata)):
        members = idx[np.asarray(strata) == s]
        members = members[rng.permutation(len(members))]
        n = len(members)
        n_test = round(n * test_fraction)
        n_val = round(n * val_fraction)
        if n_test + n_val >= n and n > 0:  # keep at least one training subject per stratum
            n_val = max(0, min(n_val, n - 1 - n_test))
            n_test = max(0, min(n_test, n - 1))
        labels[members[:n_test]] = "test"
        labels[members[n_test:n_test + n_val]] = "val"
        labels[members[n_test + n_val:]] = "train"


def assign_splits(table: pd.DataFrame, *, mode: str = "auto", external_site: str | None = None,
                  val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0,
                  source: str = "manifest") -> np.ndarray:
    """One label ("train", "val", "test") per row.

    Parameters
    ----------
    table : DataFrame
        Validated manifest table (``split`` canonical when present).
    mode : {"auto", "column", "stratified", "site"}
        "column" honours the ``split`` column; "stratified" draws random splits stratified on
        ``fracture`` (and ``site`` when present) with ``seed``; "site" puts ``external_site``
        in test and stratifies the rest into train/val; "auto" is "site" when ``external_site`` is
        given, else "column" when the manifest has a filled ``split`` column, else
        "stratified".
    external_site : str, optional
        Site held out as the external test set (leave-one-site-out).
    val_fraction, test_fraction : float
        Fractions of subjects per stratum for val and test.
    seed : int

    Raises
    ------
    ManifestError
        "column" without a filled split column, "site" without a site column or with a site
        the manifest lacks, or a split left empty.
    """
    if mode not in SPLIT_MODES:
        raise ConfigError(f"split={mode!r} unknown; use one of {', '.join(SPLIT_MODES)}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(f"val_fraction {val_fraction} and test_fraction {test_fraction} must be in "
                          "[0, 1) and sum below 1")
    n = len(table)
    has_column = "split" in table.columns and (table["split"].astype(str) != "").all()
    if mode == "auto":
        mode = "site" if external_site is not None else ("column" if has_column else "stratified")
    if mode == "column":
        if not has_column:
            raise ManifestError(f"{source}: split='column' needs a 'split' column with train/val/test "
                                "on every row; fill it or use split='stratified'")
        labels = table["split"].astype(str).to_numpy(dtype=object)
        if not (labels == "train").any():
            raise ManifestError(f"{source}: the 'split' column has no 'train' rows")
        return labels
    rng = np.random.default_rng(seed)
    labels = np.empty(n, dtype=object)
    frac = table["fracture"].to_numpy() if "fracture" in table.columns else np.full(n, np.nan)
    fr = ["?" if not np.isfinite(float(f)) else str(int(f)) for f in frac]
    has_site = "site" in table.columns
    sites = table["site"].astype(str).str.strip().to_numpy() if has_site else np.full(n, "", dtype=object)
    idx = np.arange(n)
    if mode == "site":
        if external_site is None:
            raise ConfigError("split='site' needs external_site=<the site held out for testing>")
        if not has_site:
            raise ManifestError(f"{source}: split='site' needs a 'site' column")
        known = sorted(set(sites))
        if str(external_site) not in known:
            raise ManifestError(f"{source}: external_site {external_site!r} not in the 'site' column; "
                                f"sites present: {', '.join(known)}")
        test = sites == str(external_site)
        labels[test] = "test"
        rest = idx[~test]
        strata = [f"{fr[i]}|{sites[i]}" for i in rest]
        _stratified(strata, rest, val_fraction, 0.0, rng, labels)
        return labels
    strata = [f"{fr[i]}|{sites[i]}" for i in idx]
    _stratified(strata, idx, val_fraction, test_fraction, rng, labels)
    return labels

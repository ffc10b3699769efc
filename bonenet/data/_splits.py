"""Train/val/test assignment: a fixed column, stratified random, or leave-one-site-out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, ManifestError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["SPLIT_MODES", "assign_splits"]

SPLIT_MODES = ("auto", "column", "stratified", "site")


def _alloc(sizes: list[int], total: int, rng: np.random.Generator) -> list[int]:
    """Split ``total`` over groups proportionally to ``sizes`` (largest remainder, random ties)."""
    n = sum(sizes)
    if n == 0 or total <= 0:
        return [0] * len(sizes)
    exact = np.asarray(sizes, float) * total / n
    out = np.floor(exact).astype(int)
    order = np.lexsort((rng.random(len(sizes)), -(exact - out)))
    for k in order[: total - int(out.sum())]:
        out[k] += 1
    return np.minimum(out, sizes).tolist()


def _stratified(fracture: list[str], site: np.ndarray, idx: np.ndarray, val_fraction: float,
                test_fraction: float, rng: np.random.Generator, labels: np.ndarray) -> None:
    """Stratify on fracture first, then on site within each fracture level (in place).

    Totals are ``round(N * fraction)``, shared out by largest remainder so small strata do
    not each round up.
    """
    fr = np.asarray(fracture, dtype=object)[idx]
    st = np.asarray(site, dtype=object)[idx]
    levels = sorted(set(fr))
    sizes = [int((fr == g).sum()) for g in levels]
    n_test = _alloc(sizes, round(len(idx) * test_fraction), rng)
    n_val = _alloc([a - b for a, b in zip(sizes, n_test, strict=True)],
                   round(len(idx) * val_fraction), rng)
    for g, t_g, v_g in zip(levels, n_test, n_val, strict=True):
        sites = sorted(set(st[fr == g]))
        s_sizes = [int(((fr == g) & (st == s)).sum()) for s in sites]
        t_s = _alloc(s_sizes, t_g, rng)
        v_s = _alloc([a - b for a, b in zip(s_sizes, t_s, strict=True)], v_g, rng)
        for s, t, v in zip(sites, t_s, v_s, strict=True):
            members = idx[(fr == g) & (st == s)]
            members = members[rng.permutation(len(members))]
            labels[members[:t]] = "test"
            labels[members[t:t + v]] = "val"
            labels[members[t + v:]] = "train"


def assign_splits(table: pd.DataFrame, *, mode: str = "auto", external_site: str | None = None,
                  val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0,
                  source: str = "manifest") -> np.ndarray:
    """One label ("train", "val", "test", or "external" from a split column) per row.

    Parameters
    ----------
    table : DataFrame
        Validated manifest table (``split`` canonical when present).
    mode : {"auto", "column", "stratified", "site"}
        "column" honours the ``split`` column (``external`` rows stay apart); "stratified" draws random splits stratified on
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
        _stratified(fr, sites, idx[~test], val_fraction, 0.0, rng, labels)
        return labels
    _stratified(fr, sites, idx, val_fraction, test_fraction, rng, labels)
    return labels

"""Seeded, proportionally stratified row samples (explanations, robustness, streaming).

One implementation so that every sampled step of an audit draws its rows the same way and the
report can describe them in one sentence. scikit-learn's ``train_test_split(stratify=...)``
does proportional allocation too, but it refuses strata with a single member and shuffles the
output; audits meet singleton strata (small intersections) and want sorted positions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["strata_codes", "stratified_sample"]


def strata_codes(groups: pd.DataFrame | None, n: int) -> np.ndarray:
    """One integer per row naming its intersection of ``groups`` columns (0 for all if none)."""
    if groups is None or groups.shape[1] == 0:
        return np.zeros(n, dtype=np.int64)
    cols = groups.astype(str).fillna("(missing)")
    # the same "\x1f"-joined key as a row-wise join, built column by column (vectorised: a
    # row-wise ``agg`` took seconds on 25,000 rows)
    key = cols.iloc[:, 0]
    for j in range(1, cols.shape[1]):
        key = key + "\x1f" + cols.iloc[:, j]
    return pd.factorize(key, sort=True)[0].astype(np.int64)


def stratified_sample(strata: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions, proportional allocation per stratum (largest remainder), sorted."""
    n = strata.size
    if size >= n:
        return np.arange(n)
    labels, counts = np.unique(strata, return_counts=True)
    exact = counts * size / n
    alloc = np.floor(exact).astype(np.int64)
    remainder = size - int(alloc.sum())
    if remainder:
        order = np.lexsort((labels, -(exact - alloc)))
        alloc[order[:remainder]] += 1
    picked = [
        rng.choice(np.flatnonzero(strata == lab), size=int(k), replace=False)
        for lab, k in zip(labels, alloc, strict=True)
        if k > 0
    ]
    return np.sort(np.concatenate(picked))

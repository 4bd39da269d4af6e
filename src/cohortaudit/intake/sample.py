"""The seeded, stratified sample of feature rows that a chunked audit keeps.

The streamed and Dask engines keep no feature frame, but the safety checks (cohort shift,
out-of-range inputs, robustness) and explanations need feature rows. So every row gets a
pseudo-random key from a counter-based hash of (seed, input row number); the sample is the
``sample_rows`` rows with the smallest keys, plus the :data:`SAMPLE_FLOOR` smallest-key rows of
every stratum (finest group x outcome), so small groups are represented. Within each stratum it
is a uniform sample without replacement, and ``weights`` (stratum size / sampled rows of the
stratum) make it represent the cohort. Keys depend on the row number, not on the chunk, so the
sample does not depend on the chunk size either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_SAMPLE_ROWS",
    "SAMPLE_FLOOR",
    "FeatureSample",
    "finish_sample",
    "row_keys",
    "select_sample",
    "strata_of",
]

#: Feature rows kept for safety checks and explanations in streaming mode.
DEFAULT_SAMPLE_ROWS = 20_000
#: Smallest-key rows kept from every stratum (finest group x outcome), on top of the sample.
SAMPLE_FLOOR = 20
#: Largest int64 product of code radices before codes are re-compacted.
_MAX_RADIX_PRODUCT = 2**62
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True, eq=False)
class FeatureSample:
    """A seeded, stratified sample of model-input rows, kept while streaming.

    features:
        Model inputs of the sampled rows, typed exactly as :attr:`Cohort.features`.
    rows:
        Position of each sampled row in the streamed cohort, so ``cohort.y_true[rows]``,
        ``cohort.y_score[rows]`` and ``cohort.groups.iloc[rows]`` belong to the same patients.
    weights:
        Stratum size / sampled rows of that stratum (strata: finest group x outcome); a weighted
        summary of the sample estimates the same summary of the whole cohort.
    uniform:
        True for the rows of the plain seeded sample (the ``sample_rows`` smallest keys): a
        uniform random sample of the cohort without replacement, usable without weights. The
        other rows are the per-stratum floor that keeps small groups represented.
    """

    features: pd.DataFrame
    rows: np.ndarray
    weights: np.ndarray
    uniform: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])


def row_keys(seed: int, offset: int, positions: np.ndarray) -> np.ndarray:
    """splitmix64 of (seed, row number): a bijection, so distinct rows get distinct keys."""
    base = np.uint64((int(seed) * 0x2545F4914F6CDD1D + 0x632BE59BD9B4E019) % 2**64)
    x = (np.asarray(positions, dtype=np.uint64) + np.uint64(offset) + np.uint64(1)) * _GOLDEN
    x = x + base
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def strata_of(columns: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """One int64 code per row for a combination of code columns (codes in [0, radix))."""
    n = len(columns[0][0]) if columns else 0
    combined = np.zeros(n, dtype=np.int64)
    span = 1
    for codes, radix in columns:
        radix = max(int(radix), 1)
        if span * radix >= _MAX_RADIX_PRODUCT:
            _, inverse = np.unique(combined, return_inverse=True)
            combined = inverse.astype(np.int64).ravel()
            span = int(combined.max()) + 1 if n else 1
        combined = combined * radix + np.minimum(codes, radix - 1)
        span *= radix
    return combined


def select_sample(keys: np.ndarray, strata: np.ndarray, k: int, floor: int) -> np.ndarray:
    """Positions of the k smallest keys, plus the ``floor`` smallest keys of every stratum."""
    n = len(keys)
    if n <= k:
        return np.arange(n, dtype=np.int64)
    chosen = np.zeros(n, dtype=bool)
    kth = np.partition(keys, k - 1)[k - 1]
    chosen |= keys <= kth
    if floor > 0:
        order = np.lexsort((keys, strata))
        s = strata[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
        chosen[order[rank < floor]] = True
    return np.flatnonzero(chosen).astype(np.int64)


def finish_sample(
    cand_pos: np.ndarray,
    cand_keys: np.ndarray,
    cand_features: pd.DataFrame,
    strata_cols: list[tuple[np.ndarray, int]],
    k: int,
) -> FeatureSample:
    """The sample from the candidates that survived every chunk, in cohort order.

    ``strata_cols`` are the whole cohort's code columns (finest group x outcome), from which
    each stratum's size and so each sampled row's weight is known; ``k`` is ``sample_rows``.
    """
    strata = strata_of(strata_cols)
    cand_strata = strata[cand_pos]
    order = np.argsort(cand_pos, kind="stable")
    pos = cand_pos[order]
    features = cand_features.iloc[order].reset_index(drop=True)
    uniq, total = np.unique(strata, return_counts=True)
    s_of = cand_strata[order]
    s_uniq, s_count = np.unique(s_of, return_counts=True)
    n_stratum = total[np.searchsorted(uniq, s_of)]
    n_sampled = s_count[np.searchsorted(s_uniq, s_of)]
    weights = n_stratum / n_sampled
    keys = cand_keys[order]
    uniform = (
        keys <= np.partition(keys, k - 1)[k - 1] if len(keys) > k else np.ones(len(keys), bool)
    )
    for a in (pos, weights, uniform):
        a.setflags(write=False)
    return FeatureSample(features=features, rows=pos, weights=weights, uniform=uniform)

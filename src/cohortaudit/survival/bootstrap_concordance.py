"""Harrell's C and Uno's C of every released group in each bootstrap replicate (issue 16).

Why here: :mod:`cohortaudit.survival.bootstrap` reduces the patients to entries (finest cell,
time slot, risk bin) and evaluates each replicate from their resampled counts; the concordance
indices are computed from the *same* counts, so a disparity of ``harrell_c`` or ``uno_c`` is
paired like any other metric's.

Pairs as ``survival.concordance._pair_sums``: a case (an event by tau, slot 2k-1) is comparable
with every patient of its group in a later slot -- later events, the censorings at or after its
event time (slot 2k and beyond: ties at u_k are censored after the events there) and the
event-free at tau. It is concordant when the partner's risk bin is lower and counts 1/2 in the
same bin. Harrell's C weights every pair 1, Uno's C weights a case's pairs 1/G(T_i-)^2 with the
replicate's own censoring Kaplan-Meier of the group (the IPCW weights the bootstrap already has);
a replicate where G(T_i-) = 0 for a drawn case has no Uno's C (NaN, as the point estimator).

Two sums: the event-free at tau are compared on the risk bins (as ``auc_t``); the partners
before tau (censored before tau, later cases) on the same bins when the (slot x bin) grid is
small (``FULL_GRID_CELLS``: the
partition's (group, slot) rows x risk bins), else on the at most 16 pooled bins the bootstrap uses for the
censored before tau of a large cohort (8 per side of the threshold). Binning only turns
within-bin pairs into ties, so the binned C is within half the weighted share of within-bin
pairs of the exact one (``bin_error_bound``, 0 when every distinct risk has its own bin and
nothing is pooled); the replicates are shifted by (exact estimate - binned estimate on all
patients), as auc_t's are. Vectorised over the replicates of a chunk: cumulative sums over the
(group, slot) rows and the bins, no loop over patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["CONCORDANCE_METRICS", "FULL_GRID_CELLS", "ConcordancePlan", "concordance_plan",
           "concordance_metrics"]  # fmt: skip

#: The concordance metrics with bootstrap replicates.
CONCORDANCE_METRICS = ("harrell_c", "uno_c")

#: Partners before tau keep every risk bin when a partition's (group, slot) rows x risk bins
#: is at most this; beyond it they are compared on the pooled bins (cost ~ rows x bins x B).
FULL_GRID_CELLS = 1 << 19

#: Doubles per block of the (rows, bins, replicates) partner cube (memory, not results).
_BLOCK = 2_000_000


def _summer(rows, n_rows: int, n_cols: int, cols, dtype=np.float64) -> sparse.csr_matrix:
    ones = np.ones(cols.size, dtype=dtype)
    return sparse.csr_matrix((ones, (rows, cols)), shape=(n_rows, n_cols))


def _pool_map(n_bins: int, threshold_bin: int) -> tuple[np.ndarray, int]:
    """Each risk bin's pooled bin (the bootstrap's 8 per side of the threshold) and how many."""
    lo, hi = min(8, threshold_bin), min(8, n_bins - threshold_bin)
    b = np.arange(n_bins)
    pooled = np.where(
        b < threshold_bin,
        b * lo // max(threshold_bin, 1),
        lo + (b - threshold_bin) * hi // max(n_bins - threshold_bin, 1),
    )
    return pooled.astype(np.int64), lo + hi


@dataclass(frozen=True)
class ConcordancePlan:
    """Index arrays of one partition: where cases and partners before tau go.

    Partners before tau are counted per (group, block, bin), a block k holding slots 2k and
    2k + 1 (the censorings in [u_k, u_k+1) and the events at u_k+1): the partners of a case
    at slot 2k - 1 are exactly the blocks >= k of its group, a run of block rows."""

    n_cbins: int  # bins the partners before tau are compared on
    exact_bins: bool  # those are the risk bins themselves
    case_cbin: np.ndarray  # (case entries,) each case's bin on that scale
    n_brows: int  # distinct (group, block) rows holding partners
    to_partner: sparse.csr_matrix  # (bins x block rows, entries): partner counts
    case_to_groups: sparse.csr_matrix  # (groups, case entries)
    case_from: np.ndarray  # first block row of each case's partners
    case_to: np.ndarray  # one past its group's last block row
    float32: bool  # integer counts stay exact in float32 (fewer than 2^24 patients)


def concordance_plan(e, plan, cs_to_row: np.ndarray, entry_cs: np.ndarray) -> ConcordancePlan:
    """The plan of a partition given the bootstrap's entries ``e``, its ``plan`` (case entries
    ``plan.case_use``, rows sorted by group then slot) and each entry's (group, slot) row."""
    entry_row = cs_to_row[entry_cs]
    partner = np.flatnonzero((entry_row >= 0) & (e.slot < e.n_slots - 1))
    n_blocks = e.n_events + 1
    key = plan.row_group[entry_row[partner]] * n_blocks + e.slot[partner] // 2
    brows, brow_of = np.unique(key, return_inverse=True)
    exact_bins = e.exact_time and brows.size * e.n_bins <= FULL_GRID_CELLS
    if exact_bins:
        to_c, n_cbins = np.arange(e.n_bins), e.n_bins
    else:
        to_c, n_cbins = _pool_map(e.n_bins, e.threshold_bin)
    cbin = to_c[e.bin[partner]]
    if not e.exact_time:  # the censored before tau already carry pooled bins
        cens = e.slot[partner] % 2 == 0
        p = e.bin[partner][cens]
        low = min(8, e.threshold_bin)
        cbin[cens] = np.where(p < e.threshold_bin, p, low + p - e.threshold_bin)
    case_group = plan.row_group[cs_to_row[entry_cs[plan.case_use]]]
    case_key = case_group * n_blocks + (e.slot[plan.case_use] + 1) // 2
    return ConcordancePlan(
        n_cbins=int(n_cbins),
        exact_bins=bool(exact_bins),
        case_cbin=to_c[e.bin[plan.case_use]],
        n_brows=int(brows.size),
        to_partner=_summer(cbin * brows.size + brow_of.ravel(), n_cbins * brows.size,
                           e.cell.size, partner, np.float32),  # fmt: skip
        case_to_groups=_summer(case_group, plan.keep.size, plan.case_use.size,
                               np.arange(plan.case_use.size)),  # fmt: skip
        case_from=np.searchsorted(brows, case_key, side="left"),
        case_to=np.searchsorted(brows, (case_group + 1) * n_blocks, side="left"),
        float32=bool(e.count.sum() < 2**24),
    )


def concordance_metrics(
    cp: ConcordancePlan,
    plan,
    draws: np.ndarray,
    case_rows: np.ndarray,
    inv_g: np.ndarray,
    after: np.ndarray,
    ctrl_b: np.ndarray,
    fine_bin: np.ndarray,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """metric -> (groups, r) replicates, and the bin error bound of each (groups, r).

    ``draws``: (entries, r) resampled counts; ``case_rows``: the (group, slot) row of each case
    entry; ``inv_g``: (case entries, r) 1/G(T_i-) of the group in the replicate; ``after``:
    (rows, r) the group's patients in later slots; ``ctrl_b``: (groups, bins, r) its event-free
    at tau per risk bin; ``fine_bin``: each case entry's risk bin."""
    r = draws.shape[1]
    d = draws[plan.case_use].astype(np.float64)  # (cases, r)
    groups = plan.row_group[case_rows]
    # the event-free at tau: every case's partners, on the risk bins
    below_c = np.cumsum(ctrl_b, axis=1) - ctrl_b
    score = below_c[groups, fine_bin] + 0.5 * ctrl_b[groups, fine_bin]
    ties = ctrl_b[groups, fine_bin].copy()
    # the partners before tau: a 2-D prefix sum over the bins and the block rows (a zero bin
    # and a zero row in front), read at the case's bin and its run of block rows; float32 is
    # exact for integer counts below 2^24
    nc, nr = cp.n_cbins, cp.n_brows + 1
    if cp.n_brows:
        src = draws if cp.float32 and draws.dtype == np.float32 else draws.astype(np.float64)
        lt_from = cp.case_cbin * nr + cp.case_from
        lt_to = cp.case_cbin * nr + cp.case_to
        step = max(1, _BLOCK // max(nr * (nc + 1), 1))
        for a in range(0, r, step):
            b = min(r, a + step)
            cube = np.zeros((nc + 1, nr, b - a), dtype=src.dtype)
            cube[1:, 1:] = (cp.to_partner @ src[:, a:b]).reshape(nc, nr - 1, b - a)
            for k in range(2, nc + 1):  # bins: contiguous slabs, faster than a cumsum
                cube[k] += cube[k - 1]
            np.cumsum(cube, axis=1, out=cube)
            flat = cube.reshape((nc + 1) * nr, b - a)
            lt = (flat[lt_to] - flat[lt_from]).astype(np.float64)
            le = (flat[lt_to + nr] - flat[lt_from + nr]).astype(np.float64)
            score[:, a:b] += 0.5 * (lt + le)
            ties[:, a:b] += le - lt
    pairs = after[case_rows]
    with np.errstate(over="ignore", invalid="ignore"):
        w_uno = np.where(d > 0, d * inv_g**2, 0.0)
    lost = ~np.isfinite(w_uno)  # G(T_i-) = 0: the censoring took everybody before T_i
    no_uno = np.asarray(cp.case_to_groups @ lost.astype(np.float64)) > 0
    w_uno[lost] = 0.0
    out, bound = {}, {}
    for key, weight in (("harrell_c", d), ("uno_c", w_uno)):
        num = np.asarray(cp.case_to_groups @ (weight * score))
        den = np.asarray(cp.case_to_groups @ (weight * pairs))
        tie = np.asarray(cp.case_to_groups @ (weight * ties))
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (den > 0) & ~(no_uno if key == "uno_c" else False)
            out[key] = np.where(ok, num / np.where(ok, den, 1.0), np.nan)
            bound[key] = np.where(ok, 0.5 * tie / np.where(ok, den, 1.0), np.nan)
    return out, bound

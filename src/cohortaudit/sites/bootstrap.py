"""Seeded, stratified bootstrap of a pooled audit, built from the site files' histograms only.

The single-site engine (:mod:`cohortaudit.metrics.bootstrap`) resamples the patients of each
finest cell as one multinomial draw over the cell's (outcome x score bin) entries and sums
cells into coarser groups. A site file has no finest cells: it holds one histogram per
released group of each partition (``sex``, ``sex x age``, ...), and the order-``max_order``
intersections of different attribute sets do not nest into each other (``sex x age`` and
``sex x ethnicity`` overlap), so no single level refines every other. What the files do hold
per partition is a complete, disjoint split of each site's patients: the partition's groups
at that site (plus, where a group was withheld there, the *rest of the site*, see below), all
on the partition's shared bins. So each partition is resampled on its own:

* **stratum** = site x group of the partition; one multinomial draw per stratum over its
  non-empty (outcome x merged score bin) entries, with the engine's ``iter_replicates``
  (the outcome mix varies within a stratum, as in the engine);
* every group of the partition and the **whole cohort** (the sum of all strata of the
  partition) come from the same draws, so a group, its reference group and the whole cohort
  are resampled jointly and differences keep their correlation (as in the engine, whose
  ``overall_replicates`` are per partition too);
* **rest of the site**: where a site withheld a group of the partition (fewer than k there),
  the site's whole-cohort histogram minus the partition's released groups there, on the
  coarsest bins both grids share (their common edges), is one more stratum that feeds the whole
  cohort only. It never leaves the coordinator;
* where a site's bins of a partition straddle the operating threshold (its groups' threshold
  metrics are then withheld), the whole cohort's *threshold metrics* take that site's
  whole-cohort histogram instead, drawn on its own (a second whole-cohort target), so the
  other groups' comparisons with the whole cohort keep an interval.

Metrics per replicate come from binned counts, vectorised over replicates: threshold metrics
are exact (the operating threshold is a kept edge); AUROC is :func:`sites.pool.binned_auroc`'s
formula (bins may differ between sites: pairs in overlapping bins count one half); O/E,
discrimination slope and ECE use each entry's mean clipped risk (sum p / count, in the file);
Brier and scaled Brier use each entry's mean of (p - y)^2 estimated from its mean risk and the
spread of its logits (the file has no sum of p^2). As in the engine, every replicate is then
shifted by (reported point estimate - binned point estimate), so the percentile interval is
centred on the reported estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import sparse

from cohortaudit.disclosure import DisclosureDecision
from cohortaudit.metrics.bootstrap import FineCells, iter_replicates, percentile_intervals
from cohortaudit.metrics.expected import EXPECTED_METRICS, expected_arrays
from cohortaudit.metrics.fairness import DISPARITY_METRICS
from cohortaudit.metrics.performance import THRESHOLD_METRICS, threshold_arrays
from cohortaudit.metrics.table import GroupTable, Partition
from cohortaudit.sites.binned import binned_from_arrays

__all__ = [
    "Stratum",
    "BOOT_METRICS",
    "BOOT_CI",
    "AUROC_CI_MAX_BOUND",
    "PooledBootstrap",
    "bootstrap_strata",
    "pooled_bootstrap",
    "remainder_bins",
    "reported_value",
    "with_bootstrap",
]

#: Metrics with pooled bootstrap replicates.
BOOT_METRICS = (
    "auroc",
    *THRESHOLD_METRICS,
    "brier",
    "oe_ratio",
    "scaled_brier",
    "discrimination_slope",
    "ece",
    *EXPECTED_METRICS,
)
_ECE_CUTS = np.arange(11) / 10
#: Metrics decided by the operating threshold (withheld with the confusion counts).
_THRESHOLDISH = frozenset((*THRESHOLD_METRICS, *EXPECTED_METRICS))


@dataclass(frozen=True)
class Stratum:
    """One unit of resampling: a site's histogram of one group, or of the rest of the site.

    ``targets``: the positions of the targets (groups, whole cohort) its patients count in.
    """

    site: str
    targets: tuple[int, ...]
    binned: Any  # sites.binned.Binned (duck-typed: lo, hi, events, non_events, sp*, sl*, sq*)


def remainder_bins(whole: Any, covered: Sequence[Any], make: Any) -> tuple[bool, Any | None]:
    """The site's patients outside the ``covered`` histograms, on the grids' common edges.

    Returns (ok, binned or None when nothing is left). ``make(edges, arrays)`` builds a binned
    object. Not ok when a count comes out negative (inconsistent files).
    """
    w_edges = np.append(whole.lo, whole.hi[-1])
    if covered:
        c_edges = np.append(covered[0].lo, covered[0].hi[-1])
        common = np.intersect1d(w_edges, c_edges)
    else:
        common = w_edges
    m = len(common) - 1
    keys = ("events", "non_events", "sp1", "sp0", "sl1", "sl0", "sq1", "sq0")

    def agg(b):
        idx = np.clip(np.searchsorted(common, b.lo, side="right") - 1, 0, m - 1)
        return [np.bincount(idx, weights=getattr(b, key), minlength=m) for key in keys]

    total = agg(whole)
    for b in covered:
        total = [t - x for t, x in zip(total, agg(b), strict=True)]
    ev, ne = np.rint(total[0]).astype(np.int64), np.rint(total[1]).astype(np.int64)
    if np.any(ev < 0) or np.any(ne < 0):
        return False, None
    if not ev.any() and not ne.any():
        return True, None
    arrays = {"events": ev, "non_events": ne}
    for key, arr in zip(keys[2:], total[2:], strict=True):
        count = ev if key.endswith("1") else ne
        arrays[key] = np.where(count > 0, arr, 0.0)
    return True, make(common, arrays)


class _Plan:
    """Entries of the strata and the sparse maps from entries to targets' statistics.

    A *membership* is a (target, entry) pair: an entry counts in every target of its stratum.
    """

    def __init__(self, strata: Sequence[Stratum], n_targets: int, t: float):
        cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("stratum", "y", "lo", "hi", "count", "mp", "ep2")
        }
        for s_i, s in enumerate(strata):
            b = s.binned
            for label, count, sp, sl, sq in (
                (0.0, b.non_events, b.sp0, b.sl0, b.sq0),
                (1.0, b.events, b.sp1, b.sl1, b.sq1),
            ):
                use = count > 0
                n = count[use].astype(np.float64)
                mp = sp[use] / n
                # E[p^2] within the entry: mean risk^2 + the variance of p at mean logit +- SD
                # (the two-point rule sites.pool._Binned.rows uses); the file has no sum p^2
                mean = sl[use] / n
                sd = np.sqrt(np.maximum(sq[use] / n - mean * mean, 0.0))
                pa, pb = 1 / (1 + np.exp(-(mean - sd))), 1 / (1 + np.exp(-(mean + sd)))
                var = np.maximum((pa * pa + pb * pb) / 2 - ((pa + pb) / 2) ** 2, 0.0)
                size = int(use.sum())
                cols["stratum"].append(np.full(size, s_i))
                cols["y"].append(np.full(size, label))
                cols["lo"].append(b.lo[use])
                cols["hi"].append(b.hi[use])
                cols["count"].append(count[use])
                cols["mp"].append(mp)
                cols["ep2"].append(mp * mp + var)
        e = {k: np.concatenate(v) if v else np.empty(0) for k, v in cols.items()}
        self.stratum = e["stratum"].astype(np.int64)
        self.count = e["count"].astype(np.int64)
        self.n_strata = len(strata)
        y, lo, hi, mp = e["y"], e["lo"], e["hi"], e["mp"]
        loss = e["ep2"] - 2 * y * mp + y
        n_t = self.n_targets = n_targets
        n_e = len(self.stratum)
        mt, me = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
        for s_i, s in enumerate(strata):
            ents = np.flatnonzero(self.stratum == s_i)
            for target in s.targets:
                mt.append(np.full(len(ents), target, dtype=np.int64))
                me.append(ents)
        rows, ent = np.concatenate(mt), np.concatenate(me)

        def smat(n_rows, r, c, data):
            return sparse.csr_matrix((data, (r, c)), shape=(n_rows, n_e))

        above = (lo >= t).astype(np.float64)
        ym = y[ent]
        vectors = (ym, 1 - ym, ym * above[ent], (1 - ym) * above[ent], mp[ent], ym * mp[ent])
        # the last two: sum of p at or above / below t (expected error rates under calibration)
        risk_sides = (mp[ent] * above[ent], mp[ent] * (1 - above[ent]))
        self.sums = sparse.vstack(
            [smat(n_t, rows, ent, v) for v in (*vectors, loss[ent], *risk_sides)]
        ).tocsr()
        # where a target has an entry straddling the threshold / an ECE edge, those metrics
        # are undefined for it (the pooled point estimate is withheld too)
        straddle_t = (lo < t) & (hi > t)
        inner = _ECE_CUTS[1:-1]
        straddle_e = np.any((lo[:, None] < inner) & (hi[:, None] > inner), axis=1)
        self.bad_t = np.bincount(rows, weights=straddle_t[ent], minlength=n_t) > 0
        self.bad_e = np.bincount(rows, weights=straddle_e[ent], minlength=n_t) > 0
        cbin = np.clip(np.searchsorted(_ECE_CUTS, lo, side="right") - 1, 0, 9)[ent]
        self.ece = sparse.vstack(
            [smat(n_t * 10, rows * 10 + cbin, ent, v) for v in (ym, mp[ent])]
        ).tocsr()
        # AUROC: controls counted by (target, edge index of their bin's upper / lower edge),
        # cumulated over edges, read at each case's bin (see sites.pool.binned_auroc)
        edges = np.unique(np.concatenate([lo, hi]))
        u = len(edges)
        lo_i, hi_i = np.searchsorted(edges, lo), np.searchsorted(edges, hi)
        ctrl, case = ym == 0, ym == 1
        self.u = u
        self.ctrl = sparse.vstack(
            [
                smat(n_t * u, rows[ctrl] * u + idx[ent[ctrl]], ent[ctrl], np.ones(ctrl.sum()))
                for idx in (hi_i, lo_i)
            ]
        ).tocsr()
        self.case_rows = rows[case] * u
        self.case_lo, self.case_hi = lo_i[ent[case]], hi_i[ent[case]] - 1
        self.case_w = sparse.csr_matrix(
            (np.ones(case.sum()), (np.arange(case.sum()), ent[case])), shape=(case.sum(), n_e)
        )
        self.case_sum = sparse.csr_matrix(
            (np.ones(case.sum()), (rows[case], np.arange(case.sum()))),
            shape=(n_t, case.sum()),
        )

    def metrics(self, draws: np.ndarray) -> dict[str, np.ndarray]:
        """draws: (entries, r) counts -> metric -> (r, targets).

        Written here rather than calling the engine's ``binned_metrics``: that one needs one
        bin grid shared by every group ((..., 2, K) counts), while a pooled group's bins differ
        between sites (and the whole cohort mixes partitions' bins with the rest of a site),
        so AUROC needs ``binned_auroc``'s overlapping-bin rule. The threshold metrics still
        come from the engine's ``threshold_arrays``.
        """
        draws = np.asarray(draws, dtype=np.float64)
        n_t, r = self.n_targets, draws.shape[1]
        s = (self.sums @ draws).reshape(9, n_t, r)
        n1, n0, tp, fp, e_sum, s1, loss, e_above, e_below = s
        n = n1 + n0
        ctrl = (self.ctrl @ draws).reshape(2, n_t * self.u, r)
        cum = np.cumsum(ctrl.reshape(2, n_t, self.u, r), axis=2).reshape(2, n_t * self.u, r)
        below = cum[0][self.case_rows + self.case_lo]  # controls with upper edge <= case lower
        less = cum[1][self.case_rows + self.case_hi]  # controls with lower edge < case upper
        w = self.case_w @ draws
        ece = (self.ece @ draws).reshape(2, n_t, 10, r)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (self.case_sum @ (0.5 * w * (below + less))) / (n1 * n0)
            bound = (self.case_sum @ (0.5 * w * (less - below))) / (n1 * n0)
            brier = loss / n
            ybar = n1 / n
            out = {
                "auroc": auc,
                "auroc_bin_error_bound": bound,
                "brier": brier,
                "oe_ratio": n1 / e_sum,
                "scaled_brier": 1.0 - brier / (ybar * (1.0 - ybar)),
                "discrimination_slope": s1 / n1 - (e_sum - s1) / n0,
                "ece": np.sum(np.abs(ece[0] - ece[1]), axis=1) / n,
            }
        out.update(zip(THRESHOLD_METRICS, threshold_arrays(tp, fp, n0 - fp, n1 - tp), strict=False))
        out.update(expected_arrays(e_above, tp + fp, e_below, n - tp - fp))
        for key in (*THRESHOLD_METRICS, *EXPECTED_METRICS):
            out[key][self.bad_t] = np.nan
        out["ece"][self.bad_e] = np.nan
        return {k: np.ascontiguousarray(v.T) for k, v in out.items()}


def bootstrap_strata(
    strata: Sequence[Stratum],
    n_targets: int,
    *,
    threshold: float,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Binned point estimates (metric -> (targets,)) and raw replicates (metric -> (B, targets)).

    The point estimates include ``auroc_bin_error_bound`` (the binned AUROC's bound, as in
    :func:`sites.pool.binned_auroc`) so the caller can tell when the bins are too coarse for
    an AUROC interval to mean anything.

    Resampling reuses the engine's :func:`iter_replicates`: each stratum plays the part of a
    finest cell, its entries the (outcome x bin) cells. Replicates are not shifted here.
    """
    plan = _Plan(strata, n_targets, threshold)
    base = {k: v[0] for k, v in plan.metrics(plan.count[:, None]).items()}
    cells = FineCells(
        cell=plan.stratum,
        slot=np.zeros(len(plan.count), dtype=np.int64),
        count=plan.count,
        mean_loss=np.zeros(len(plan.count)),
        n_cells=plan.n_strata,
        n_bins=1,
    )
    chunks = [plan.metrics(d) for d in iter_replicates(cells, n_boot=n_boot, rng=rng)]
    reps = {k: np.concatenate([c[k] for c in chunks]) for k in BOOT_METRICS}
    return base, reps


# --------------------------------------------------------------------------------------------
# the pooled bootstrap of a pooled group table
# --------------------------------------------------------------------------------------------

#: Metrics whose CI comes from the pooled bootstrap (the single-site audit bootstraps them too).
BOOT_CI = (
    "brier",
    "balanced_accuracy",
    "f1",
    "ece",
    "scaled_brier",
    "discrimination_slope",
    *EXPECTED_METRICS,
)

#: No bootstrap AUROC interval (nor of its disparities) for a group whose binned AUROC has a
#: bin error bound above this: more than half of its case-control pairs fall in overlapping
#: bins, so the replicates vary with the binning rather than the model (on the sample, narrow
#: groups such as age bands sit in one or two merged bins: bound ~0.5, replicates all 0.5).
AUROC_CI_MAX_BOUND = 0.25


@dataclass(frozen=True)
class PooledBootstrap:
    """What the pooled bootstrap produced, in the group table's layout."""

    n_boot: int
    seed: int | None
    #: [partition] metric -> (B, G) shifted replicates (NaN for groups not released)
    replicates: list[dict[str, np.ndarray]] | None = None
    #: [partition] metric -> (B,) the whole cohort from that partition's draws
    overall_replicates: list[dict[str, np.ndarray]] | None = None
    strata: int = 0
    #: partitions (attribute tuples) whose whole-cohort replicates could not be formed
    no_overall: tuple[tuple[str, ...], ...] = ()
    #: partitions that needed a "rest of the site" stratum (a group withheld at a site)
    rest_used: tuple[tuple[str, ...], ...] = ()
    #: (group attributes, metric, undefined replicates) for released values
    undefined: tuple[tuple[dict[str, str], str, int], ...] = ()
    #: groups (and "whole cohort in partition ...") without an AUROC interval: bins too coarse
    coarse_auroc: int = 0
    #: partitions whose whole-cohort replicates (on the partition's bins) are too coarse for
    #: AUROC, so AUROC comparisons with the whole cohort there have no interval
    coarse_overall: tuple[tuple[str, ...], ...] = ()
    #: (partition, group) -> metric -> percentile interval, for the metrics of ``BOOT_CI``
    intervals: dict[tuple[int, int], dict[str, tuple[float, float]]] = field(default_factory=dict)


def pooled_bootstrap(
    table: GroupTable,
    decision: DisclosureDecision,
    per_site,
    site_names: Sequence[str],
    *,
    n_boot: int,
    seed: int,
    threshold: float,
    confidence: float,
) -> PooledBootstrap:
    """Per partition: resample site x group strata, shift to what the audit reports, and
    return the replicates and the intervals of ``BOOT_CI``.

    Partitions are processed in order from one generator, so the same files and seed give
    the same replicates.
    """
    rng = np.random.default_rng(seed)
    overall_released = not decision.hidden[0][0]
    intervals: dict[tuple[int, int], dict[str, tuple[float, float]]] = {}
    replicates: list[dict[str, np.ndarray]] = []
    overall_reps: list[dict[str, np.ndarray]] = []
    no_overall, rest_used, coarse_overall = [], [], []
    undefined: list[tuple[dict[str, str], str, int]] = []
    coarse_auroc = n_strata = 0
    for p, part in enumerate(table.partitions):
        keep = tuple(g for g in range(len(part.keys)) if not decision.hidden[p][g])
        cover = _site_cover(
            part, p, per_site, threshold=threshold, overall_released=overall_released
        )
        if p > 0 and overall_released and not cover.with_overall:
            no_overall.append(part.attributes)
        if cover.rest_used:
            rest_used.append(part.attributes)
        reps = _partition_replicates(
            table,
            decision,
            p,
            keep,
            _partition_strata(cover, site_names, keep),
            cover,
            n_boot=n_boot,
            rng=rng,
            threshold=threshold,
        )
        n_strata += reps.n_strata
        coarse_auroc += reps.coarse_auroc
        if reps.coarse_overall:
            coarse_overall.append(part.attributes)
        replicates.append(reps.full)
        overall_reps.append(reps.whole)
        bad, cis = _partition_intervals(table, decision, p, keep, reps, confidence)
        undefined.extend(bad)
        intervals.update(cis)
    return PooledBootstrap(
        n_boot=n_boot,
        seed=seed,
        replicates=replicates,
        overall_replicates=overall_reps,
        strata=n_strata,
        no_overall=tuple(no_overall),
        rest_used=tuple(rest_used),
        undefined=tuple(undefined),
        coarse_auroc=coarse_auroc,
        coarse_overall=tuple(coarse_overall),
        intervals=intervals,
    )


@dataclass(frozen=True)
class _SiteCover:
    """One site's part of a partition: its released groups' histograms (group index,
    binned), whether they all resolve the threshold, and its "rest of the site" stratum."""

    site_table: Any
    covered: tuple[tuple[int, Any], ...]
    resolved: bool
    rest: Any


@dataclass(frozen=True)
class _Cover:
    """How the sites cover one partition, and which whole-cohort targets it can feed."""

    sites: tuple[_SiteCover, ...]
    #: the partition's draws can give the whole cohort (it is released and every withheld
    #: group's rest of the site could be formed)
    with_overall: bool
    #: some site needed a rest-of-the-site stratum
    rest_used: bool

    @property
    def use_mixed(self) -> bool:
        """A second whole-cohort target for the threshold metrics is needed: some site's
        bins straddle the threshold."""
        return self.with_overall and not all(s.resolved for s in self.sites)


def _site_cover(
    part: Partition, p: int, per_site: Sequence[Any], *, threshold: float, overall_released: bool
) -> _Cover:
    """Each site's histograms of partition ``p``, with the rest of the site where a group was
    withheld there, because the strata and the whole-cohort targets depend on them."""
    index = {values: g for g, values in enumerate(part.keys)}
    with_overall = p > 0 and overall_released
    rest_used = False
    sites: list[_SiteCover] = []
    for site_table in per_site:
        covered, withheld = [], False
        for (attrs, values), (_, binned) in site_table.items():
            if attrs != part.attributes:
                continue
            if binned is None:
                withheld = True
            else:
                covered.append((index[values], binned))
        rest = None
        if p > 0 and withheld and with_overall:
            whole = site_table[((), ())][1]
            ok, rest = (
                remainder_bins(whole, [b for _, b in covered], binned_from_arrays)
                if whole is not None
                else (False, None)
            )
            if not ok:
                with_overall = False
            elif rest is not None:
                rest_used = True
        bins = [b for _, b in covered] + ([rest] if rest is not None else [])
        resolved = all(b.at(threshold) is not None for b in bins)
        sites.append(_SiteCover(site_table, tuple(covered), resolved, rest))
    return _Cover(sites=tuple(sites), with_overall=with_overall, rest_used=rest_used)


def _partition_strata(
    cover: _Cover, site_names: Sequence[str], keep: Sequence[int]
) -> list[Stratum]:
    """The partition's site x group strata and the targets each feeds.

    Targets: the released groups, then the whole cohort from this partition's draws
    ("joint"), then -- only if some site's bins of this partition straddle the threshold --
    a whole cohort for the threshold metrics that takes such a site's whole-cohort histogram
    instead (drawn on its own: no correlation with the groups there, whose own threshold
    metrics are then mostly withheld anyway).
    """
    pos = {g: j for j, g in enumerate(keep)}
    joint, mixed = len(keep), len(keep) + 1
    use_mixed = cover.use_mixed
    strata: list[Stratum] = []
    for name, site in zip(site_names, cover.sites, strict=True):
        wide = (joint,) * cover.with_overall + (mixed,) * (use_mixed and site.resolved)
        for g, binned in site.covered:
            strata.append(Stratum(name, ((pos[g],) if g in pos else ()) + wide, binned))
        if site.rest is not None and wide:
            strata.append(Stratum(name, wide, site.rest))
        if use_mixed and not site.resolved:
            strata.append(Stratum(name, (mixed,), site.site_table[((), ())][1]))
    return strata


@dataclass(frozen=True)
class _PartitionReplicates:
    """One partition's shifted replicates and what the AUROC bound withheld."""

    #: metric -> (B, G) shifted replicates (NaN for groups not released)
    full: dict[str, np.ndarray]
    #: metric -> (B,) the whole cohort from this partition's draws
    whole: dict[str, np.ndarray]
    n_strata: int = 0
    coarse_auroc: int = 0
    skip_auroc: frozenset[int] = frozenset()
    coarse_overall: bool = False


def _partition_replicates(
    table: GroupTable,
    decision: DisclosureDecision,
    p: int,
    keep: Sequence[int],
    strata: Sequence[Stratum],
    cover: _Cover,
    *,
    n_boot: int,
    rng: np.random.Generator,
    threshold: float,
) -> _PartitionReplicates:
    """Draw the partition's strata and shift every replicate by (reported - binned) estimate,
    so the interval is centred on what the pooled audit reports; AUROC replicates on bins
    too coarse for it are NaN."""
    n_groups = len(table.partitions[p].keys)
    with_overall, use_mixed = cover.with_overall, cover.use_mixed
    joint, mixed = len(keep), len(keep) + 1
    full = {m: np.full((n_boot, n_groups), np.nan) for m in BOOT_METRICS}
    whole = {m: np.full(n_boot, np.nan) for m in BOOT_METRICS}
    coarse_auroc, skip_auroc, coarse_overall, n_strata = 0, frozenset(), False, 0
    if keep or with_overall:
        n_strata = len(strata)
        base, reps = bootstrap_strata(
            strata,
            len(keep) + with_overall + use_mixed,
            threshold=threshold,
            n_boot=n_boot,
            rng=rng,
        )
        targets = [(p, g) for g in keep] + [(0, 0)] * (with_overall + use_mixed)
        for m in BOOT_METRICS:
            reported = np.array(
                [reported_value(table, decision, t, m) for t in targets], dtype=np.float64
            )
            shifted = reps[m] + (reported - base[m])
            if m == "auroc":
                coarse = base["auroc_bin_error_bound"] > AUROC_CI_MAX_BOUND
                shifted[:, coarse] = np.nan
                coarse_auroc += int(coarse[: len(keep)].sum())
                skip_auroc = frozenset(g for j, g in enumerate(keep) if coarse[j])
                if with_overall and coarse[joint]:
                    coarse_overall = True
            full[m][:, list(keep)] = shifted[:, : len(keep)]
            if with_overall:
                whole[m] = shifted[:, mixed if use_mixed and m in _THRESHOLDISH else joint]
    if p == 0:
        whole = {m: full[m][:, 0] for m in BOOT_METRICS}
    return _PartitionReplicates(
        full=full,
        whole=whole,
        n_strata=n_strata,
        coarse_auroc=coarse_auroc,
        skip_auroc=skip_auroc,
        coarse_overall=coarse_overall,
    )


def _partition_intervals(
    table: GroupTable,
    decision: DisclosureDecision,
    p: int,
    keep: Sequence[int],
    reps: _PartitionReplicates,
    confidence: float,
) -> tuple[
    list[tuple[dict[str, str], str, int]], dict[tuple[int, int], dict[str, tuple[float, float]]]
]:
    """Percentile intervals of the released groups' reported metrics, and the undefined
    replicates to state (not for AUROC the coarse bins already withheld)."""
    undefined: list[tuple[dict[str, str], str, int]] = []
    intervals: dict[tuple[int, int], dict[str, tuple[float, float]]] = {}
    for m in BOOT_METRICS:
        lo, hi, bad = percentile_intervals(reps.full[m][:, list(keep)], confidence)
        for j, g in enumerate(keep):
            if not math.isfinite(reported_value(table, decision, (p, g), m)):
                continue
            # an expected PPV / NPV is undefined exactly where PPV / NPV are (stated for those)
            stated = m not in EXPECTED_METRICS and not (m == "auroc" and g in reps.skip_auroc)
            if bad[j] and stated:
                undefined.append((dict(table.rows[p][g].attributes), m, int(bad[j])))
            if m in BOOT_CI:
                intervals.setdefault((p, g), {})[m] = (float(lo[j]), float(hi[j]))
    return undefined, intervals


def reported_value(table: GroupTable, decision: DisclosureDecision, cell, metric: str) -> float:
    """The value the pooled audit reports for a group's metric (NaN where it reports none:
    withheld groups, withheld threshold metrics, metrics not computable from aggregates)."""
    p, g = cell
    if decision.hidden[p][g] or (metric in _THRESHOLDISH and decision.confusion_hidden[p][g]):
        return math.nan
    return float(table.rows[p][g].values.get(metric, math.nan))


def with_bootstrap(table: GroupTable, boot: PooledBootstrap) -> GroupTable:
    """A new table with the pooled bootstrap's intervals and replicates (metrics compared
    between groups without replicates get NaN ones, so their disparities have no CI)."""
    rows = tuple(
        tuple(
            replace(r, ci={**r.ci, **boot.intervals[(p, g)]}) if (p, g) in boot.intervals else r
            for g, r in enumerate(row)
        )
        for p, row in enumerate(table.rows)
    )
    replicates, overall = [], []
    for p, part in enumerate(table.partitions):
        nan = np.full((boot.n_boot, len(part.keys)), np.nan)
        replicates.append({m: nan for m in DISPARITY_METRICS} | boot.replicates[p])
        overall.append({m: nan[:, 0] for m in DISPARITY_METRICS} | boot.overall_replicates[p])
    return replace(
        table,
        rows=rows,
        replicates=tuple(replicates),
        overall_replicates=tuple(overall),
        n_boot=boot.n_boot,
    )

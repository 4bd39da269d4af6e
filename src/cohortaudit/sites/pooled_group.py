"""One pooled group: the sums of its sites' sums, its metrics, and its row of the group table.

Pooling mathematics only: exact counts and sums, the binned AUROC, the federated calibration
fits of the whole cohort, ECE and the risk histogram re-binned from the sites' bins. The row
(:class:`~cohortaudit.metrics.table.GroupRow`) says as data what the aggregates cannot give
(NaN metrics, counts not derivable at a threshold, a group a site withheld), so disclosure
control and result assembly treat it like any other group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cohortaudit.metrics.expected import EXPECTED_METRICS, expected_arrays
from cohortaudit.metrics.performance import (
    THRESHOLD_METRICS,
    Confusion,
    threshold_metric_values,
    threshold_proportions,
    wilson_interval,
)
from cohortaudit.metrics.subgroups import METRIC_KEYS, THRESHOLD_GRID
from cohortaudit.metrics.table import GroupRow, finite
from cohortaudit.results import MetricValue
from cohortaudit.sites.binned import Binned, binned_auroc
from cohortaudit.sites.federated import FederatedFit, federated_logistic

__all__ = [
    "PooledGroup",
    "SUBGROUP_FIT_NOTE",
    "fit_binned",
    "pool_group",
    "pooled_metrics",
    "pooled_row",
]

_ECE_CUTS = np.arange(11) / 10
_HIST_CUTS = np.round(np.linspace(0.0, 1.0, 21), 2)


@dataclass(frozen=True)
class PooledGroup:
    """One group of the pooled cohort: its sites' binned parts and the sums of their sums.

    A group some site withheld (``withheld_at``) has no counts: pooling only the other sites
    would misstate it.
    """

    attributes: dict[str, str]
    sites: list[str]
    withheld_at: list[str]
    parts: list[Binned]
    n: int = 0
    events: int = 0
    sums: dict[str, float] | None = None

    def confusion_at(self, t: float) -> Confusion | None:
        if self.withheld_at or not self.parts:
            return None
        tp = fp = 0
        for b in self.parts:
            got = b.at(t)
            if got is None:
                return None
            tp, fp = tp + got[0], fp + got[1]
        return Confusion(tp=tp, fp=fp, tn=self.n - self.events - fp, fn=self.events - tp)

    def risk_sums_at(self, t: float) -> tuple[float, int, float, int] | None:
        """Summed over sites: (sum p, patients) at or above t and below t; None as for
        :meth:`confusion_at`."""
        if self.withheld_at or not self.parts:
            return None
        total = [0.0, 0, 0.0, 0]
        for b in self.parts:
            got = b.risk_sums_at(t)
            if got is None:
                return None
            total = [x + y for x, y in zip(total, got, strict=True)]
        return tuple(total)

    def between(self, cuts: np.ndarray):
        total = None
        for b in self.parts:
            got = b.between(cuts)
            if got is None:
                return None
            total = got if total is None else tuple(x + y for x, y in zip(total, got, strict=True))
        return total


def pool_group(attributes: dict[str, str], contrib, k: int) -> PooledGroup:
    """The sums of one group's site records (``contrib``: (site, (record, binned)) pairs)."""
    withheld = [site for site, (rec, _) in contrib if rec["suppressed"]]
    sites = [s for s, _ in contrib]
    parts = [b for _, (_, b) in contrib if b is not None]
    if withheld:
        return PooledGroup(dict(attributes), sites, withheld, parts)
    n = events = 0
    sums: dict[str, float] = {}
    for _, (rec, _) in contrib:
        n += int(rec["n"])
        events += int(rec["events"])
        for key, v in rec["sums"].items():
            sums[key] = sums.get(key, 0.0) + float(v)
    return PooledGroup(dict(attributes), sites, [], parts, n=n, events=events, sums=sums)


def fit_binned(parts: Sequence[Binned], *, slope: bool, start, spread: bool = True) -> FederatedFit:
    return federated_logistic([b.rows(slope=slope, spread=spread) for b in parts], start=start)


#: Why a pooled subgroup has no CITL / slope (see the module docstring).
SUBGROUP_FIT_NOTE = (
    "CITL, calibration slope and recalibration intercept are pooled for the whole cohort and "
    "each site only: a subgroup's histogram bins are shared with its smallest sibling, and on "
    "such coarse bins the binned fit can miss the patient-level fit by more than its standard "
    "error"
)


def pooled_metrics(
    est: PooledGroup,
    confusion: Confusion | None,
    *,
    z: float,
    fit_calibration: bool = True,
    threshold: float | None = None,
) -> tuple[dict, dict]:
    """Metric values with CIs, and calibration facts (fit, bound, problems). The expected
    error rates under calibration need ``threshold`` and derivable confusion counts."""
    n, o = est.n, est.events
    s = est.sums or {}
    out: dict[str, MetricValue] = {}
    info: dict[str, Any] = {"problems": []}
    auc, se, bound = binned_auroc(est.parts)
    info["auroc_bin_error_bound"] = bound
    if math.isfinite(bound) and bound > 0.02:
        info["problems"].append(
            f"AUROC from coarse score bins: the estimate may be off by up to {bound:.3f}"
        )
    out["auroc"] = MetricValue(
        auc,
        max(0.0, auc - z * se) if math.isfinite(se) else None,
        min(1.0, auc + z * se) if math.isfinite(se) else None,
    )
    out["auprc"] = MetricValue(None)
    if confusion is not None:
        values = threshold_metric_values(confusion)
        cis = {
            key: wilson_interval(x, d, z)
            for key, (x, d) in threshold_proportions(confusion).items()
        }
        for key in THRESHOLD_METRICS:
            lo, hi = cis.get(key, (None, None))
            out[key] = MetricValue(values[key], lo, hi)
    else:
        for key in THRESHOLD_METRICS:
            out[key] = MetricValue(None)
    sums = est.risk_sums_at(threshold) if confusion is not None and threshold is not None else None
    expected = {} if sums is None else expected_arrays(*sums)
    for key in EXPECTED_METRICS:  # intervals: the pooled bootstrap
        out[key] = MetricValue(float(expected[key])) if key in expected else MetricValue(None)
    out["prevalence"] = MetricValue(o / n, *wilson_interval(o, n, z))
    out["brier"] = MetricValue(s["sum_sq_error_raw"] / n)
    e = s["sum_p_events"] + s["sum_p_non_events"]
    oe = o / e
    half = z * math.sqrt(1.0 / o) if o > 0 else math.nan
    out["oe_ratio"] = MetricValue(oe, oe * math.exp(-half), oe * math.exp(half))
    if fit_calibration:
        citl = fit_binned(est.parts, slope=False, start=[math.log(oe) if oe > 0 else 0.0])
        slope = fit_binned(est.parts, slope=True, start=[0.0, 1.0])
        info["federated_rounds"] = {"citl": citl.rounds, "slope": slope.rounds}
    else:
        citl = slope = None
        info["federated_rounds"] = None
        info["problems"].append(SUBGROUP_FIT_NOTE)
    for fit, keys in ((citl, ("citl",)), (slope, ("recalibration_intercept", "calibration_slope"))):
        if fit is not None and not fit.converged:
            info["problems"].append(f"federated calibration fit did not converge ({fit.message})")
        for j, key in enumerate(keys):
            if fit is not None and fit.converged:
                sej = math.sqrt(fit.cov[j, j])
                out[key] = MetricValue(fit.coef[j], fit.coef[j] - z * sej, fit.coef[j] + z * sej)
            else:
                out[key] = MetricValue(None)
    for key in ("ici", "e50", "e90", "emax"):
        out[key] = MetricValue(None)
    table = est.between(_ECE_CUTS)
    info["ece_table"] = table
    if table is not None:
        ev, ne, sp = table
        out["ece"] = MetricValue(float(np.sum(np.abs(ev - sp)) / n))
    else:
        out["ece"] = MetricValue(None)
        info["problems"].append(
            "ECE not computed: a site merged a histogram bin across an edge of the 10 ECE bins"
        )
    var = s["spiegelhalter_var"]
    if var > 0:
        from scipy import stats

        zs = s["spiegelhalter_num"] / math.sqrt(var)
        out["spiegelhalter_z"] = MetricValue(zs)
        out["spiegelhalter_p"] = MetricValue(float(2.0 * stats.norm.sf(abs(zs))))
    else:
        out["spiegelhalter_z"] = out["spiegelhalter_p"] = MetricValue(None)
    out["hosmer_lemeshow_p"] = MetricValue(None)
    ybar = o / n
    out["scaled_brier"] = MetricValue(1.0 - s["sum_sq_error"] / n / (ybar * (1.0 - ybar)))
    out["discrimination_slope"] = MetricValue(
        s["sum_p_events"] / o - s["sum_p_non_events"] / (n - o)
    )
    return {key: out[key] for key in METRIC_KEYS}, info


def pooled_row(p: int, g: int, est: PooledGroup, *, threshold: float, z: float, k: int) -> GroupRow:
    """One pooled group as a row of the group table (what the aggregates allow, NaN else)."""
    confusion = est.confusion_at(threshold)
    grid = [est.confusion_at(float(t)) for t in THRESHOLD_GRID]
    counts = np.array(
        [(0, 0, 0, 0) if c is None else (c.tp, c.fp, c.tn, c.fn) for c in grid], dtype=np.int64
    )
    values: dict[str, float] = {m: math.nan for m in METRIC_KEYS}
    ci: dict[str, tuple[float, float]] = {}
    facts: dict[str, Any] = {}
    ece_rows: tuple[dict[str, Any], ...] = ()
    histogram = None
    if not est.withheld_at and est.n > 0 and 0 < est.events < est.n:
        metrics, info = pooled_metrics(
            est, confusion, z=z, fit_calibration=not est.attributes, threshold=threshold
        )
        for key, mv in metrics.items():
            values[key] = math.nan if mv.value is None else mv.value
            if mv.ci_low is not None or mv.ci_high is not None:
                ci[key] = (
                    math.nan if mv.ci_low is None else mv.ci_low,
                    math.nan if mv.ci_high is None else mv.ci_high,
                )
        facts = {
            "smoother": {
                "method": "not computed (a pooled audit has no patient-level predictions)",
                "knots": 0,
                "knot_quantiles": [],
            },
            "knots_logit": [],
            "hosmer_lemeshow_chi2": None,
            "hosmer_lemeshow_groups": 0,
            "clipped_predictions": None,
            "problems": list(info["problems"]),
            "fit": "federated Newton on binned logits (sites.federated)",
            "federated_rounds": info["federated_rounds"],
            "auroc_bin_error_bound": finite(info["auroc_bin_error_bound"]),
            "sites": list(est.sites),
        }
        if info["ece_table"] is not None:
            ev, ne, sp = info["ece_table"]
            ece_rows = tuple(
                {
                    "lower": float(_ECE_CUTS[i]),
                    "upper": float(_ECE_CUTS[i + 1]),
                    "n": int(ev[i] + ne[i]),
                    "events": int(ev[i]),
                    "sum_p": finite(sp[i]),
                }
                for i in range(len(ev))
            )
        got = est.between(_HIST_CUTS)
        if got is not None:
            histogram = {
                "edges": [float(e) for e in _HIST_CUTS],
                "events": [int(x) for x in got[0]],
                "non_events": [int(x) for x in got[1]],
            }
    withheld = None
    if est.withheld_at:
        withheld = (
            "withheld at site(s) " + ", ".join(est.withheld_at) + f" (fewer than {k} "
            "events or non-events there, or secondary suppression); pooling only the "
            "other sites would misstate the group"
        )
    return GroupRow(
        partition=p,
        index=g,
        attributes=dict(est.attributes),
        n=est.n,
        events=est.events,
        confusion=confusion,
        values=values,
        ci=ci,
        grid_counts=counts,
        grid_derivable=np.array([c is not None for c in grid]),
        ece_table=ece_rows,
        calibration_facts=facts,
        risk_histogram=histogram,
        withheld_by_source=withheld,
    )

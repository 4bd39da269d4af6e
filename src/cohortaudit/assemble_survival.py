"""What a time-to-event audit gives :func:`cohortaudit.assemble.assemble_result`.

The assembly is the binary audit's; a time-to-event table differs only in how one released
group becomes a :class:`~cohortaudit.results.GroupResult` (survival metric keys, the counts at
the horizon, the Kaplan-Meier curve and tables released under the survival threshold of
:mod:`cohortaudit.disclosure_survival`), which metrics are compared between groups, and what
the settings say. :data:`SURVIVAL_ASSEMBLY` bundles those for the caller.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from cohortaudit.assemble import (
    CURVES_UP_TO_ORDER,
    DISCLOSURE_RULES,
    IMPRECISE_BELOW,
    suppressed_group_result,
)
from cohortaudit.disclosure_survival import (
    SURVIVAL_DISCLOSURE_RULES,
    released_deciles,
    released_decision_curve,
    released_km,
)
from cohortaudit.metrics.table import finite
from cohortaudit.results import GroupResult, MetricValue
from cohortaudit.survival.bootstrap_decision import DECISION_CI_METHOD
from cohortaudit.survival.bootstrap_utility import UTILITY_TIME_BINS
from cohortaudit.survival.summary import SETTINGS
from cohortaudit.survival.table import (
    SURVIVAL_DISPARITY_METRICS,
    SURVIVAL_METRIC_KEYS,
    SURVIVAL_THRESHOLD_METRICS,
)

__all__ = [
    "SURVIVAL_DISPARITY_METRICS",
    "SURVIVAL_CHECKS",
    "survival_group_result",
    "survival_methods",
    "survival_settings",
    "survival_disclosure_rules",
]

#: The statistical caveats of :data:`cohortaudit.assemble.STATISTICAL_CHECKS` that carry over.
SURVIVAL_CHECKS = ("groups_suppressed", "imprecise_groups", "bootstrap_undefined")


def survival_group_result(est, decision, p: int, g: int, *, z: float, k: int) -> GroupResult:
    """One group of a time-to-event table as the result shows it, after disclosure control."""
    if decision.hidden[p][g]:
        return suppressed_group_result(est, decision, p, g)
    withheld = SURVIVAL_THRESHOLD_METRICS if decision.confusion_hidden[p][g] else ()
    metrics: dict[str, MetricValue] = {}
    for key in SURVIVAL_METRIC_KEYS:
        if key in withheld:
            metrics[key] = MetricValue(None)
            continue
        lo, hi = est.ci.get(key, (math.nan, math.nan))
        metrics[key] = MetricValue(est.values.get(key, math.nan), lo, hi)
    c = est.confusion
    confusion = (
        {"tp": None, "fp": None, "tn": None, "fn": None}
        if withheld or c is None
        else {"tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn}
    )
    facts = est.survival
    summary = facts.summary
    block: dict[str, Any] = {
        "horizon": finite(summary.horizon),
        "at_risk": facts.at_risk,
        "censored_before": facts.censored_before,
        "confusion_meaning": (
            "tp/fn: events by the horizon at/below the threshold; fp/tn: event-free at the "
            "horizon; patients censored before the horizon are in neither"
        ),
    }
    base = GroupResult(
        attributes=dict(est.attributes),
        n=est.n,
        events=est.events,
        suppressed=False,
        metrics=metrics,
        confusion=confusion,
        withheld=tuple(withheld),
        imprecise=min(est.events, facts.at_risk) < IMPRECISE_BELOW,
        survival=block,
    )
    if len(est.attributes) > CURVES_UP_TO_ORDER:
        return base
    lo_s, hi_s = est.support
    band = facts.curve_band or [(None, None)] * len(summary.calibration_curve)
    curve = [
        (x, o, b)
        for (x, o), b in zip(summary.calibration_curve, band, strict=True)
        if lo_s <= x <= hi_s
    ]
    deciles = released_deciles(est, k)
    return replace(
        base,
        survival={**block, "km_curve": released_km(est, k)},
        calibration_curve={
            "predicted": [finite(x) for x, _, _ in curve],
            "observed": [finite(o) for _, o, _ in curve],
            "ci_low": [None if b[0] is None else finite(b[0]) for _, _, b in curve],
            "ci_high": [None if b[1] is None else finite(b[1]) for _, _, b in curve],
        }
        if curve
        else {},
        calibration_table=tuple(deciles or ()),
        decision_curve=released_decision_curve(est, k),
    )


def survival_methods(table, seed: int | None) -> dict[str, Any]:
    """``settings`` entries on how a time-to-event table's intervals were computed."""
    return {
        "disparity_ci_method": (
            "stratified patient bootstrap, percentile, of the difference and the ratio on the "
            "same replicate"
            if table.replicates
            else "none (no bootstrap: --n-boot 0)"
        ),
        "bootstrap": {
            "n_boot": table.n_boot,
            "seed": seed,
            "strata": "finest intersection of all sensitive attributes",
            "method": (
                "multinomial resampling of patients within each stratum; the censoring "
                "distribution re-estimated in every replicate (docs/TIME-TO-EVENT.md)"
            ),
        },
        "fairness_summaries": (
            "fairlearn definitions over released groups, on the IPCW sensitivity and "
            "1 - specificity at the horizon and the share above the threshold"
        ),
        "calibration": {
            "flexible": SETTINGS["flexible_calibration"],
            "slope": SETTINGS["calibration_slope"],
            "oe": SETTINGS["oe_ratio"],
            "deciles": "observed (Kaplan-Meier, log(-log) Greenwood CI) vs mean predicted risk "
            "by decile of predicted risk",
            "curve": "the flexible calibration curve on predicted risk 0.01..0.99, only where "
            ">= k patients lie on each side",
        },
        # merged over the binary decision-curve settings: the time-to-event definitions
        "net_benefit_ci": {
            "net_benefit": (
                "P (1 - S_t) - P S_t t/(1-t) at the horizon, P the share with r >= t and S_t "
                "their Kaplan-Meier survival at tau (Vickers et al. 2008)"
            ),
            "standardized": "NB / observed risk by the horizon (Kaplan-Meier)",
            "net_benefit_vs_treat_all": (
                "NB_model - NB_treat_all, treat-all = (1 - S) - S t/(1-t) with S the group's "
                "Kaplan-Meier survival at tau"
            ),
            "net_benefit_ci": (
                DECISION_CI_METHOD.format(t=UTILITY_TIME_BINS)
                + "; groups whose curves are shown; the operating threshold's net_benefit "
                "metric has its own replicates, so its interval may differ from the curve's at "
                "that threshold by Monte-Carlo error"
                if table.replicates
                else "none (no bootstrap: --n-boot 0)"
            ),
        },
    }


def survival_settings(horizon: float, time_unit: str | None) -> dict[str, Any]:
    """The ``outcome`` and ``survival`` settings blocks of a time-to-event result."""
    return {
        "outcome": {
            "kind": "time_to_event",
            "horizon": horizon,
            "time_unit": time_unit,
            "prediction": "risk of the event by the horizon",
        },
        "survival": dict(SETTINGS),
    }


def survival_disclosure_rules() -> tuple[str, ...]:
    """The rules a time-to-event audit states: the survival threshold, then the binary ones."""
    return (*SURVIVAL_DISCLOSURE_RULES, *DISCLOSURE_RULES)

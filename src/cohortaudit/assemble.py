"""``assemble_result``: a group table and its disclosure decision in, an :class:`AuditResult` out.

Every audit ends here -- in memory, streamed, Dask and pooled from site files alike: the group
results (what disclosure control released, with curves for the whole cohort and each single
attribute), the reference groups, disparities and fairness summaries, the statistical caveats,
the settings that state how every number was computed, the caveats made safe to release
(:func:`cohortaudit.disclosure.protect_caveats`) and the card's claims and the policy.

Where a source computes some things differently (a pooled audit's binned AUROC, its federated
calibration fits, its bootstrap over site strata), that is data of the table (``ci_methods``,
``bootstrap_ci``, NaN for what it cannot compute) or a parameter here (``methods``,
``disclosure_rules``, ``checks``, ``settings_extension``) -- never a second copy of this code.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from cohortaudit import __version__
from cohortaudit.disclosure import (
    CutOffCounts,
    DisclosureDecision,
    cut_off_counts,
    disclosure_profile,
    protect_caveats,
)
from cohortaudit.findings import RULES_SETTINGS, build_findings
from cohortaudit.intake.columns import ordered_bin_labels
from cohortaudit.metrics.curves import (
    calibration_curve,
    calibration_table,
    decision_curve_rows,
    roc_and_pr,
)
from cohortaudit.metrics.expected import EXPECTED_METRICS, EXPECTED_SETTINGS
from cohortaudit.metrics.fairness import (
    choose_references,
    compute_disparities,
    compute_fairness_summaries,
)
from cohortaudit.metrics.performance import THRESHOLD_METRICS
from cohortaudit.metrics.subgroups import METRIC_KEYS, THRESHOLD_GRID
from cohortaudit.metrics.table import GroupTable
from cohortaudit.metrics.utility_boot import (
    NB_CI_SETTINGS,
    net_benefit_values,
    with_net_benefit_intervals,
)
from cohortaudit.results import (
    AuditResult,
    Caveat,
    CohortInfo,
    GroupResult,
    MetricValue,
    ModelInfo,
)

if TYPE_CHECKING:
    from cohortaudit.policy import Policy

#: Computes the ``user_metrics`` block (and its caveats) from the finished groups.
#: How one row of the group table becomes a group of the result: (row, decision, p, g, z, k).
GroupResultBuilder = Callable[..., GroupResult]
UserMetricsHook = Callable[[Sequence[GroupResult]], tuple[dict[str, Any], Sequence[Caveat]]]

__all__ = [
    "assemble_result",
    "reference_list",
    "suppressed_group_result",
    "exact_methods",
    "bootstrap_undefined_caveat",
    "inverted_ranking_caveats",
    "INVERTED_RANKING",
    "STATISTICAL_CHECKS",
    "DISCLOSURE_RULES",
    "IMPRECISE_BELOW",
    "CURVES_UP_TO_ORDER",
    "CURVE_SETTINGS",
    "DECISION_CURVE_SETTINGS",
]

#: Fewer events (or non-events) than this flags a group's estimates as imprecise.
IMPRECISE_BELOW = 100
#: Curves (calibration, ROC, PR, decision, histogram) are exported for the whole cohort and
#: single-attribute groups; intersections carry metrics and the threshold grid only, which
#: keeps a wide audit's JSON small enough to file.
CURVES_UP_TO_ORDER = 1
#: Settings of the curves every audit (single-site or pooled) reports, stated once.
CURVE_SETTINGS: dict[str, Any] = {
    "risk_histogram": "20 bins of width 0.05, by outcome; 0 < count < k withheld",
    "curves_for": "the whole cohort and each single-attribute group",
    "impossibility": (
        "When base rates differ between groups, calibration within groups and "
        "equalized odds cannot both hold (Kleinberg 2016; Chouldechova 2017)."
    ),
}
DECISION_CURVE_SETTINGS: dict[str, str] = {
    "thresholds": "0.01..0.99 step 0.01",
    "rule": "positive iff p >= t",
    "net_benefit": "TP/n - FP/n * t/(1-t) (Vickers & Elkin 2006)",
    "interventions_avoided": "(NB_model - NB_treat_all) / (t/(1-t)) * 100",
    "standardized": "NB / prevalence",
}


#: The statistical caveats :func:`assemble_result` derives from the table, in this order.
STATISTICAL_CHECKS = (
    "calibration_fit",
    "fairness_impossibility",
    "inverted_ranking",
    "groups_suppressed",
    "imprecise_groups",
    "bootstrap_undefined",
)

#: The disclosure rules a single-site audit applies, as stated in ``settings.disclosure``.
DISCLOSURE_RULES = (
    "1: a group is released only with >= k events and >= k non-events",
    "2: confusion counts and threshold metrics withheld when a cell is < k",
    "3: secondary suppression of siblings so withheld groups cannot be derived",
    "3 (one pass over every released table: groups, confusion counts, threshold "
    "grid, histogram and calibration bins, intended-use counts, SHAP bins and group "
    "sizes): parent - sum(released children) is 0 or >= k, and a lone withheld "
    "child is never left derivable",
    "4: threshold grid thinned per group: neighbouring released thresholds (the "
    "operating threshold included) differ by 0 or >= k patients in tp and in fp",
    "5: caveats: counts in 1..k-1 read 'fewer than k'; sizes of suppressed groups are not stated",
)


def assemble_result(
    table: GroupTable,
    decision: DisclosureDecision,
    *,
    k: int,
    z: float,
    confidence: float,
    threshold: float,
    threshold_source: str | None,
    max_order: int,
    model: ModelInfo,
    cohort: CohortInfo,
    config: Mapping[str, Any],
    started: float,
    started_at: str,
    run: Mapping[str, Any],
    bins: Mapping[str, Sequence[float]] | None = None,
    requested_reference: Mapping[str, str] | None = None,
    caveats: Sequence[Caveat] = (),
    closing_caveats: Sequence[Caveat] = (),
    checks: Sequence[str] = STATISTICAL_CHECKS,
    methods: Mapping[str, Any] | None = None,
    disclosure_rules: Sequence[str] = DISCLOSURE_RULES,
    settings_extension: Mapping[str, Any] | None = None,
    claimed_metrics: Mapping[str, Any] | None = None,
    policy: Policy | None = None,
    safety: dict[str, Any] | None = None,
    explanations: dict[str, Any] | None = None,
    sites: dict[str, Any] | None = None,
    user_metrics: UserMetricsHook | None = None,
    group_result: GroupResultBuilder | None = None,
    disparity_metrics: Sequence[str] | None = None,
) -> AuditResult:
    """The audit's result from its group table and what disclosure control decided.

    ``cohort`` gives the cohort's identity; its ``n`` and ``events`` are the released whole
    cohort's. ``caveats`` come first (data quality, pooling), then the reference fallbacks and
    the ``checks`` named from :data:`STATISTICAL_CHECKS`, then ``closing_caveats``; all of them
    go through :func:`protect_caveats`. ``methods`` states how the table's numbers were
    computed (``disparity_ci_method``, ``bootstrap``, ``fairness_summaries``, ``calibration``;
    default :func:`exact_methods`), ``settings_extension`` adds source-specific settings.
    ``run`` is the run record beyond time, host and platform (e.g. package versions).
    ``user_metrics`` computes the auditor's own metrics (``--metric``) from the finished groups,
    which say what disclosure released; its caveats go through :func:`protect_caveats` too.
    A time-to-event table (:mod:`cohortaudit.assemble_survival`) brings its own
    ``group_result`` (how one released row reads) and ``disparity_metrics``; the rest is the
    same assembly.
    """
    refs, ref_notes = choose_references(table, decision.hidden, dict(requested_reference or {}))
    disparities = compute_disparities(
        table,
        decision.hidden,
        decision.confusion_hidden,
        refs,
        confidence=confidence,
        **({} if disparity_metrics is None else {"metrics": tuple(disparity_metrics)}),
    )
    build = (
        partial(_group_result, threshold=table.threshold) if group_result is None else group_result
    )
    fairness = compute_fairness_summaries(table, decision.confusion_hidden, confidence=confidence)
    groups = [
        build(est, decision, p, g, z=z, k=k)
        for p, row in enumerate(table.rows)
        for g, est in enumerate(row)
    ]
    overall, subgroups = groups[0], tuple(groups[1:])
    all_caveats: list[Caveat] = list(caveats)
    all_caveats.extend(Caveat("reference_fallback", "warning", note) for note in ref_notes)
    all_caveats.extend(
        _statistical_caveats(
            table, decision, overall, subgroups, k=k, confidence=confidence, checks=checks
        )
    )
    all_caveats.extend(closing_caveats)
    user_block = None
    if user_metrics is not None:
        user_block, user_caveats = user_metrics(groups)
        all_caveats.extend(user_caveats)

    settings = _settings(
        table,
        refs,
        k=k,
        confidence=confidence,
        threshold=threshold,
        source=threshold_source,
        max_order=max_order,
        methods=exact_methods(table, config.get("seed")) if methods is None else methods,
        disclosure_rules=disclosure_rules,
    )
    settings["findings"] = dict(RULES_SETTINGS)  # before the extensions: one shape for all engines
    settings.update(settings_extension or {})
    claims: tuple = ()
    if claimed_metrics:
        from cohortaudit.claims import CLAIMS_RULE, check_claims

        claims = check_claims(claimed_metrics, overall, confidence=confidence)
        settings["claims_rule"] = CLAIMS_RULE
    if policy is not None:
        settings["policy"] = policy.to_dict()
    result = AuditResult(
        model=model,
        cohort=replace(cohort, n=overall.n, events=overall.events),
        config=dict(config),
        settings=settings,
        overall=overall,
        subgroups=subgroups,
        disparities=disparities,
        fairness=fairness,
        disclosure_log=tuple(decision.log),
        caveats=protect_caveats(
            all_caveats,
            k,
            suppressed_groups=[g.attributes for g in subgroups if g.suppressed],
            column_counts=_released_column_counts(subgroups, safety, bins or {}),
        ),
        tool={"name": "cohortaudit", "version": __version__},
        run={
            "started_at": started_at,
            "duration_seconds": round(time.perf_counter() - started, 3),
            "host": platform.node(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            **run,
        },
        claims=claims,
        explanations=explanations,
        safety=safety,
        sites=sites,
        user_metrics=user_block,
    )
    if policy is not None:
        from cohortaudit.policy import evaluate_policy

        result = replace(result, policy=evaluate_policy(policy, result))
    # Findings last, from the result as released: they read only what disclosure let through.
    return replace(result, findings=build_findings(result))


def reference_list(
    table: GroupTable, decision: DisclosureDecision, requested: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """``settings["references"]``: each partition's reference group, as the result states it
    (the explanations need it before the result exists)."""
    refs, _ = choose_references(table, decision.hidden, dict(requested or {}))
    return _references(table, refs)


def _references(table: GroupTable, refs: Mapping[int, int]) -> list[dict[str, Any]]:
    return [
        {
            "attributes": list(table.partitions[p].attributes),
            "reference": table.partitions[p].attributes_of(g),
        }
        for p, g in sorted(refs.items())
    ]


def bootstrap_undefined_caveat(
    where: Mapping[str, str], metric: str, count: int, n_boot: int
) -> Caveat:
    """Replicates of a released group's metric that were undefined (never dropped silently)."""
    return Caveat(
        code="bootstrap_undefined",
        severity="warning" if count > n_boot * 0.05 else "info",
        message=(
            f"{metric}: {count} of {n_boot} bootstrap replicates were "
            "undefined for this group (a replicate drew no patients of one "
            "outcome); intervals use the remaining replicates."
        ),
        where=dict(where) or {"group": "overall"},
    )


def suppressed_group_result(est, decision, p: int, g: int) -> GroupResult:
    """A group disclosure control withheld: its attributes and the reason, no counts, no
    metrics (every outcome kind's group results use this one form)."""
    return GroupResult(
        attributes=dict(est.attributes),
        n=None,
        events=None,
        suppressed=True,
        metrics={},
        suppression_reason=decision.reasons.get((p, g), est.withheld_by_source or "suppressed"),
        confusion={},
    )


def _group_result(
    est, decision, p: int, g: int, *, z: float, k: int, threshold: float = math.nan
) -> GroupResult:
    if decision.hidden[p][g]:
        return suppressed_group_result(est, decision, p, g)
    # the expected error rates go with the threshold metrics: with the group's size and sum
    # of risks they would give back the number of patients above the threshold
    withheld = (
        tuple(m for m in METRIC_KEYS if m in THRESHOLD_METRICS or m in EXPECTED_METRICS)
        if decision.confusion_hidden[p][g]
        else ()
    )
    metrics: dict[str, MetricValue] = {}
    for key in METRIC_KEYS:
        if key in withheld:
            metrics[key] = MetricValue(None)
            continue
        lo, hi = est.ci.get(key, (math.nan, math.nan))
        metrics[key] = MetricValue(est.values[key], lo, hi)
    nb_values = net_benefit_values(
        est.confusion, est.net_benefit, threshold, withheld=bool(withheld)
    )
    metrics.update({m: MetricValue(*v) for m, v in nb_values.items()})
    grid: dict[str, list[int | None]] = {}
    if est.grid_counts is not None:
        flags = decision.grid_hidden[p][g]
        for col, name in enumerate(("tp", "fp", "tn", "fn")):
            grid[name] = [
                None if flags[j] else int(est.grid_counts[j, col])
                for j in range(est.grid_counts.shape[0])
            ]
    c = est.confusion
    confusion = (
        {"tp": None, "fp": None, "tn": None, "fn": None}
        if withheld or c is None
        else {"tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn}
    )
    thresholds = [float(t) for t in THRESHOLD_GRID]
    cal = est.calibration
    calibration_info = dict(est.calibration_facts)
    base = GroupResult(
        attributes=dict(est.attributes),
        n=est.n,
        events=est.events,
        suppressed=False,
        metrics=metrics,
        confusion=confusion,
        withheld=withheld,
        imprecise=min(est.events, est.n - est.events) < IMPRECISE_BELOW,
        threshold_grid=grid,
        calibration=calibration_info,
    )
    if len(est.attributes) > CURVES_UP_TO_ORDER:
        return base
    roc, pr = roc_and_pr(thresholds, grid)
    return replace(
        base,
        calibration_curve=calibration_curve(cal, est.support, z) if cal is not None else {},
        calibration_table=tuple(
            calibration_table(
                est.ece_table, k, hidden=(decision.calibration_hidden or {}).get((p, g))
            )
        ),
        risk_histogram=_released_histogram(est.risk_histogram, decision, p, g),
        roc_curve=roc,
        pr_curve=pr,
        decision_curve=tuple(
            with_net_benefit_intervals(
                decision_curve_rows(thresholds, grid, est.n, est.events), est.net_benefit
            )
        ),
    )


def _released_column_counts(
    subgroups, safety_block, bins: Mapping[str, Sequence[float]]
) -> dict[str, CutOffCounts]:
    """Per attribute, every count of patients between two cut-offs that the result releases.

    Group sizes come from the metric tables and the intended-use table (a group may be
    suppressed in one and counted in the other); runs of neighbouring groups are formed in the
    order of the column's values, so a caveat's count of rows above the card's maximum can be
    checked against "> 80" and "[70, 80] + > 80" alike (see disclosure.protect_caveats).
    """
    sizes: dict[str, dict[str, int | None]] = {}

    def note(group: dict[str, str], n: int | None) -> None:
        if len(group) != 1:
            return
        ((attr, value),) = group.items()
        known = sizes.setdefault(attr, {})
        if n is not None or value not in known:
            known[value] = n if n is not None else known.get(value)

    for g in subgroups:
        note(g.attributes, g.n)
    intended_use = (safety_block or {}).get("intended_use") or {}
    for row in intended_use.get("rows", ()):
        note(row["group"], row["n"])
    out: dict[str, CutOffCounts] = {}
    for attr, by_value in sizes.items():
        if attr in bins:  # the cohort's bins, lowest first
            ordered = [v for v in ordered_bin_labels(bins[attr]) if v in by_value]
        else:  # unbinned numeric values order as numbers; categories have no order
            ordered = sorted((v for v in by_value if _as_number(v) is not None), key=_as_number)
        out[attr] = cut_off_counts([by_value[v] for v in ordered])
    return out


def _as_number(label: str) -> float | None:
    try:
        return float(label)
    except ValueError:
        return None


def _released_histogram(hist: dict | None, decision, p: int, g: int) -> dict[str, list[Any]]:
    """The group's risk histogram with the bins disclosure control withholds set to None."""
    if not hist:
        return {}
    flags = (decision.histogram_hidden or {}).get((p, g), {})
    out: dict[str, list[Any]] = {"edges": list(hist["edges"])}
    for col in ("events", "non_events"):
        hide = flags.get(col) or [False] * len(hist[col])
        out[col] = [None if h else c for c, h in zip(hist[col], hide, strict=True)]
    return out


def _statistical_caveats(
    engine: GroupTable,
    decision: DisclosureDecision,
    overall: GroupResult,
    subgroups: Sequence[GroupResult],
    *,
    k: int,
    confidence: float,
    checks: Sequence[str],
) -> list[Caveat]:
    """The caveats the numbers themselves call for, those named in ``checks`` only."""
    out: list[Caveat] = []
    for p, row in enumerate(engine.estimates if "calibration_fit" in checks else ()):
        for g, e in enumerate(row):
            if decision.hidden[p][g] or e.calibration is None or not e.calibration.problems:
                continue
            out.append(
                Caveat(
                    code="calibration_fit",
                    severity="warning",
                    message="Calibration: " + "; ".join(e.calibration.problems) + ".",
                    where=dict(e.attributes) or {"group": "overall"},
                )
            )
    if "fairness_impossibility" in checks:
        out.extend(_impossibility_note(engine, decision))
    if "inverted_ranking" in checks:
        out.extend(inverted_ranking_caveats(overall, subgroups, confidence=confidence))
    n_suppressed = sum(h for row in decision.hidden[1:] for h in row)
    if n_suppressed and "groups_suppressed" in checks:
        out.append(
            Caveat(
                code="groups_suppressed",
                severity="info",
                message=(
                    f"{n_suppressed} subgroups are not evaluable (fewer than {k} "
                    "events or non-events, or withheld so they cannot be derived from others); "
                    "their numbers are suppressed. See the disclosure log."
                ),
            )
        )
    imprecise = [
        e.attributes
        for p, row in enumerate(engine.estimates)
        for g, e in enumerate(row)
        if not decision.hidden[p][g] and min(e.events, e.n - e.events) < IMPRECISE_BELOW
    ]
    if imprecise and "imprecise_groups" in checks:
        out.append(
            Caveat(
                code="imprecise_groups",
                severity="warning",
                message=(
                    f"{len(imprecise)} released groups have fewer than {IMPRECISE_BELOW} events "
                    "or non-events; their estimates are imprecise (wide intervals). They are "
                    "flagged 'imprecise' in the tables."
                ),
            )
        )
    for p, row in enumerate(engine.estimates if "bootstrap_undefined" in checks else ()):
        for g, e in enumerate(row):
            if decision.hidden[p][g]:
                continue
            for metric, count in sorted(e.undefined_replicates.items()):
                if metric in THRESHOLD_METRICS and decision.confusion_hidden[p][g]:
                    continue
                if metric not in METRIC_KEYS or metric in EXPECTED_METRICS:
                    continue  # expected PPV / NPV are undefined exactly where PPV / NPV are
                out.append(bootstrap_undefined_caveat(e.attributes, metric, count, engine.n_boot))
    return out


#: How an inverted ranking is named in caveats (the reader's next step is in the text).
INVERTED_RANKING = (
    "Inverted ranking: AUROC below 0.5 with CI excluding 0.5 — check the card's positive "
    "class / label coding"
)
#: Groups named in the subgroup caveat before the rest are counted.
_MAX_INVERTED_NAMED = 5


def inverted_ranking_caveats(
    overall: GroupResult, subgroups: Sequence[GroupResult], *, confidence: float
) -> list[Caveat]:
    """AUROC whose interval lies wholly below 0.5: the model ranks the outcome the wrong way.

    That is rarely a property of the model and usually the wrong positive class in the card
    (``output.positive_class: 0``) or a label coded 1 = no event; the numbers are otherwise
    reported as if nothing were wrong. Said once for all patients (serious), and once for the
    released subgroups where it holds while all patients do not. Reads released groups only,
    so the in-memory, streamed and pooled audits share it.
    """

    def below(group: GroupResult) -> tuple[float, float, float] | None:
        mv = group.metrics.get("auroc") if not group.suppressed else None
        if mv is None:
            return None
        value, lo, hi = mv.value, mv.ci_low, mv.ci_high
        if any(x is None or not math.isfinite(x) for x in (value, lo, hi)) or hi >= 0.5:
            return None
        return float(value), float(lo), float(hi)

    level = f"{confidence:.0%} CI"
    whole = below(overall)
    if whole is not None:
        v, lo, hi = whole
        return [
            Caveat(
                code="inverted_ranking",
                severity="serious",
                message=(
                    f"{INVERTED_RANKING}: over all patients AUROC is {v:.3f} ({level} {lo:.3f} "
                    f"to {hi:.3f}), so patients with the event get lower scores than those "
                    "without. If the card's output.positive_class or the label (1 = the event) "
                    "is the wrong way round, fix it and re-run; every metric here depends on it."
                ),
                where={"group": "overall"},
            )
        ]
    named: list[str] = []
    n_found = 0
    for group in subgroups:
        hit = below(group)
        if hit is None:
            continue
        n_found += 1
        if len(named) < _MAX_INVERTED_NAMED:
            who = " & ".join(f"{k}={x}" for k, x in group.attributes.items())
            named.append(f"{who}: {hit[0]:.3f} ({hit[1]:.3f} to {hit[2]:.3f})")
    if not n_found:
        return []
    more = f", and {n_found - len(named)} more" if n_found > len(named) else ""
    return [
        Caveat(
            code="inverted_ranking",
            severity="warning",
            message=(
                f"{INVERTED_RANKING}: in {n_found} subgroup(s) AUROC is below 0.5 with a "
                f"{level} that excludes 0.5 ({'; '.join(named)}{more}), while over all "
                "patients it is not. Check how the label is coded in those groups (e.g. by "
                "site) before reading their other metrics."
            ),
            where={"n_groups": n_found},
        )
    ]


def _impossibility_note(engine, decision) -> list[Caveat]:
    """Kleinberg 2016 / Chouldechova 2017, stated where it bites: base rates that differ."""
    for p, part in enumerate(engine.partitions):
        if len(part.attributes) != 1:
            continue
        cis = [
            e.ci["prevalence"]
            for g, e in enumerate(engine.estimates[p])
            if not decision.hidden[p][g]
        ]
        if len(cis) >= 2 and max(lo for lo, _ in cis) > min(hi for _, hi in cis):
            return [
                Caveat(
                    code="fairness_impossibility",
                    severity="info",
                    message=(
                        "Outcome rates differ between groups (e.g. by "
                        f"{part.attributes[0]}). When base rates differ, a model cannot be "
                        "calibrated within every group and also have equal true- and false-"
                        "positive rates (equalized odds) across them (Kleinberg et al. 2016; "
                        "Chouldechova 2017): read calibration and error-rate gaps together."
                    ),
                )
            ]
    return []


def exact_methods(table: GroupTable, seed: int | None) -> dict[str, Any]:
    """How the exact engine's intervals, bootstrap and calibration were computed (settings)."""
    return {
        "disparity_ci_method": (
            "stratified bootstrap, percentile, of the difference (group - reference) and the "
            "ratio (group / reference) computed on the same replicate"
        ),
        "bootstrap": {
            "n_boot": table.n_boot,
            "seed": seed,
            "strata": "finest intersection of all sensitive attributes",
            "method": (
                "multinomial resampling of patients within each stratum over cells of "
                "(outcome x score bin); threshold metrics exact, ranking metrics and Brier "
                "on score bins, shifted to the exact point estimate"
            ),
            "score_bins": table.n_bins,
            "score_bins_exact": table.grid_exact,
            "auroc_bin_error_bound": table.auroc_bin_error_bound,
        },
        "fairness_summaries": "fairlearn definitions, over released groups only",
        "net_benefit_ci": dict(NB_CI_SETTINGS),
        "calibration": {
            "hierarchy": "Van Calster et al. 2016/2019: mean, weak (CITL, slope), moderate "
            "(flexible curve)",
            "smoother": "logistic regression of y on a restricted cubic spline of logit(p) "
            "(Harrell; 4 knots at the 5/35/65/95th percentiles of logit(p) within each group, "
            "fewer when logit(p) has few distinct values)",
            "clipping": "predictions clipped to [1e-8, 1 - 1e-8] before logit; count per group "
            "in calibration.clipped_predictions",
            "oe": "O/E = sum(y) / sum(p) (not E/O)",
            "citl": "intercept of logit P(y=1) = a + offset(logit p); > 0: under-prediction",
            "ece_bins": 10,
            "hosmer_lemeshow_groups": 10,
            "smoother_bootstrap": (
                f"ICI, E50, E90, Emax: the first {table.n_smooth} bootstrap replicates, "
                "smoother refitted per replicate on 64 score bins per outcome with the group's "
                "knots, centred on the exact estimate"
            ),
            "curve": "smoothed observed risk at predicted risk 0.01..0.99, pointwise Wald band "
            "on the logit scale; reported only where >= k patients lie on each side",
            **CURVE_SETTINGS,
        },
    }


def _settings(
    table: GroupTable,
    refs: Mapping[int, int],
    *,
    k: int,
    confidence: float,
    threshold: float,
    source: str | None,
    max_order: int,
    methods: Mapping[str, Any],
    disclosure_rules: Sequence[str],
) -> dict[str, Any]:
    return {
        "threshold": threshold,
        "threshold_source": source,
        "threshold_rule": "predicted positive iff score >= threshold",
        "threshold_grid": [float(t) for t in THRESHOLD_GRID],
        "confidence_level": confidence,
        "ci_methods": dict(table.ci_methods),
        "disparity_ci_method": methods["disparity_ci_method"],
        "bootstrap": methods["bootstrap"],
        "disclosure": {
            "min_cell": k,
            "rules": list(disclosure_rules),
            **disclosure_profile(k),
        },
        "references": _references(table, refs),
        "max_intersection_order": max_order,
        "imprecise_below_events": IMPRECISE_BELOW,
        "metric_definitions": "shared/REFERENCE.md (cohortaudit metric reference)",
        "fairness_summaries": methods["fairness_summaries"],
        "calibration": methods["calibration"],
        "decision_curve": {**DECISION_CURVE_SETTINGS, **methods.get("net_benefit_ci", {})},
        **(
            {"expected_error_rates": dict(EXPECTED_SETTINGS)}
            if any(m in table.rows[0][0].values for m in EXPECTED_METRICS)
            else {}
        ),
    }

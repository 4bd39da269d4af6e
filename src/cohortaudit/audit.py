"""``run_audit``: the pipeline from a validated cohort to an :class:`AuditResult`.

No I/O and no UI here: the CLI, the app and the report all call this one function and render
what it returns. Order of work: score -> per-group sufficient statistics and metrics ->
disclosure control -> disparities and fairness summaries -> caveats -> result.
"""

from __future__ import annotations

import math
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from cohortaudit import __version__
from cohortaudit.cohort import ordered_bin_labels
from cohortaudit.config import AuditConfig
from cohortaudit.disclosure import (
    CutOffCounts,
    apply_disclosure_control,
    cut_off_counts,
    disclosure_profile,
    protect_caveats,
)
from cohortaudit.errors import ConfigError
from cohortaudit.metrics.curves import (
    calibration_curve,
    calibration_table,
    decision_curve_rows,
    roc_and_pr,
)
from cohortaudit.metrics.fairness import (
    choose_references,
    compute_disparities,
    compute_fairness_summaries,
)
from cohortaudit.metrics.performance import THRESHOLD_METRICS
from cohortaudit.metrics.subgroups import (
    CI_METHODS,
    METRIC_KEYS,
    THRESHOLD_GRID,
    bootstrap_intervals,
    compute_point_estimates,
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
    from cohortaudit.card import ModelCard
    from cohortaudit.cohort import Cohort
    from cohortaudit.modelspec import LoadedModel
    from cohortaudit.policy import Policy
    from cohortaudit.testvectors import TestVectorReport

__all__ = ["run_audit", "card_facts", "IMPRECISE_BELOW"]

#: Fewer events (or non-events) than this flags a group's estimates as imprecise.
IMPRECISE_BELOW = 100
#: Curves (calibration, ROC, PR, decision, histogram) are exported for the whole cohort and
#: single-attribute groups; intersections carry metrics and the threshold grid only, which
#: keeps a wide audit's JSON small enough to file.
CURVES_UP_TO_ORDER = 1

ProgressCallback = Callable[[str, float], None]

_ENVIRONMENT_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "fairlearn",
    "onnx",
    "onnxruntime",
    "skl2onnx",
    "skops",
    "statsmodels",
    "shap",
    "streamlit",
    "plotly",
    "fpdf2",
)


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


def run_audit(
    cohort: Cohort,
    model: LoadedModel | None,
    config: AuditConfig,
    *,
    card: ModelCard | None = None,
    cohort_sha256: str | None = None,
    cohort_file: str | None = None,
    progress: ProgressCallback | None = None,
    test_vectors: TestVectorReport | None = None,
    policy: Policy | None = None,
    scores: np.ndarray | None = None,
    feature_cohort: Cohort | None = None,
) -> AuditResult:
    """Audit ``model`` on ``cohort``; ``model`` is None in scores mode.

    ``progress(stage, fraction)`` is called as work advances (the CLI draws a bar from it).
    ``test_vectors`` is the report of the card's test vectors when the caller already ran them
    (:func:`cohortaudit.pipeline.load_inputs` does); otherwise a card's vectors are run here,
    so no audit with a card skips them. A failing vector raises :class:`CardError`.
    ``policy`` rules are judged last, on the finished result (``result.policy``); the card's
    claimed metrics are checked against the overall estimates (``result.claims``).

    Streamed and Dask audits (:mod:`cohortaudit.streaming`) keep no feature frame: they pass
    the model's ``scores``, already computed chunk by chunk, and a ``feature_cohort`` (a seeded
    sample with features and scores) on which the safety checks and explanations run.
    """
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    report = progress or (lambda stage, frac: None)
    caveats: list[Caveat] = list(cohort.caveats)
    if policy is not None:  # a scope typo should cost a second, not a bootstrap
        from cohortaudit.policy import check_policy_scope

        check_policy_scope(
            policy,
            sensitive_features=config.sensitive_features,
            max_order=config.max_intersection_order,
        )

    report("scoring", 0.0)
    if model is not None and card is not None and test_vectors is None:
        from cohortaudit.testvectors import check_test_vectors

        test_vectors = check_test_vectors(card, model)
    if model is not None and scores is not None:
        y_score = np.asarray(scores, dtype=np.float64)
        if y_score.shape != (len(cohort.y_true),):
            raise ConfigError(
                f"The 'scores' parameter must hold one score per patient ({len(cohort.y_true)}). "
                f"Got shape {y_score.shape}."
            )
    elif model is not None:
        from cohortaudit.scoring import score

        y_score = score(model, cohort.features)
    elif cohort.y_score is not None:
        y_score = np.asarray(cohort.y_score, dtype=np.float64)
    else:
        raise ConfigError(
            "Nothing to audit: give a model (--model) or a column of predictions (--score-column)."
        )
    report("scoring", 1.0)
    y_true = np.asarray(cohort.y_true, dtype=np.int8)

    threshold, threshold_source = operating_threshold(config, card)
    n_extreme = int(np.sum((y_score <= 0.0) | (y_score >= 1.0)))
    if n_extreme:
        caveats.append(
            Caveat(
                code="extreme_predictions",
                severity="info",
                message=(
                    f"{n_extreme} predictions are exactly 0 or 1. They are used as given for "
                    "discrimination and threshold metrics; calibration fits clip them to "
                    "[1e-8, 1 - 1e-8]."
                ),
            )
        )

    groups_frame = cohort.groups[list(config.sensitive_features)]
    engine = compute_point_estimates(
        y_score,
        y_true,
        groups_frame,
        threshold=threshold,
        z=config.z,
        max_order=config.max_intersection_order,
        min_cell=config.min_cell,
    )
    decision = apply_disclosure_control(
        engine, k=config.min_cell, curves_up_to_order=CURVES_UP_TO_ORDER
    )
    engine = bootstrap_intervals(
        engine,
        y_score,
        y_true,
        released=[[not h for h in row] for row in decision.hidden],
        n_boot=config.n_boot,
        seed=config.seed,
        confidence=config.confidence,
        max_bins=config.boot_score_bins,
        progress=lambda done, total: report("bootstrap", done / total),
    )
    refs, ref_notes = choose_references(engine, decision.hidden, config.reference)
    caveats.extend(Caveat("reference_fallback", "warning", note) for note in ref_notes)
    disparities = compute_disparities(
        engine, decision.hidden, decision.confusion_hidden, refs, confidence=config.confidence
    )
    fairness = compute_fairness_summaries(
        engine, decision.confusion_hidden, confidence=config.confidence
    )

    groups: list[GroupResult] = []
    for p, row in enumerate(engine.estimates):
        for g, est in enumerate(row):
            groups.append(_group_result(est, decision, p, g, z=config.z, k=config.min_cell))
    overall, subgroups = groups[0], tuple(groups[1:])
    caveats.extend(_statistical_caveats(engine, decision, config, overall, subgroups))

    settings = _settings(engine, config, threshold, threshold_source, refs)
    model_info = _model_info(model, card, config, test_vectors=test_vectors)
    n_input_rows, n_excluded = _released_exclusions(
        cohort.n_input_rows, cohort.n_dropped, config.min_cell
    )
    cohort_info = CohortInfo(
        sha256=cohort_sha256,
        file=cohort_file,
        n=overall.n,
        events=overall.events,
        n_input_rows=n_input_rows,
        n_excluded=n_excluded,
        label=config.label,
        sensitive_features=config.sensitive_features,
    )
    claims = ()
    if card is not None and card.claimed_metrics:
        from cohortaudit.claims import CLAIMS_RULE, check_claims

        claims = check_claims(card.claimed_metrics, overall, confidence=config.confidence)
        settings["claims_rule"] = CLAIMS_RULE
    if policy is not None:
        settings["policy"] = policy.to_dict()
    safety_block = None
    if config.safety:
        from cohortaudit.checks import run_safety

        if feature_cohort is None:
            safety_block = run_safety(cohort, model, card, config, y_score, threshold, report)
        else:
            sample_scores = np.asarray(feature_cohort.y_score, dtype=np.float64)
            safety_block = run_safety(
                feature_cohort, model, card, config, sample_scores, threshold, report
            )
    explanations = None
    checked = cohort if feature_cohort is None else feature_cohort
    if config.explain and model is not None and checked.features is not None:
        from cohortaudit.checks import explain_reference, run_explanations

        explanations = run_explanations(checked, model, config, explain_reference(settings), report)
    elif config.explain:
        caveats.append(
            Caveat(
                code="explanations_need_model",
                severity="info",
                message=(
                    "Explanations were requested but this is a scores-mode audit: SHAP values "
                    "need the model itself. Audit with --model to explain it."
                ),
            )
        )
    report("done", 1.0)
    result = AuditResult(
        model=model_info,
        cohort=cohort_info,
        config=config.to_dict(),
        settings=settings,
        overall=overall,
        subgroups=subgroups,
        disparities=disparities,
        fairness=fairness,
        disclosure_log=decision.log,
        caveats=protect_caveats(
            caveats,
            config.min_cell,
            suppressed_groups=[g.attributes for g in subgroups if g.suppressed],
            column_counts=_released_column_counts(subgroups, safety_block, config.bins),
        ),
        tool={"name": "cohortaudit", "version": __version__},
        run={
            "started_at": started_at,
            "duration_seconds": round(time.perf_counter() - started, 3),
            "host": platform.node(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": _package_versions(),
        },
        claims=claims,
        explanations=explanations,
        safety=safety_block,
    )
    if policy is None:
        return result
    from cohortaudit.policy import evaluate_policy

    return replace(result, policy=evaluate_policy(policy, result))


def operating_threshold(config: AuditConfig, card: ModelCard | None) -> tuple[float, str]:
    """The threshold a patient is predicted positive at, and where it came from: the
    configuration (--threshold), else the card's operating threshold, else 0.5 (shared by
    single-site audits and site exports, so both read the same threshold)."""
    if config.threshold is not None:
        return config.threshold, "configuration"
    card_t = getattr(card, "operating_threshold", None) if card is not None else None
    if card_t is not None:
        return float(card_t), "model card"
    return 0.5, "default (0.5)"


def _group_result(est, decision, p: int, g: int, *, z: float, k: int) -> GroupResult:
    if decision.hidden[p][g]:
        return GroupResult(
            attributes=dict(est.attributes),
            n=None,
            events=None,
            suppressed=True,
            metrics={},
            suppression_reason=decision.reasons.get((p, g), "suppressed"),
            confusion={},
        )
    withheld = (
        tuple(m for m in METRIC_KEYS if m in THRESHOLD_METRICS)
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
        if withheld
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
        calibration_curve=calibration_curve(cal, est.support, z),
        calibration_table=tuple(
            calibration_table(
                est.ece_table, k, hidden=(decision.calibration_hidden or {}).get((p, g))
            )
        ),
        risk_histogram=_released_histogram(est.risk_histogram, decision, p, g),
        roc_curve=roc,
        pr_curve=pr,
        decision_curve=tuple(decision_curve_rows(thresholds, grid, est.n, est.events)),
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


def _released_exclusions(
    n_input_rows: int | None, n_excluded: int | None, k: int
) -> tuple[int | None, int | None]:
    """Rows read and rows excluded, both withheld when 1..k-1 rows were excluded (either
    one, with the released cohort size, gives the other back)."""
    if k > 0 and n_excluded is not None and 0 < n_excluded < k:
        return None, None
    return n_input_rows, n_excluded


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


def _finite(x: Any) -> float | None:
    """A JSON-safe float: None for missing, NaN or infinite values."""
    if x is None:
        return None
    x = float(x)
    return float(f"{x:.12g}") if math.isfinite(x) else None


def _statistical_caveats(
    engine, decision, config: AuditConfig, overall: GroupResult, subgroups: Sequence[GroupResult]
) -> list[Caveat]:
    out: list[Caveat] = []
    for p, row in enumerate(engine.estimates):
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
    out.extend(_impossibility_note(engine, decision))
    out.extend(inverted_ranking_caveats(overall, subgroups, confidence=config.confidence))
    n_suppressed = sum(h for row in decision.hidden[1:] for h in row)
    if n_suppressed:
        out.append(
            Caveat(
                code="groups_suppressed",
                severity="info",
                message=(
                    f"{n_suppressed} subgroups are not evaluable (fewer than {config.min_cell} "
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
    if imprecise:
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
    for p, row in enumerate(engine.estimates):
        for g, e in enumerate(row):
            if decision.hidden[p][g]:
                continue
            for metric, count in sorted(e.undefined_replicates.items()):
                if metric in THRESHOLD_METRICS and decision.confusion_hidden[p][g]:
                    continue
                if metric not in METRIC_KEYS:
                    continue
                out.append(
                    Caveat(
                        code="bootstrap_undefined",
                        severity="warning" if count > engine.n_boot * 0.05 else "info",
                        message=(
                            f"{metric}: {count} of {engine.n_boot} bootstrap replicates were "
                            "undefined for this group (a replicate drew no patients of one "
                            "outcome); intervals use the remaining replicates."
                        ),
                        where=dict(e.attributes) or {"group": "overall"},
                    )
                )
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


def _settings(engine, config: AuditConfig, threshold: float, source: str, refs) -> dict[str, Any]:
    references = [
        {
            "attributes": list(engine.partitions[p].attributes),
            "reference": engine.partitions[p].attributes_of(g),
        }
        for p, g in sorted(refs.items())
    ]
    return {
        "threshold": threshold,
        "threshold_source": source,
        "threshold_rule": "predicted positive iff score >= threshold",
        "threshold_grid": [float(t) for t in THRESHOLD_GRID],
        "confidence_level": config.confidence,
        "ci_methods": dict(CI_METHODS),
        "disparity_ci_method": (
            "stratified bootstrap, percentile, of the difference (group - reference) and the "
            "ratio (group / reference) computed on the same replicate"
        ),
        "bootstrap": {
            "n_boot": engine.n_boot,
            "seed": config.seed,
            "strata": "finest intersection of all sensitive attributes",
            "method": (
                "multinomial resampling of patients within each stratum over cells of "
                "(outcome x score bin); threshold metrics exact, ranking metrics and Brier "
                "on score bins, shifted to the exact point estimate"
            ),
            "score_bins": engine.n_bins,
            "score_bins_exact": engine.grid_exact,
            "auroc_bin_error_bound": engine.auroc_bin_error_bound,
        },
        "disclosure": {
            "min_cell": config.min_cell,
            "rules": [
                "1: a group is released only with >= k events and >= k non-events",
                "2: confusion counts and threshold metrics withheld when a cell is < k",
                "3: secondary suppression of siblings so withheld groups cannot be derived",
                "3 (one pass over every released table: groups, confusion counts, threshold "
                "grid, histogram and calibration bins, intended-use counts, SHAP bins and group "
                "sizes): parent - sum(released children) is 0 or >= k, and a lone withheld "
                "child is never left derivable",
                "4: threshold grid thinned per group: neighbouring released thresholds (the "
                "operating threshold included) differ by 0 or >= k patients in tp and in fp",
                "5: caveats: counts in 1..k-1 read 'fewer than k'; sizes of suppressed groups "
                "are not stated",
            ],
            **disclosure_profile(config.min_cell),
        },
        "references": references,
        "max_intersection_order": config.max_intersection_order,
        "imprecise_below_events": IMPRECISE_BELOW,
        "metric_definitions": "shared/REFERENCE.md (cohortaudit metric reference)",
        "fairness_summaries": "fairlearn definitions, over released groups only",
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
                f"ICI, E50, E90, Emax: the first {engine.n_smooth} bootstrap replicates, "
                "smoother refitted per replicate on 64 score bins per outcome with the group's "
                "knots, centred on the exact estimate"
            ),
            "curve": "smoothed observed risk at predicted risk 0.01..0.99, pointwise Wald band "
            "on the logit scale; reported only where >= k patients lie on each side",
            **CURVE_SETTINGS,
        },
        "decision_curve": dict(DECISION_CURVE_SETTINGS),
    }


def _model_info(
    model, card, config: AuditConfig, *, test_vectors: TestVectorReport | None = None
) -> ModelInfo:
    if model is None:
        return ModelInfo(
            kind="scores",
            sha256=None,
            file=None,
            name=getattr(card, "name", None),
            version=getattr(card, "version", None),
            inputs=(config.score_column,) if config.score_column else (),
            card=card_facts(card),
        )
    card_path = getattr(card, "path", None)
    return ModelInfo(
        kind=model.kind,
        sha256=model.sha256,
        file=model.path.name,
        name=getattr(card, "name", None),
        version=getattr(card, "version", None),
        inputs=tuple(i.name for i in model.inputs),
        card_sha256=getattr(card, "sha256", None),
        card_file=card_path.name if card_path is not None else None,
        metadata=_plain(model.metadata),
        test_vectors=test_vectors.to_dict() if test_vectors is not None else None,
        card=card_facts(card),
    )


def card_facts(card: ModelCard | None) -> dict[str, Any]:
    """The card's facts a reader needs beside the numbers, as plain sorted JSON ({} if no card).

    Stored in the result so that the dashboard and reports never re-read the card file (and a
    result opened later still says what the model is for and what its developer claimed).
    """
    if card is None:
        return {}
    crr = card.clinically_relevant_range
    facts = {
        "developer": card.developer,
        "contact": card.contact,
        "license": card.license,
        "intended_use": card.intended_use,
        "intended_population": _plain(dict(card.intended_population or {})),
        "outcome": _plain(dict(card.outcome or {})),
        "output_meaning": card.output_meaning,
        "operating_threshold": _finite(card.operating_threshold),
        "clinically_relevant_range": [_finite(crr[0]), _finite(crr[1])] if crr else None,
        "claimed_metrics": _plain(dict(card.claimed_metrics or {})),
        "development_data": _plain(dict(card.development_data or {})),
    }
    return dict(sorted(facts.items()))


def _plain(obj: Any) -> Any:
    """JSON-safe copy of model metadata (keys as strings, sorted for byte-identical output)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None  # NaN/inf are not JSON
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _package_versions() -> dict[str, str]:
    out = {}
    for name in _ENVIRONMENT_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out

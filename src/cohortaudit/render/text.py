"""Plain-text renderings for the terminal: the audit summary and ``cohortaudit inspect``."""

from __future__ import annotations

from typing import Any

from cohortaudit.registry import METRICS
from cohortaudit.registry import keys as registry_keys
from cohortaudit.render.outcome import horizon_text, is_time_to_event, survival_label
from cohortaudit.results import AuditResult, MetricValue
from cohortaudit.textsafe import for_terminal

__all__ = [
    "summary_text",
    "findings_lines",
    "model_text",
    "format_metric",
    "untested_disparities_note",
    "METRIC_LABELS",
]

#: Display label of every metric key, in the result's order (from the metric registry).
METRIC_LABELS = {k: m.label for k, m in METRICS.items()}

_SUMMARY_METRICS = ("auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "brier")


def _case_mix_tag(d) -> str:
    """The tag after an error-rate gap whose part beyond case mix has an interval including 0:
    a perfectly calibrated model would show that gap too (issue 19)."""
    b = d.case_mix is not None and d.beyond_case_mix
    if not b or b.ci_low is None or b.ci_high is None:
        return ""
    return "  (case mix)" if b.ci_low <= 0.0 <= b.ci_high else ""


def format_metric(v: MetricValue, digits: int = 3) -> str:
    """``0.781 (0.772 to 0.790)``; ``n/a`` for undefined or withheld values."""
    if v.value is None:
        return "n/a"
    if v.ci_low is None or v.ci_high is None:
        return f"{v.value:.{digits}f}"
    return f"{v.value:.{digits}f} ({v.ci_low:.{digits}f} to {v.ci_high:.{digits}f})"


def untested_disparities_note(result: AuditResult) -> str | None:
    """The sentence to say when groups were compared but no difference has an interval.

    With ``--n-boot 0`` no confidence interval exists, so "no disparity whose CI excludes 0"
    would be read as a clean bill of health that was never tested. The CLI summary, the
    report's findings and the dashboard all say this one sentence instead; None when at least
    one difference has an interval (or nothing was compared).
    """
    compared = [
        d
        for d in result.disparities
        if d.reference_kind == "group" and d.difference.value is not None
    ]
    if not compared or any(
        d.difference.ci_low is not None and d.difference.ci_high is not None for d in compared
    ):
        return None
    n_boot = (result.settings.get("bootstrap") or {}).get("n_boot")
    why = f" ({n_boot} bootstrap replicates)" if n_boot is not None else ""
    return (
        f"Disparities were not tested: no confidence intervals were computed{why}, so no "
        f"difference between groups ({len(compared)} comparisons) can be called real or ruled "
        "out. Re-run with bootstrap replicates (--n-boot 1000, the default) to test them."
    )


def summary_text(result: AuditResult, *, top: int = 6) -> str:
    if is_time_to_event(result):
        return _survival_summary_text(result, top=top)
    m, c, s = result.model, result.cohort, result.settings
    name = " ".join(x for x in (m.name, m.version) if x) or (m.file or "predictions")
    lines = [f"cohortaudit {result.tool['version']}: audit of {name}"]
    if result.disclosure_banner:
        lines.append(f"  !! {result.disclosure_banner.upper()} !!")
    if m.sha256:
        lines.append(f"  model   {m.file}  sha256 {m.sha256[:16]}...")
        tv = getattr(m, "test_vectors", None)
        if tv:
            lines.append(
                f"  test vectors  {tv['count']} pass (largest difference "
                f"{tv['max_abs_diff']:.3g}, tolerance {tv['tolerance']:g})"
            )
    else:
        lines.append(f"  scores  column '{m.inputs[0] if m.inputs else '?'}' (no model run)")
    if c.n is not None and c.events is not None:
        lines.append(
            f"  cohort  {c.file}  {c.n:,} patients, {c.events:,} events "
            f"({c.events / c.n:.1%}); "
            + (
                f"{c.n_excluded or 0:,} rows excluded"
                if c.n_excluded is not None or c.n_input_rows is not None
                else f"fewer than {s['disclosure']['min_cell']} rows excluded (withheld)"
            )
        )
    else:
        lines.append(f"  cohort  {c.file}  (counts suppressed: fewer than k events)")
    lines.append(
        f"  threshold {s['threshold']:g} ({s['threshold_source']}), positive iff score >= "
        f"threshold; {s['bootstrap']['n_boot']} bootstrap replicates; k = "
        f"{s['disclosure']['min_cell']}"
    )
    lines.append("")
    lines.append(f"Overall{'':<22}value (95% CI)")
    for key in _SUMMARY_METRICS:
        v = result.overall.metrics.get(key)
        if v is not None:
            lines.append(f"  {METRIC_LABELS[key]:<27}{format_metric(v)}")
    notable = [
        d
        for d in result.disparities
        if d.reference_kind == "group"
        and len(d.group) == 1
        and d.difference.ci_low is not None
        and d.difference.ci_high is not None
        and (d.difference.ci_low > 0 or d.difference.ci_high < 0)
        and d.metric in ("auroc", "sensitivity", "specificity", "ppv", "fpr", "selection_rate")
    ]
    notable.sort(key=lambda d: -abs(d.difference.value or 0))
    lines.append("")
    if notable:
        lines.append("Largest disparities vs the reference group (95% CI excludes 0):")
        for d in notable[:top]:
            g = ", ".join(f"{k}={v}" for k, v in d.group.items())
            r = ", ".join(f"{k}={v}" for k, v in d.reference.items())
            lines.append(
                f"  {METRIC_LABELS[d.metric]:<20}{g:<22} vs {r:<20} {format_metric(d.difference)}"
                + _case_mix_tag(d)
            )
    else:
        lines.append(
            untested_disparities_note(result)
            or "No single-attribute disparity whose 95% CI excludes 0."
        )
    lines.extend(findings_lines(result))
    n_sup = sum(g.suppressed for g in result.subgroups)
    lines.append("")
    if result.disclosure_controlled:
        lines.append(
            f"Subgroups: {len(result.subgroups) - n_sup} evaluated, {n_sup} not evaluable "
            f"(suppressed, fewer than {s['disclosure']['min_cell']} events or non-events)"
        )
    else:
        lines.append(
            f"Subgroups: {len(result.subgroups)} evaluated; disclosure control off (k = 0), "
            f"nothing withheld: {result.disclosure_banner}"
        )
    by_sev: dict[str, int] = {}
    for cv in result.caveats:
        by_sev[cv.severity] = by_sev.get(cv.severity, 0) + 1
    if result.caveats:
        counts = ", ".join(f"{n} {sev}" for sev, n in sorted(by_sev.items()))
        lines.append(f"Caveats: {counts}")
        for cv in result.caveats:
            if cv.severity == "serious":
                lines.append(f"  ! {cv.message}")
    return _terminal_lines(lines)


def findings_lines(result: AuditResult) -> list[str]:
    """The end-of-audit summary's findings: the ones that matter most, then what case mix
    explains and how many more the report lists (all read from ``result.findings``)."""
    top = result.headline_findings()
    lines = [""]
    if not top:
        lines.append("Findings: none of high or medium severity (all findings: the report's annex).")
        return lines
    lines.append("Findings that matter most (severity; all findings: the report's annex):")
    for f in top:
        lines.append(f"  {f.severity.upper():<7}{f.summary}")
        lines.append(f"  {'':<7}-> {f.action}")
    case_mix = result.findings_of("case_mix")
    if case_mix:
        lines.append(
            f"  {len(case_mix)} error-rate differences are explained by case mix (not problems)."
        )
    rest = len([f for f in result.findings if f.is_problem]) - len(top)
    if rest:
        lines.append(f"  {rest} further findings of lower severity are in the report.")
    return lines


def _provenance_lines(md: dict[str, Any], indent: str = "") -> list[str]:
    """Opsets, producer, IR version and operator counts (``io.py`` metadata or a card's record)."""
    lines = []
    if md.get("producer_name") or md.get("producer_version"):
        producer = " ".join(str(md[k]) for k in ("producer_name", "producer_version") if md.get(k))
        lines.append(f"{indent}Producer  {producer}")
    if md.get("opsets"):
        opsets = ", ".join(f"{k} {v}" for k, v in sorted(md["opsets"].items()))
        lines.append(f"{indent}Opsets    {opsets}")
    if md.get("ir_version") is not None:
        lines.append(f"{indent}IR        {md['ir_version']}")
    if md.get("operator_counts"):
        ops = ", ".join(f"{k} x{v}" for k, v in sorted(md["operator_counts"].items()))
        lines.append(f"{indent}Operators {ops}")
    if md.get("estimator"):
        lines.append(f"{indent}Estimator {md['estimator']}")
    return lines


def _training_lines(training: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in training.items():
        if isinstance(value, dict):
            lines.append(f"  training {key}:")
            lines.extend(f"    {k}: {v}" for k, v in value.items())
        else:
            lines.append(f"  training {key}: {value}")
    return lines


def model_text(model: Any, card: Any | None, *, test_vectors: Any | None = None) -> str:
    """What ``cohortaudit inspect`` prints: identity, inputs, output, provenance, card.

    ``test_vectors`` is the :class:`~cohortaudit.testvectors.TestVectorReport` of a check that
    passed, shown with the card.
    """
    lines = [f"Model   {model.path.name} ({model.kind})", f"SHA-256 {model.sha256}"]
    md = model.metadata or {}
    lines.extend(_provenance_lines(md))
    if model.tensor_input:
        lines.append(
            f"Input   one float tensor '{model.tensor_input_name}' [N, {len(model.inputs)}]"
        )
    lines.append("Inputs (cohort columns):")
    card_inputs = {i.name: i for i in getattr(card, "inputs", ())} if card is not None else {}
    for spec in model.inputs:
        ci = card_inputs.get(spec.name)
        extra = ""
        if ci is not None:
            if ci.unit:
                extra += f" [{ci.unit}]"
            if ci.min is not None or ci.max is not None:
                extra += f" range {ci.min} to {ci.max}"
            if ci.categories:
                extra += f" categories {', '.join(str(c) for c in ci.categories)}"
        lines.append(f"  {spec.name:<16}{spec.kind:<8}{extra}")
    lines.append(f"Output  '{model.probability_output}', positive class {model.positive_class!r}")
    if card is not None:
        lines.append("")
        lines.append(f"Card    {card.name} {card.version} by {card.developer}")
        if getattr(card, "intended_use", None):
            lines.append(f"  intended use: {card.intended_use}")
        if getattr(card, "operating_threshold", None) is not None:
            lines.append(f"  operating threshold: {card.operating_threshold}")
        if getattr(card, "training", None):
            lines.extend(_training_lines(card.training))
        if card.model_sha256:
            lines.append(f"  card's model SHA-256 {card.model_sha256} (matches)")
        recorded = ((getattr(card, "raw", None) or {}).get("model") or {}).get("architecture")
        if recorded:
            lines.append("  architecture recorded in the card:")
            lines.extend(_provenance_lines(recorded, indent="    "))
        vectors = (getattr(card, "raw", None) or {}).get("test_vectors")
        if test_vectors is not None:
            lines.append(
                f"  test vectors: {test_vectors.count} pass (largest difference "
                f"{test_vectors.max_abs_diff:.3g}, tolerance {test_vectors.tolerance:g}, "
                f"reference {_short_reference(test_vectors.reference)})"
            )
        elif vectors:
            lines.append(f"  test vectors: {vectors.get('n')} (not run)")
        else:
            lines.append("  test vectors: none in the card (the model's behaviour is unchecked)")
    return _terminal_lines(lines)


def _terminal_lines(lines: list[str]) -> str:
    """One printed line per entry: names from the cohort, model or card cannot add a line,
    move the cursor or reorder text (control, bidi and zero-width characters removed)."""
    return "\n".join(for_terminal(line) for line in lines)


def _short_reference(reference: str | None) -> str:
    if not reference or ":" not in reference:
        return reference or "unknown"
    kind, sha = reference.split(":", 1)
    return f"{kind} {sha[:12]}..."


#: Labels of the calibration and utility metrics (the performance metrics' are METRIC_LABELS).
CAL_LABELS = {
    k: (METRICS[k].label, METRICS[k].meaning)
    for k in (*registry_keys("calibration"), *registry_keys("utility"))
}


def metric_name(key: str) -> str:
    """The registry label of a metric key; a time-to-event key its label
    (:data:`~cohortaudit.render.outcome.SURVIVAL_LABELS`); other keys get their words
    (``"net_benefit"``)."""
    if key in METRICS:
        return METRICS[key].label
    return survival_label(key) or key.replace("_", " ")


def survival_metric_name(key: str) -> str:
    """The label a time-to-event report gives ``key`` ("Brier score (IPCW)")."""
    return survival_label(key) or metric_name(key)


#: Time-to-event metrics of the terminal summary, in the order a clinician reads them.
_SURVIVAL_SUMMARY_METRICS = (
    "observed_risk",
    "expected_risk",
    "oe_ratio",
    "harrell_c",
    "uno_c",
    "auc_t",
    "calibration_slope",
    "brier",
    "scaled_brier",
    "sensitivity",
    "specificity",
)
#: Disparities the terminal summary of a time-to-event audit lists when their CI excludes 0.
_SURVIVAL_NOTABLE = (
    "harrell_c",
    "auc_t",
    "oe_ratio",
    "calibration_slope",
    "sensitivity",
    "specificity",
    "ppv",
    "fpr",
    "selection_rate",
)


def _survival_summary_text(result: AuditResult, *, top: int) -> str:
    """The terminal summary of a time-to-event audit: the horizon and its counts first."""
    m, c, s, o = result.model, result.cohort, result.settings, result.overall
    name = " ".join(x for x in (m.name, m.version) if x) or (m.file or "predictions")
    k = s["disclosure"]["min_cell"]
    lines = [f"cohortaudit {result.tool['version']}: time-to-event audit of {name}"]
    if result.disclosure_banner:
        lines.append(f"  !! {result.disclosure_banner.upper()} !!")
    if m.sha256:
        lines.append(f"  model   {m.file}  sha256 {m.sha256[:16]}...")
    else:
        lines.append(f"  scores  column '{m.inputs[0] if m.inputs else '?'}' (no model run)")
    cfg = result.config
    lines.append(
        f"  outcome risk of the event by the horizon {horizon_text(result)} (time column "
        f"'{cfg.get('time', '?')}', event column '{cfg.get('event', '?')}'); censored at the "
        "horizon = event-free"
    )
    sv = o.survival or {}

    def count(x) -> str:
        return f"{x:,}" if isinstance(x, int) else f"withheld (fewer than {k})"

    lines.append(
        f"  cohort  {c.file or '—'}  {count(c.n)} patients, {count(o.events)} events by the "
        "horizon, "
        f"{count(sv.get('censored_before'))} censored before it, "
        f"{count(sv.get('at_risk'))} at risk at it"
    )
    fu = o.metrics.get("median_follow_up")
    if fu is not None and fu.value is not None:
        unit = (s.get("outcome") or {}).get("time_unit") or "time units"
        lines.append(f"  median follow-up {fu.value:.2f} {unit} (reverse Kaplan-Meier)")
    obs, exp_ = o.metrics.get("observed_risk"), o.metrics.get("expected_risk")
    if obs is not None and exp_ is not None and obs.value is not None and exp_.value is not None:
        ci = (
            f" ({obs.ci_low:.1%} to {obs.ci_high:.1%})"
            if obs.ci_low is not None and obs.ci_high is not None
            else ""
        )
        lines.append(
            f"  risk by the horizon: observed {obs.value:.1%}{ci} vs expected (mean predicted) "
            f"{exp_.value:.1%}"
        )
    lines.append(
        f"  threshold {s['threshold']:g} ({s['threshold_source']}), positive iff risk >= "
        f"threshold; {s['bootstrap']['n_boot']} bootstrap replicates; k = {k}"
    )
    lines.append("")
    lines.append(f"Overall, at the horizon{'':<13}value (95% CI)")
    for key in _SURVIVAL_SUMMARY_METRICS:
        v = o.metrics.get(key)
        if v is not None:
            lines.append(f"  {survival_metric_name(key):<34}{format_metric(v)}")
    lines.append("  (sensitivity and specificity: cumulative/dynamic, IPCW)")
    notable = [
        d
        for d in result.disparities
        if d.reference_kind == "group"
        and len(d.group) == 1
        and d.difference.ci_low is not None
        and d.difference.ci_high is not None
        and (d.difference.ci_low > 0 or d.difference.ci_high < 0)
        and d.metric in _SURVIVAL_NOTABLE
    ]
    notable.sort(key=lambda d: -abs(d.difference.value or 0))
    lines.append("")
    if notable:
        lines.append("Largest disparities vs the reference group (95% CI excludes 0):")
        for d in notable[:top]:
            g = ", ".join(f"{a}={v}" for a, v in d.group.items())
            r = ", ".join(f"{a}={v}" for a, v in d.reference.items())
            lines.append(
                f"  {survival_metric_name(d.metric):<20}{g:<22} vs {r:<20} "
                f"{format_metric(d.difference)}"
            )
    else:
        lines.append(
            untested_disparities_note(result)
            or "No single-attribute disparity whose 95% CI excludes 0."
        )
    lines.extend(findings_lines(result))
    n_sup = sum(g.suppressed for g in result.subgroups)
    lines.append("")
    lines.append(
        f"Subgroups: {len(result.subgroups) - n_sup} evaluated, {n_sup} not evaluable "
        f"(suppressed by disclosure control, k = {k})"
        if result.disclosure_controlled
        else f"Subgroups: {len(result.subgroups)} evaluated; disclosure control off (k = 0), "
        f"nothing withheld: {result.disclosure_banner}"
    )
    by_sev: dict[str, int] = {}
    for cv in result.caveats:
        by_sev[cv.severity] = by_sev.get(cv.severity, 0) + 1
    if result.caveats:
        lines.append("Caveats: " + ", ".join(f"{n} {sev}" for sev, n in sorted(by_sev.items())))
        for cv in result.caveats:
            if cv.severity == "serious":
                lines.append(f"  ! {cv.message}")
    return _terminal_lines(lines)

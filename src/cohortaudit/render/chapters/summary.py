"""Chapter "Summary of findings": the plain-language findings first, then the key numbers."""

from __future__ import annotations

from cohortaudit.render.chapters.common import (
    count_text,
    group_cell,
    int_text,
    min_cell,
    operating_row,
    vector_status_sentence,
)
from cohortaudit.render.document import Bullets, Para, Section, Table, ref
from cohortaudit.render.findings import (
    format_estimate,
    group_label,
    top_reliance_rows,
    verdict_summary,
)
from cohortaudit.render.outcome import horizon_text, is_time_to_event, time_unit
from cohortaudit.render.text import metric_name, survival_metric_name
from cohortaudit.results import (
    AuditResult,
    MetricValue,
)


def chapter(result: AuditResult) -> list[Section]:
    """The one-page summary: verdict, findings, caveats, and a table of the key numbers."""
    c, o = result.cohort, result.overall
    conf = float(result.settings.get("confidence_level", 0.95))
    name = result.model.display_name
    s = Section("Summary of findings", new_page=True, anchor="summary")
    if result.disclosure_banner:
        s.blocks.append(
            Para(
                f"{result.disclosure_banner.upper()}. This audit ran with disclosure control off "
                "(k = 0, --min-cell 0): small groups, small cells and zero cells are released "
                f"(section {ref('disclosure')}). It is meant for an authorised reproduction only.",
                "limitation",
            )
        )
    tte = is_time_to_event(result)
    s.blocks.append(
        Para(
            f"This report audits {name} on {int_text(c.n)} patients ({int_text(c.events)} with the "
            f"outcome '{c.label}') for differences in performance and calibration between groups "
            f"defined by {', '.join(c.sensitive_features) or 'no sensitive attribute'}. "
            f"Every estimate is followed by its {conf:.0%} confidence interval in brackets. "
            "Plain-language findings come first; the numbers behind them are in sections "
            f"{ref('discrimination')} to {ref('fairness')}."
        )
        if not tte
        else Para(
            f"This report audits {name}, a model of the risk of an event by {horizon_text(result)}, "
            f"on {int_text(c.n)} patients with censored follow-up ({int_text(o.events)} events by "
            "the horizon) for differences in performance and calibration between groups defined "
            f"by {', '.join(c.sensitive_features) or 'no sensitive attribute'}. Patients censored "
            "before the horizon are handled by Kaplan–Meier and inverse probability of "
            "censoring weights, never counted as event-free. Every estimate is followed by its "
            f"{conf:.0%} confidence interval in brackets. Plain-language findings come first; "
            f"the numbers behind them are in sections {ref('discrimination')} to "
            f"{ref('fairness')}."
        )
    )
    policy = getattr(result, "policy", None)
    if policy:
        fails = [p for p in policy if p.outcome == "fail"]
        s.blocks.append(
            Para(
                f"Audit policy: {len(fails)} of {len(policy)} rule-and-group verdicts fail"
                + (
                    f" — the model FAILS the audit policy (section {ref('policy')})."
                    if fails
                    else f"; no rule fails (section {ref('policy')})."
                ),
                "limitation" if fails else "finding",
            )
        )
    else:
        s.blocks.append(
            Para(
                "No audit policy was given, so no pass/fail verdict is stated "
                f"(section {ref('policy')}).",
                "note",
            )
        )
    if tte:
        s.blocks.append(Para(_survival_headline(result), "finding"))
    v = verdict_summary(result, per_attribute=3)
    s.blocks.append(Para(v.headline, "finding"))
    if v.findings:
        s.blocks.append(Bullets([f.sentence for f in v.findings]))
    if v.calibration_headline:
        s.blocks.append(Para(v.calibration_headline, "finding"))
    if v.calibration:
        s.blocks.append(Bullets([f.sentence for f in v.calibration]))
    for note in v.notes:
        s.blocks.append(Para(note, "note"))
    serious = [cv for cv in result.caveats if cv.severity == "serious"]
    if serious:
        s.blocks.append(Para(f"Serious caveats (see section {ref('limitations')}):", "finding"))
        s.blocks.append(Bullets([cv.message for cv in serious], "limitation"))
    n_warn = sum(cv.severity == "warning" for cv in result.caveats)
    s.blocks.append(
        Para(
            f"Model identity: {vector_status_sentence(result)} Caveats: {len(serious)} serious, "
            f"{n_warn} warnings, {len(result.caveats) - len(serious) - n_warn} for information "
            f"(section {ref('limitations')}). {_checks_sentence(result)}"
        )
    )
    if tte:
        s.blocks.append(_survival_key_numbers(result))
        return [s]
    keys = [
        "auroc",
        "auprc",
        "sensitivity",
        "specificity",
        "ppv",
        "npv",
        "brier",
        "oe_ratio",
        "citl",
        "calibration_slope",
        "ici",
    ]
    rows = [[metric_name(k), group_cell(result, o, k)] for k in keys if k in o.metrics]
    nb = operating_row(result, o)
    if nb is not None and nb.get("net_benefit") is not None:
        rows.append(
            [
                f"Net benefit at the operating threshold {result.settings.get('threshold'):g}",
                f"{nb['net_benefit']:.3f} (treat all: {nb['net_benefit_treat_all']:.3f}; no CI)",
            ]
        )
    s.blocks.append(
        Table(
            ["Whole cohort", f"Estimate ({conf:.0%} CI)"],
            rows,
            [0.5, 0.5],
            ["L", "L"],
            caption="Key numbers for all patients.",
            font_size=8.5,
        )
    )
    return [s]


def _checks_sentence(result: AuditResult) -> str:
    """What the explanations and safety chapters hold, in one sentence for the summary."""

    parts = []
    sf = result.safety
    if sf:
        units = [f for f in sf.get("shift", []) if f["statistic"] == "median_ratio"]
        n_slices = len(sf.get("weak_slices", []))
        bits = []
        if units:
            bits.append(
                f"{len(units)} likely unit change"
                + ("s" if len(units) > 1 else "")
                + " ("
                + ", ".join(f"{f['feature']} at {group_label(f['group'])}" for f in units)
                + ")"
            )
        bits.append(f"{n_slices} weak slice{'s' if n_slices != 1 else ''} found by search")
        parts.append(f"Safety (section {ref('safety')}): " + "; ".join(bits) + ".")
    else:
        parts.append(f"Safety checks were not run (section {ref('safety')}).")
    e = result.explanations
    if e:
        top = top_reliance_rows(e, 1)
        if top:
            r = top[0]
            more = "more" if r["difference"]["value"] > 0 else "less"
            parts.append(
                f"Explanations (section {ref('explanations')}): the largest reliance difference is on "
                f"{r['feature']} for {r['attribute']} {r['group']} ({more} than for "
                f"{r['reference']})."
            )
        else:
            parts.append(
                f"Explanations (section {ref('explanations')}): no group relies measurably "
                "differently."
            )
    else:
        parts.append(f"Explanations were not computed (section {ref('explanations')}).")
    return " ".join(parts)


def _mv(result: AuditResult, key: str) -> MetricValue:
    return result.overall.metrics.get(key) or MetricValue(None)


def _pct_estimate(v: MetricValue) -> str:
    """``37.5% (36.8–38.2%)``: a risk as a percentage with its interval."""
    if v.value is None:
        return "n/a"
    if v.ci_low is None or v.ci_high is None:
        return f"{100 * v.value:.1f}%"
    return f"{100 * v.value:.1f}% ({100 * v.ci_low:.1f}–{100 * v.ci_high:.1f}%)"


def _survival_headline(result: AuditResult) -> str:
    """The time-to-event audit's key numbers in two sentences: risks by the horizon and O/E,
    then discrimination and the calibration slope."""
    e = format_estimate
    return (
        f"By the horizon of {horizon_text(result)} the observed risk (Kaplan–Meier) is "
        f"{_pct_estimate(_mv(result, 'observed_risk'))} and the mean predicted risk "
        f"{_pct_estimate(_mv(result, 'expected_risk'))}: O/E {e(_mv(result, 'oe_ratio'))}. "
        f"Discrimination at the horizon: Harrell's C {e(_mv(result, 'harrell_c'))}, Uno's C "
        f"{e(_mv(result, 'uno_c'))}, AUC(t) {e(_mv(result, 'auc_t'))}; calibration slope "
        f"{e(_mv(result, 'calibration_slope'))}."
    )


def _survival_key_numbers(result: AuditResult) -> Table:
    """The summary's table of a time-to-event audit: counts at the horizon, then estimates."""
    o, k = result.overall, min_cell(result)
    conf = float(result.settings.get("confidence_level", 0.95))
    sv = o.survival or {}
    fu = o.metrics.get("median_follow_up")
    rows = [
        ["Patients", count_text(o.n, k)],
        ["Events by the horizon", count_text(o.events, k)],
        ["Censored before the horizon", count_text(sv.get("censored_before"), k)],
        ["At risk at the horizon", count_text(sv.get("at_risk"), k)],
        [
            "Median follow-up (reverse Kaplan–Meier)",
            f"{fu.value:.2f} {time_unit(result)}" if fu and fu.value is not None else "n/a",
        ],
    ]
    keys = (
        "observed_risk",
        "expected_risk",
        "oe_ratio",
        "harrell_c",
        "uno_c",
        "auc_t",
        "calibration_slope",
        "ici",
        "brier",
        "scaled_brier",
        "sensitivity",
        "specificity",
    )
    for key in keys:
        if key in o.metrics:
            label = survival_metric_name(key)
            if key in ("sensitivity", "specificity"):
                label += " (IPCW, cumulative/dynamic)"
            rows.append([label, group_cell(result, o, key)])
    nb = operating_row(result, o)
    if nb is not None and nb.get("net_benefit") is not None:
        rows.append(
            [
                f"Net benefit at the operating threshold {result.settings.get('threshold'):g}",
                f"{nb['net_benefit']:.3f} (treat all: {nb['net_benefit_treat_all']:.3f}; no CI)",
            ]
        )
    return Table(
        ["Whole cohort, at the horizon", f"Estimate ({conf:.0%} CI)"],
        rows,
        [0.5, 0.5],
        ["L", "L"],
        caption=f"Key numbers for all patients at the horizon of {horizon_text(result)}.",
        font_size=8.5,
    )

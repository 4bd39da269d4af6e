"""Chapter 1 "Executive summary" (one page: verdict, the findings that matter most, case mix)
and chapter 2 "Key numbers" (the whole cohort's estimates, caveats, the other checks)."""

from __future__ import annotations

from cohortaudit.render.chapters.common import (
    count_text,
    group_cell,
    int_text,
    min_cell,
    operating_row,
    vector_status_sentence,
)
from cohortaudit.render.document import (
    SUMMARY_ANCHOR,
    Bullets,
    Para,
    Section,
    Table,
    ref,
    ref_nearest,
)
from cohortaudit.render.findings import (
    format_estimate,
    group_label,
    severity_label,
    top_reliance_rows,
)
from cohortaudit.render.outcome import horizon_text, is_time_to_event, time_unit
from cohortaudit.render.text import metric_name, survival_metric_name, untested_disparities_note
from cohortaudit.results import (
    AuditResult,
    MetricValue,
)


def chapter(result: AuditResult) -> list[Section]:
    """The one-page executive summary, then the key numbers (a chapter of their own)."""
    return [_executive_summary(result), _key_numbers_chapter(result)]


def _executive_summary(result: AuditResult) -> Section:
    """Verdict, the findings that matter most with their numbers, and what case mix explains.

    Everything here is read from ``result.findings`` (built when the result was assembled):
    this page chooses none of them, it only cuts the ordered list
    (:meth:`AuditResult.headline_findings`). It must fit one page; the full list is the annex.
    """
    c = result.cohort
    conf = float(result.settings.get("confidence_level", 0.95))
    s = Section("Executive summary", new_page=True, anchor=SUMMARY_ANCHOR)
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
    outcome = (
        f"the risk of an event by {horizon_text(result)}"
        if tte
        else f"the outcome '{c.label}'"
    )
    s.blocks.append(
        Para(
            f"{_capitalised(result.model.display_name)} was audited on {int_text(c.n)} patients for {outcome}, "
            f"in groups defined by {', '.join(c.sensitive_features) or 'no sensitive attribute'}. "
            f"Numbers are followed by their {conf:.0%} confidence interval."
        )
    )
    s.blocks.append(Bullets(_verdict_lines(result)))
    top = result.headline_findings()
    problems = [f for f in result.findings if f.is_problem]
    if top:
        s.blocks.append(
            Para(
                f"The findings that matter most ({len(top)} of {len(problems)}; severity from "
                f"the stated rules, section {ref_nearest('methods.findings')}):",
                "finding",
            )
        )
        s.blocks.append(
            Table(
                ["Severity", "Finding", "What to do", "See"],
                [
                    [
                        severity_label(f.severity),
                        f.summary,
                        f.action,
                        ref_nearest(f.section),
                    ]
                    for f in top
                ],
                [0.09, 0.54, 0.26, 0.11],
                ["L", "L", "L", "L"],
                font_size=7.5,
            )
        )
    else:
        s.blocks.append(Para(_nothing_found(result), "finding"))
    for line in _tail_lines(result, shown=len(top)):
        s.blocks.append(Para(line, "note"))
    return s


def _capitalised(name: str) -> str:
    """"The predictions in 'risk'" at the start of a sentence (a model's own name is kept)."""
    return name[:1].upper() + name[1:] if name.startswith("the ") else name


def _verdict_lines(result: AuditResult) -> list[str]:
    """Policy, model identity, data problems: the three facts before any finding."""
    lines = []
    policy = getattr(result, "policy", None)
    if policy:
        fails = [p for p in policy if p.outcome == "fail"]
        lines.append(
            f"Audit policy: the model FAILS ({len(fails)} of {len(policy)} rule-and-group "
            f"verdicts fail; section {ref('policy')})."
            if fails
            else f"Audit policy: passes (no rule of {len(policy)} verdicts fails; section "
            f"{ref('policy')})."
        )
    else:
        lines.append(f"Audit policy: none given, so no pass/fail verdict (section {ref('policy')}).")
    lines.append(f"Model identity: {vector_status_sentence(result)}")
    gain = result.overall.metrics.get("net_benefit_vs_treat_all")
    if gain is not None and gain.value is not None:  # net benefit with its interval (nbci)
        t = result.settings.get("threshold")
        useful = "useful" if (gain.ci_low or gain.value) > 0 else "not shown to be useful"
        lines.append(
            f"Clinical utility: {useful} at the threshold {t:g} against treating everyone "
            f"(difference in net benefit {format_estimate(gain, 3)}; section {ref('utility')})."
        )
    data = [f for f in result.findings if f.kind == "data_problem"]
    serious = sum(cv.severity == "serious" for cv in result.caveats)
    warnings = sum(cv.severity == "warning" for cv in result.caveats)
    units = sum(f.metric == "unit_change" for f in data)
    lines.append(
        f"Data problems: {len(data)} found"
        + (f", {units} of them a likely unit change (below)" if units else "")
        + f"; caveats: {serious} serious, {warnings} warnings (section {ref('limitations')})."
    )
    return lines


def _nothing_found(result: AuditResult) -> str:
    if "findings" not in result.settings:  # written before findings were part of a result
        return (
            "This result was written before findings were part of the audit, so none are "
            "listed; re-run the audit with this version to rank them. The numbers are in "
            f"sections {ref('discrimination')} to {ref('fairness')}."
        )
    return (
        "No finding of high or medium severity. This is not proof of equal performance: small "
        f"groups have wide intervals (all findings: annex {ref('findings')})."
    )


def _tail_lines(result: AuditResult, *, shown: int) -> list[str]:
    """What case mix explains, what was not split, and how many findings the annex lists."""
    untested = untested_disparities_note(result)
    out = [] if untested is None else [untested]
    case_mix = result.findings_of("case_mix")
    if case_mix:
        names = (metric_name(f.metric) for f in case_mix)
        metrics = sorted({n if n.isupper() else n.lower() for n in names})
        groups = ", ".join(dict.fromkeys(group_label(f.attributes) for f in case_mix[:4]))
        out.append(
            f"Explained by case mix, not problems: {len(case_mix)} differences in "
            f"{', '.join(metrics)} (e.g. {groups}) are what a perfectly calibrated model would "
            "show for these groups' risk distributions."
        )
    unsplit = [f for f in result.findings if f.kind == "error_rate_gap" and f.action.startswith("Separate")]
    if unsplit:
        out.append(
            f"{len(unsplit)} error-rate differences are not yet separated from case mix and are "
            "counted as low severity."
        )
    rest = {sev: len(result.findings_of(sev)) for sev in ("high", "medium", "low")}
    rest["high"] -= sum(f.severity == "high" for f in result.headline_findings())
    rest["medium"] -= sum(f.severity == "medium" for f in result.headline_findings())
    more = ", ".join(f"{n} {sev}" for sev, n in rest.items() if n)
    if more:
        out.append(f"Further findings ({more} severity) are listed in annex {ref('findings')}.")
    n_sup = sum(g.suppressed for g in result.subgroups if len(g.attributes) == 1)
    if n_sup:
        out.append(
            f"{n_sup} single-attribute group(s) are not evaluable (fewer than "
            f"{min_cell(result)} events or non-events) and could not be checked."
        )
    return out


def _key_numbers_chapter(result: AuditResult) -> Section:
    """The whole cohort's key numbers, the caveats and what the other checks hold."""
    o = result.overall
    conf = float(result.settings.get("confidence_level", 0.95))
    s = Section("Key numbers", new_page=True, anchor="key-numbers")
    tte = is_time_to_event(result)
    s.blocks.append(
        Para(
            f"Plain-language findings are in the executive summary (section {ref(SUMMARY_ANCHOR)}, "
            f"straight after the cover) and in annex {ref('findings')}; the numbers behind them "
            f"are in sections {ref('discrimination')} to {ref('fairness')}."
            + (
                " Patients censored before the horizon are handled by Kaplan–Meier and inverse "
                "probability of censoring weights, never counted as event-free."
                if tte
                else ""
            )
        )
    )
    if tte:
        s.blocks.append(Para(_survival_headline(result), "finding"))
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
        return s
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
    rows.extend(_net_benefit_rows(result, o))
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
    return s


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
        n_groups = len(sf.get("weak_slice_groups") or [])
        bits.append(
            f"{n_slices} weak slice{'s' if n_slices != 1 else ''} found by search"
            + (f", in {n_groups} groups of overlapping slices" if n_groups else "")
        )
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
    rows.extend(_net_benefit_rows(result, o))
    return Table(
        ["Whole cohort, at the horizon", f"Estimate ({conf:.0%} CI)"],
        rows,
        [0.5, 0.5],
        ["L", "L"],
        caption=f"Key numbers for all patients at the horizon of {horizon_text(result)}.",
        font_size=8.5,
    )


def _net_benefit_rows(result, o) -> list[list[str]]:
    """Net benefit at the operating threshold: with its interval and the difference from
    treat-all when the result has them (schema 1.5.0), else the curve row without a CI."""
    at = f"Net benefit at the operating threshold {result.settings.get('threshold'):g}"
    nb_metric = o.metrics.get("net_benefit")
    if nb_metric is not None and nb_metric.value is not None:
        return [
            [at, group_cell(result, o, "net_benefit")],
            ["Net benefit minus treat-all", group_cell(result, o, "net_benefit_vs_treat_all")],
        ]
    nb = operating_row(result, o)
    if nb is None or nb.get("net_benefit") is None:
        return []
    return [[at, f"{nb['net_benefit']:.3f} (treat all: {nb['net_benefit_treat_all']:.3f}; no CI)"]]

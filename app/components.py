"""Pieces every dashboard page shares, so each is written (and worded) once."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import state
from cohortaudit.render.findings import format_estimate, group_label, kind_label, severity_label
from cohortaudit.render.text import untested_disparities_note
from cohortaudit.results import AuditResult, MetricValue
from cohortaudit.textsafe import for_markdown as md

#: What a page says when no audit has been run or opened in this session yet.
NO_AUDIT = "No audit yet. Run one on the Start page."


def page_with_result(title: str, *, hint: str = NO_AUDIT) -> AuditResult:
    """The page's title, and the session's audit result (see :func:`require_result`)."""
    st.title(title)
    return require_result(hint=hint)


def require_result(*, hint: str = NO_AUDIT, title_when_missing: str | None = None) -> AuditResult:
    """The session's audit result.

    Without one the page says so (under ``title_when_missing``, for a page whose title comes
    from the result), links to the Start page and stops, so the rest of a view can assume a
    result exists.
    """
    result = state.get_result()
    if result is None:
        if title_when_missing:
            st.title(title_when_missing)
        st.info(hint)
        st.page_link("views/start.py", label="Start a new audit", icon=":material/upload_file:")
        st.stop()
    return result


def model_file(result: AuditResult) -> str:
    """The audited model's file name; a scores-mode audit ran no model file, and says so."""
    m = result.model
    return m.file or ("none (scores mode)" if m.kind == "scores" else "n/a")


def result_json() -> str | None:
    """The JSON of the current result, rendered once per result (it is a few MB)."""
    result = state.get_result()
    if result is None:
        return None
    text = state.cached_json(result)
    if text is None:
        from cohortaudit.render.json import result_to_json

        text = result_to_json(result)
        state.set_cached_json(result, text)
    return text


def report_file(kind: str, auditor: str | None, *, render: bool = True) -> bytes | None:
    """The PDF or HTML report of the current result, rendered once per (result, auditor);
    with ``render=False`` only an already rendered one (None if there is none yet).

    The renderers are the CLI's (``render.pdf`` / ``render.html``); the embedded JSON is the
    same text the JSON download gives, so the three downloads describe one audit.
    """
    result = state.get_result()
    if result is None:
        return None
    cache = state.report_cache()
    key = (id(result), kind, auditor or "")
    if key not in cache and not render:
        return None
    if key not in cache:
        audit_json = (result_json() or "").encode("utf-8")
        if kind == "pdf":
            from cohortaudit.render.pdf import pdf_bytes

            cache[key] = pdf_bytes(result, auditor=auditor, audit_json=audit_json)
        else:
            from cohortaudit.render.html import html_text

            cache[key] = html_text(result, auditor=auditor, audit_json=audit_json).encode("utf-8")
    return cache[key]


# ---- time-to-event results ------------------------------------------------------------------

#: Metrics of a time-to-event result that are risks, shown in percent.
RISK_METRICS = frozenset({"observed_risk", "expected_risk"})


def survival_outcome(result: AuditResult) -> dict | None:
    """``settings["outcome"]`` of a time-to-event result (kind, horizon, time_unit, prediction);
    None for a binary result, whose pages stay as they are."""
    outcome = (result.settings or {}).get("outcome") or {}
    return dict(outcome) if outcome.get("kind") == "time_to_event" else None


def horizon_text(outcome: dict) -> str:
    """``10 years`` (or just ``10`` when the result names no time unit)."""
    unit = outcome.get("time_unit")
    return f"{outcome['horizon']:g} {unit}" if unit else f"{outcome['horizon']:g}"


def survival_estimate(v: MetricValue | None, key: str, *, time_unit: str | None = None) -> str:
    """A time-to-event metric as the pages show it: risks in percent (``37.5% (36.8–38.2)``),
    follow-up in the time unit, everything else to 3 decimals; ``n/a`` when undefined."""
    if v is None or v.value is None:
        return "n/a"
    if key in RISK_METRICS:
        pct = MetricValue(
            100.0 * v.value,
            None if v.ci_low is None else 100.0 * v.ci_low,
            None if v.ci_high is None else 100.0 * v.ci_high,
        )
        text = format_estimate(pct, 1)
        return text.replace(" (", "% (", 1) if "(" in text else text + "%"
    if key == "median_follow_up":
        return f"{v.value:.2f} {time_unit}" if time_unit else f"{v.value:.2f}"
    return format_estimate(v, 3)


def not_applicable(what: str, why: str) -> None:
    """Say plainly that a part of a page does not apply to this result (instead of failing)."""
    st.info(f"**{what}** {why}", icon=":material/info:")


#: Where each finding is shown in detail on the dashboard (a finding's ``section`` names the
#: report's section; the dashboard has pages instead).
DETAIL_PAGE = {
    "calibration": "Calibration",
    "discrimination": "Subgroups",
    "fairness": "Subgroups",
    "safety": "Safety",
    "limitations": "Overview, data quality below",
}
BADGE = {
    "high": ":red-badge[High]",
    "medium": ":orange-badge[Medium]",
    "low": ":gray-badge[Low]",
    "case_mix": ":blue-badge[Case mix]",
}


def _detail(section: str) -> str:
    return DETAIL_PAGE.get(section.split(".")[0], "the report")


def executive_summary(result: AuditResult) -> None:
    """The Overview's first box: the verdict (policy, model identity, data problems), the
    findings that matter most with what to do and where to look, what case mix explains, and
    every finding in an expander. All read from ``result.findings``; nothing is chosen here
    beyond cutting the ordered list (:meth:`AuditResult.headline_findings`)."""
    m = result.model
    st.subheader("Executive summary")
    with st.container(border=True):
        policy = result.policy
        if policy:
            fails = [p for p in policy if p.outcome == "fail"]
            if fails:
                st.error(
                    f"**Audit policy: FAILS** ({len(fails)} of {len(policy)} rule-and-group verdicts).",
                    icon=":material/gpp_bad:",
                )
            else:
                st.success(f"**Audit policy: passes** ({len(policy)} verdicts).")
        else:
            st.caption("No audit policy was given, so no pass/fail verdict is stated.")
        data_problems = [f for f in result.findings if f.kind == "data_problem"]
        n_serious = sum(cv.severity == "serious" for cv in result.caveats)
        n_warn = sum(cv.severity == "warning" for cv in result.caveats)
        tv = m.test_vectors
        st.markdown(
            "- **Model identity:** "
            + (
                f"{tv['count']} test vectors passed."
                if tv
                else "no test vectors: the file's identity rests on its SHA-256."
            )
            + f"\n- **Data problems:** {len(data_problems)} found; caveats: {n_serious} serious, "
            f"{n_warn} warnings (below)."
        )
        untested = untested_disparities_note(result)
        if untested is not None:
            st.warning(md(untested), icon=":material/help:")
        top = result.headline_findings()
        problems = [f for f in result.findings if f.is_problem]
        if top:
            st.markdown(f"**The findings that matter most** ({len(top)} of {len(problems)})")
            for f in top:
                st.markdown(
                    f"{BADGE.get(f.severity, '')} {md(f.summary)}  \n"
                    f":small[**Do:** {md(f.action)} · **Detail:** {_detail(f.section)} page]"
                )
        elif "findings" not in result.settings:  # a result written before findings existed
            st.info(
                "This result was written before findings were part of the audit; re-run the "
                "audit to rank them. The numbers are on the other pages."
            )
        else:
            st.markdown("No finding of high or medium severity (small groups have wide intervals).")
        case_mix = result.findings_of("case_mix")
        if case_mix:
            st.caption(
                f"Explained by case mix, not problems: {len(case_mix)} differences in error rates "
                "are what a perfectly calibrated model would show for these groups' risks."
            )
        if result.findings:
            n_problems = len(result.findings) - len(case_mix)
            label = f"All {len(result.findings)} findings"
            if case_mix:
                label += f" ({n_problems} problems, {len(case_mix)} explained by case mix)"
            with st.expander(label):
                st.dataframe(
                    pd.DataFrame(
                        [
                            {
                                "Severity": severity_label(f.severity),
                                "Kind": kind_label(f.kind),
                                "Group": group_label(f.attributes),
                                "Finding": f.summary,
                                "What to do": f.action,
                                "Detail": _detail(f.section),
                            }
                            for f in result.findings
                        ]
                    ),
                    hide_index=True,
                    width="stretch",
                )
        st.caption(
            "Severity follows stated rules (direction of harm, size against cut-offs, patients "
            "affected, precision; see the report's methods). Explore all groups on the Subgroups "
            "page, calibration on the Calibration page, the safety checks on the Safety page."
        )

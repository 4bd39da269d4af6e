"""Chapter "Limitations": the caveats the audit recorded and what it cannot show."""

from __future__ import annotations

from cohortaudit.render.chapters.common import (
    min_cell,
)
from cohortaudit.render.document import Bullets, Para, Section, Table, ref
from cohortaudit.render.findings import (
    group_label,
)
from cohortaudit.render.outcome import horizon_text, is_time_to_event
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    s = Section("Limitations", new_page=True, anchor="limitations")
    order = {"serious": 0, "warning": 1, "info": 2}
    cavs = sorted(result.caveats, key=lambda c: order.get(c.severity, 3))
    if cavs:
        s.blocks.append(
            Table(
                ["Severity", "Caveat"],
                [[c.severity, c.message] for c in cavs],
                [0.13, 0.87],
                ["L", "L"],
                font_size=7.5,
                caption="Caveats recorded by the audit, most severe first.",
            )
        )
    else:
        s.blocks.append(Para("The audit recorded no caveats.", "note"))
    imprecise = [g for g in result.subgroups if g.imprecise and not g.suppressed]
    if imprecise:
        s.blocks.append(
            Para(
                f"Imprecise groups ({len(imprecise)}; fewer than "
                f"{result.settings.get('imprecise_below_events', 100)} events or non-events, "
                "wide intervals): " + "; ".join(group_label(g.attributes) for g in imprecise) + ".",
                "small",
            )
        )
    n_sup = sum(g.suppressed for g in result.subgroups)
    tte = is_time_to_event(result)
    s.blocks.append(
        Bullets(
            [
                f"{n_sup} of {len(result.subgroups)} subgroups are not evaluable (disclosure "
                f"control, fewer than {min_cell(result)} events by the horizon, event-free "
                "patients or patients at risk at it, or withheld so they cannot be derived); "
                "problems in them cannot be seen."
                if result.disclosure_controlled and tte
                else f"{n_sup} of {len(result.subgroups)} subgroups are not evaluable (disclosure "
                f"control, fewer than {min_cell(result)} events or non-events, or withheld so they "
                "cannot be derived); problems in them cannot be seen."
                if result.disclosure_controlled
                else "Disclosure control was off (k = 0): every group is released, however "
                "small; estimates in small groups are imprecise, and this report must not leave "
                "a secure environment.",
                *_check_limitations(result),
                *(_survival_limitations(result) if tte else []),
                *(
                    []
                    if _net_benefit_has_interval(result)
                    else ["Net benefit is reported without confidence intervals."]
                ),
                "The audit measures the model on this cohort only; results transfer to other "
                "settings only as far as the cohort resembles them.",
                "Differences are estimated one comparison at a time, without correction for "
                "multiple comparisons: with many groups some intervals exclude zero by chance.",
            ],
            "limitation",
        )
    )
    return [s]


def _check_limitations(result: AuditResult) -> list[str]:
    out = []
    e = result.explanations
    if e:
        st = e.get("settings", {})
        out.append(
            f"Explanations (section {ref('explanations')}) rest on a sample of {st.get('n_explain', '?'):,} patients "
            "and an interventional masker that treats inputs as independent; SHAP values say "
            "what the model uses, not what causes the outcome."
        )
    else:
        out.append(
            f"Explanations were not computed (section {ref('explanations')}): reliance on inputs "
            "not assessed."
        )
    if result.safety:
        out.append(
            f"Shift (section {ref('safety.shift')}) is measured against the card's summary of the development "
            "data only; a card without that summary, or a summary of a different population, "
            "limits what it can show. The weak-slice search covers the listed attributes and "
            "inputs, not every possible subgroup."
        )
    else:
        out.append(
            f"Safety checks were turned off (section {ref('safety')}): shift and robustness not "
            "assessed."
        )
    return out


def _survival_limitations(result: AuditResult) -> list[str]:
    """What a time-to-event audit assumes and leaves out."""
    return [
        "Censoring is assumed independent of the event (within the groups compared): where "
        "loss to follow-up depends on risk, the Kaplan–Meier and IPCW estimates are biased, "
        "and nothing in the cohort can show it.",
        "Competing events (for example death from another cause) are treated as censoring: "
        "the observed risk is then the risk in a world without them, which overstates the "
        "real-world risk where they are common.",
        f"Every estimate is at the one horizon ({horizon_text(result)}); the model's risks "
        "at other horizons are not audited.",
    ]


def _net_benefit_has_interval(result: AuditResult) -> bool:
    """Whether the net benefit at the operating threshold came with a bootstrap interval."""
    nb = result.overall.metrics.get("net_benefit")
    return nb is not None and nb.ci_low is not None

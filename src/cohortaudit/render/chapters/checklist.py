"""Chapter "Checklist": where this report addresses TRIPOD+AI and EU AI Act Annex IV 2(g)."""

from __future__ import annotations

from cohortaudit.render.document import Para, Section, Table, ref, ref_number
from cohortaudit.render.outcome import horizon_text, is_time_to_event
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    """Each checklist item with the sections that address it, by reference (so the numbers
    follow the chapters this audit has)."""
    s = Section("Checklist: TRIPOD+AI and EU AI Act Annex IV", new_page=True, anchor="checklist")
    r = ref

    def sf(anchor: str) -> str:
        """A safety section, or the safety chapter when the checks were off (no sections)."""
        return ref(anchor) if result.safety else ref("safety")

    s.blocks.append(
        Para(
            "Where this report addresses the evaluation items of TRIPOD+AI (Collins et al., "
            "BMJ 2024; item numbers of the published checklist) and the technical documentation "
            "of EU AI Act Annex IV point 2(g). Items about study design, funding, protocol and "
            "model development are the developer's or study's, not the audit's, and are "
            "marked 'outside this audit'."
        )
    )
    tripod = [
        ["3b", "Target population, care setting, intended users", r("scope")],
        ["3c", "Known health inequalities; fairness", f"{r('fairness')}, {r('summary')}"],
        ["5a", "Data sources of the evaluation data", f"{r('cohort')} (cohort file and SHA-256)"],
        ["6a–b", "Setting; eligibility (population)", f"{r('scope')} (card), {r('cohort')}"],
        ["8a", "Outcome definition and horizon", r("scope")],
        ["9a", "Predictors (model inputs)", r("scope")],
        [
            "7",
            "Data preparation; data quality similar across groups",
            f"{sf('safety.use')}; {r('cohort')}",
        ],
        [
            "11",
            "Missing data handling",
            f"{r('limitations')} (caveats); {r('cohort')} (exclusions); {sf('safety.use')} "
            "(missing inputs)",
        ],
        [
            "12e",
            "Performance measures: discrimination, calibration, clinical utility, with rationale",
            f"{r('methods')}, {r('discrimination')}, {r('calibration')}, {r('utility')}",
        ],
        [
            "12g",
            "How predictions were calculated for evaluation",
            f"{r('scope')}, {r('methods')} (threshold rule); cover (model SHA-256, test vectors)",
        ],
        [
            "14",
            "Fairness: methods to assess it and its results",
            f"{r('methods')}, {r('fairness')}",
        ],
        ["15", "Model output and thresholds", f"{r('scope')}, {r('methods')}, {r('utility')}"],
        [
            "16",
            "Differences between development and evaluation data",
            f"{sf('safety.shift')} (shift vs the card), {r('cohort')} (outcome rates), {r('claims')}",
        ],
        [
            "20a–c",
            "Participants: flow, characteristics by group, comparison with development",
            r("cohort"),
        ],
        [
            "23a",
            "Model performance with confidence intervals",
            f"{r('summary')}, {r('discrimination')}, {r('calibration')}, {r('utility')}",
        ],
        [
            "23b",
            "Performance across subgroups / heterogeneity",
            f"{ref_number('discrimination.groups')}, {ref_number('calibration.groups')}, "
            f"{r('fairness')}",
        ],
        ["26", "Limitations", f"{r('explanations')}, {r('safety')}, {r('limitations')}"],
        [
            "18e–f",
            "Data and code availability",
            f"Annex {r('annex')} (embedded audit.json); {r('methods.software')} (software)",
        ],
        [
            "1–2, 4, 17–19, 21–22, 24–25, 27",
            "Title, abstract, objectives, ethics, funding, development, interpretation, usability",
            "outside this audit",
        ],
    ]
    s.blocks.append(
        Table(
            ["TRIPOD+AI item", "Topic", "Section(s) of this report"],
            tripod,
            [0.2, 0.5, 0.3],
            ["L", "L", "L"],
            font_size=7.5,
            caption="TRIPOD+AI items and where this report addresses them.",
        )
    )
    if is_time_to_event(result):
        s.blocks.append(_survival_items(result))
    annex = [
        [
            "2(g)",
            "Validation and testing procedures used",
            f"{r('methods')} (methods, settings, CI methods), cover (model identity, test vectors)",
        ],
        ["2(g)", "Validation and testing data and their main characteristics", r("cohort")],
        [
            "2(g)",
            "Metrics of accuracy",
            f"{r('discrimination')}, {r('calibration')}, "
            + (f"{r('survival.km')}, " if is_time_to_event(result) else "")
            + f"{r('utility')}, {r('claims')}",
        ],
        [
            "2(g)",
            "Metrics of robustness",
            f"{sf('safety.robustness')} (perturbations), {sf('safety.slices')} (weak slices), "
            f"{r('limitations')}",
        ],
        [
            "2(g)",
            "Potentially discriminatory impacts",
            f"{r('fairness')}, {r('explanations')} (reliance, proxies), {r('summary')}",
        ],
        [
            "2(g)",
            "Test logs",
            f"{r('disclosure')} (disclosure log), Annex {r('annex')} (full result), cover run record",
        ],
        [
            "2(g)",
            "Test reports dated and signed by the responsible persons",
            "cover (date in the run record; signature block)",
        ],
        ["2(g)", "Pre-determined changes (point 2(f))", "outside this audit"],
    ]
    s.blocks.append(
        Table(
            ["Annex IV", "Requirement", "Section(s) of this report"],
            annex,
            [0.12, 0.45, 0.43],
            ["L", "L", "L"],
            font_size=7.5,
            caption="EU AI Act Annex IV 2(g) and where this report addresses it.",
        )
    )
    return [s]


def _survival_items(result: AuditResult) -> Table:
    """The TRIPOD+AI items whose reporting differs for a time-to-event outcome, each with the
    sections that address it (the items of the table above still apply)."""
    r = ref
    rows = [
        [
            "8a",
            f"Outcome definition with its horizon and time unit ({horizon_text(result)}); "
            "event at or before the horizon; censored at the horizon = event-free",
            f"{r('scope')}, {r('cohort')}, {r('discrimination')}",
        ],
        [
            "12e",
            "Handling of censoring: Kaplan–Meier observed risk (Greenwood CI); inverse "
            "probability of censoring weights (IPCW) for Uno's C, AUC(t), Brier and threshold "
            "metrics",
            f"{r('discrimination')}, {r('methods.settings')} (settings.survival)",
        ],
        [
            "20a",
            "Follow-up: median follow-up (reverse Kaplan–Meier), events by the horizon, "
            "patients censored before it",
            f"{r('cohort')}, {ref_number('cohort.groups')}, {ref_number('survival.counts')}",
        ],
        [
            "20a",
            "Number at risk at the horizon, overall and by group",
            f"{ref_number('cohort.groups')}, {r('survival.km')}",
        ],
        [
            "12e, 23a",
            "Discrimination for survival: Harrell's C (truncated), Uno's C, time-dependent "
            "AUC(t) at the horizon, with CIs",
            f"{r('discrimination')}, {ref_number('discrimination.groups')}",
        ],
        [
            "12e, 23a",
            "Calibration at the horizon: O/E, calibration slope, flexible calibration curve "
            "(ICI, E50, E90, Emax), observed (KM) vs predicted by risk decile",
            f"{r('calibration')}, {ref_number('calibration.deciles')}, "
            f"{ref_number('calibration.groups')}",
        ],
        [
            "12e, 23a",
            "Overall performance: Brier score at the horizon (IPCW) and the scaled Brier score "
            "(IPA)",
            r("discrimination"),
        ],
        [
            "12e, 23a",
            "Observed risk over time (Kaplan–Meier) against the predicted risk at the horizon",
            r("survival.km"),
        ],
        [
            "12e, 15",
            "Clinical utility: decision curve at the horizon (net benefit from Kaplan–Meier "
            "among the treated); threshold metrics at the operating threshold (IPCW)",
            f"{r('utility')}, {r('survival.threshold')}",
        ],
        [
            "23b",
            "Survival performance across subgroups and intersections",
            f"{r('discrimination')}, {r('calibration')}, {r('fairness')}",
        ],
    ]
    return Table(
        ["TRIPOD+AI item", "Time-to-event topic", "Section(s) of this report"],
        rows,
        [0.2, 0.5, 0.3],
        ["L", "L", "L"],
        font_size=7.5,
        caption="TRIPOD+AI items for a time-to-event outcome and where this report addresses "
        "them.",
        anchor="checklist.survival",
    )

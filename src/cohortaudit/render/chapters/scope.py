"""Chapter "Scope and intended use": what the model card and the audit configuration state."""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    plain,
)
from cohortaudit.render.document import Para, Section, Table
from cohortaudit.render.outcome import horizon_text, is_time_to_event, time_unit
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    m = result.model
    card = m.card or {}
    s = Section("Scope and intended use", new_page=True, anchor="scope")
    st = result.settings
    if not card:
        s.blocks.append(
            Para(
                "No model card was given: the developer's intended use, intended population, "
                "outcome definition and operating threshold are not stated, so the audit cannot "
                "check the model against them.",
                "limitation",
            )
        )
    rows: list[list[str]] = []

    def add(label: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            rows.append([label, plain(value)])

    add("Model", " ".join(x for x in (m.name, m.version) if x))
    add("Developer", card.get("developer"))
    add("Contact", card.get("contact"))
    add("Licence", card.get("license"))
    add("Intended use", card.get("intended_use"))
    pop = card.get("intended_population")
    if isinstance(pop, dict):
        add("Intended population", pop.get("description"))
        add("Setting", pop.get("setting"))
        if pop.get("age_min") is not None or pop.get("age_max") is not None:
            add("Age range (years)", f"{pop.get('age_min', '?')} to {pop.get('age_max', '?')}")
        add("Countries", pop.get("countries"))
        for k, v in pop.items():
            if k not in ("description", "setting", "age_min", "age_max", "countries"):
                add(k.replace("_", " ").capitalize(), v)
    else:
        add("Intended population", pop)
    out = card.get("outcome")
    if isinstance(out, dict):
        add("Outcome", out.get("definition"))
        add("Outcome horizon", out.get("horizon"))
    else:
        add("Outcome", out)
    add("Output", card.get("output_meaning"))
    add("Operating threshold (card)", card.get("operating_threshold"))
    rng = card.get("clinically_relevant_range")
    if rng:
        add("Clinically relevant threshold range", f"{rng[0]:g} to {rng[1]:g}")
    add(
        "Threshold used in this audit",
        f"{st.get('threshold'):g} ({st.get('threshold_source')}); {st.get('threshold_rule')}",
    )
    if is_time_to_event(result):
        cfg = result.config
        add(
            "Outcome kind in this audit",
            f"time to event: the model's output is read as the risk of the event by the "
            f"horizon of {horizon_text(result)}",
        )
        add("Horizon and time unit", f"{horizon_text(result)} (time unit: {time_unit(result)})")
        add(
            "Follow-up and event columns",
            f"time '{cfg.get('time') or '—'}', event '{cfg.get('event') or result.cohort.label}' "
            "(1 = event, 0 = censored)",
        )
    else:
        add("Outcome column in the cohort", result.cohort.label)
    add("Model inputs", ", ".join(m.inputs))
    md = m.metadata or {}
    if md.get("producer_name"):
        add("Producer", f"{md.get('producer_name')} {md.get('producer_version', '')}".strip())
    if md.get("opsets"):
        add("Opsets", ", ".join(f"{k} {v}" for k, v in sorted(md["opsets"].items())))
    s.blocks.append(
        Table(
            ["Item", "As stated"],
            rows,
            [0.28, 0.72],
            ["L", "L"],
            caption="Scope, from the model card and the audit configuration.",
        )
    )
    return [s]

"""The audit report as a neutral document: numbered chapters of paragraphs, tables and charts.

``build_report(result)`` turns an :class:`AuditResult` into a :class:`Report`; the PDF and the
HTML renderers only lay it out, so both say the same thing in the same order. Nothing is
recomputed: every number is read from the result and formatted by the chapter builders in
:mod:`cohortaudit.render.chapters`, one module per chapter. This module only puts the cover
together, orders the chapters (:data:`CHAPTERS`) and hands them to the numbering pass
(:mod:`cohortaudit.render.numbering`), which gives every section, table and figure its number
and resolves every cross reference; no chapter types a number itself.

Everything that differs between reruns of the same audit (the date, the audit id -- a hash of
the JSON, which carries the ``run`` block -- host, duration) is collected in ``Report.run_record``
and shown in one marked box on the cover; the rest of the text is identical for the same inputs
and seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from cohortaudit.render.chapters import (
    all_findings,
    annex,
    calibration,
    checklist,
    claims,
    cohort,
    disclosure,
    explanations,
    fairness,
    limitations,
    performance,
    policy,
    safety,
    scope,
    settings,
    sites,
    summary,
    survival,
    survival_time,
    user_metrics,
    utility,
)
from cohortaudit.render.chapters.common import group_cell, int_text, vector_status_sentence
from cohortaudit.render.document import (
    RUN_RECORD_END,
    RUN_RECORD_START,
    Bullets,
    Chart,
    Para,
    Report,
    Section,
    Span,
    Table,
    map_text,
)
from cohortaudit.render.findings import fmt_value
from cohortaudit.render.json import result_to_json
from cohortaudit.render.numbering import number_sections
from cohortaudit.results import AuditResult
from cohortaudit.textsafe import NAME_CHARS, short_name

__all__ = [
    "Para",
    "Bullets",
    "Span",
    "Table",
    "Chart",
    "Section",
    "Report",
    "CHAPTERS",
    "build_report",
    "fmt_value",
    "group_cell",
    "RUN_RECORD_START",
    "RUN_RECORD_END",
    "vector_status_sentence",
]

#: The report's chapters in order. Each builder returns its chapter (followed by any sections
#: it lists separately), or nothing when the audit has no such part (the sites chapter of a
#: single-site audit); numbering follows whatever is present.
CHAPTERS: tuple[Callable[[AuditResult], list[Section]], ...] = (
    summary.chapter,
    scope.chapter,
    cohort.chapter,
    settings.chapter,
    performance.chapter,  # binary audits; the next four chapters: time-to-event audits
    survival.performance_chapter,
    calibration.chapter,
    survival.calibration_chapter,
    survival_time.km_chapter,
    utility.chapter,
    survival_time.utility_chapter,
    fairness.chapter,
    user_metrics.chapter,  # only when the audit has --metric functions
    explanations.chapter,
    safety.chapter,
    sites.chapter,  # a pooled multi-site audit only
    claims.chapter,
    policy.chapter,
    limitations.chapter,
    disclosure.chapter,
    checklist.chapter,
    all_findings.chapter,
    safety.slice_annex,  # every weak-slice group, when the safety chapter lists the top ones
    annex.chapter,  # the audit result itself, last
)


def build_report(
    result: AuditResult, *, auditor: str | None = None, audit_json: bytes | None = None
) -> Report:
    """The whole report as blocks; ``audit_json`` is the exported JSON (for the audit id)."""
    if audit_json is None:
        audit_json = result_to_json(result).encode("utf-8")
    digest = hashlib.sha256(audit_json).hexdigest()
    m, c = result.model, result.cohort
    name = " ".join(x for x in (m.name, m.version) if x) or (m.file or "predictions")
    auditor = auditor or "not stated"

    cover_rows: list[tuple[str, str, bool]] = [
        ("Model", name, False),
        ("Model file", f"{m.file or '—'} ({m.kind})", False),
        ("Model SHA-256", m.sha256 or "none (predictions audited, no model file)", True),
        ("Model card", m.card_file or "none given", False),
        ("Card SHA-256", m.card_sha256 or "—", True),
        (
            "Cohort",
            f"{c.file or '—'}: {int_text(c.n)} patients, {int_text(c.events)} events",
            False,
        ),
        ("Cohort SHA-256", c.sha256 or "—", True),
        ("Test vectors", vector_status_sentence(result), False),
        (
            "Tool",
            f"{result.tool.get('name', 'cohortaudit')} {result.tool.get('version', '?')}, "
            f"result schema {result.schema_version}",
            False,
        ),
        ("Auditor", auditor, False),
    ]
    run = result.run or {}
    run_record = [
        ("Audit id", f"{digest[:16]} (first 16 hex digits of the SHA-256 of audit.json)"),
        ("audit.json SHA-256", digest),
        ("Date of the audit", str(run.get("started_at", "not recorded"))),
        ("Duration", f"{run.get('duration_seconds', '?')} s"),
        ("Host", str(run.get("host", "—"))),
        ("Python / platform", f"{run.get('python', '—')} / {run.get('platform', '—')}"),
    ]
    chapters = [s for build in CHAPTERS for s in build(result)]
    sections = number_sections(_shorten_long_names(chapters, result))
    return Report(
        title="Audit report",
        model_line=name,
        cover_rows=cover_rows,
        test_vectors=vector_status_sentence(result),
        auditor=auditor,
        run_record=run_record,
        sections=sections,
        audit_id=digest[:16],
        footer=(
            f"cohortaudit audit report · {result.disclosure_banner.upper()}"
            if result.disclosure_banner
            else f"cohortaudit audit report · {name}"
        ),
        banner=result.disclosure_banner,
    )


def _long_names(result: AuditResult) -> list[str]:
    """Group values, attribute and site names longer than :data:`NAME_CHARS`, longest first."""
    names: set[str] = set(result.cohort.sensitive_features)
    for g in result.subgroups:
        for k, v in g.attributes.items():
            names.update((str(k), str(v)))
    for e in (result.sites or {}).get("sites", []):
        names.add(str(e.get("name", "")))
    return sorted((n for n in names if len(n) > NAME_CHARS), key=len, reverse=True)


def _shorten_long_names(sections: list[Section], result: AuditResult) -> list[Section]:
    """Every section with each over-long cohort name cut to :data:`NAME_CHARS` characters.

    Names are the cohort's, so their length is a stranger's choice: one 3,000-character group
    name would otherwise fill the one-page summary and every table row. Sentences are built in
    many places; replacing the known long names once, here, covers all of them. The chapter on
    the evaluation data says that names were shortened and that audit.json holds them in full.
    """
    long = _long_names(result)
    if not long:
        return sections
    short = {n: short_name(n) for n in long}

    def shorten_in(text: str) -> str:
        for n in long:
            if n in text:
                text = text.replace(n, short[n])
        return text

    out = [map_text(s, shorten_in) for s in sections]
    note = Para(
        f"{len(long)} group or attribute name(s) are longer than {NAME_CHARS} characters; this "
        "report shortens them (…). audit.json and the CSV tables hold them in full.",
        "note",
    )
    for s in out:
        if s.anchor == "cohort":
            s.blocks.insert(0, note)
            break
    return out

"""The audit report as a neutral document: numbered sections of paragraphs, tables and charts.

``build_report(result)`` turns an :class:`AuditResult` into a :class:`Report`; the PDF and the
HTML renderers only lay it out, so both say the same thing in the same order. Nothing is
recomputed: every number is read from the result and formatted here, once.

Everything that differs between reruns of the same audit (the date, the audit id -- a hash of
the JSON, which carries the ``run`` block -- host, duration) is collected in ``Report.run_record``
and shown in one marked box on the cover; the rest of the text is identical for the same inputs
and seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

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
from cohortaudit.render.findings import (
    calibration_findings,
    disparity_findings,
    fmt_value,
    group_label,
    verdict_summary,
)
from cohortaudit.render.text import CAL_LABELS, metric_name
from cohortaudit.results import (
    INSUFFICIENT_REASONS,
    AuditResult,
    GroupResult,
    MetricValue,
    not_evaluable,
)
from cohortaudit.textsafe import NAME_CHARS, short_name

__all__ = [
    "Para",
    "Bullets",
    "Span",
    "Table",
    "Chart",
    "Section",
    "Report",
    "build_report",
    "fmt_value",
    "group_cell",
    "RUN_RECORD_START",
    "RUN_RECORD_END",
    "vector_status_sentence",
]


_THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv")


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


def _k(result: AuditResult) -> int | None:
    return (result.settings.get("disclosure") or {}).get("min_cell")


def _not_evaluable(result: AuditResult) -> str:
    return not_evaluable(_k(result))


def group_cell(result: AuditResult, g: GroupResult | None, key: str, digits: int = 3) -> str:
    """The table cell of one metric of one group, saying why a value is missing."""
    if g is None:
        return "n/a"
    if g.suppressed:
        return _not_evaluable(result)
    if key in g.withheld:
        return f"withheld (a cell < {_k(result)})"
    v = g.metrics.get(key)
    if v is None or v.value is None:
        return "n/a"
    if key in ("brier", "ici", "e50", "e90", "emax", "ece") and digits < 3:
        digits = 3
    return fmt_value(v, digits)


def _withheld(result: AuditResult) -> str:
    """A count disclosure control withholds (1..k-1, or derivable from one)."""
    return f"withheld (fewer than {_k(result)})"


def _int(x: Any) -> str:
    return "—" if x is None else f"{int(x):,}"


def _num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.{digits}f}".replace("-", "\u2212")
    return str(x)


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def _groups(result: AuditResult, order: int) -> list[GroupResult]:
    feats = {a: i for i, a in enumerate(result.cohort.sensitive_features)}
    gs = [g for g in result.subgroups if len(g.attributes) == order]
    # stable: partition in config order, then the result's own order within a partition
    return sorted(gs, key=lambda g: tuple(feats.get(a, 99) for a in g.attributes))


def _reference(result: AuditResult, attributes: Sequence[str]) -> dict[str, str]:
    for e in result.settings.get("references", []):
        if tuple(e.get("attributes", ())) == tuple(attributes):
            return dict(e.get("reference") or {})
    return {}


def _group_name(result: AuditResult, g: GroupResult, *, mark_reference: bool = True) -> str:
    label = group_label(g.attributes)
    if mark_reference and g.attributes and _reference(result, list(g.attributes)) == g.attributes:
        label += " (reference)"
    if g.imprecise:
        label += " †"
    return label


def _metric_value(x: MetricValue | dict | None) -> MetricValue:
    """A MetricValue from a MetricValue or its dict form (policy and claims carry either)."""
    return x if isinstance(x, MetricValue) else MetricValue.from_dict(x or {})


def _as_dict(x: Any) -> dict[str, Any]:
    if isinstance(x, dict):
        return x
    if hasattr(x, "to_dict"):
        return x.to_dict()
    if dataclasses.is_dataclass(x):
        return dataclasses.asdict(x)
    return {"value": str(x)}


def _plain(v: Any) -> str:
    if isinstance(v, dict):
        if {"value", "ci_low", "ci_high"} <= set(v):
            return fmt_value(MetricValue(v.get("value"), v.get("ci_low"), v.get("ci_high")))
        return "; ".join(f"{k}: {_plain(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_plain(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "—"
    return str(v)


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def vector_status_sentence(result: AuditResult) -> str:
    tv = result.model.test_vectors
    if result.model.kind == "scores":
        return (
            "No model was run: the audit reads a column of predictions, so the model's identity "
            "cannot be checked."
        )
    if not tv:
        return (
            "The model card carries no test vectors: the artefact's identity rests on its "
            "SHA-256 only."
        )
    return (
        f"{tv.get('count')} test vectors passed, largest difference "
        f"{float(tv.get('max_abs_diff') or 0):.1e} (tolerance {_sci(tv.get('tolerance'))})."
    )


def _sci(x: Any) -> str:
    """``1e-4`` rather than ``0.0001`` for a tolerance."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:g}"
    mant, exp = f"{x:e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def build_report(
    result: AuditResult, *, auditor: str | None = None, audit_json: bytes | None = None
) -> Report:
    """The whole report as blocks; ``audit_json`` is the exported JSON (for the audit id)."""
    if audit_json is None:
        from cohortaudit.render.json import result_to_json

        audit_json = result_to_json(result).encode("utf-8")
    from cohortaudit.render.check_sections import explanations_section, safety_sections
    from cohortaudit.render.site_section import sites_section

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
        ("Cohort", f"{c.file or '—'}: {_int(c.n)} patients, {_int(c.events)} events", False),
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
    sections = [
        _summary(result),
        _scope(result),
        _data(result),
        _methods(result),
        _discrimination(result),
        _calibration(result),
        _utility(result),
        _fairness(result),
        explanations_section(result),
        safety_sections(result),
        # a pooled multi-site audit only: "10A" keeps every later section's number stable
        sites_section(result, "10A"),
        _claims(result),
        _policy(result),
        _limitations(result),
        _disclosure(result),
        _checklist(result),
        _annex(result),
    ]
    flat: list[Section] = []
    for s in sections:
        if s is not None:
            flat.extend(s if isinstance(s, list) else [s])
    flat = _shorten_long_names(flat, result)
    return Report(
        title="Audit report",
        model_line=name,
        cover_rows=cover_rows,
        test_vectors=vector_status_sentence(result),
        auditor=auditor,
        run_record=run_record,
        sections=flat,
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
    many places; replacing the known long names once, here, covers all of them. Section 3 says
    that names were shortened and that audit.json holds them in full.
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
        if s.number == "3":
            s.blocks.insert(0, note)
            break
    return out


# ---------------------------------------------------------------------------- 1 summary


def _summary(result: AuditResult) -> list[Section]:
    c, o = result.cohort, result.overall
    conf = float(result.settings.get("confidence_level", 0.95))
    name = result.model.display_name
    s = Section("1", "Summary of findings", 0, new_page=True)
    if result.disclosure_banner:
        s.blocks.append(
            Para(
                f"{result.disclosure_banner.upper()}. This audit ran with disclosure control off "
                "(k = 0, --min-cell 0): small groups, small cells and zero cells are released "
                "(section 14). It is meant for an authorised reproduction only.",
                "limitation",
            )
        )
    s.blocks.append(
        Para(
            f"This report audits {name} on {_int(c.n)} patients ({_int(c.events)} with the "
            f"outcome '{c.label}') for differences in performance and calibration between groups "
            f"defined by {', '.join(c.sensitive_features) or 'no sensitive attribute'}. "
            f"Every estimate is followed by its {conf:.0%} confidence interval in brackets. "
            "Plain-language findings come first; the numbers behind them are in sections 5 to 8."
        )
    )
    policy = getattr(result, "policy", None)
    if policy:
        fails = [p for p in policy if p.outcome == "fail"]
        s.blocks.append(
            Para(
                f"Audit policy: {len(fails)} of {len(policy)} rule-and-group verdicts fail"
                + (
                    " — the model FAILS the audit policy (section 12)."
                    if fails
                    else "; no rule fails (section 12)."
                ),
                "limitation" if fails else "finding",
            )
        )
    else:
        s.blocks.append(
            Para(
                "No audit policy was given, so no pass/fail verdict is stated (section 12).", "note"
            )
        )
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
        s.blocks.append(Para("Serious caveats (see section 13):", "finding"))
        s.blocks.append(Bullets([cv.message for cv in serious], "limitation"))
    n_warn = sum(cv.severity == "warning" for cv in result.caveats)
    s.blocks.append(
        Para(
            f"Model identity: {vector_status_sentence(result)} Caveats: {len(serious)} serious, "
            f"{n_warn} warnings, {len(result.caveats) - len(serious) - n_warn} for information "
            f"(section 13). {_checks_sentence(result)}"
        )
    )
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
    nb = _operating_row(result, o)
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
            caption="Table 1.1 Key numbers for all patients.",
            font_size=8.5,
        )
    )
    return [s]


def _checks_sentence(result: AuditResult) -> str:
    """What sections 9 and 10 hold, in one sentence for the summary."""
    from cohortaudit.render.check_charts import top_reliance_rows

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
        parts.append("Safety (section 10): " + "; ".join(bits) + ".")
    else:
        parts.append("Safety checks were not run (section 10).")
    e = result.explanations
    if e:
        top = top_reliance_rows(e, 1)
        if top:
            r = top[0]
            more = "more" if r["difference"]["value"] > 0 else "less"
            parts.append(
                f"Explanations (section 9): the largest reliance difference is on "
                f"{r['feature']} for {r['attribute']} {r['group']} ({more} than for "
                f"{r['reference']})."
            )
        else:
            parts.append("Explanations (section 9): no group relies measurably differently.")
    else:
        parts.append("Explanations were not computed (section 9).")
    return " ".join(parts)


# ---------------------------------------------------------------------------- 2 scope


def _scope(result: AuditResult) -> Section:
    m = result.model
    card = m.card or {}
    s = Section("2", "Scope and intended use", 0, new_page=True)
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
            rows.append([label, _plain(value)])

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
            caption="Table 2.1 Scope, from the model card and the audit configuration.",
        )
    )
    return s


# ---------------------------------------------------------------------------- 3 data


def _data(result: AuditResult) -> Section:
    c, o = result.cohort, result.overall
    k = _k(result)
    s = Section("3", "Evaluation data", 0, new_page=True)
    prev = o.metrics.get("prevalence")
    rows = [
        ["Cohort file", c.file or "—"],
        ["Cohort SHA-256", c.sha256 or "—"],
        ["Rows read", _int(c.n_input_rows) if c.n_input_rows is not None else _withheld(result)],
        ["Rows excluded", _int(c.n_excluded) if c.n_excluded is not None else _withheld(result)],
        ["Patients evaluated", _int(c.n)],
        ["Patients with the outcome", _int(c.events)],
        ["Outcome rate", fmt_value(prev) if prev else "n/a"],
        ["Outcome column", c.label],
        ["Sensitive attributes", ", ".join(c.sensitive_features) or "none"],
    ]
    bins = result.config.get("bins") or {}
    for col, edges in bins.items():
        rows.append([f"Bins of '{col}'", ", ".join(f"{e:g}" for e in edges)])
    dev = (result.model.card or {}).get("development_data")
    if isinstance(dev, dict):
        if dev.get("prevalence") is not None:
            rows.append(
                [
                    "Outcome rate in the development data (card)",
                    f"{float(dev['prevalence']):.3f} (n = {_int(dev.get('n'))}, events = "
                    f"{_int(dev.get('events'))})",
                ]
            )
        if dev.get("description"):
            rows.append(["Development data (card)", str(dev["description"])])
    s.blocks.append(
        Table(
            ["Item", "Value"],
            rows,
            [0.32, 0.68],
            ["L", "L"],
            mono=(),
            caption="Table 3.1 The evaluation cohort (aggregate counts only).",
        )
    )
    s.blocks.append(
        Para(
            "Table 3.2 describes each group of one sensitive attribute. "
            + (
                f"Groups with fewer than {k} patients with or without the outcome are not "
                "evaluable and their counts are suppressed (disclosure control, section 14). "
                if result.disclosure_controlled
                else "Disclosure control was off (k = 0): every group is shown (section 14). "
            )
            + "† marks a group with fewer than "
            f"{result.settings.get('imprecise_below_events', 100)} events or non-events "
            "(imprecise estimates).",
            "small",
        )
    )
    rows2: list[list[Any]] = []
    for g in _groups(result, 1):
        if g.suppressed:
            rows2.append(
                [_group_name(result, g, mark_reference=False), Span(_not_evaluable(result), 4)]
            )
            continue
        share = g.n / c.n if (g.n is not None and c.n) else None
        rows2.append(
            [
                _group_name(result, g, mark_reference=False),
                _int(g.n),
                _pct(share),
                _int(g.events),
                group_cell(result, g, "prevalence"),
            ]
        )
    s.blocks.append(
        Table(
            ["Group", "Patients", "% of cohort", "Events", "Outcome rate (95% CI)"],
            rows2,
            [0.34, 0.13, 0.13, 0.12, 0.28],
            ["L", "R", "R", "R", "L"],
            caption="Table 3.2 Characteristics of the evaluation cohort by sensitive attribute.",
        )
    )
    return s


# ---------------------------------------------------------------------------- 4 methods


def _flatten(prefix: str, v: Any, out: list[list[str]]) -> None:
    if isinstance(v, dict):
        for k2, v2 in v.items():
            _flatten(f"{prefix}.{k2}" if prefix else str(k2), v2, out)
    elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        out.append([prefix, "; ".join(v)])
    else:
        out.append([prefix, _plain(v)])


def _methods(result: AuditResult) -> Section:
    st = dict(result.settings)
    s = Section("4", "Methods", 0, new_page=True)
    s.blocks.append(
        Para(
            "Every setting of the audit is listed below as recorded in the result, so that the "
            "audit can be repeated exactly. Metric definitions follow the cohortaudit metric "
            "reference; fairness summaries follow fairlearn's definitions."
        )
    )
    grid = st.pop("threshold_grid", None)
    ci = st.pop("ci_methods", {}) or {}
    refs = st.pop("references", []) or []
    rows: list[list[str]] = []
    for key, v in st.items():
        _flatten(key, v, rows)
    if grid:
        rows.append(
            [
                "threshold_grid",
                f"{len(grid)} thresholds from {grid[0]:g} to {grid[-1]:g} (curves and "
                "decision curves)",
            ]
        )
    cfg = result.config
    for key in (
        "n_boot",
        "seed",
        "min_cell",
        "confidence",
        "boot_score_bins",
        "max_intersection_order",
        "score_column",
    ):
        if key in cfg:
            rows.append([f"config.{key}", _plain(cfg[key])])
    s.blocks.append(Section("4.1", "Settings", 1))
    s.blocks.append(
        Table(
            ["Setting", "Value"],
            rows,
            [0.3, 0.7],
            ["L", "L"],
            font_size=7.5,
            caption="Table 4.1 Audit settings (from the result's settings block).",
        )
    )
    s.blocks.append(Section("4.2", "Confidence intervals per metric", 1))
    s.blocks.append(
        Table(
            ["Metric", "Interval method"],
            [[metric_name(k2), str(v2)] for k2, v2 in ci.items()],
            [0.3, 0.7],
            ["L", "L"],
            font_size=7.5,
            caption="Table 4.2 Confidence-interval method of each metric.",
        )
    )
    s.blocks.append(Section("4.3", "Reference groups", 1))
    s.blocks.append(
        Table(
            ["Attributes", "Reference group (differences are group − reference)"],
            [
                [" × ".join(e.get("attributes", [])), group_label(e.get("reference") or {})]
                for e in refs
            ],
            [0.35, 0.65],
            ["L", "L"],
            font_size=7.5,
            caption="Table 4.3 Reference group of each partition.",
        )
    )
    pk = (result.run or {}).get("packages") or {}
    s.blocks.append(Section("4.4", "Software", 1))
    s.blocks.append(
        Table(
            ["Package", "Version"],
            [[f"{result.tool.get('name', 'cohortaudit')}", result.tool.get("version", "?")]]
            + [[k2, str(v2)] for k2, v2 in pk.items()],
            [0.4, 0.6],
            ["L", "L"],
            font_size=7.5,
            caption="Table 4.4 Package versions used for this audit.",
        )
    )
    return s


# ---------------------------------------------------------------------------- 5 discrimination


def _discrimination(result: AuditResult) -> Section:
    o = result.overall
    s = Section("5", "Discrimination", 0, new_page=True)
    s.blocks.append(
        Para(
            "Discrimination is how well the model ranks patients with the outcome above those "
            "without it (AUROC: 0.5 = chance, 1 = perfect; AUPRC depends on the outcome rate, "
            f"{group_cell(result, o, 'prevalence')} here)."
        )
    )
    ci = result.settings.get("ci_methods", {})
    rows = [
        [metric_name(k), group_cell(result, o, k), str(ci.get(k, "—"))]
        for k in ("auroc", "auprc", "brier", "scaled_brier", "discrimination_slope")
        if k in o.metrics
    ]
    s.blocks.append(
        Table(
            ["Metric", "All patients (95% CI)", "Interval method"],
            rows,
            [0.25, 0.3, 0.45],
            ["L", "L", "L"],
            caption="Table 5.1 Overall discrimination.",
        )
    )
    s.blocks.append(
        Chart(
            "roc",
            "Figure 5.1 ROC curves of all patients and of each group on the fixed threshold "
            "grid (AUROC in the legend); the dot marks the operating threshold. Groups that "
            "are not evaluable are not drawn.",
            height_mm=135,
        )
    )
    rows2 = _group_rows(result, _groups(result, 1), ("auroc", "auprc"))
    s.blocks.append(
        Table(
            ["Group", "Patients", "Events", "AUROC (95% CI)", "AUPRC (95% CI)"],
            rows2,
            [0.32, 0.11, 0.09, 0.24, 0.24],
            ["L", "R", "R", "L", "L"],
            caption="Table 5.2 Discrimination by group († imprecise).",
        )
    )
    return s


def _group_rows(
    result: AuditResult,
    groups: Sequence[GroupResult],
    keys: Sequence[str],
    *,
    counts: bool = True,
):
    rows: list[list[Any]] = []
    extra = 2 if counts else 0
    for g in groups:
        if g.suppressed:
            rows.append([_group_name(result, g), Span(_not_evaluable(result), extra + len(keys))])
            continue
        rows.append(
            [_group_name(result, g)]
            + ([_int(g.n), _int(g.events)] if counts else [])
            + [group_cell(result, g, k) for k in keys]
        )
    return rows


# ---------------------------------------------------------------------------- 6 calibration


def _calibration(result: AuditResult) -> Section:
    o = result.overall
    cal = result.settings.get("calibration", {}) or {}
    s = Section("6", "Calibration", 0, new_page=True)
    s.blocks.append(
        Para(
            "Calibration is whether predicted risks match observed outcome rates: on average "
            "(O/E ratio, calibration-in-the-large), in their spread (calibration slope), and "
            "across the range of risk (smoothed calibration curve; ICI, E50, E90, Emax are "
            "distances between the curve and the diagonal). " + str(cal.get("hierarchy", ""))
        )
    )
    found = calibration_findings(result)
    if found:
        s.blocks.append(
            Para("Calibration findings (interval excludes perfect calibration):", "finding")
        )
        s.blocks.append(Bullets([f.sentence for f in found]))
    else:
        s.blocks.append(
            Para("No group's calibration interval excludes perfect calibration.", "finding")
        )
    ci = result.settings.get("ci_methods", {})
    rows = []
    for k, (label, meaning) in CAL_LABELS.items():
        if k in o.metrics:
            rows.append([label, group_cell(result, o, k), meaning, str(ci.get(k, "—"))])
    c2 = o.calibration or {}
    if c2.get("hosmer_lemeshow_chi2") is not None:
        rows.append(
            [
                "Hosmer–Lemeshow χ²",
                f"{float(c2['hosmer_lemeshow_chi2']):.1f}",
                f"{c2.get('hosmer_lemeshow_groups', '?')} groups",
                "none",
            ]
        )
    s.blocks.append(
        Table(
            ["Metric", "All patients (95% CI)", "Meaning", "Interval method"],
            rows,
            [0.22, 0.24, 0.28, 0.26],
            ["L", "L", "L", "L"],
            font_size=7.5,
            caption="Table 6.1 Calibration of all patients.",
        )
    )
    s.blocks.append(
        Chart(
            "calibration",
            "Figure 6.1 Smoothed calibration curve of all patients with its "
            "pointwise 95% band (drawn only where enough patients lie on each side), "
            "observed rates in 10 equal-width bins (dots), and the distribution of predicted "
            "risk by outcome (below; bins with fewer than k patients withheld).",
            height_mm=125,
        )
    )
    keys = ("oe_ratio", "citl", "calibration_slope", "ici")
    rows2 = _group_rows(result, _groups(result, 1), keys, counts=False)
    s.blocks.append(
        Table(
            ["Group", "O/E (95% CI)", "CITL (95% CI)", "Slope (95% CI)", "ICI (95% CI)"],
            rows2,
            [0.25, 0.18, 0.22, 0.18, 0.17],
            ["L", "L", "L", "L", "L"],
            font_size=7.5,
            caption="Table 6.2 Calibration by group († imprecise; patients and events per "
            "group in Table 3.2).",
        )
    )
    s.blocks.append(
        Chart(
            "calibration_groups",
            "Figure 6.2 Smoothed calibration curves by group (each "
            "panel one attribute; all patients in grey).",
            height_mm=130,
        )
    )
    return s


# ---------------------------------------------------------------------------- 7 utility


def _operating_row(result: AuditResult, g: GroupResult) -> dict[str, Any] | None:
    t = result.settings.get("threshold")
    if t is None or not g.decision_curve:
        return None
    best = min(g.decision_curve, key=lambda r: abs((r.get("threshold") or 9) - t))
    return best if abs((best.get("threshold") or 9) - t) < 1e-9 else None


def _utility(result: AuditResult) -> Section:
    o = result.overall
    t = result.settings.get("threshold")
    card = result.model.card or {}
    rng = card.get("clinically_relevant_range")
    s = Section("7", "Clinical utility", 0, new_page=True)
    s.blocks.append(
        Para(
            "Net benefit weighs true positives against false positives at the harm-to-benefit "
            "ratio implied by a risk threshold t: NB = TP/n − FP/n × t/(1 − t) (Vickers & Elkin "
            "2006). A model is useful at t when its net benefit exceeds both treating everyone "
            "and treating no one (0). Net benefit is reported without confidence intervals in "
            "this audit version."
        )
    )
    s.blocks.append(
        Chart(
            "decision_curve",
            "Figure 7.1 Decision curve of all patients: net benefit of the "
            "model, of treating all and of treating none; shaded: the card's clinically "
            "relevant range; dashed line: the operating threshold.",
            height_mm=95,
        )
    )
    rows = []
    for r in o.decision_curve:
        th = r.get("threshold")
        if th is None:
            continue
        in_range = rng is not None and rng[0] - 1e-9 <= th <= rng[1] + 1e-9
        if in_range or (t is not None and abs(th - t) < 1e-9):
            rows.append(
                [
                    f"{th:.2f}" + (" (operating)" if t is not None and abs(th - t) < 1e-9 else ""),
                    _num(r.get("net_benefit"), 4),
                    _num(r.get("net_benefit_treat_all"), 4),
                    _num(r.get("interventions_avoided_per_100"), 1),
                    _num(r.get("standardized_net_benefit"), 3),
                ]
            )
    cap = "Table 7.1 Net benefit at the operating threshold"
    cap += (
        f" and across the card's clinically relevant range {rng[0]:g}–{rng[1]:g}."
        if rng
        else " (the card states no clinically relevant range)."
    )
    s.blocks.append(
        Table(
            [
                "Threshold",
                "Net benefit (model)",
                "Net benefit (treat all)",
                "Interventions avoided per 100",
                "Standardised net benefit",
            ],
            rows,
            [0.18, 0.2, 0.2, 0.22, 0.2],
            ["L", "R", "R", "R", "R"],
            caption=cap,
        )
    )
    rows2: list[list[Any]] = []
    for g in [o, *_groups(result, 1)]:
        if g.suppressed:
            rows2.append([_group_name(result, g), Span(_not_evaluable(result), 3)])
            continue
        r = _operating_row(result, g)
        if r is None:
            rows2.append([_group_name(result, g), Span("not available", 3)])
            continue
        rows2.append(
            [
                _group_name(result, g),
                _num(r.get("net_benefit"), 4),
                _num(r.get("net_benefit_treat_all"), 4),
                _num(r.get("interventions_avoided_per_100"), 1),
            ]
        )
    s.blocks.append(
        Table(
            [
                "Group",
                "Net benefit (model)",
                "Net benefit (treat all)",
                "Interventions avoided per 100",
            ],
            rows2,
            [0.37, 0.21, 0.21, 0.21],
            ["L", "R", "R", "R"],
            caption=f"Table 7.2 Net benefit by group at the operating threshold {t:g}."
            if t is not None
            else "Table 7.2 Net benefit by group.",
        )
    )
    return s


# ---------------------------------------------------------------------------- 8 fairness


_FAIRNESS_LABELS = {
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio",
    "equal_opportunity_difference": "Equal opportunity difference",
    "equal_opportunity_ratio": "Equal opportunity ratio",
    "equalized_odds_difference": "Equalized odds difference",
    "equalized_odds_ratio": "Equalized odds ratio",
}


def _fairness(result: AuditResult) -> Section:
    s = Section("8", "Subgroups and fairness", 0, new_page=True)
    t = result.settings.get("threshold")
    s.blocks.append(
        Para(
            f"Threshold metrics use the operating threshold {t:g} (predicted positive when the "
            "score is at or above it). Differences are group − reference group of the same "
            "attribute; a finding is a difference whose 95% interval excludes zero."
        )
    )
    s.blocks.append(Section("8.1", "Threshold metrics by group", 1))
    rows = _group_rows(result, [result.overall, *_groups(result, 1)], _THRESHOLD_METRICS)
    s.blocks.append(
        Table(
            ["Group", "n", "Events", *(metric_name(k) for k in _THRESHOLD_METRICS)],
            rows,
            [0.22, 0.08, 0.07, 0.16, 0.16, 0.155, 0.155],
            ["L", "R", "R", "L", "L", "L", "L"],
            font_size=7,
            caption="Table 8.1 Threshold metrics by group (95% CI; † imprecise).",
        )
    )
    s.blocks.append(Section("8.2", "Disparities", 1))
    s.blocks.append(
        Chart(
            "forest",
            "Figure 8.1 Difference from the reference group (group − reference, "
            "95% CI) for each group of one attribute. A line that does not cross zero is a "
            "finding; ◆ marks the reference group.",
            params={"metrics": ["auroc", "sensitivity", "specificity", "ppv"]},
            height_mm=150,
        )
    )
    findings = disparity_findings(
        result,
        metrics=("auroc", "sensitivity", "specificity", "ppv", "npv", "brier", "selection_rate"),
    )
    if findings:
        s.blocks.append(
            Para(f"All {len(findings)} single-attribute findings, largest first:", "finding")
        )
        s.blocks.append(Bullets([f.sentence for f in findings], "small"))
    else:
        s.blocks.append(
            Para("No single-attribute difference has an interval that excludes zero.", "finding")
        )
    s.blocks.append(Section("8.3", "Fairness summaries (fairlearn definitions)", 1))
    rows3 = []
    for f in result.fairness:
        rows3.append(
            [
                " × ".join(f.attributes),
                _FAIRNESS_LABELS.get(f.metric, f.metric),
                fmt_value(f.value),
                str(f.groups_compared),
            ]
        )
    s.blocks.append(
        Table(
            ["Attributes", "Summary", "Value (95% CI)", "Groups compared"],
            rows3,
            [0.27, 0.33, 0.26, 0.14],
            ["L", "L", "L", "R"],
            font_size=7,
            caption="Table 8.2 Fairness summaries over released groups (difference: largest "
            "− smallest; ratio: smallest / largest).",
        )
        if rows3
        else Para("No fairness summary was computed.", "note")
    )
    note = (result.settings.get("calibration", {}) or {}).get("impossibility") or (
        "When base rates differ between groups, calibration within groups and equalized odds "
        "cannot both hold (Kleinberg et al. 2016; Chouldechova 2017)."
    )
    s.blocks.append(
        Para(
            "Impossibility note: " + note + " Calibration within groups and equalized odds "
            "cannot both hold when base rates differ, so gaps in error rates (Table 8.1) must "
            "be read together with calibration by group (Table 6.2): closing one gap by "
            "changing thresholds per group will open the other.",
            "note",
        )
    )
    inter = _groups(result, 2)
    if inter:
        s.blocks.append(Section("8.4", "Intersections of two attributes", 1))
        keys = ("auroc", "sensitivity", "specificity", "oe_ratio")
        rows4 = _group_rows(result, inter, keys)
        s.blocks.append(
            Table(
                ["Group", "n", "Events", "AUROC", "Sensitivity", "Specificity", "O/E"],
                rows4,
                [0.25, 0.075, 0.065, 0.155, 0.155, 0.155, 0.145],
                ["L", "R", "R", "L", "L", "L", "L"],
                font_size=6.5,
                caption=f"Table 8.3 {len(inter)} intersectional groups (95% CI; † imprecise).",
            )
        )
    return s


# ---------------------------------------------------------------------------- 9/10


def _check_limitations(result: AuditResult) -> list[str]:
    out = []
    e = result.explanations
    if e:
        st = e.get("settings", {})
        out.append(
            f"Explanations (section 9) rest on a sample of {st.get('n_explain', '?'):,} patients "
            "and an interventional masker that treats inputs as independent; SHAP values say "
            "what the model uses, not what causes the outcome."
        )
    else:
        out.append("Explanations were not computed (section 9): reliance on inputs not assessed.")
    if result.safety:
        out.append(
            "Shift (section 10.1) is measured against the card's summary of the development "
            "data only; a card without that summary, or a summary of a different population, "
            "limits what it can show. The weak-slice search covers the listed attributes and "
            "inputs, not every possible subgroup."
        )
    else:
        out.append("Safety checks were turned off (section 10): shift and robustness not assessed.")
    return out


# ---------------------------------------------------------------------------- 11 claims


def _claims(result: AuditResult) -> Section:
    s = Section("11", "Claimed vs measured", 0, new_page=True)
    claims = getattr(result, "claims", None)
    o = result.overall
    s.blocks.append(
        Para(
            "The model card's claimed metrics (from the developer's own validation) next to "
            "what this audit measured on the evaluation cohort. 'Consistent' means the claimed "
            "value lies within the 95% interval measured here; a claim outside it may reflect "
            "a different population, not necessarily a wrong claim."
        )
    )
    if claims:
        rows = []
        for c in claims:
            d = _as_dict(c)
            cv = _metric_value(d.get("claimed"))
            mv = _metric_value(d.get("measured"))
            rows.append(
                [
                    metric_name(str(d.get("metric"))),
                    fmt_value(cv),
                    fmt_value(mv),
                    str(d.get("verdict", "—")),
                    str(d.get("reason", "")),
                ]
            )
        s.blocks.append(
            Table(
                ["Metric", "Claimed (card)", "Measured (95% CI)", "Verdict", "Reason"],
                rows,
                [0.16, 0.17, 0.19, 0.12, 0.36],
                ["L", "L", "L", "L", "L"],
                font_size=7.5,
                caption="Table 11.1 Claimed vs measured performance.",
            )
        )
        return s
    claimed = (result.model.card or {}).get("claimed_metrics") or {}
    if not claimed:
        s.blocks.append(
            Para(
                "The model card states no claimed performance (or no card was "
                "given), so nothing could be compared.",
                "note",
            )
        )
        return s
    rows = []
    for k, v in claimed.items():
        if isinstance(v, dict):
            cv = MetricValue(v.get("value"), v.get("ci_low"), v.get("ci_high"))
        else:
            cv = MetricValue(v)
        mv = o.metrics.get(k)
        if mv is None or mv.value is None or cv.value is None:
            verdict = "not measured"
        elif mv.ci_low is None or mv.ci_high is None:
            verdict = "no interval"
        elif mv.ci_low <= cv.value <= mv.ci_high:
            verdict = "consistent"
        else:
            verdict = "lower" if mv.ci_high < cv.value else "higher"
        rows.append([metric_name(k), fmt_value(cv), group_cell(result, o, k), verdict])
    s.blocks.append(
        Table(
            ["Metric", "Claimed (card)", "Measured (95% CI)", "Verdict"],
            rows,
            [0.3, 0.24, 0.26, 0.2],
            ["L", "L", "L", "L"],
            caption="Table 11.1 Claimed (model card) vs measured performance.",
        )
    )
    return s


# ---------------------------------------------------------------------------- 12 policy


def _policy(result: AuditResult) -> Section:
    s = Section("12", "Policy verdicts", 0)
    policy = getattr(result, "policy", None)
    if not policy:
        s.blocks.append(
            Para(
                "No audit policy was given: the audit states findings but passes no "
                "pass/fail verdict.",
                "note",
            )
        )
        return s
    items = [_as_dict(p) for p in policy]
    counts: dict[str, int] = {}
    for d in items:
        counts[str(d.get("status"))] = counts.get(str(d.get("status")), 0) + 1
    rules = {str(d.get("rule_id")) for d in items}
    n_fail = sum(p.outcome == "fail" for p in policy)
    n_insufficient = counts.get("insufficient data", 0)
    as_counts: dict[str, int] = {}
    for p in policy:
        if p.status == "insufficient data":
            as_counts[p.outcome] = as_counts.get(p.outcome, 0) + 1
    counted = (
        " (counted as " + ", ".join(f"{n} {k}" for k, n in sorted(as_counts.items())) + ")"
        if n_insufficient
        else ""
    )
    s.blocks.append(
        Para(
            f"The audit policy has {len(rules)} rule(s), applied to {len(items)} rule-and-group "
            f"combinations: {counts.get('pass', 0)} pass, {counts.get('fail', 0)} fail, "
            f"{n_insufficient} insufficient data{counted}. "
            + (
                "VERDICT: the model FAILS the audit policy."
                if n_fail
                else "VERDICT: no rule of the audit policy fails."
            ),
            "limitation" if n_fail else "finding",
        )
    )
    descs = {}
    for d in items:
        descs.setdefault(str(d.get("rule_id")), str(d.get("description") or ""))
    s.blocks.append(
        Table(
            ["Rule", "Description"],
            [[k, v] for k, v in descs.items()],
            [0.25, 0.75],
            ["L", "L"],
            font_size=7.5,
            caption="Table 12.1 Rules of the audit policy.",
        )
    )
    if n_insufficient:
        s.blocks.append(
            Para(
                "Insufficient data says why: "
                + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in INSUFFICIENT_REASONS.items())
                + ". Each rule's on_insufficient (fail by default, warn or pass) decides what it "
                "counts as; the Verdict column shows both.",
                "note",
            )
        )
    order = {"fail": 0, "insufficient data": 1, "pass": 2}
    rows = []
    for p in sorted(policy, key=lambda p: (order.get(p.outcome, 1), order.get(p.status, 3))):
        d = _as_dict(p)
        ob = _metric_value(d.get("observed"))
        rows.append(
            [
                str(d.get("rule_id")),
                group_label(d.get("group") or {}),
                _verdict_cell(p),
                fmt_value(ob),
                str(d.get("reason", "")),
            ]
        )
    s.blocks.append(
        Table(
            ["Rule", "Group", "Verdict", "Observed (95% CI)", "Reason"],
            rows,
            [0.14, 0.2, 0.1, 0.18, 0.38],
            ["L", "L", "L", "L", "L"],
            font_size=7,
            caption="Table 12.2 Verdicts by rule and group, failures first.",
        )
    )
    return s


def _verdict_cell(p: Any) -> str:
    """``FAIL``, ``PASS``, or ``INSUFFICIENT DATA (no ci) → warn``."""
    if p.status != "insufficient data":
        return str(p.status).upper()
    why = (p.insufficient_reason or "").replace("_", " ")
    return f"INSUFFICIENT DATA{f' ({why})' if why else ''} → {p.outcome}"


# ---------------------------------------------------------------------------- 13 limitations


def _limitations(result: AuditResult) -> Section:
    s = Section("13", "Limitations", 0, new_page=True)
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
                caption="Table 13.1 Caveats recorded by the audit, most severe first.",
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
    s.blocks.append(
        Bullets(
            [
                f"{n_sup} of {len(result.subgroups)} subgroups are not evaluable (disclosure "
                f"control, fewer than {_k(result)} events or non-events, or withheld so they "
                "cannot be derived); problems in them cannot be seen."
                if result.disclosure_controlled
                else "Disclosure control was off (k = 0): every group is released, however "
                "small; estimates in small groups are imprecise, and this report must not leave "
                "a secure environment.",
                *_check_limitations(result),
                "Net benefit is reported without confidence intervals.",
                "The audit measures the model on this cohort only; results transfer to other "
                "settings only as far as the cohort resembles them.",
                "Differences are estimated one comparison at a time, without correction for "
                "multiple comparisons: with many groups some intervals exclude zero by chance.",
            ],
            "limitation",
        )
    )
    return s


# ---------------------------------------------------------------------------- 14 disclosure


def _disclosure(result: AuditResult) -> Section:
    s = Section("14", "Disclosure log", 0, new_page=True)
    d = result.settings.get("disclosure", {}) or {}
    if not result.disclosure_controlled:
        s.blocks.append(
            Para(
                f"{(result.disclosure_banner or '').upper()}. Disclosure control was off "
                "(k = 0, --min-cell 0): no group, cell, count or curve point was withheld, zero "
                "cells included. k = 0 is meant for an authorised reproduction outside a secure "
                "environment (for example re-deriving a published decision curve).",
                "limitation",
            )
        )
    else:
        s.blocks.append(
            Para(
                f"Small-cell disclosure control with k = {d.get('min_cell')}. Rules: "
                + "; ".join(d.get("rules", []))
                + ". Every action taken is listed below; "
                "suppressed values appear in the report as 'not evaluable (fewer than k)'."
            )
        )
    if d.get("zero_cells") and result.disclosure_controlled:
        s.blocks.append(Para(f"Zero cells: {d['zero_cells']}.", "note"))
    log = result.disclosure_log
    if not log:
        s.blocks.append(Para("No value was withheld.", "note"))
        return s
    counts: dict[tuple[str, str], int] = {}
    for e in log:
        counts[(e.rule, e.action)] = counts.get((e.rule, e.action), 0) + 1
    s.blocks.append(
        Table(
            ["Rule", "Action", "Entries"],
            [[r, a, str(n)] for (r, a), n in counts.items()],
            [0.4, 0.45, 0.15],
            ["L", "L", "R"],
            caption="Table 14.1 Disclosure actions.",
        )
    )
    by_reason: dict[tuple[str, str, str], list[str]] = {}
    for e in log:
        by_reason.setdefault((e.rule, e.action, e.reason), []).append(group_label(e.where))
    rows: list[list[Any]] = []
    for (r, a, reason), where in by_reason.items():
        for i in range(0, len(where), 24):  # rows of 24 groups, so that long lists paginate
            head = f"{r}: {a} ({reason}); {len(where)} entries" if i == 0 else "(continued)"
            rows.append([head, "; ".join(where[i : i + 24])])
    s.blocks.append(
        Table(
            ["Rule / action / reason", "Where (every entry)"],
            rows,
            [0.3, 0.7],
            ["L", "L"],
            font_size=6.5,
            caption=f"Table 14.2 The full disclosure log ({len(log)} entries), grouped by "
            "rule, action and reason; the CSV export lists one entry per row.",
        )
    )
    return s


# ---------------------------------------------------------------------------- 15 checklist


def _checklist(result: AuditResult) -> Section:
    s = Section("15", "Checklist: TRIPOD+AI and EU AI Act Annex IV", 0, new_page=True)
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
        ["3b", "Target population, care setting, intended users", "2"],
        ["3c", "Known health inequalities; fairness", "8, 1"],
        ["5a", "Data sources of the evaluation data", "3 (cohort file and SHA-256)"],
        ["6a–b", "Setting; eligibility (population)", "2 (card), 3"],
        ["8a", "Outcome definition and horizon", "2"],
        ["9a", "Predictors (model inputs)", "2"],
        ["7", "Data preparation; data quality similar across groups", "10.2; 3"],
        ["11", "Missing data handling", "13 (caveats); 3 (exclusions); 10.2 (missing inputs)"],
        [
            "12e",
            "Performance measures: discrimination, calibration, clinical utility, with rationale",
            "4, 5, 6, 7",
        ],
        [
            "12g",
            "How predictions were calculated for evaluation",
            "2, 4 (threshold rule); cover (model SHA-256, test vectors)",
        ],
        ["14", "Fairness: methods to assess it and its results", "4, 8"],
        ["15", "Model output and thresholds", "2, 4, 7"],
        [
            "16",
            "Differences between development and evaluation data",
            "10.1 (shift vs the card), 3 (outcome rates), 11",
        ],
        ["20a–c", "Participants: flow, characteristics by group, comparison with development", "3"],
        ["23a", "Model performance with confidence intervals", "1, 5, 6, 7"],
        ["23b", "Performance across subgroups / heterogeneity", "5.2, 6.2, 8"],
        ["26", "Limitations", "9, 10, 13"],
        ["18e–f", "Data and code availability", "Annex A (embedded audit.json); 4.4 (software)"],
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
            caption="Table 15.1 TRIPOD+AI items and where this report addresses them.",
        )
    )
    annex = [
        [
            "2(g)",
            "Validation and testing procedures used",
            "4 (methods, settings, CI methods), cover (model identity, test vectors)",
        ],
        ["2(g)", "Validation and testing data and their main characteristics", "3"],
        ["2(g)", "Metrics of accuracy", "5, 6, 7, 11"],
        ["2(g)", "Metrics of robustness", "10.3 (perturbations), 10.4 (weak slices), 13"],
        ["2(g)", "Potentially discriminatory impacts", "8, 9 (reliance, proxies), 1"],
        ["2(g)", "Test logs", "14 (disclosure log), Annex A (full result), cover run record"],
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
            caption="Table 15.2 EU AI Act Annex IV 2(g) and where this report addresses it.",
        )
    )
    return s


def _annex(result: AuditResult) -> Section:
    s = Section("A", "Annex A: the audit result (audit.json)", 0, new_page=True)
    s.blocks.append(
        Para(
            "The complete audit result, byte for byte as exported, is attached to this PDF as "
            "the embedded file 'audit.json' (open the attachments panel of the PDF reader, or "
            "run 'pdfdetach -saveall audit.pdf'). Its SHA-256 is given in the run record on "
            "the cover; the first 16 hex digits are the audit id. The JSON follows the "
            f"published schema (version {result.schema_version}) and can be re-read with "
            "cohortaudit to reproduce every table and chart of this report."
        )
    )
    return s

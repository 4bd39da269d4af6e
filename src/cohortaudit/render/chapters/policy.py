"""Chapter "Policy verdicts": the audit policy's rules and their verdicts per group."""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    as_dict,
    metric_value,
)
from cohortaudit.render.document import Para, Section, Table
from cohortaudit.render.findings import (
    fmt_value,
    group_label,
)
from cohortaudit.results import (
    INSUFFICIENT_REASONS,
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    s = Section("Policy verdicts", anchor="policy")
    policy = getattr(result, "policy", None)
    if not policy:
        s.blocks.append(
            Para(
                "No audit policy was given: the audit states findings but passes no "
                "pass/fail verdict.",
                "note",
            )
        )
        return [s]
    items = [as_dict(p) for p in policy]
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
            caption="Rules of the audit policy.",
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
        d = as_dict(p)
        ob = metric_value(d.get("observed"))
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
            caption="Verdicts by rule and group, failures first.",
        )
    )
    return [s]


def _verdict_cell(p: Any) -> str:
    """``FAIL``, ``PASS``, or ``INSUFFICIENT DATA (no ci) → warn``."""
    if p.status != "insufficient data":
        return str(p.status).upper()
    why = (p.insufficient_reason or "").replace("_", " ")
    return f"INSUFFICIENT DATA{f' ({why})' if why else ''} → {p.outcome}"

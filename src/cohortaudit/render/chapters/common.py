"""The formatting helpers every chapter shares: table cells, counts, group names.

One place for how a missing value reads ("not evaluable (fewer than k)", "withheld", "n/a"), so
every chapter of the report says it the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from cohortaudit.registry import label
from cohortaudit.render.document import Span
from cohortaudit.render.findings import fmt_value, group_label
from cohortaudit.results import WITHHELD_COUNT, AuditResult, GroupResult, MetricValue, not_evaluable


def min_cell(result: AuditResult) -> int | None:
    return (result.settings.get("disclosure") or {}).get("min_cell")


def not_evaluable_text(result: AuditResult) -> str:
    return not_evaluable(min_cell(result))


def group_cell(result: AuditResult, g: GroupResult | None, key: str, digits: int = 3) -> str:
    """The table cell of one metric of one group, saying why a value is missing."""
    if g is None:
        return "n/a"
    if g.suppressed:
        return not_evaluable_text(result)
    if key in g.withheld:
        return f"withheld (a cell < {min_cell(result)})"
    v = g.metrics.get(key)
    if v is None or v.value is None:
        return "n/a"
    if key in ("brier", "ici", "e50", "e90", "emax", "ece") and digits < 3:
        digits = 3
    return fmt_value(v, digits)


def withheld_text(result: AuditResult) -> str:
    """A count disclosure control withholds (1..k-1, or derivable from one)."""
    return f"withheld (fewer than {min_cell(result)})"


def int_text(x: Any) -> str:
    return "—" if x is None else f"{int(x):,}"


def num_text(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.{digits}f}".replace("-", "\u2212")
    return str(x)


def pct_text(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def groups_of_order(result: AuditResult, order: int) -> list[GroupResult]:
    feats = {a: i for i, a in enumerate(result.cohort.sensitive_features)}
    gs = [g for g in result.subgroups if len(g.attributes) == order]
    # stable: partition in config order, then the result's own order within a partition
    return sorted(gs, key=lambda g: tuple(feats.get(a, 99) for a in g.attributes))


def reference_of(result: AuditResult, attributes: Sequence[str]) -> dict[str, str]:
    for e in result.settings.get("references", []):
        if tuple(e.get("attributes", ())) == tuple(attributes):
            return dict(e.get("reference") or {})
    return {}


def group_name(result: AuditResult, g: GroupResult, *, mark_reference: bool = True) -> str:
    label = group_label(g.attributes)
    if mark_reference and g.attributes and reference_of(result, list(g.attributes)) == g.attributes:
        label += " (reference)"
    if g.imprecise:
        label += " †"
    return label


def metric_value(x: MetricValue | dict | None) -> MetricValue:
    """A MetricValue from a MetricValue or its dict form (policy and claims carry either)."""
    return x if isinstance(x, MetricValue) else MetricValue.from_dict(x or {})


def as_dict(x: Any) -> dict[str, Any]:
    if isinstance(x, dict):
        return x
    if hasattr(x, "to_dict"):
        return x.to_dict()
    if dataclasses.is_dataclass(x):
        return dataclasses.asdict(x)
    return {"value": str(x)}


def plain(v: Any) -> str:
    if isinstance(v, dict):
        if {"value", "ci_low", "ci_high"} <= set(v):
            return fmt_value(MetricValue(v.get("value"), v.get("ci_low"), v.get("ci_high")))
        return "; ".join(f"{k}: {plain(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(plain(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "—"
    return str(v)


def group_rows(
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
            rows.append(
                [group_name(result, g), Span(not_evaluable_text(result), extra + len(keys))]
            )
            continue
        rows.append(
            [group_name(result, g)]
            + ([int_text(g.n), int_text(g.events)] if counts else [])
            + [group_cell(result, g, k) for k in keys]
        )
    return rows


def operating_row(result: AuditResult, g: GroupResult) -> dict[str, Any] | None:
    t = result.settings.get("threshold")
    if t is None or not g.decision_curve:
        return None
    best = min(g.decision_curve, key=lambda r: abs((r.get("threshold") or 9) - t))
    return best if abs((best.get("threshold") or 9) - t) < 1e-9 else None


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
        f"{float(tv.get('max_abs_diff') or 0):.1e} (tolerance {sci(tv.get('tolerance'))})."
    )


def sci(x: Any) -> str:
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


SLICE_METRIC_WORDS = {
    "auroc": label("auroc"),
    "sensitivity": label("sensitivity").lower(),
    "oe": label("oe_ratio"),
}


def mv_of(d: dict[str, Any] | None) -> MetricValue:
    d = d or {}
    return MetricValue(d.get("value"), d.get("ci_low"), d.get("ci_high"))


def fixed(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{digits}f}".replace("-", "−")


def signed(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}".replace("-", "−")


def group_words(group: dict[str, str]) -> str:
    return "the whole cohort" if not group else ", ".join(f"{a} {v}" for a, v in group.items())


def count_text(x: Any, k: Any) -> str:
    """A released count, or the word for a withheld one (below k, or secondary suppression)."""
    return WITHHELD_COUNT if x is None else f"{int(x):,}"

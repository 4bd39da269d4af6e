"""A metric of one group across a model's recorded audits: estimate and 95% CI per audit.

Drawn from the registry's trend points (``cohortaudit.audit_registry.Trend``: entry id, time,
cohort or site, value, ci_low, ci_high, withheld) without importing the registry: a renderer
reads values, it does not open databases. An audit whose number is withheld or absent keeps its
place on the axis with a grey cross, so a gap is visible rather than closed up; an audit whose
change from the previous one is beyond sampling noise is marked in vermillion.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import plotly.graph_objects as go

from cohortaudit.render.plotly_charts.base import base_layout
from cohortaudit.render.theme import GREY, OKABE_ITO
from cohortaudit.textsafe import for_plotly as _m

__all__ = ["registry_trend_plot"]


def _label(p: Any) -> str:
    """Entry, cohort or site (escaped: both come from strangers), then the date."""
    where = _m(str(p.site or p.cohort or "cohort"))
    return f"#{p.entry_id} {where}<br>{_m(str(p.recorded_at)[:10])}"


def registry_trend_plot(
    points: Sequence[Any],
    *,
    metric_label: str,
    group_label: str,
    flagged: Collection[int] = (),
    reference: float | None = None,
) -> go.Figure:
    """Estimate (dot) and 95% CI (bar) of ``metric_label`` in ``group_label`` per audit, oldest
    first; ``flagged``: entry ids whose change from the audit before is beyond noise;
    ``reference``: a line at the metric's "no problem" value (1 for O/E, 0 for CITL)."""
    fig = go.Figure()
    x = [_label(p) for p in points]
    shown = [p for p in points if p.value is not None and not p.withheld]
    for name, keep, color in (
        ("within noise of the audit before", lambda p: p.entry_id not in flagged, OKABE_ITO["blue"]),
        ("changed beyond noise", lambda p: p.entry_id in flagged, OKABE_ITO["vermillion"]),
    ):
        pts = [p for p in shown if keep(p)]
        if not pts:
            continue
        fig.add_trace(
            go.Scatter(
                x=[_label(p) for p in pts],
                y=[p.value for p in pts],
                mode="markers",
                name=name,
                marker=dict(color=color, size=10),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[(p.ci_high - p.value) if p.ci_high is not None else 0 for p in pts],
                    arrayminus=[(p.value - p.ci_low) if p.ci_low is not None else 0 for p in pts],
                    color=color,
                    thickness=1.6,
                ),
                hovertemplate="%{x}<br>%{y:.4f}<extra></extra>",
            )
        )
    if len(shown) > 1:
        fig.add_trace(
            go.Scatter(
                x=[_label(p) for p in shown],
                y=[p.value for p in shown],
                mode="lines",
                line=dict(color=GREY, width=1, dash="dot"),
                showlegend=False,
                hoverinfo="skip",
            )
        )
    missing = [p for p in points if p.value is None or p.withheld]
    if missing:
        fig.add_trace(
            go.Scatter(
                x=[_label(p) for p in missing],
                y=[None if not shown else min(p.value for p in shown)] * len(missing),
                mode="markers",
                name="withheld or not in this audit",
                marker=dict(color=GREY, symbol="x", size=9),
                hoverinfo="skip",
            )
        )
    if reference is not None:
        fig.add_hline(y=reference, line=dict(color=OKABE_ITO["black"], width=1, dash="dash"))
    fig.update_xaxes(
        title_text="Recorded audit (entry, cohort or site, date)",
        categoryorder="array",
        categoryarray=x,
    )
    fig.update_yaxes(title_text=_m(f"{metric_label}, {group_label} (95% CI)"))
    fig.update_layout(legend=dict(orientation="h", y=-0.35))
    return base_layout(fig, height=420)

"""The plotly charts of a time-to-event audit: Kaplan–Meier observed vs predicted risk, calibration
at the horizon, observed vs predicted by risk decile, decision curves and per-group estimates.

Why a module of its own: a time-to-event result carries other blocks than a binary one (a
``survival`` block with the Kaplan–Meier curve, a calibration curve and deciles *at the horizon*,
net benefit with the true positives from Kaplan–Meier), and its axes speak of time and of risk
by a horizon. Every builder only reads the result; nothing is re-estimated. Risks are drawn in
percent, times in the result's time unit. Names start with ``survival_`` so they never collide
with the binary charts or with the report's static twins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from cohortaudit.render.plotly_charts.base import (
    base_layout,
    escaped_groups,
    group_color,
    rgba_color,
)
from cohortaudit.render.theme import GREY, OKABE_ITO
from cohortaudit.results import GroupResult, MetricValue
from cohortaudit.textsafe import for_plotly as _m

__all__ = [
    "SURVIVAL_METRIC_LABELS",
    "SURVIVAL_RISK_METRICS",
    "survival_metric_label",
    "survival_km_plot",
    "survival_calibration_plot",
    "survival_decile_plot",
    "survival_decision_curve_plot",
    "survival_estimates_plot",
]

#: How the metrics of a time-to-event audit are named on screen.
SURVIVAL_METRIC_LABELS = {
    "median_follow_up": "Median follow-up (reverse KM)",
    "observed_risk": "Observed risk (1 − KM)",
    "expected_risk": "Expected risk (mean predicted)",
    "oe_ratio": "O/E ratio",
    "harrell_c": "Harrell's C",
    "uno_c": "Uno's C",
    "auc_t": "AUC(t)",
    "calibration_slope": "Calibration slope",
    "ici": "ICI",
    "e50": "E50",
    "e90": "E90",
    "emax": "Emax",
    "brier": "Brier score (IPCW)",
    "scaled_brier": "Scaled Brier (IPA)",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "ppv": "PPV",
    "npv": "NPV",
    "selection_rate": "Selection rate",
    "fpr": "False positive rate",
}
#: Metrics that are risks (shown in percent).
SURVIVAL_RISK_METRICS = frozenset({"observed_risk", "expected_risk"})


def survival_metric_label(metric: str) -> str:
    return SURVIVAL_METRIC_LABELS.get(metric, metric.replace("_", " "))


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def _horizon_text(horizon: float, time_unit: str | None) -> str:
    return f"{horizon:g} {time_unit}" if time_unit else f"{horizon:g}"


def _time_title(time_unit: str | None) -> str:
    return f"Time since start of follow-up ({time_unit})" if time_unit else "Time since start"


def _missing_entry(fig: go.Figure, label: str, why: str) -> None:
    """A legend-only entry for a group that has nothing to draw, so its absence is explained."""
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=f"{label}: {why}",
            marker=dict(color=GREY, symbol="x-thin-open", size=9, line=dict(width=2)),
            hoverinfo="skip",
        )
    )


def _band(
    fig: go.Figure,
    x: Sequence[float],
    lo: Sequence[float | None],
    hi: Sequence[float | None],
    *,
    color: str,
    label: str,
    shape: str = "linear",
) -> None:
    """A shaded interval between ``lo`` and ``hi`` (points without both bounds are skipped)."""
    pts = [(a, b, c) for a, b, c in zip(x, lo, hi, strict=True) if b is not None and c is not None]
    if not pts:
        return
    xs = [p[0] for p in pts]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[_pct(p[1]) for p in pts],
            mode="lines",
            line=dict(width=0, shape=shape),
            legendgroup=label,
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[_pct(p[2]) for p in pts],
            mode="lines",
            line=dict(width=0, shape=shape),
            fill="tonexty",
            fillcolor=rgba_color(color, 0.15),
            legendgroup=label,
            showlegend=False,
            hoverinfo="skip",
        )
    )


def survival_km_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    horizon: float,
    time_unit: str | None = None,
    bands: bool = True,
) -> go.Figure:
    """Observed risk over time (1 − Kaplan–Meier, with its Greenwood band) per group, and each
    group's mean predicted risk at the horizon as a diamond on the horizon line.

    Where the diamond sits above the curve's end the model over-predicts for that group, below
    it under-predicts: the Kaplan–Meier "observed vs predicted" of survival model validation.
    The curve shows only the steps the disclosure control released (>= k events per step).
    """
    groups = escaped_groups(groups)
    fig = go.Figure()
    when = _horizon_text(horizon, time_unit)
    top = 0.0
    for i, (label, g) in enumerate(groups):
        km = (g.survival or {}).get("km_curve") if not g.suppressed else None
        if not km or not km.get("time"):
            _missing_entry(fig, label, "no curve released")
            continue
        color, dash = group_color(i)
        t = list(km["time"])
        if bands:
            _band(fig, t, km["ci_low"], km["ci_high"], color=color, label=label, shape="hv")
        risk = [_pct(v) for v in km["observed_risk"]]
        top = max([top, *(v for v in risk if v is not None)])
        fig.add_trace(
            go.Scatter(
                x=t,
                y=risk,
                customdata=list(km.get("at_risk") or [None] * len(t)),
                mode="lines",
                name=f"{label}: observed (KM)",
                legendgroup=label,
                line=dict(color=color, width=2.5, dash=dash, shape="hv"),
                hovertemplate=f"{label}<br>time %{{x:.2f}}: observed risk %{{y:.1f}}%"
                "<br>at risk %{customdata}<extra></extra>",
            )
        )
        expected = g.metrics.get("expected_risk")
        if expected is not None and expected.value is not None:
            top = max(top, 100.0 * expected.value)
            fig.add_trace(
                go.Scatter(
                    x=[horizon],
                    y=[_pct(expected.value)],
                    mode="markers",
                    name=f"{label}: predicted at {when}",
                    legendgroup=label,
                    marker=dict(
                        color=color,
                        symbol="diamond",
                        size=12,
                        line=dict(color=OKABE_ITO["black"], width=1),
                    ),
                    hovertemplate=f"{label}<br>mean predicted risk by {when}: "
                    "%{y:.1f}%<extra></extra>",
                )
            )
    fig.add_vline(
        x=horizon,
        line=dict(color=OKABE_ITO["black"], width=1, dash="dot"),
        annotation_text=f"horizon {when}",
        annotation_position="top left",
    )
    fig.update_xaxes(
        title_text=_time_title(time_unit), range=[0, horizon * 1.04], rangemode="tozero"
    )
    fig.update_yaxes(title_text="Observed risk of the event (%)", range=[0, max(5.0, top * 1.12)])
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=480)


def survival_calibration_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    horizon: float,
    time_unit: str | None = None,
    bands: bool = True,
) -> go.Figure:
    """The flexible calibration curve at the horizon per group: observed risk (from the secondary
    Cox model on the spline of cloglog risk) against predicted risk, with the diagonal."""
    groups = escaped_groups(groups)
    fig = go.Figure()
    when = _horizon_text(horizon, time_unit)
    top = 0.0
    for i, (label, g) in enumerate(groups):
        curve = g.calibration_curve if not g.suppressed else {}
        if not curve or not curve.get("predicted"):
            _missing_entry(fig, label, "no curve released")
            continue
        color, dash = group_color(i)
        x = [_pct(v) for v in curve["predicted"]]
        if bands and curve.get("ci_low") and curve.get("ci_high"):
            _band(fig, x, curve["ci_low"], curve["ci_high"], color=color, label=label)
        y = [_pct(v) for v in curve["observed"]]
        top = max([top, *(v for v in x if v is not None), *(v for v in y if v is not None)])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=label,
                legendgroup=label,
                line=dict(color=color, width=2.5, dash=dash),
                hovertemplate=f"{label}<br>predicted %{{x:.0f}}%: observed %{{y:.1f}}%"
                "<extra></extra>",
            )
        )
    axis = min(100.0, max(10.0, math.ceil(top * 1.05 / 10.0) * 10.0))
    fig.add_trace(
        go.Scatter(
            x=[0, axis],
            y=[0, axis],
            mode="lines",
            name="Perfect calibration",
            line=dict(color=OKABE_ITO["black"], width=1, dash="dash"),
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title_text=f"Predicted risk by {when} (%)", range=[0, axis])
    fig.update_yaxes(title_text=f"Observed risk by {when} (%)", range=[0, axis])
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=480)


def survival_decile_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    horizon: float,
    time_unit: str | None = None,
) -> go.Figure:
    """Observed risk (Kaplan–Meier in each decile of predicted risk, with its CI) against the
    decile's mean predicted risk, per group, with the diagonal."""
    groups = escaped_groups(groups)
    fig = go.Figure()
    when = _horizon_text(horizon, time_unit)
    top = 0.0
    for i, (label, g) in enumerate(groups):
        rows = g.calibration_table if not g.suppressed else ()
        if not rows:
            _missing_entry(fig, label, "deciles withheld")
            continue
        color, _ = group_color(i)
        x = [_pct(r["expected_risk"]) for r in rows]
        y = [_pct(r["observed_risk"]) for r in rows]
        plus = [
            (100.0 * r["ci_high"] - yy) if r.get("ci_high") is not None and yy is not None else 0.0
            for r, yy in zip(rows, y, strict=True)
        ]
        minus = [
            (yy - 100.0 * r["ci_low"]) if r.get("ci_low") is not None and yy is not None else 0.0
            for r, yy in zip(rows, y, strict=True)
        ]
        top = max([top, *(v for v in x if v is not None)])
        top = max([top, *(100.0 * r["ci_high"] for r in rows if r.get("ci_high") is not None)])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                customdata=[[r.get("n"), r.get("events"), r.get("at_risk")] for r in rows],
                mode="markers+lines",
                name=label,
                line=dict(color=color, width=1, dash="dot"),
                marker=dict(color=color, size=9),
                error_y=dict(
                    type="data", symmetric=False, array=plus, arrayminus=minus, color=color
                ),
                hovertemplate=f"{label}<br>predicted %{{x:.1f}}%: observed %{{y:.1f}}%"
                "<br>%{customdata[0]} patients, %{customdata[1]} events, "
                "%{customdata[2]} at risk at the horizon<extra></extra>",
            )
        )
    axis = min(100.0, max(10.0, math.ceil(top * 1.05 / 10.0) * 10.0))
    fig.add_trace(
        go.Scatter(
            x=[0, axis],
            y=[0, axis],
            mode="lines",
            name="Perfect calibration",
            line=dict(color=OKABE_ITO["black"], width=1, dash="dash"),
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title_text=f"Mean predicted risk by {when} (%)", range=[0, axis])
    fig.update_yaxes(title_text=f"Observed risk by {when} (%, Kaplan–Meier)", range=[0, axis])
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=440)


def _column(rows: Sequence[dict[str, Any]], key: str) -> list[float | None]:
    return [r.get(key) for r in rows]


def survival_decision_curve_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    horizon: float,
    time_unit: str | None = None,
    operating_threshold: float | None = None,
) -> go.Figure:
    """Net benefit at the horizon of the model (solid) and of treating everyone (dotted) per
    group, and of treating no one (0, black), against the threshold risk in percent.

    The y axis is cut at the visible net benefits: treat-all falls far below 0 at high
    thresholds, and drawing all of it would flatten the curves that matter.
    """
    groups = escaped_groups(groups)
    fig = go.Figure()
    when = _horizon_text(horizon, time_unit)
    visible: list[float] = []
    for i, (label, g) in enumerate(groups):
        rows = g.decision_curve if not g.suppressed else ()
        if not rows:
            _missing_entry(fig, label, "no decision curve")
            continue
        color, dash = group_color(i)
        t = [_pct(x) for x in _column(rows, "threshold")]
        nb = _column(rows, "net_benefit")
        all_ = _column(rows, "net_benefit_treat_all")
        visible += [v for v in nb if v is not None]
        visible += [v for v in all_ if v is not None and v > 0]
        band = [
            (x, r["net_benefit_ci_low"], r["net_benefit_ci_high"])
            for x, r in zip(t, rows, strict=True)
            if r.get("net_benefit_ci_low") is not None and r.get("net_benefit_ci_high") is not None
        ]
        if band:  # the model's 95% bootstrap band
            fig.add_trace(
                go.Scatter(
                    x=[x for x, _, _ in band] + [x for x, _, _ in reversed(band)],
                    y=[hi for _, _, hi in band] + [lo for _, lo, _ in reversed(band)],
                    fill="toself",
                    fillcolor=rgba_color(color, 0.15),
                    line=dict(width=0),
                    name=f"{label}: model, 95% CI",
                    legendgroup=label,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=nb,
                mode="lines",
                name=f"{label}: model",
                legendgroup=label,
                line=dict(color=color, width=2.5, dash=dash),
                hovertemplate=f"{label}, model<br>threshold %{{x:.0f}}%: net benefit "
                "%{y:.4f}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=all_,
                mode="lines",
                name=f"{label}: treat all",
                legendgroup=label,
                line=dict(color=color, width=1.3, dash="dot"),
                hovertemplate=f"{label}, treat all<br>threshold %{{x:.0f}}%: net benefit "
                "%{y:.4f}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 100],
            y=[0, 0],
            mode="lines",
            name="Treat none",
            line=dict(color=OKABE_ITO["black"], width=1.5),
            hoverinfo="skip",
        )
    )
    if operating_threshold is not None:
        fig.add_vline(
            x=100.0 * operating_threshold,
            line=dict(color=GREY, width=1.5, dash="dash"),
            annotation_text=f"operating threshold {operating_threshold:.0%}",
            annotation_position="top right",
        )
    top = max(visible, default=0.1)
    fig.update_xaxes(title_text=f"Threshold risk by {when} (%)", range=[0, 100])
    fig.update_yaxes(
        title_text=f"Net benefit at {when} (true positives per patient)",
        range=[-0.15 * top, 1.1 * top],
    )
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=480)


def survival_estimates_plot(
    rows: Sequence[tuple[str, MetricValue | None]],
    *,
    metric: str,
    null_value: float | None = None,
    reference_value: float | None = None,
    reference_name: str = "all patients",
    groups_title: str | None = None,
) -> go.Figure:
    """A forest-style plot: each group's estimate of ``metric`` with its 95% interval, the value
    of no effect (O/E 1, AUC 0.5) dotted and all patients dashed. Groups without an estimate
    are left out (the table says why); a group without an interval is drawn without bars."""
    ys, xs, lo, hi = [], [], [], []
    for label, v in rows:
        if v is None or v.value is None:
            continue
        ys.append(_m(label))
        xs.append(v.value)
        lo.append(v.value - v.ci_low if v.ci_low is not None else 0.0)
        hi.append(v.ci_high - v.value if v.ci_high is not None else 0.0)
    name = survival_metric_label(metric)
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker=dict(color=OKABE_ITO["blue"], size=10),
            error_x=dict(
                type="data", symmetric=False, array=hi, arrayminus=lo, color=GREY, thickness=1.6
            ),
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
            showlegend=False,
        )
    )
    if null_value is not None:
        fig.add_vline(x=null_value, line=dict(color=OKABE_ITO["black"], width=1, dash="dot"))
    if reference_value is not None and math.isfinite(reference_value):
        fig.add_vline(
            x=reference_value,
            line=dict(color=OKABE_ITO["orange"], width=2, dash="dash"),
            annotation_text=_m(reference_name),
            annotation_position="top",
        )
    fig.update_xaxes(title_text=f"{name} with 95% CI")
    fig.update_yaxes(
        autorange="reversed",
        type="category",
        title_text=_m(groups_title) if groups_title is not None else None,
    )
    return base_layout(fig, height=max(240, 90 + 32 * len(ys)))

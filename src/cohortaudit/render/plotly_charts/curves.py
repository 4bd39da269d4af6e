"""Plotly curves: ROC, precision-recall, calibration, risk histograms, decision curves.

They read the stored curves of the result (fixed threshold grid) and never recompute a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from cohortaudit.render.plotly_charts.base import (
    base_layout,
    escaped_groups,
    group_color,
    rgba_color,
)
from cohortaudit.render.theme import GREY, OKABE_ITO
from cohortaudit.results import GroupResult, not_evaluable

__all__ = [
    "calibration_plot",
    "risk_histogram_plot",
    "decision_curve_plot",
    "interventions_avoided_plot",
    "roc_plot",
    "pr_plot",
]


_PCT = 100.0


def _pct(x: float | None) -> float | None:
    return None if x is None else x * _PCT


def _not_evaluable_entries(
    fig: go.Figure, groups: Sequence[tuple[str, GroupResult]], *, k: int | None, why: str
) -> None:
    """Legend-only entries for groups drawn without a line, so none silently disappears."""
    for label, g in groups:
        text = not_evaluable(k) if g.suppressed else why
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"{label}: {text}",
                marker=dict(color=GREY, symbol="x-thin-open", size=9),
                hoverinfo="skip",
            )
        )


def _curve_range(values: Sequence[float | None], *, floor: float = 10.0) -> float:
    """Upper axis limit in %: the data's maximum rounded up to 10, at least ``floor``, ≤ 100."""
    top = max((v for v in values if v is not None), default=100.0)
    return float(min(100.0, max(floor, math.ceil((top + 2.0) / 10.0) * 10.0)))


def calibration_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    k: int | None = None,
    overall: GroupResult | None = None,
    bands: bool = True,
    axis_max: float | None = None,
) -> go.Figure:
    """Smoothed observed vs predicted risk per group with pointwise 95% bands, in %.

    Points outside a group's k-safe support are None in the result and are not drawn; groups
    without a curve are listed in the legend with the reason.
    """
    groups = escaped_groups(groups)
    fig = go.Figure()
    drawn: list[float | None] = []
    missing: list[tuple[str, GroupResult]] = []
    if overall is not None and overall.calibration_curve:
        c = overall.calibration_curve
        pts = [(p, o) for p, o in zip(c["predicted"], c["observed"], strict=True) if o is not None]
        fig.add_trace(
            go.Scatter(
                x=[_pct(p) for p, _ in pts],
                y=[_pct(o) for _, o in pts],
                mode="lines",
                name="All patients",
                line=dict(color=GREY, width=1.5, dash="dot"),
                hovertemplate="All patients: predicted %{x:.0f}% → observed %{y:.1f}%<extra></extra>",
            )
        )
    for i, (label, g) in enumerate(groups):
        c = g.calibration_curve
        if g.suppressed or not c or not any(o is not None for o in c.get("observed", [])):
            missing.append((label, g))
            continue
        color, dash = group_color(i)
        rows = [
            (p, o, lo, hi)
            for p, o, lo, hi in zip(
                c["predicted"], c["observed"], c["ci_low"], c["ci_high"], strict=True
            )
            if o is not None
        ]
        xs = [_pct(r[0]) for r in rows]
        drawn.extend(xs)
        drawn.extend(_pct(r[1]) for r in rows)
        if bands:
            band = [(x, _pct(r[2]), _pct(r[3])) for x, r in zip(xs, rows, strict=True)]
            band = [b for b in band if b[1] is not None and b[2] is not None]
            fig.add_trace(
                go.Scatter(
                    x=[b[0] for b in band] + [b[0] for b in reversed(band)],
                    y=[b[2] for b in band] + [b[1] for b in reversed(band)],
                    fill="toself",
                    fillcolor=rgba_color(color, 0.13),
                    line=dict(width=0),
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=label,
                )
            )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[_pct(r[1]) for r in rows],
                mode="lines",
                name=label,
                legendgroup=label,
                line=dict(color=color, width=2.5, dash=dash),
                customdata=[[_pct(r[2]), _pct(r[3])] for r in rows],
                hovertemplate=(
                    f"{label}: predicted %{{x:.0f}}% → observed %{{y:.1f}}% "
                    "(95% CI %{customdata[0]:.1f}–%{customdata[1]:.1f}%)<extra></extra>"
                ),
            )
        )
    _not_evaluable_entries(
        fig, missing, k=k, why="no curve (too few patients across the risk range)"
    )
    top = axis_max if axis_max is not None else _curve_range(drawn)
    fig.add_trace(
        go.Scatter(
            x=[0, top],
            y=[0, top],
            mode="lines",
            name="Perfect calibration",
            line=dict(color=OKABE_ITO["black"], width=1, dash="dash"),
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title_text="Predicted risk (%)", range=[0, top], zeroline=False)
    fig.update_yaxes(title_text="Observed risk (%)", range=[0, top], zeroline=False)
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=520)


def risk_histogram_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    k: int | None = None,
    axis_max: float | None = None,
    columns: int = 3,
) -> go.Figure:
    """Patients by predicted risk, stacked by outcome, one panel per group.

    Bins whose count is withheld (0 < count < k) are marked with a grey × on the axis, never
    drawn as zero.
    """
    groups = escaped_groups(groups)
    from plotly.subplots import make_subplots

    shown = [(label, g) for label, g in groups if not g.suppressed and g.risk_histogram]
    hidden = [label for label, g in groups if g.suppressed or not g.risk_histogram]
    n = max(1, len(shown))
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    titles = []
    for label, g in shown:
        h = g.risk_histogram
        n_withheld = sum(v is None for v in [*h["events"], *h["non_events"]])
        note = f" · {n_withheld} bin(s) withheld (< {k})" if n_withheld else ""
        titles.append(f"{label} (n = {g.n:,}){note}")
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles or ["no group to show"],
        shared_xaxes=True,
        horizontal_spacing=0.06,
        vertical_spacing=0.12 if rows > 1 else 0.05,
    )
    for i, (label, g) in enumerate(shown):
        r, c = i // cols + 1, i % cols + 1
        h = g.risk_histogram
        edges = [e * _PCT for e in h["edges"]]
        mids = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        widths = [(b - a) * 0.92 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        for key, name, color in (
            ("non_events", "Non-events (no outcome)", OKABE_ITO["sky_blue"]),
            ("events", "Events (outcome)", OKABE_ITO["vermillion"]),
        ):
            fig.add_trace(
                go.Bar(
                    x=mids,
                    y=h[key],
                    width=widths,
                    name=name,
                    legendgroup=key,
                    showlegend=i == 0,
                    marker=dict(color=color),
                    hovertemplate=f"{label}<br>{name}: %{{y:,}} patients<br>predicted "
                    "%{x:.1f}% (bin centre)<extra></extra>",
                ),
                row=r,
                col=c,
            )
        gaps = [
            m
            for m, ev, ne in zip(mids, h["events"], h["non_events"], strict=True)
            if ev is None or ne is None
        ]
        if gaps:
            fig.add_trace(
                go.Scatter(
                    x=gaps,
                    y=[0] * len(gaps),
                    mode="markers",
                    name=f"Withheld bin (1 to {k - 1 if k else 'k−1'} patients)",
                    legendgroup="withheld",
                    showlegend=not any(
                        getattr(t, "legendgroup", None) == "withheld" and t.showlegend
                        for t in fig.data
                    ),
                    marker=dict(color=GREY, symbol="x-thin-open", size=9, line=dict(width=2)),
                    hovertemplate=f"{label}: count withheld (0 < count < {k}, or it would give "
                    "one back by subtraction)<extra></extra>",
                ),
                row=r,
                col=c,
            )
    top = axis_max if axis_max is not None else 100.0
    fig.update_layout(barmode="stack", bargap=0)
    fig.update_xaxes(range=[0, top])
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text="Predicted risk (%)", row=rows, col=c)
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="Patients (count)", row=r, col=1)
    fig.update_annotations(font=dict(size=13))
    height = 110 + 240 * rows
    above = 1 + 34 / (height - 110 - 10)  # ~34 px above the panel titles, in paper units
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=above, x=0))
    fig = base_layout(fig, height=height)
    fig.update_layout(margin=dict(t=100))
    if hidden:
        fig.add_annotation(
            text="Not shown: " + ", ".join(hidden) + f" (not evaluable, fewer than {k})",
            xref="paper",
            yref="paper",
            x=1,
            y=above,
            xanchor="right",
            yanchor="bottom",
            showarrow=False,
            font=dict(size=12, color=GREY),
        )
    return fig


def _curve_rows(g: GroupResult, key: str) -> list[float | None]:
    return [row.get(key) for row in g.decision_curve]


def decision_curve_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    k: int | None = None,
    relevant_range: tuple[float, float] | None = None,
    operating_threshold: float | None = None,
    x_max: float | None = None,
) -> go.Figure:
    """Net benefit of the model (solid, with its 95% bootstrap band where the result has
    one) and of treating everyone (dotted) per group.

    Treating no one has net benefit 0 (the black line). The clinically relevant range of
    thresholds from the model card is shaded.
    """
    groups = escaped_groups(groups)
    fig = go.Figure()
    x_top = x_max if x_max is not None else _utility_x_max(relevant_range)
    missing, visible = [], []
    for i, (label, g) in enumerate(groups):
        if g.suppressed or not g.decision_curve:
            missing.append((label, g))
            continue
        color, dash = group_color(i)
        t = [_pct(x) for x in _curve_rows(g, "threshold")]
        nb = _curve_rows(g, "net_benefit")
        all_ = _curve_rows(g, "net_benefit_treat_all")
        visible += [v for x, v in zip(t, nb, strict=True) if v is not None and x <= x_top]
        visible += [v for x, v in zip(t, all_, strict=True) if v is not None and x <= x_top]
        _net_benefit_band(fig, g, t, label, color)
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
    _not_evaluable_entries(fig, missing, k=k, why="no decision curve")
    _threshold_marks(fig, relevant_range, operating_threshold)
    top = max(visible, default=0.1)
    fig.update_xaxes(title_text="Threshold probability (%)", range=[0, x_top])
    fig.update_yaxes(
        title_text="Net benefit (true positives per patient, net of harms)",
        range=[-0.15 * top, 1.1 * top],
    )
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=480)


def _net_benefit_band(
    fig: go.Figure, g: GroupResult, t: list[float | None], label: str, color: str
) -> None:
    """The model's 95% bootstrap band (decision-curve rows' CI keys), under its line: one
    closed polygon per run of thresholds with an interval, so a withheld stretch of the curve
    stays a gap instead of being bridged."""
    lo, hi = _curve_rows(g, "net_benefit_ci_low"), _curve_rows(g, "net_benefit_ci_high")
    xs: list[float | None] = []
    ys: list[float | None] = []
    run: list[int] = []
    for j in [*range(len(t)), None]:
        ok = j is not None and None not in (t[j], lo[j], hi[j])
        if ok:
            run.append(j)
            continue
        if run:
            xs += [t[i] for i in run] + [t[i] for i in reversed(run)] + [None]
            ys += [hi[i] for i in run] + [lo[i] for i in reversed(run)] + [None]
        run = []
    if not xs:
        return
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line=dict(width=0),
            fill="toself",
            fillcolor=rgba_color(color, 0.18),
            name=f"{label}: model 95% CI",
            legendgroup=label,
            showlegend=False,
            hoverinfo="skip",
        )
    )


def _utility_x_max(relevant_range: tuple[float, float] | None) -> float:
    if relevant_range is None:
        return 50.0
    return float(min(100.0, max(30.0, math.ceil(relevant_range[1] * 2 * 10) * 10)))


def _threshold_marks(
    fig: go.Figure,
    relevant_range: tuple[float, float] | None,
    operating_threshold: float | None,
) -> None:
    if relevant_range is not None:
        lo, hi = relevant_range
        fig.add_vrect(
            x0=lo * _PCT,
            x1=hi * _PCT,
            fillcolor=rgba_color(OKABE_ITO["yellow"], 0.22),
            line_width=0,
            layer="below",
            annotation_text="clinically relevant (model card)",
            annotation_position="top left",
            annotation_font=dict(size=12, color=GREY),
        )
    if operating_threshold is not None:
        fig.add_vline(
            x=operating_threshold * _PCT,
            line=dict(color=GREY, width=1, dash="dash"),
            annotation_text=f"operating {operating_threshold * _PCT:g}%",
            annotation_position="bottom right",
            annotation_font=dict(size=12, color=GREY),
        )


def interventions_avoided_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    k: int | None = None,
    relevant_range: tuple[float, float] | None = None,
    operating_threshold: float | None = None,
    x_max: float | None = None,
) -> go.Figure:
    """Net reduction in interventions per 100 patients, compared with treating everyone."""
    groups = escaped_groups(groups)
    fig = go.Figure()
    x_top = x_max if x_max is not None else _utility_x_max(relevant_range)
    lo_x = relevant_range[0] * _PCT if relevant_range else 0.0
    missing, visible = [], []
    for i, (label, g) in enumerate(groups):
        if g.suppressed or not g.decision_curve:
            missing.append((label, g))
            continue
        color, dash = group_color(i)
        t = [_pct(x) for x in _curve_rows(g, "threshold")]
        ia = _curve_rows(g, "interventions_avoided_per_100")
        visible += [v for x, v in zip(t, ia, strict=True) if v is not None and lo_x <= x <= x_top]
        fig.add_trace(
            go.Scatter(
                x=t,
                y=ia,
                mode="lines",
                name=label,
                line=dict(color=color, width=2.5, dash=dash),
                hovertemplate=f"{label}<br>threshold %{{x:.0f}}%: %{{y:.1f}} fewer "
                "interventions per 100 patients<extra></extra>",
            )
        )
    _not_evaluable_entries(fig, missing, k=k, why="no decision curve")
    _threshold_marks(fig, relevant_range, operating_threshold)
    fig.add_hline(y=0, line=dict(color=OKABE_ITO["black"], width=1))
    y_lo, y_hi = min(visible, default=0.0), max(visible, default=100.0)
    pad = 0.08 * max(1.0, y_hi - y_lo)
    fig.update_xaxes(title_text="Threshold probability (%)", range=[0, x_top])
    fig.update_yaxes(
        title_text="Interventions avoided per 100 patients",
        range=[min(0.0, y_lo) - pad, max(0.0, y_hi) + pad],
    )
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=420)


_INSIDE_LEGEND = dict(
    orientation="v", bgcolor="rgba(255,255,255,0.85)", bordercolor="#d0d0d0", borderwidth=1
)


def _operating_index(g: GroupResult, curve: dict, threshold: float | None) -> int | None:
    if threshold is None:
        return None
    ts = curve.get("threshold") or []
    best = min(range(len(ts)), key=lambda i: abs(ts[i] - threshold), default=None)
    return best if best is not None and abs(ts[best] - threshold) < 1e-9 else None


def _grid_curve_traces(
    fig: go.Figure,
    groups: Sequence[tuple[str, GroupResult]],
    *,
    curve: str,
    x: str,
    y: str,
    metric: str,
    operating_threshold: float | None,
    hover: str,
    extra=None,
) -> list[tuple[str, GroupResult]]:
    """One line per group from a fixed-grid curve (ROC or PR), a dot at the operating
    threshold, and ``extra(fig, label, g, color)`` for per-group additions; returns the groups
    without a curve (suppressed or withheld)."""
    groups = escaped_groups(groups)
    missing = []
    for i, (label, g) in enumerate(groups):
        c = getattr(g, curve)
        if g.suppressed or not c or not any(v is not None for v in c.get(y, [])):
            missing.append((label, g))
            continue
        color, dash = group_color(i)
        m = g.metrics.get(metric)
        name = f"{label} ({metric.upper()} {m.value:.2f})" if m and m.value is not None else label
        fig.add_trace(
            go.Scatter(
                x=[_pct(v) for v in c[x]],
                y=[_pct(v) for v in c[y]],
                mode="lines",
                name=name,
                legendgroup=label,
                line=dict(color=color, width=2.5, dash=dash),
                customdata=[[_pct(t)] for t in c["threshold"]],
                hovertemplate=f"{label}<br>threshold %{{customdata[0]:.0f}}%: "
                + hover
                + "<extra></extra>",
            )
        )
        if extra is not None:
            extra(fig, label, g, color)
        j = _operating_index(g, c, operating_threshold)
        if j is not None and c[x][j] is not None and c[y][j] is not None:
            fig.add_trace(
                go.Scatter(
                    x=[_pct(c[x][j])],
                    y=[_pct(c[y][j])],
                    mode="markers",
                    marker=dict(color=color, size=10, line=dict(color="white", width=1.5)),
                    legendgroup=label,
                    showlegend=False,
                    hovertemplate=f"{label} at the operating threshold<extra></extra>",
                )
            )
    return missing


def roc_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    k: int | None = None,
    operating_threshold: float | None = None,
) -> go.Figure:
    """ROC curves per group on the fixed threshold grid; ● marks the operating threshold."""
    fig = go.Figure()
    missing = _grid_curve_traces(
        fig,
        groups,
        curve="roc_curve",
        x="fpr",
        y="tpr",
        metric="auroc",
        operating_threshold=operating_threshold,
        hover="sensitivity %{y:.1f}%, false positive rate %{x:.1f}%",
    )
    _not_evaluable_entries(fig, missing, k=k, why="no curve")
    fig.add_trace(
        go.Scatter(
            x=[0, 100],
            y=[0, 100],
            mode="lines",
            name="Chance",
            line=dict(color=OKABE_ITO["black"], width=1, dash="dash"),
            hoverinfo="skip",
        )
    )
    fig.update_xaxes(title_text="False positive rate, 1 − specificity (%)", range=[0, 100])
    fig.update_yaxes(title_text="Sensitivity, true positive rate (%)", range=[0, 100])
    fig.update_layout(
        legend=_INSIDE_LEGEND | dict(x=0.98, y=0.02, xanchor="right", yanchor="bottom")
    )
    return base_layout(fig, height=520)


def _no_skill_line(fig: go.Figure, label: str, g: GroupResult, color: str) -> None:
    """The group's outcome rate: the precision of a model without skill."""
    prev = g.metrics.get("prevalence")
    if prev is None or prev.value is None:
        return
    fig.add_trace(
        go.Scatter(
            x=[0, 100],
            y=[_pct(prev.value)] * 2,
            mode="lines",
            line=dict(color=color, width=1, dash="dot"),
            legendgroup=label,
            showlegend=False,
            hovertemplate=f"{label}: prevalence {prev.value * _PCT:.1f}% (a model "
            "without skill)<extra></extra>",
        )
    )


def pr_plot(
    groups: Sequence[tuple[str, GroupResult]],
    *,
    k: int | None = None,
    operating_threshold: float | None = None,
) -> go.Figure:
    """Precision–recall curves per group on the fixed threshold grid; ● = operating threshold."""
    fig = go.Figure()
    missing = _grid_curve_traces(
        fig,
        groups,
        curve="pr_curve",
        x="recall",
        y="precision",
        metric="auprc",
        operating_threshold=operating_threshold,
        hover="recall %{x:.1f}%, precision %{y:.1f}%",
        extra=_no_skill_line,
    )
    _not_evaluable_entries(fig, missing, k=k, why="no curve")
    fig.update_xaxes(title_text="Recall, sensitivity (%)", range=[0, 100])
    fig.update_yaxes(title_text="Precision, positive predictive value (%)", range=[0, 100])
    fig.update_layout(legend=_INSIDE_LEGEND | dict(x=0.98, y=0.98, xanchor="right", yanchor="top"))
    return base_layout(fig, height=520)

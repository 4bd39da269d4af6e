"""Plotly charts of a time-to-event audit, for the HTML report: the interactive twins of
:mod:`cohortaudit.render.svg_charts.survival` (one figure per panel of the static chart).

They read the released Kaplan–Meier steps, the flexible calibration curve, the risk deciles and
the decision curve, and recompute nothing. A binary result has none of them: each figure then
carries one legend entry that says so, never a blank plot that looks like a result.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from cohortaudit.render.outcome import horizon, time_unit
from cohortaudit.render.plotly_charts.base import base_layout, group_color, rgba_color
from cohortaudit.render.theme import GREY, OKABE_ITO
from cohortaudit.results import AuditResult, GroupResult
from cohortaudit.textsafe import for_plotly

__all__ = ["km_risk_figures", "survival_calibration_figures", "survival_decision_curve_figures"]


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def _steps(g: GroupResult) -> list[tuple[float, float, float | None, float | None]]:
    km = (g.survival or {}).get("km_curve") or {}
    t, r = km.get("time") or [], km.get("observed_risk") or []
    lo, hi = km.get("ci_low") or [None] * len(t), km.get("ci_high") or [None] * len(t)
    return [
        (a, b, c, d)
        for a, b, c, d in zip(t, r, lo, hi, strict=False)
        if a is not None and b is not None
    ]


def _absent(fig: go.Figure, text: str) -> go.Figure:
    fig.add_trace(
        go.Scatter(x=[None], y=[None], mode="markers", name=text, marker=dict(color=GREY))
    )
    return base_layout(fig, height=360)


def _km_figure(groups: list[tuple[str, GroupResult]], tau: float | None, unit: str, *, band: bool):
    fig = go.Figure()
    top = 5.0
    for i, (label, g) in enumerate(groups):
        pts = _steps(g)
        if g.suppressed or not pts:
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=f"{label}: not drawn (not evaluable or no released step)",
                    marker=dict(color=GREY, symbol="x-thin-open", size=9),
                )
            )
            continue
        color, dash = group_color(i) if len(groups) > 1 else (OKABE_ITO["blue"], "solid")
        xs, ys = [p[0] for p in pts], [_pct(p[1]) for p in pts]
        if tau is not None and xs[-1] < tau:
            xs, ys = [*xs, tau], [*ys, ys[-1]]
        if band:
            ci = [(p[0], _pct(p[2]), _pct(p[3])) for p in pts if p[2] is not None and p[3] is not None]
            if ci:
                if tau is not None and ci[-1][0] < tau:
                    ci.append((tau, ci[-1][1], ci[-1][2]))
                fig.add_trace(
                    go.Scatter(
                        x=[c[0] for c in ci] + [c[0] for c in reversed(ci)],
                        y=[c[2] for c in ci] + [c[1] for c in reversed(ci)],
                        fill="toself",
                        fillcolor=rgba_color(color, 0.15),
                        line=dict(width=0, shape="hv"),
                        hoverinfo="skip",
                        showlegend=False,
                        legendgroup=label,
                    )
                )
                top = max(top, max(c[2] for c in ci))
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=label,
                legendgroup=label,
                line=dict(color=color, width=2.2, dash=dash, shape="hv"),
                hovertemplate=f"{label}: %{{x:.2f}} {unit}, observed risk %{{y:.1f}}%<extra></extra>",
            )
        )
        top = max(top, max(ys))
        exp = g.metrics.get("expected_risk")
        if tau is not None and exp is not None and exp.value is not None:
            fig.add_trace(
                go.Scatter(
                    x=[tau],
                    y=[_pct(exp.value)],
                    mode="markers",
                    name=f"{label}: mean predicted risk at the horizon",
                    legendgroup=label,
                    marker=dict(color=color, symbol="diamond", size=10),
                    hovertemplate=f"{label}: predicted %{{y:.1f}}% by {tau:g} {unit}<extra></extra>",
                )
            )
            top = max(top, _pct(exp.value))
    if tau is not None:
        fig.add_vline(x=tau, line=dict(color=GREY, dash="dot", width=1))
    fig.update_xaxes(
        title_text=f"Time since the start of follow-up ({unit})",
        range=[0, (tau or 1) * 1.04] if tau is not None else None,
    )
    fig.update_yaxes(
        title_text="Observed risk of the event (%)", range=[0, math.ceil(top * 1.08 / 5) * 5]
    )
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=440)


def km_risk_figures(result: AuditResult) -> list[go.Figure]:
    """All patients, then one figure per attribute."""
    tau, unit = horizon(result), for_plotly(time_unit(result))
    if not _steps(result.overall):
        return [_absent(go.Figure(), "no Kaplan–Meier curve (not a time-to-event audit)")]
    figs = [_km_figure([("All patients", result.overall)], tau, unit, band=True)]
    figs[0].update_layout(title=dict(text="All patients (band: 95% CI)", x=0, xanchor="left"))
    for a in result.cohort.sensitive_features:
        groups = [
            (for_plotly(next(iter(g.attributes.values()))), g)
            for g in result.subgroups
            if tuple(g.attributes) == (a,)
        ]
        f = _km_figure(groups, tau, unit, band=False)
        f.update_layout(title=dict(text=f"by {for_plotly(a)}", x=0, xanchor="left"))
        figs.append(f)
    return figs


def survival_calibration_figures(result: AuditResult) -> list[go.Figure]:
    o = result.overall
    cc = o.calibration_curve or {}
    deciles = [
        r
        for r in o.calibration_table
        if r.get("expected_risk") is not None and r.get("observed_risk") is not None
    ]
    pts = [
        (p, v)
        for p, v in zip(cc.get("predicted", []), cc.get("observed", []), strict=False)
        if p is not None and v is not None
    ]
    fig = go.Figure()
    if not pts and not deciles:
        return [_absent(fig, "no calibration at the horizon (not a time-to-event audit)")]
    values = [v for p in pts for v in p] + [
        v for r in deciles for v in (r["expected_risk"], r.get("ci_high") or 0)
    ]
    top = min(100.0, max(10.0, math.ceil((max(values) * 100 + 2) / 10) * 10))
    band = [
        (p, lo, hi)
        for p, lo, hi in zip(
            cc.get("predicted", []), cc.get("ci_low") or [], cc.get("ci_high") or [], strict=False
        )
        if None not in (p, lo, hi)
    ]
    if band:
        fig.add_trace(
            go.Scatter(
                x=[_pct(p) for p, _, _ in band] + [_pct(p) for p, _, _ in reversed(band)],
                y=[_pct(hi) for _, _, hi in band] + [_pct(lo) for _, lo, _ in reversed(band)],
                fill="toself",
                fillcolor="rgba(0,114,178,0.18)",
                line=dict(width=0),
                name="Curve: 95% bootstrap band",
                hoverinfo="skip",
            )
        )
    if pts:
        fig.add_trace(
            go.Scatter(
                x=[_pct(p) for p, _ in pts],
                y=[_pct(v) for _, v in pts],
                mode="lines",
                name="Flexible calibration curve",
                line=dict(color=OKABE_ITO["blue"], width=2.5),
                hovertemplate="predicted %{x:.0f}% → observed %{y:.1f}%<extra></extra>",
            )
        )
    if deciles:
        fig.add_trace(
            go.Scatter(
                x=[_pct(r["expected_risk"]) for r in deciles],
                y=[_pct(r["observed_risk"]) for r in deciles],
                mode="markers",
                name="Risk deciles: observed (Kaplan–Meier, 95% CI)",
                marker=dict(color=OKABE_ITO["vermillion"], size=8),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[
                        _pct(r["ci_high"] - r["observed_risk"]) if r.get("ci_high") is not None else 0
                        for r in deciles
                    ],
                    arrayminus=[
                        _pct(r["observed_risk"] - r["ci_low"]) if r.get("ci_low") is not None else 0
                        for r in deciles
                    ],
                ),
                hovertemplate="decile: predicted %{x:.1f}%, observed %{y:.1f}%<extra></extra>",
            )
        )
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
    fig.update_xaxes(title_text="Predicted risk by the horizon (%)", range=[0, top])
    fig.update_yaxes(title_text="Observed risk by the horizon (%)", range=[0, top])
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return [base_layout(fig, height=480)]


def survival_decision_curve_figures(result: AuditResult) -> list[go.Figure]:
    o = result.overall
    rows = [r for r in o.decision_curve if r.get("threshold") is not None]
    fig = go.Figure()
    if not rows:
        return [_absent(fig, "no decision curve at the horizon")]
    t = [_pct(r["threshold"]) for r in rows]
    band = [
        (x, r["net_benefit_ci_low"], r["net_benefit_ci_high"])
        for x, r in zip(t, rows, strict=True)
        if r.get("net_benefit_ci_low") is not None and r.get("net_benefit_ci_high") is not None
    ]
    if band:
        fig.add_trace(
            go.Scatter(
                x=[x for x, _, _ in band] + [x for x, _, _ in reversed(band)],
                y=[hi for _, _, hi in band] + [lo for _, lo, _ in reversed(band)],
                fill="toself",
                fillcolor="rgba(0,114,178,0.18)",
                line=dict(width=0),
                name="Model: 95% bootstrap CI",
                hoverinfo="skip",
            )
        )
    for key, name, line in (
        ("net_benefit", "Model", dict(color=OKABE_ITO["blue"], width=2.5)),
        ("net_benefit_treat_all", "Treat all", dict(color=GREY, width=1.5, dash="dot")),
    ):
        fig.add_trace(
            go.Scatter(
                x=t,
                y=[r.get(key) for r in rows],
                mode="lines",
                name=name,
                line=line,
                hovertemplate=f"{name}<br>threshold %{{x:.0f}}%: net benefit %{{y:.4f}}<extra></extra>",
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
    th = result.settings.get("threshold")
    if th is not None:
        fig.add_vline(x=100 * th, line=dict(color=OKABE_ITO["vermillion"], dash="dash", width=1))
    obs = o.metrics.get("observed_risk")
    top = obs.value if obs is not None and obs.value is not None else 0.1
    fig.update_xaxes(title_text="Threshold risk by the horizon (%)", range=[0, 60])
    fig.update_yaxes(
        title_text="Net benefit at the horizon (true positives per patient)",
        range=[-0.1 * top, 1.1 * top],
    )
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return [base_layout(fig, height=440)]

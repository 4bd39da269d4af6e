"""Plotly figures of a pooled audit's ``sites`` block: forest plots of per-site metrics.

They read ``AuditResult.sites`` and never recompute a number. Style follows
:mod:`cohortaudit.render.plotly_charts.base` (Okabe–Ito colours, axis titles with units).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from cohortaudit.render.plotly_charts.base import base_layout, metric_label, metric_unit
from cohortaudit.render.theme import OKABE_ITO
from cohortaudit.results import AuditResult
from cohortaudit.textsafe import for_plotly

__all__ = ["SITE_FOREST_METRICS", "site_forest_plot", "site_table_rows"]

#: Metrics with a forest plot (the meta-analysed ones), in display order.
SITE_FOREST_METRICS = ("auroc", "oe_ratio", "calibration_slope")
_NULL_LINE = {"auroc": 0.5, "oe_ratio": 1.0, "calibration_slope": 1.0}
_GREY = "#6b6b6b"


def _meta(result: AuditResult, metric: str) -> dict[str, Any] | None:
    for m in (result.sites or {}).get("meta_analysis", []):
        if m.get("metric") == metric:
            return m
    return None


def site_table_rows(result: AuditResult) -> list[dict[str, Any]]:
    """One row per site: name, n, events, and each metric's value with its CI (plain numbers)."""
    rows = []
    for e in (result.sites or {}).get("sites", []):
        row: dict[str, Any] = {"site": e["name"], "n": e.get("n"), "events": e.get("events")}
        for key, mv in (e.get("metrics") or {}).items():
            row[key] = mv.get("value")
            row[f"{key}_ci_low"] = mv.get("ci_low")
            row[f"{key}_ci_high"] = mv.get("ci_high")
        row["auroc_bin_error_bound"] = e.get("auroc_bin_error_bound")
        rows.append(row)
    return rows


def site_forest_plot(result: AuditResult, *, metric: str) -> go.Figure:
    """Per-site estimates with CIs, the random-effects estimate (diamond) and its 95% PI."""
    sites = (result.sites or {}).get("sites", [])
    ys, xs, lo, hi, hover = [], [], [], [], []
    for e in sites:
        mv = (e.get("metrics") or {}).get(metric) or {}
        if mv.get("value") is None:
            continue
        ys.append(for_plotly(e["name"]))
        xs.append(mv["value"])
        lo.append(mv["value"] - mv["ci_low"] if mv.get("ci_low") is not None else 0.0)
        hi.append(mv["ci_high"] - mv["value"] if mv.get("ci_high") is not None else 0.0)
        hover.append(
            f"{for_plotly(e['name'])}: n={e.get('n'):,}, events={e.get('events'):,}<br>"
            f"{metric_label(metric)} {mv['value']:.3f} ({mv.get('ci_low') or 0:.3f} to "
            f"{mv.get('ci_high') or 0:.3f})"
        )
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            name="site (95% CI)",
            marker=dict(color=OKABE_ITO["blue"], size=11, symbol="square"),
            error_x=dict(type="data", symmetric=False, array=hi, arrayminus=lo, color=_GREY),
            hovertext=hover,
            hoverinfo="text",
        )
    )
    meta = _meta(result, metric)
    label = "pooled (random effects)"
    if meta and meta["estimate"]["value"] is not None:
        est = meta["estimate"]
        pi = meta.get("prediction_interval") or {}
        if pi.get("low") is not None:
            fig.add_trace(
                go.Scatter(
                    x=[pi["low"], pi["high"]],
                    y=[label, label],
                    mode="lines",
                    name="95% prediction interval",
                    line=dict(color=OKABE_ITO["orange"], width=6),
                    opacity=0.5,
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=[est["ci_low"], est["value"], est["ci_high"], est["value"], est["ci_low"]],
                y=[label] * 5,
                mode="lines+markers",
                name="pooled estimate (95% CI)",
                line=dict(color=OKABE_ITO["vermillion"], width=3),
                marker=dict(
                    symbol="diamond", size=[1, 16, 1, 16, 1], color=OKABE_ITO["vermillion"]
                ),
                hovertext=(
                    f"random effects (DerSimonian–Laird): {est['value']:.3f} "
                    f"({est['ci_low']:.3f} to {est['ci_high']:.3f}); τ² {meta['tau2']:.3g}, "
                    f"I² {100 * meta['i2']:.0f}%"
                ),
                hoverinfo="text",
            )
        )
    fig.add_vline(x=_NULL_LINE.get(metric, 0), line=dict(color=OKABE_ITO["black"], dash="dot"))
    fig.update_xaxes(title_text=f"{metric_label(metric)} ({metric_unit(metric)})")
    fig.update_yaxes(title_text="Site", autorange="reversed", type="category")
    return base_layout(fig, height=140 + 42 * (len(ys) + 1))

"""Plotly charts of groups: the forest plot of differences, heatmaps, group estimates.

They read the result and never recompute a number; groups that are not evaluable are shown as
such, never as zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from cohortaudit.render.plotly_charts.base import (
    axis_label,
    base_layout,
    fmt_number,
    groups_for,
    metric_label,
    metric_unit,
    reference_for,
)
from cohortaudit.render.theme import GREY, OKABE_ITO
from cohortaudit.results import AuditResult, MetricValue, not_evaluable
from cohortaudit.textsafe import for_plotly as _m

__all__ = [
    "forest_plot",
    "intersection_heatmap",
    "group_estimates_plot",
    "compare_overall_plot",
]


def forest_plot(
    result: AuditResult,
    *,
    metric: str,
    attributes: Sequence[str],
    min_cell: int | None = None,
    x_title: str | None = None,
    show_groups_title: bool = True,
) -> go.Figure:
    """Difference (group − reference) of ``metric`` with its CI for each group of a partition.

    Groups compared with their partition's reference group when there is one, else with the
    whole cohort. Not-evaluable groups are listed on the axis with a note instead of a point.
    """
    attrs = tuple(attributes)
    k = min_cell if min_cell is not None else result.settings.get("disclosure", {}).get("min_cell")
    ref = reference_for(result, attrs)
    kind = "group" if ref else "overall"
    by_group = {
        tuple(sorted(d.group.items())): d
        for d in result.disparities
        if d.metric == metric and tuple(d.group) == attrs and d.reference_kind == kind
    }
    ys, xs, lo, hi, colors, hover, notes = [], [], [], [], [], [], []
    order: list[str] = []
    for g in groups_for(result, attrs):
        label = _m(axis_label(g.attributes))
        if g.attributes == ref:
            label = f"{label} (reference)"
            order.append(label)
            notes.append((label, "  reference group"))
            continue
        order.append(label)
        d = by_group.get(tuple(sorted(g.attributes.items())))
        if g.suppressed or d is None or d.difference.value is None:
            why = (
                not_evaluable(k)
                if g.suppressed
                else "withheld (a cell below k)"
                if metric in g.withheld
                else "not estimable"
            )
            notes.append((label, why))
            continue
        diff = d.difference
        ys.append(label)
        xs.append(diff.value)
        lo.append(diff.value - diff.ci_low if diff.ci_low is not None else 0.0)
        hi.append(diff.ci_high - diff.value if diff.ci_high is not None else 0.0)
        excludes = (
            diff.ci_low is not None
            and diff.ci_high is not None
            and (diff.ci_low > 0 or diff.ci_high < 0)
        )
        colors.append(OKABE_ITO["vermillion"] if excludes else OKABE_ITO["blue"])
        hover.append(
            f"{_m(axis_label(g.attributes, short=False))}<br>{metric_label(metric)} "
            f"{fmt_number(g.metrics.get(metric, MetricValue(None)).value)}"
            f"<br>difference {fmt_number(diff.value)} ({fmt_number(diff.ci_low)} to {fmt_number(diff.ci_high)})"
            + ("" if not g.imprecise else "<br>imprecise: few events or non-events")
        )
    fig = go.Figure()
    if xs:
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                marker=dict(color=colors, size=11, symbol="square"),
                error_x=dict(
                    type="data",
                    symmetric=False,
                    array=hi,
                    arrayminus=lo,
                    color=GREY,
                    thickness=1.6,
                    width=5,
                ),
                hovertext=hover,
                hoverinfo="text",
                showlegend=False,
            )
        )
    for label, why in notes:
        fig.add_trace(
            go.Scatter(
                x=[0],
                y=[label],
                mode="text",
                text=[why],
                textposition="middle right",
                textfont=dict(color=GREY, size=12),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    # legend entries for the two colours
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name="CI excludes 0",
            marker=dict(color=OKABE_ITO["vermillion"], symbol="square", size=11),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name="CI includes 0",
            marker=dict(color=OKABE_ITO["blue"], symbol="square", size=11),
        )
    )
    fig.add_vline(x=0, line=dict(color=OKABE_ITO["black"], width=1, dash="dot"))
    ref_text = _m(axis_label(ref, short=False)) if ref else "the whole cohort"
    n_rows = len(ys) + len(notes)
    fig.update_xaxes(
        title_text=_m(x_title)
        if x_title
        else f"Difference in {metric_label(metric).lower()}, group − {ref_text} "
        f"({metric_unit(metric)} scale)",
        zeroline=False,
    )
    fig.update_yaxes(
        title_text=_m(" × ".join(attrs)) if show_groups_title else None,
        autorange="reversed",
        type="category",
        categoryorder="array",
        categoryarray=order,
    )
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"))
    fig = base_layout(fig, height=max(260, 110 + 34 * n_rows))
    fig.update_layout(margin=dict(t=50))
    return fig


def intersection_heatmap(result: AuditResult, *, metric: str, rows: str, cols: str) -> go.Figure:
    """``metric`` for every (rows × cols) intersection; empty cells are not evaluable."""
    k = result.settings.get("disclosure", {}).get("min_cell")
    groups = groups_for(result, (rows, cols)) or groups_for(result, (cols, rows))
    row_vals = [g.attributes[rows] for g in groups_for(result, (rows,))]
    col_vals = [g.attributes[cols] for g in groups_for(result, (cols,))]
    for g in groups:  # values only present in intersections, if any
        if g.attributes[rows] not in row_vals:
            row_vals.append(g.attributes[rows])
        if g.attributes[cols] not in col_vals:
            col_vals.append(g.attributes[cols])
    cell = {(g.attributes[rows], g.attributes[cols]): g for g in groups}
    z, text, hover = [], [], []
    for r in row_vals:
        zr, tr, hr = [], [], []
        for c in col_vals:
            g = cell.get((r, c))
            v = g.metrics.get(metric) if g is not None and not g.suppressed else None
            if g is None:
                zr.append(None)
                tr.append("")
                hr.append(f"{_m(rows)}={_m(r)} &amp; {_m(cols)}={_m(c)}<br>no patients")
            elif g.suppressed or v is None or v.value is None:
                why = f"not evaluable<br>(fewer than {k})" if g.suppressed else "withheld"
                zr.append(None)
                tr.append(why)
                hr.append(
                    f"{_m(rows)}={_m(r)} &amp; {_m(cols)}={_m(c)}<br>{why.replace('<br>', ' ')}"
                )
            else:
                zr.append(v.value)
                flag = " *" if g.imprecise else ""
                tr.append(f"{v.value:.2f}{flag}")
                hr.append(
                    f"{_m(rows)}={_m(r)} &amp; {_m(cols)}={_m(c)}<br>{metric_label(metric)} {v.value:.3f} "
                    f"({fmt_number(v.ci_low)} to {fmt_number(v.ci_high)})<br>n={g.n}, events={g.events}"
                    + ("<br>imprecise (few events or non-events)" if g.imprecise else "")
                )
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[_m(c) for c in col_vals],
            y=[_m(r) for r in row_vals],
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=12),
            hovertext=hover,
            hoverinfo="text",
            colorscale=[[0.0, "#EAF5FC"], [0.5, OKABE_ITO["sky_blue"]], [1.0, OKABE_ITO["blue"]]],
            colorbar=dict(
                title=dict(text=f"{metric_label(metric)}<br>({metric_unit(metric)})", side="top"),
                thickness=14,
            ),
            xgap=2,
            ygap=2,
            hoverongaps=False,
        )
    )
    fig.update_xaxes(title_text=_m(cols), type="category", side="bottom")
    fig.update_yaxes(title_text=_m(rows), type="category", autorange="reversed")
    fig.update_layout(plot_bgcolor="#efefef")
    return base_layout(fig, height=max(300, 120 + 44 * len(row_vals)))


def group_estimates_plot(
    rows: Sequence[tuple[str, MetricValue | None]],
    *,
    metric: str,
    reference_value: float | None = None,
    reference_name: str = "overall",
    title: str | None = None,
    groups_title: str | None = None,
) -> go.Figure:
    """Point estimate and CI of ``metric`` for each labelled group (None = not shown)."""
    ys, xs, lo, hi = [], [], [], []
    for label, v in rows:
        if v is None or v.value is None:
            continue
        ys.append(_m(label))
        xs.append(v.value)
        lo.append(v.value - v.ci_low if v.ci_low is not None else 0.0)
        hi.append(v.ci_high - v.value if v.ci_high is not None else 0.0)
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker=dict(color=OKABE_ITO["blue"], size=10),
            error_x=dict(
                type="data",
                symmetric=False,
                array=hi,
                arrayminus=lo,
                color=GREY,
                thickness=1.6,
                width=5,
            ),
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
            showlegend=False,
        )
    )
    if reference_value is not None and math.isfinite(reference_value):
        fig.add_vline(
            x=reference_value,
            line=dict(color=OKABE_ITO["orange"], width=2, dash="dash"),
            annotation_text=_m(reference_name),
            annotation_position="top",
        )
    fig.update_xaxes(title_text=f"{metric_label(metric)} ({metric_unit(metric)})")
    fig.update_yaxes(
        autorange="reversed",
        type="category",
        title_text=_m(groups_title) if groups_title is not None else None,
    )
    return base_layout(fig, height=max(240, 90 + 32 * len(ys)), title=_m(title) if title else title)


def compare_overall_plot(
    a: AuditResult, b: AuditResult, *, metrics: Sequence[str], names: tuple[str, str]
) -> go.Figure:
    """Overall metrics of two audits side by side (dots with CIs, one colour per audit)."""
    fig = go.Figure()
    for result, name, color, offset in (
        (a, _m(names[0]), OKABE_ITO["blue"], -0.15),
        (b, _m(names[1]), OKABE_ITO["orange"], 0.15),
    ):
        xs, ys, lo, hi = [], [], [], []
        for i, m in enumerate(metrics):
            v = result.overall.metrics.get(m)
            if v is None or v.value is None:
                continue
            ys.append(i + offset)
            xs.append(v.value)
            lo.append(v.value - v.ci_low if v.ci_low is not None else 0.0)
            hi.append(v.ci_high - v.value if v.ci_high is not None else 0.0)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=name,
                marker=dict(
                    color=color,
                    size=10,
                    symbol="circle" if color == OKABE_ITO["blue"] else "diamond",
                ),
                error_x=dict(
                    type="data",
                    symmetric=False,
                    array=hi,
                    arrayminus=lo,
                    color=color,
                    thickness=1.6,
                    width=4,
                ),
                hovertemplate="%{x:.3f}<extra>" + name + "</extra>",
            )
        )
    fig.update_yaxes(
        tickvals=list(range(len(metrics))),
        ticktext=[metric_label(m) for m in metrics],
        autorange="reversed",
        title_text=None,
    )
    fig.update_xaxes(title_text="Value with 95% CI (0–1 scale)")
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return base_layout(fig, height=max(260, 80 + 44 * len(metrics)))

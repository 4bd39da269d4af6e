"""Plotly figures of an :class:`AuditResult`. They read the result and never recompute a number.

Colours are the Okabe–Ito palette (safe for the common colour-vision deficiencies); every axis
has a title that says what is measured and in which unit. Groups that are not evaluable are
shown as such, never as zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from cohortaudit.registry import METRICS, keys
from cohortaudit.render.text import METRIC_LABELS
from cohortaudit.render.theme import GREY, OKABE_ITO, PALETTE
from cohortaudit.results import AuditResult, GroupResult, MetricValue, not_evaluable
from cohortaudit.textsafe import for_plotly as _m

__all__ = [
    "OKABE_ITO",
    "PALETTE",
    "metric_label",
    "axis_label",
    "metric_unit",
    "partitions",
    "groups_for",
    "reference_for",
    "forest_plot",
    "intersection_heatmap",
    "group_estimates_plot",
    "compare_overall_plot",
    "CALIBRATION_LABELS",
    "GROUP_COLORS",
    "calibration_plot",
    "risk_histogram_plot",
    "decision_curve_plot",
    "interventions_avoided_plot",
    "roc_plot",
    "pr_plot",
]

_GREY = GREY
_LEGEND_FONT = "Arial, Helvetica, Liberation Sans, sans-serif"
_FONT = dict(family="Source Sans 3, Source Sans Pro, Helvetica, Arial, sans-serif", size=14)


#: Lines of several groups on one plot: the Okabe–Ito colours in an order that keeps the most
#: distinct first (yellow, faint on white, last).
GROUP_COLORS = [
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["black"],
    OKABE_ITO["yellow"],
]
_DASHES = ["solid", "dash", "dot", "dashdot"]

#: Calibration and utility metrics (the performance metrics are in ``render.text``).
#: (the Brier score is reported with the performance metrics, so it is not one of them here)
CALIBRATION_LABELS = {k: METRICS[k].label for k in keys("calibration", "utility") if k != "brier"}


def group_color(i: int) -> tuple[str, str]:
    """Colour and dash of the i-th group line (dashes vary after the 8 colours repeat)."""
    return GROUP_COLORS[i % len(GROUP_COLORS)], _DASHES[(i // len(GROUP_COLORS)) % len(_DASHES)]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def metric_label(metric: str) -> str:
    if metric in CALIBRATION_LABELS:
        return CALIBRATION_LABELS[metric]
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def metric_unit(metric: str) -> str:
    """The unit a metric is reported in (performance metrics are all on a 0–1 scale)."""
    if metric in METRICS:
        return METRICS[metric].unit
    return "proportion, 0–1"


def base_layout(fig: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    """The house style of every plotly figure (template, fonts, margins, legend), applied in place."""
    fig.update_layout(
        template="plotly_white",
        font=_FONT,
        height=height,
        margin=dict(l=10, r=20, t=60 if title else 20, b=10),
        title=dict(text=title, x=0, xanchor="left", font=dict(size=16)) if title else None,
        colorway=PALETTE,
        hoverlabel=dict(font_size=13),
        # a font every browser has: plotly sizes the legend box by measuring its text, and a
        # web font that loads after that measurement clips the last letters of each entry
        legend=dict(font=dict(family=_LEGEND_FONT, size=13)),
    )
    return fig


# --------------------------------------------------------------------------------------------
# reading the result
# --------------------------------------------------------------------------------------------


def partitions(result: AuditResult) -> list[tuple[str, ...]]:
    """Attribute combinations present in the result, single attributes first, in config order."""
    order = {a: i for i, a in enumerate(result.cohort.sensitive_features)}
    seen: dict[tuple[str, ...], None] = {}
    for g in result.subgroups:
        seen.setdefault(tuple(g.attributes), None)
    return sorted(seen, key=lambda p: (len(p), [order.get(a, 99) for a in p]))


def groups_for(result: AuditResult, attributes: Sequence[str]) -> list[GroupResult]:
    """The subgroups of one partition (e.g. ``("sex", "age")``), in the result's order."""
    key = tuple(attributes)
    return [g for g in result.subgroups if tuple(g.attributes) == key]


def reference_for(result: AuditResult, attributes: Sequence[str]) -> dict[str, str]:
    """The reference group the audit used for a partition ({} = the whole cohort)."""
    for entry in result.settings.get("references", []):
        if tuple(entry.get("attributes", ())) == tuple(attributes):
            return dict(entry.get("reference") or {})
    return {}


def axis_label(attributes: dict[str, str], *, short: bool = True) -> str:
    """Group name for an axis: just the value for one attribute (the axis names it)."""
    if not attributes:
        return "overall"
    if short and len(attributes) == 1:
        return next(iter(attributes.values()))
    return " & ".join(f"{k}={v}" for k, v in attributes.items())


def _escaped(groups: Sequence[tuple[str, GroupResult]]) -> list[tuple[str, GroupResult]]:
    """Caller labels (cohort names) escaped once, on entry: plotly renders HTML in labels."""
    return [(_m(label), g) for label, g in groups]


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


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
            f"{_fmt(g.metrics.get(metric, MetricValue(None)).value)}"
            f"<br>difference {_fmt(diff.value)} ({_fmt(diff.ci_low)} to {_fmt(diff.ci_high)})"
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
                    color=_GREY,
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
                textfont=dict(color=_GREY, size=12),
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
                    f"({_fmt(v.ci_low)} to {_fmt(v.ci_high)})<br>n={g.n}, events={g.events}"
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
                color=_GREY,
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


# --------------------------------------------------------------------------------------------
# curves: calibration, risk histogram, decision curves, ROC and PR (all on the fixed grids)
# --------------------------------------------------------------------------------------------

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
                marker=dict(color=_GREY, symbol="x-thin-open", size=9),
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
    groups = _escaped(groups)
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
                line=dict(color=_GREY, width=1.5, dash="dot"),
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
                    fillcolor=_rgba(color, 0.13),
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
    groups = _escaped(groups)
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
                    marker=dict(color=_GREY, symbol="x-thin-open", size=9, line=dict(width=2)),
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
            font=dict(size=12, color=_GREY),
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
    """Net benefit of the model (solid) and of treating everyone (dotted) per group.

    Treating no one has net benefit 0 (the black line). The clinically relevant range of
    thresholds from the model card is shaded.
    """
    groups = _escaped(groups)
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
            fillcolor=_rgba(OKABE_ITO["yellow"], 0.22),
            line_width=0,
            layer="below",
            annotation_text="clinically relevant (model card)",
            annotation_position="top left",
            annotation_font=dict(size=12, color=_GREY),
        )
    if operating_threshold is not None:
        fig.add_vline(
            x=operating_threshold * _PCT,
            line=dict(color=_GREY, width=1, dash="dash"),
            annotation_text=f"operating {operating_threshold * _PCT:g}%",
            annotation_position="bottom right",
            annotation_font=dict(size=12, color=_GREY),
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
    groups = _escaped(groups)
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
    groups = _escaped(groups)
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

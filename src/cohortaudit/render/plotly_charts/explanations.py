"""Plotly charts (and their sentences) of the result's ``explanations`` block.

Pure functions of the block's plain dict: they select, order and draw what the engine stored.
:func:`local_waterfall_plot` draws one patient's explanation from
:func:`cohortaudit.explain.local_explanation` (on screen only, never exported).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from cohortaudit.render.plotly_charts.base import base_layout, group_color
from cohortaudit.render.plotly_charts.checks_base import (
    PROXY_STRONG,
    SHAP_AXIS,
    SIGNED_SHAP_AXIS,
    block_min_cell,
    ci_text,
    empty_figure,
    error_bars,
    escapes_names,
    excludes_zero,
    first_k,
    input_rows,
    legend_above,
    row_offsets,
    value_of,
)
from cohortaudit.render.theme import GREY as _GREY
from cohortaudit.render.theme import OKABE_ITO
from cohortaudit.results import WITHHELD_COUNT
from cohortaudit.textsafe import for_markdown

__all__ = [
    "by_construction",
    "global_importance_plot",
    "shap_distribution_plot",
    "dependence_features",
    "dependence_plot",
    "group_reliance_plot",
    "reliance_sentences",
    "proxy_plot",
    "local_waterfall_plot",
]


def _feature_order(explanations: Mapping[str, Any]) -> list[str]:
    """Inputs ranked by global mean |SHAP| (the engine's order)."""
    return [g["feature"] for g in explanations.get("global") or []]


def by_construction(attribute: str, feature: str) -> bool:
    """The input *is* the attribute (age for age bands): a reliance difference is expected."""
    return feature == attribute


@escapes_names
def global_importance_plot(explanations: Mapping[str, Any]) -> go.Figure:
    """Mean |SHAP| per model input with its bootstrap CI, most important on top."""
    rows = list(explanations.get("global") or [])
    if not rows:
        return empty_figure("No global importance in this result.")
    names = [r["feature"] for r in rows]
    values = [value_of(r["mean_abs_shap"]) for r in rows]
    errs = [error_bars(r["mean_abs_shap"]) for r in rows]
    hover = [
        f"{r['feature']}<br>mean |SHAP| {ci_text(r['mean_abs_shap'], 4)}"
        f"<br>≈ {(value_of(r['mean_abs_shap']) or 0) * 100:.1f} percentage points of predicted risk"
        for r in rows
    ]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker=dict(color=OKABE_ITO["blue"]),
            error_x=dict(
                type="data",
                symmetric=False,
                array=[e[1] for e in errs],
                arrayminus=[e[0] for e in errs],
                color=OKABE_ITO["black"],
                thickness=1.4,
                width=4,
            ),
            hovertext=hover,
            hoverinfo="text",
        )
    )
    fig.update_xaxes(title_text=SHAP_AXIS, rangemode="tozero")
    fig.update_yaxes(title_text="Model input", autorange="reversed", type="category")
    return base_layout(fig, height=max(260, 90 + 34 * len(rows)))


def _bin_labels(edges: Sequence[float]) -> list[str]:
    labels = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        if i == 0:
            labels.append(f"< {b:g}".replace("-", "−"))
        elif i == len(edges) - 2:
            labels.append(f"> {a:g}".replace("-", "−"))
        else:
            labels.append(f"{a:g} to {b:g}".replace("-", "−"))
    return labels


@escapes_names
def shap_distribution_plot(explanations: Mapping[str, Any]) -> go.Figure:
    """A beeswarm without per-patient points: explained patients per (input, fixed SHAP bin).

    Counts the engine withholds (1 to k−1, or secondary suppression) are grey and read
    "withheld".
    """
    dist = explanations.get("distribution") or {}
    counts: Mapping[str, Sequence[int | None]] = dist.get("counts") or {}
    edges = dist.get("bin_edges") or []
    if not counts or len(edges) < 2:
        return empty_figure("No SHAP distribution in this result.")
    k = first_k(dist.get("min_cell"), block_min_cell(explanations))
    order = [f for f in _feature_order(explanations) if f in counts]
    order += [f for f in counts if f not in order]
    labels = _bin_labels(edges)
    z, text, hover = [], [], []
    for f in order:
        zr, tr, hr = [], [], []
        for label, c in zip(labels, counts[f], strict=True):
            if c is None:
                zr.append(None)
                tr.append(WITHHELD_COUNT)
                hr.append(
                    f"{f}, SHAP {label}<br>withheld (fewer than {k}, or it would give one back)"
                )
            else:
                zr.append(c)
                tr.append(str(c) if c else "")
                hr.append(f"{f}, SHAP {label}<br>{c} patients")
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=order,
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=11),
            hovertext=hover,
            hoverinfo="text",
            colorscale=[[0.0, "#FFFFFF"], [0.35, OKABE_ITO["sky_blue"]], [1.0, OKABE_ITO["blue"]]],
            zmin=0,
            colorbar=dict(title=dict(text="Patients<br>(count)", side="top"), thickness=14),
            xgap=2,
            ygap=2,
            hoverongaps=False,
        )
    )
    zero = next((lab for lab in labels if lab.startswith("−0.005 to")), None)
    if zero is not None:
        fig.add_annotation(
            x=zero,
            y=1.0,
            yref="paper",
            yanchor="bottom",
            text="no effect",
            showarrow=False,
            font=dict(size=12, color=_GREY),
        )
    fig.update_xaxes(
        title_text="SHAP value bin (change in predicted risk, probability scale; "
        "left lowers the risk, right raises it)",
        type="category",
        tickangle=-35,
    )
    fig.update_yaxes(title_text="Model input", type="category", autorange="reversed")
    fig.update_layout(plot_bgcolor="#e4e4e4")
    fig = base_layout(fig, height=max(300, 150 + 36 * len(order)))
    fig.update_layout(margin=dict(t=34))
    return fig


def dependence_features(explanations: Mapping[str, Any]) -> list[str]:
    """Inputs with a dependence summary, in global-importance order (categorical ones have none)."""
    dep = explanations.get("dependence") or {}
    order = [f for f in _feature_order(explanations) if f in dep]
    return order + [f for f in dep if f not in order]


def _dependence_label(b: Mapping[str, Any]) -> str:
    if "value" in b:
        return f"{b['value']:g}"
    lo, hi = b.get("low"), b.get("high")
    if lo is None and hi is None:
        return "all"
    if lo is None:
        return f"< {hi:g}"
    if hi is None:
        return f"≥ {lo:g}"
    return f"{lo:g} to {hi:g}"


@escapes_names
def dependence_plot(
    explanations: Mapping[str, Any], feature: str, *, unit: str | None = None
) -> go.Figure:
    """Mean SHAP of ``feature`` per value bin: how the input pushes the predicted risk."""
    entry = (explanations.get("dependence") or {}).get(feature)
    if not entry or not entry.get("bins"):
        return empty_figure(f"No dependence summary for {feature} (categorical inputs have none).")
    k = first_k(block_min_cell(explanations))
    bins = entry["bins"]
    labels = [_dependence_label(b) for b in bins]
    shown = [
        (lab, b) for lab, b in zip(labels, bins, strict=True) if b.get("mean_shap") is not None
    ]
    withheld = [lab for lab, b in zip(labels, bins, strict=True) if b.get("mean_shap") is None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[lab for lab, _ in shown],
            y=[b["mean_shap"] for _, b in shown],
            mode="lines+markers",
            line=dict(color=OKABE_ITO["blue"], width=2),
            marker=dict(
                size=10,
                color=[
                    OKABE_ITO["vermillion"] if b["mean_shap"] > 0 else OKABE_ITO["blue"]
                    for _, b in shown
                ],
            ),
            customdata=[[b.get("n")] for _, b in shown],
            hovertemplate=f"{feature} %{{x}}<br>mean SHAP %{{y:+.4f}}<br>"
            "%{customdata[0]} explained patients<extra></extra>",
            showlegend=False,
        )
    )
    for lab in withheld:
        fig.add_trace(
            go.Scatter(
                x=[lab],
                y=[0],
                mode="markers+text",
                text=[f"<{k}"],
                textposition="top center",
                marker=dict(color=_GREY, symbol="x-thin-open", size=9, line=dict(width=2)),
                textfont=dict(color=_GREY, size=11),
                hovertemplate=f"{feature} %{{x}}: withheld (fewer than {k} patients, or it would give one back)"
                "<extra></extra>",
                showlegend=False,
            )
        )
    fig.add_hline(y=0, line=dict(color=OKABE_ITO["black"], width=1, dash="dot"))
    kind = "value" if entry.get("kind") == "levels" else "quantile bin"
    unit_text = unit or "the input's own unit"
    fig.update_xaxes(
        title_text=f"{feature}, {kind} of the explained patients ({unit_text})",
        type="category",
        categoryorder="array",
        categoryarray=labels,
    )
    fig.update_yaxes(title_text=SIGNED_SHAP_AXIS, zeroline=False)
    return base_layout(fig, height=380)


@escapes_names
def group_reliance_plot(explanations: Mapping[str, Any], attribute: str) -> go.Figure:
    """Per input, each group's mean |SHAP| minus the reference group's, with its CI.

    Filled markers: the CI excludes 0. The row of the input that defines the groups (age for
    age bands) is marked "by construction": a difference there is expected, not a finding.
    """
    comps = [c for c in explanations.get("by_group") or [] if c.get("attribute") == attribute]
    if not comps:
        return empty_figure(f"No group comparison for {attribute} in this result.")
    k = first_k(block_min_cell(explanations))
    shown = [c for c in comps if not c.get("suppressed") and c.get("features")]
    hidden = [c["group"] for c in comps if c.get("suppressed") or not c.get("features")]
    order = _feature_order(explanations)
    for c in shown:
        order += [f["feature"] for f in c["features"] if f["feature"] not in order]
    ypos = {f: i for i, f in enumerate(order)}
    offs = row_offsets(len(shown), spread=min(0.7, 0.18 * len(shown)))
    fig = go.Figure()
    if any(by_construction(attribute, f) for f in order):
        fig.add_hrect(
            y0=ypos[attribute] - 0.45,
            y1=ypos[attribute] + 0.45,
            fillcolor="#eeeeee",
            line_width=0,
            layer="below",
        )
    for i, c in enumerate(shown):
        color, _ = group_color(i)
        feats = c["features"]
        ys = [ypos[f["feature"]] + offs[i] for f in feats]
        xs = [value_of(f["difference"]) for f in feats]
        errs = [error_bars(f["difference"]) for f in feats]
        filled = [excludes_zero(f["difference"]) for f in feats]
        hover = [
            f"{attribute}={c['group']} (n = {c['n']}) vs {c['reference']}<br>{f['feature']}: "
            f"mean |SHAP| {ci_text(f['mean_abs_shap'], 4)} vs "
            f"{ci_text(f['reference_mean_abs_shap'], 4)}<br>difference "
            f"{ci_text(f['difference'], 4)}"
            + (" — by construction" if by_construction(attribute, f["feature"]) else "")
            for f in feats
        ]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=f"{c['group']} (n = {c['n']})",
                marker=dict(
                    color=[color if fl else "white" for fl in filled],
                    line=dict(color=color, width=2),
                    size=10,
                    symbol="circle",
                ),
                error_x=dict(
                    type="data",
                    symmetric=False,
                    array=[e[1] for e in errs],
                    arrayminus=[e[0] for e in errs],
                    color=color,
                    thickness=1.4,
                    width=3,
                ),
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.add_vline(x=0, line=dict(color=OKABE_ITO["black"], width=1, dash="dot"))
    ticks = [f"{f} (by construction)" if by_construction(attribute, f) else f for f in order]
    ref = comps[0].get("reference", "")
    fig.update_xaxes(
        title_text=f"Difference in mean |SHAP|, group − reference ({attribute}={ref})<br>"
        "(change in predicted risk, probability scale)",
        zeroline=False,
    )
    input_rows(fig, ticks, top=-0.5)
    legend_above(fig, y=1.02, title=f"{attribute}:")
    if hidden:
        fig.add_annotation(
            text="Not shown: "
            + ", ".join(hidden)
            + f" (fewer than {k} explained patients: not evaluable)",
            xref="paper",
            yref="paper",
            x=0,
            y=-0.02,
            xanchor="left",
            yanchor="top",
            yshift=-48,
            showarrow=False,
            font=dict(size=12, color=_GREY),
        )
    fig = base_layout(fig, height=max(300, 150 + 46 * len(order)))
    fig.update_layout(margin=dict(t=60, b=40 if hidden else 10))
    return fig


def reliance_sentences(explanations: Mapping[str, Any], attribute: str) -> list[str]:
    """ "The model relies on X more for group G" for every difference whose CI excludes 0.

    Largest |difference| first; the input that defines the groups (by construction) is skipped.
    """
    found = []
    md = for_markdown
    for c in explanations.get("by_group") or []:
        if c.get("attribute") != attribute or c.get("suppressed"):
            continue
        for f in c.get("features") or []:
            d = f["difference"]
            if by_construction(attribute, f["feature"]) or not excludes_zero(d):
                continue
            value = value_of(d) or 0.0
            found.append(
                (
                    -abs(value),
                    f"The model relies on **{md(f['feature'])}** {'more' if value > 0 else 'less'} "
                    f"for **{md(attribute)}={md(c['group'])}** than for "
                    f"{md(attribute)}={md(c['reference'])}: "
                    f"mean |SHAP| {value_of(f['mean_abs_shap']):.3f} vs "
                    f"{value_of(f['reference_mean_abs_shap']):.3f}, difference {value:+.3f} "
                    f"({value_of(d, 'ci_low'):+.3f} to {value_of(d, 'ci_high'):+.3f}).",
                )
            )
    return [s for _, s in sorted(found, key=lambda t: t[0])]


@escapes_names
def proxy_plot(
    explanations: Mapping[str, Any], attributes: Sequence[str] | None = None
) -> go.Figure:
    """How well each input (and all inputs together) predicts each sensitive attribute.

    Cross-validated AUROC with its CI; 0.5 = no information, the line at 0.8 = strong proxy.
    """
    proxies = [
        p
        for p in explanations.get("proxies") or []
        if attributes is None or p.get("attribute") in attributes
    ]
    if not proxies:
        return empty_figure("No proxy check in this result.")
    attrs: list[str] = []
    for p in proxies:
        if p["attribute"] not in attrs:
            attrs.append(p["attribute"])
    order = [f for f in _feature_order(explanations) if any(p["feature"] == f for p in proxies)]
    order += [
        p["feature"]
        for p in proxies
        if p["feature"] not in order and p["feature"] != "(all inputs)"
    ]
    if any(p["feature"] == "(all inputs)" for p in proxies):
        order.append("(all inputs)")
    ypos = {f: i for i, f in enumerate(order)}
    offs = row_offsets(len(attrs), spread=min(0.72, 0.16 * len(attrs)))
    fig = go.Figure()
    for i, a in enumerate(attrs):
        color, _ = group_color(i)
        rows = [p for p in proxies if p["attribute"] == a]
        errs = [error_bars(p["auroc"]) for p in rows]
        fig.add_trace(
            go.Scatter(
                x=[value_of(p["auroc"]) for p in rows],
                y=[ypos[p["feature"]] + offs[i] for p in rows],
                mode="markers",
                name=a,
                marker=dict(
                    color=[color if p.get("strong") else "white" for p in rows],
                    line=dict(color=color, width=2),
                    size=10,
                    symbol=["diamond" if p.get("strong") else "circle" for p in rows],
                ),
                error_x=dict(
                    type="data",
                    symmetric=False,
                    array=[e[1] for e in errs],
                    arrayminus=[e[0] for e in errs],
                    color=color,
                    thickness=1.3,
                    width=3,
                ),
                hovertext=[
                    f"{p['feature']} → {a}: AUROC {ci_text(p['auroc'])}"
                    + ("<br><b>strong proxy</b>" if p.get("strong") else "")
                    + f"<br>{p.get('classifier', '')}"
                    for p in rows
                ],
                hoverinfo="text",
            )
        )
    strong = float((explanations.get("settings") or {}).get("proxy_strong_auroc", PROXY_STRONG))
    fig.add_vline(
        x=strong,
        line=dict(color=OKABE_ITO["vermillion"], width=1.5, dash="dash"),
        annotation_text=f"strong proxy ≥ {strong:g}",
        annotation_position="top right",
        annotation_font=dict(size=12, color=OKABE_ITO["vermillion"]),
    )
    fig.add_vline(
        x=0.5,
        line=dict(color=_GREY, width=1, dash="dot"),
        annotation_text="no information",
        annotation_position="top left",
        annotation_font=dict(size=12, color=_GREY),
    )
    if "(all inputs)" in ypos:
        fig.add_hline(y=ypos["(all inputs)"] - 0.5, line=dict(color="#c8c8c8", width=1))
    lo = min(
        [value_of(p["auroc"], "ci_low") or value_of(p["auroc"]) or 0.5 for p in proxies] + [0.45]
    )
    fig.update_xaxes(
        title_text="How well the input predicts the attribute: cross-validated AUROC (0.5–1)",
        range=[max(0.0, lo - 0.02), 1.0],
    )
    input_rows(fig, order, top=-1.0)
    legend_above(fig, y=1.06, title="Sensitive attribute:")
    fig = base_layout(fig, height=max(320, 160 + 44 * len(order)))
    fig.update_layout(margin=dict(t=70))
    return fig


@escapes_names
def local_waterfall_plot(local: Mapping[str, Any]) -> go.Figure:
    """One patient: from the average predicted risk, each input's SHAP step to this prediction.

    Drawn in percentage points of predicted risk; red steps raise the risk, blue lower it.
    """
    feats = list(local.get("features") or [])
    base = float(local["base_value"]) * 100
    pred = float(local["prediction"]) * 100

    def _val(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)

    labels = ["Average prediction"] + [f"{f['feature']} = {_val(f['value'])}" for f in feats]
    labels.append("This patient")
    steps = [f["shap"] * 100 for f in feats]
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            y=labels,
            x=[base, *steps, pred],
            measure=["absolute"] + ["relative"] * len(steps) + ["total"],
            text=[f"{base:.1f}%"] + [f"{s:+.1f} pts" for s in steps] + [f"{pred:.1f}%"],
            textposition="outside",
            cliponaxis=False,
            increasing=dict(marker=dict(color=OKABE_ITO["vermillion"])),
            decreasing=dict(marker=dict(color=OKABE_ITO["blue"])),
            totals=dict(marker=dict(color=_GREY)),
            connector=dict(line=dict(color="#bbbbbb", width=1, dash="dot")),
            hoverinfo="skip",
        )
    )
    top = max(base, pred, *(base + sum(steps[: i + 1]) for i in range(len(steps))), 1.0)
    fig.update_xaxes(title_text="Predicted risk (%): average, each input's step, this patient",
                     range=[0, top * 1.25])  # fmt: skip
    fig.update_yaxes(autorange="reversed", type="category")
    return base_layout(fig, height=max(300, 110 + 34 * len(labels)))

"""Plotly figures (and the sentences that go with them) for the ``explanations`` and ``safety``
blocks of an audit result.

Every function is a pure function of the block's plain dict (``result.explanations`` /
``result.safety``, the JSON contract in ``schemas/audit_result.schema.json``) and never
recomputes a statistic: it only selects, orders and draws what the engine stored. The one
exception to "from the result" is :func:`local_waterfall_plot`, which draws the dict returned by
:func:`cohortaudit.explain.local_explanation` (one patient, on screen only, never exported).

Style follows :mod:`cohortaudit.render.figures`: Okabe–Ito colours, axis titles that say what is
measured and in which unit, withheld counts shown as "fewer than k", never as zero.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# the shared style helpers: one look for every figure of the dashboard
from cohortaudit.registry import METRICS
from cohortaudit.registry import label as metric_label
from cohortaudit.render.figures import base_layout, group_color
from cohortaudit.render.theme import GREY as _GREY
from cohortaudit.render.theme import OKABE_ITO
from cohortaudit.results import WITHHELD_COUNT
from cohortaudit.textsafe import for_markdown, for_plotly, short_name
from cohortaudit.vocabulary import UNIT_FACTORS

__all__ = [
    "SHAP_AXIS",
    "by_construction",
    "global_importance_plot",
    "shap_distribution_plot",
    "dependence_features",
    "dependence_plot",
    "group_reliance_plot",
    "reliance_sentences",
    "proxy_plot",
    "shift_plot",
    "robustness_plot",
    "weak_slice_plot",
    "slice_name",
    "local_waterfall_plot",
    "unit_changes",
    "safety_verdict",
    "group_label",
]

#: SHAP values on the probability scale are changes in predicted risk (0–1).
SHAP_AXIS = "mean |SHAP| (change in predicted risk, probability scale)"
_SIGNED_SHAP_AXIS = "mean SHAP (change in predicted risk, probability scale)"
_PROXY_STRONG = 0.8
_WEAK_METRICS = {
    "auroc": (metric_label("auroc"), f"{metric_label('auroc')} (0–1; higher is better)"),
    "sensitivity": (
        metric_label("sensitivity"),
        f"{metric_label('sensitivity')} at the operating threshold (proportion, 0–1)",
    ),
    "oe": (metric_label("oe_ratio"), f"{metric_label('oe_ratio')} ({METRICS['oe_ratio'].meaning})"),
}


# --------------------------------------------------------------------------------------------
# small readers
# --------------------------------------------------------------------------------------------


def _legend_above(fig: go.Figure, *, y: float, title: str | None = None) -> None:
    """A horizontal legend above the plot area, left-aligned (one look for every figure)."""
    legend: dict[str, Any] = dict(orientation="h", yanchor="bottom", y=y, x=0, xanchor="left")
    if title is not None:
        legend["title"] = dict(text=title)
    fig.update_layout(legend=legend)


def _input_rows(fig: go.Figure, labels: Sequence[str], *, top: float) -> None:
    """A y axis of one row per model input, first at the top (``top`` leaves headroom)."""
    fig.update_yaxes(
        title_text="Model input",
        tickvals=list(range(len(labels))),
        ticktext=list(labels),
        range=[len(labels) - 0.5, top],
        showgrid=False,
    )


def _v(mv: Mapping[str, Any] | None, key: str = "value") -> float | None:
    if not mv:
        return None
    x = mv.get(key)
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _excludes_zero(mv: Mapping[str, Any] | None) -> bool:
    lo, hi = _v(mv, "ci_low"), _v(mv, "ci_high")
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def _err(mv: Mapping[str, Any] | None) -> tuple[float, float]:
    """(minus, plus) error bar lengths of a {value, ci_low, ci_high} dict (0 when absent)."""
    v, lo, hi = _v(mv), _v(mv, "ci_low"), _v(mv, "ci_high")
    if v is None:
        return 0.0, 0.0
    return (v - lo if lo is not None else 0.0), (hi - v if hi is not None else 0.0)


def _ci_text(mv: Mapping[str, Any] | None, digits: int = 3) -> str:
    v, lo, hi = _v(mv), _v(mv, "ci_low"), _v(mv, "ci_high")
    if v is None:
        return "n/a"
    if lo is None or hi is None:
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"


def _escape_all(x: Any) -> Any:
    """Every string in ``x`` (mapping keys included) escaped for plotly; numbers untouched."""
    if isinstance(x, str):
        return for_plotly(x)
    if isinstance(x, Mapping):
        return {_escape_all(k): _escape_all(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_escape_all(v) for v in x)
    return x


_F = TypeVar("_F", bound=Callable[..., go.Figure])


def _escapes_names(builder: _F) -> _F:
    """The figure builder sees its inputs with every name escaped (input, attribute and group
    names, messages), so nothing from the cohort, model or card becomes plotly markup. Internal
    keys and enum values (``"smd"``, ``"auroc"``) have no special characters and are unchanged.
    """

    @functools.wraps(builder)
    def wrapper(*args: Any, **kwargs: Any) -> go.Figure:
        return builder(*_escape_all(args), **_escape_all(kwargs))

    return wrapper  # type: ignore[return-value]


def group_label(group: Mapping[str, str] | None) -> str:
    """``{}`` → "all patients"; ``{"site": "FI-Tampere"}`` → "site=FI-Tampere"."""
    if not group:
        return "all patients"
    return " & ".join(f"{short_name(k)}={short_name(v)}" for k, v in group.items())


def _empty(message: str, *, height: int = 220) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font=dict(color=_GREY, size=14),
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, height=height)


def _min_cell(block: Mapping[str, Any] | None) -> int | None:
    settings = (block or {}).get("settings") or {}
    k = settings.get("min_cell")
    return int(k) if k is not None else None


def _first_k(*candidates: int | None) -> int:
    """The first stated k (0 included: disclosure control off), else the default 10."""
    return next((int(k) for k in candidates if k is not None), 10)


def _feature_order(explanations: Mapping[str, Any]) -> list[str]:
    """Inputs ranked by global mean |SHAP| (the engine's order)."""
    return [g["feature"] for g in explanations.get("global") or []]


def by_construction(attribute: str, feature: str) -> bool:
    """The input *is* the attribute (age for age bands): a reliance difference is expected."""
    return feature == attribute


# --------------------------------------------------------------------------------------------
# explanations
# --------------------------------------------------------------------------------------------


@_escapes_names
def global_importance_plot(explanations: Mapping[str, Any]) -> go.Figure:
    """Mean |SHAP| per model input with its bootstrap CI, most important on top."""
    rows = list(explanations.get("global") or [])
    if not rows:
        return _empty("No global importance in this result.")
    names = [r["feature"] for r in rows]
    values = [_v(r["mean_abs_shap"]) for r in rows]
    errs = [_err(r["mean_abs_shap"]) for r in rows]
    hover = [
        f"{r['feature']}<br>mean |SHAP| {_ci_text(r['mean_abs_shap'], 4)}"
        f"<br>≈ {(_v(r['mean_abs_shap']) or 0) * 100:.1f} percentage points of predicted risk"
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


@_escapes_names
def shap_distribution_plot(explanations: Mapping[str, Any]) -> go.Figure:
    """A beeswarm without per-patient points: explained patients per (input, fixed SHAP bin).

    Counts the engine withholds (1 to k−1, or secondary suppression) are grey and read
    "withheld".
    """
    dist = explanations.get("distribution") or {}
    counts: Mapping[str, Sequence[int | None]] = dist.get("counts") or {}
    edges = dist.get("bin_edges") or []
    if not counts or len(edges) < 2:
        return _empty("No SHAP distribution in this result.")
    k = _first_k(dist.get("min_cell"), _min_cell(explanations))
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


@_escapes_names
def dependence_plot(
    explanations: Mapping[str, Any], feature: str, *, unit: str | None = None
) -> go.Figure:
    """Mean SHAP of ``feature`` per value bin: how the input pushes the predicted risk."""
    entry = (explanations.get("dependence") or {}).get(feature)
    if not entry or not entry.get("bins"):
        return _empty(f"No dependence summary for {feature} (categorical inputs have none).")
    k = _first_k(_min_cell(explanations))
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
    fig.update_yaxes(title_text=_SIGNED_SHAP_AXIS, zeroline=False)
    return base_layout(fig, height=380)


def _offsets(n: int, spread: float = 0.7) -> list[float]:
    if n <= 1:
        return [0.0]
    step = spread / (n - 1)
    return [-spread / 2 + i * step for i in range(n)]


@_escapes_names
def group_reliance_plot(explanations: Mapping[str, Any], attribute: str) -> go.Figure:
    """Per input, each group's mean |SHAP| minus the reference group's, with its CI.

    Filled markers: the CI excludes 0. The row of the input that defines the groups (age for
    age bands) is marked "by construction": a difference there is expected, not a finding.
    """
    comps = [c for c in explanations.get("by_group") or [] if c.get("attribute") == attribute]
    if not comps:
        return _empty(f"No group comparison for {attribute} in this result.")
    k = _first_k(_min_cell(explanations))
    shown = [c for c in comps if not c.get("suppressed") and c.get("features")]
    hidden = [c["group"] for c in comps if c.get("suppressed") or not c.get("features")]
    order = _feature_order(explanations)
    for c in shown:
        order += [f["feature"] for f in c["features"] if f["feature"] not in order]
    ypos = {f: i for i, f in enumerate(order)}
    offs = _offsets(len(shown), spread=min(0.7, 0.18 * len(shown)))
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
        xs = [_v(f["difference"]) for f in feats]
        errs = [_err(f["difference"]) for f in feats]
        filled = [_excludes_zero(f["difference"]) for f in feats]
        hover = [
            f"{attribute}={c['group']} (n = {c['n']}) vs {c['reference']}<br>{f['feature']}: "
            f"mean |SHAP| {_ci_text(f['mean_abs_shap'], 4)} vs "
            f"{_ci_text(f['reference_mean_abs_shap'], 4)}<br>difference "
            f"{_ci_text(f['difference'], 4)}"
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
    _input_rows(fig, ticks, top=-0.5)
    _legend_above(fig, y=1.02, title=f"{attribute}:")
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
            if by_construction(attribute, f["feature"]) or not _excludes_zero(d):
                continue
            value = _v(d) or 0.0
            found.append(
                (
                    -abs(value),
                    f"The model relies on **{md(f['feature'])}** {'more' if value > 0 else 'less'} "
                    f"for **{md(attribute)}={md(c['group'])}** than for "
                    f"{md(attribute)}={md(c['reference'])}: "
                    f"mean |SHAP| {_v(f['mean_abs_shap']):.3f} vs "
                    f"{_v(f['reference_mean_abs_shap']):.3f}, difference {value:+.3f} "
                    f"({_v(d, 'ci_low'):+.3f} to {_v(d, 'ci_high'):+.3f}).",
                )
            )
    return [s for _, s in sorted(found, key=lambda t: t[0])]


@_escapes_names
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
        return _empty("No proxy check in this result.")
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
    offs = _offsets(len(attrs), spread=min(0.72, 0.16 * len(attrs)))
    fig = go.Figure()
    for i, a in enumerate(attrs):
        color, _ = group_color(i)
        rows = [p for p in proxies if p["attribute"] == a]
        errs = [_err(p["auroc"]) for p in rows]
        fig.add_trace(
            go.Scatter(
                x=[_v(p["auroc"]) for p in rows],
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
                    f"{p['feature']} → {a}: AUROC {_ci_text(p['auroc'])}"
                    + ("<br><b>strong proxy</b>" if p.get("strong") else "")
                    + f"<br>{p.get('classifier', '')}"
                    for p in rows
                ],
                hoverinfo="text",
            )
        )
    strong = float((explanations.get("settings") or {}).get("proxy_strong_auroc", _PROXY_STRONG))
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
    lo = min([_v(p["auroc"], "ci_low") or _v(p["auroc"]) or 0.5 for p in proxies] + [0.45])
    fig.update_xaxes(
        title_text="How well the input predicts the attribute: cross-validated AUROC (0.5–1)",
        range=[max(0.0, lo - 0.02), 1.0],
    )
    _input_rows(fig, order, top=-1.0)
    _legend_above(fig, y=1.06, title="Sensitive attribute:")
    fig = base_layout(fig, height=max(320, 160 + 44 * len(order)))
    fig.update_layout(margin=dict(t=70))
    return fig


@_escapes_names
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


# --------------------------------------------------------------------------------------------
# safety
# --------------------------------------------------------------------------------------------

_FLAG_COLORS = {
    "serious": OKABE_ITO["vermillion"],
    "notable": OKABE_ITO["orange"],
    "none": OKABE_ITO["sky_blue"],
}
_STAT_TITLES = {
    "smd": "|standardised mean difference| vs development data (SD units)",
    "ks_at_quantiles": "Distribution distance at the card's quantiles (share of patients, 0–1)",
    "tvd": "Category mix distance, total variation (share of patients, 0–1)",
}


@_escapes_names
def shift_plot(safety: Mapping[str, Any], *, statistic: str = "smd") -> go.Figure:
    """The whole cohort's shift per input (``statistic``: smd, ks_at_quantiles or tvd) with the
    documented notable/serious thresholds; colour = the engine's flag."""
    rows = [
        f
        for f in safety.get("shift") or []
        if not f.get("group") and f.get("statistic") == statistic and f.get("value") is not None
    ]
    if not rows:
        return _empty("No shift statistics of this kind for the whole cohort.")
    thresholds = (safety.get("settings") or {}).get(statistic) or {}
    signed = statistic == "smd"
    xs, errs = [], []
    for f in rows:
        v = float(f["value"])
        if signed:
            lo, hi = f.get("ci_low"), f.get("ci_high")
            a = abs(v)
            if lo is None or hi is None:
                errs.append((0.0, 0.0))
            else:
                lo_abs = 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))
                hi_abs = max(abs(lo), abs(hi))
                errs.append((a - lo_abs, hi_abs - a))
            xs.append(a)
        else:
            xs.append(v)
            errs.append((0.0, 0.0))
    has_unit = {
        f["feature"]
        for f in safety.get("shift") or []
        if f.get("statistic") == "median_ratio" and f.get("unit_factor")
    }
    names = [f["feature"] + (" (unit?)" if f["feature"] in has_unit else "") for f in rows]
    fig = go.Figure(
        go.Bar(
            x=xs,
            y=names,
            orientation="h",
            marker=dict(color=[_FLAG_COLORS.get(f["flag"], _GREY) for f in rows]),
            error_x=dict(
                type="data",
                symmetric=False,
                array=[e[1] for e in errs],
                arrayminus=[e[0] for e in errs],
                color=OKABE_ITO["black"],
                thickness=1.3,
                width=4,
                visible=signed,
            ),
            hovertext=[f"{f['message']}<br>n = {f['n']:,}; flag: {f['flag']}" for f in rows],
            hoverinfo="text",
            showlegend=False,
        )
    )
    for flag in ("serious", "notable", "none"):
        fig.add_trace(
            go.Bar(
                x=[None],
                y=[None],
                orientation="h",
                name={"none": "not flagged"}.get(flag, flag),
                marker=dict(color=_FLAG_COLORS[flag]),
            )
        )
    for key, dash, where in (("notable", "dot", "top left"), ("serious", "dash", "top right")):
        t = thresholds.get(key)
        if t:
            fig.add_vline(
                x=float(t),
                line=dict(color=_FLAG_COLORS[key], width=1.5, dash=dash),
                annotation_text=f"{key} {float(t):g}",
                annotation_position=where,
                annotation_font=dict(size=12, color=_GREY),
            )
    fig.update_xaxes(title_text=_STAT_TITLES.get(statistic, statistic), rangemode="tozero")
    fig.update_yaxes(
        title_text="Model input", autorange="reversed", type="category", ticksuffix="  "
    )
    fig.update_layout(barmode="overlay")
    _legend_above(fig, y=1.08)
    fig = base_layout(fig, height=max(280, 150 + 34 * len(rows)))
    fig.update_layout(margin=dict(t=70))
    return fig


_PERTURBATIONS = {
    "gaussian_noise": (
        "Gaussian noise on numeric inputs",
        "Noise SD (× each input's SD)",
    ),
    "category_flip": (
        "Category flips",
        "Share of categorical values flipped (0–1)",
    ),
}


@_escapes_names
def robustness_plot(
    safety: Mapping[str, Any], *, attribute: str | None = None, metric: str = "auroc"
) -> go.Figure:
    """Change in AUROC (or sensitivity) under each perturbation and level, with paired CIs:
    all patients (black) and, with ``attribute``, each of its groups."""
    robust = safety.get("robustness") or {}
    rows = list(robust.get("rows") or [])
    if not rows:
        return _empty("No robustness check in this result.")
    key = f"delta_{metric}"
    kinds = [p for p in _PERTURBATIONS if any(r["perturbation"] == p for r in rows)]
    kinds += sorted({r["perturbation"] for r in rows} - set(kinds))
    fig = make_subplots(
        rows=1,
        cols=len(kinds),
        subplot_titles=[_PERTURBATIONS.get(p, (p, p))[0] for p in kinds],
        shared_yaxes=True,
        horizontal_spacing=0.05,
    )
    series: list[tuple[str, dict[str, str]]] = [("All patients", {})]
    if attribute:
        seen: list[str] = []
        for r in rows:
            g = r.get("group") or {}
            if list(g) == [attribute] and g[attribute] not in seen:
                seen.append(g[attribute])
        series += [(f"{attribute}={v}", {attribute: v}) for v in seen]
    levels = {
        kind: sorted({r["level"] for r in rows if r["perturbation"] == kind}) for kind in kinds
    }
    dodge = _offsets(len(series), spread=min(0.5, 0.12 * len(series)))
    for i, (name, group) in enumerate(series):
        color = OKABE_ITO["black"] if not group else group_color(i - 1)[0]
        for c, kind in enumerate(kinds, start=1):
            sel = [r for r in rows if r["perturbation"] == kind and (r.get("group") or {}) == group]
            sel = [r for r in sel if _v(r.get(key)) is not None]
            sel.sort(key=lambda r: r["level"])
            if not sel:
                continue
            errs = [_err(r[key]) for r in sel]
            fig.add_trace(
                go.Scatter(
                    x=[levels[kind].index(r["level"]) + dodge[i] for r in sel],
                    y=[_v(r[key]) for r in sel],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=c == 1,
                    line=dict(color=color, width=2.5 if not group else 1.8),
                    marker=dict(size=8 if not group else 7),
                    error_y=dict(
                        type="data",
                        symmetric=False,
                        array=[e[1] for e in errs],
                        arrayminus=[e[0] for e in errs],
                        color=color,
                        thickness=1.2,
                        width=3,
                    ),
                    hovertext=[
                        f"{name}, {_PERTURBATIONS.get(kind, (kind,))[0].lower()} {r['level']:g}"
                        f"<br>{metric} {r.get(metric) or float('nan'):.3f} → "
                        f"{r.get(metric + '_perturbed') or float('nan'):.3f}<br>change "
                        f"{_ci_text(r[key], 4)} (n = {r['n']:,})"
                        for r in sel
                    ],
                    hoverinfo="text",
                ),
                row=1,
                col=c,
            )
    for c, kind in enumerate(kinds, start=1):
        fig.add_hline(y=0, line=dict(color=_GREY, width=1, dash="dot"), row=1, col=c)
        fig.update_xaxes(
            title_text=_PERTURBATIONS.get(kind, (kind, kind))[1],
            tickvals=list(range(len(levels[kind]))),
            ticktext=[f"{lv:g}" for lv in levels[kind]],
            range=[-0.5, len(levels[kind]) - 0.5],
            showgrid=False,
            row=1,
            col=c,
        )
    label = "AUROC (0–1)" if metric == "auroc" else "sensitivity (proportion, 0–1)"
    fig.update_yaxes(title_text=f"Change in {label}, perturbed − original", row=1, col=1)
    fig.update_annotations(font=dict(size=13))
    fig.update_layout(legend=dict(orientation="v", x=1.01, y=1, xanchor="left"))
    return base_layout(fig, height=400)


def slice_name(s: Mapping[str, Any]) -> str:
    attrs = s.get("attributes") or {}
    return " & ".join(
        f"{k}={v}"
        if not str(v).startswith(("[", "(", "<", ">", "≥", "≤", "&lt;", "&gt;"))
        else f"{k} {v}"
        for k, v in attrs.items()
    )


@_escapes_names
def weak_slice_plot(safety: Mapping[str, Any], *, metric: str, top: int = 10) -> go.Figure:
    """The ``top`` weak slices on ``metric`` (as the engine ranked them): the slice's value with
    its CI (vermillion) against the rest of the cohort (grey diamond)."""
    slices = [s for s in safety.get("weak_slices") or [] if s.get("metric") == metric][:top]
    short, x_title = _WEAK_METRICS.get(metric, (metric, metric))
    if not slices:
        return _empty(f"No weak slices on {short}.")
    names = [slice_name(s) for s in slices]
    errs = [_err(s["value"]) for s in slices]
    fig = go.Figure()
    for name, s in zip(names, slices, strict=True):
        v, rest = _v(s["value"]), s.get("rest_value")
        if v is not None and rest is not None:
            fig.add_trace(
                go.Scatter(
                    x=[v, rest],
                    y=[name, name],
                    mode="lines",
                    line=dict(color="#cccccc", width=3),
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
    fig.add_trace(
        go.Scatter(
            x=[s.get("rest_value") for s in slices],
            y=names,
            mode="markers",
            name="rest of the cohort",
            marker=dict(color=_GREY, symbol="diamond", size=10),
            hovertext=[f"rest of the cohort: {short} {s.get('rest_value', 0):.3f}" for s in slices],
            hoverinfo="text",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[_v(s["value"]) for s in slices],
            y=names,
            mode="markers",
            name="slice (95% CI)",
            marker=dict(color=OKABE_ITO["vermillion"], size=11, symbol="square"),
            error_x=dict(
                type="data",
                symmetric=False,
                array=[e[1] for e in errs],
                arrayminus=[e[0] for e in errs],
                color=OKABE_ITO["vermillion"],
                thickness=1.5,
                width=4,
            ),
            hovertext=[f"{s['description']}" for s in slices],
            hoverinfo="text",
        )
    )
    if metric == "oe":
        fig.add_vline(x=1, line=dict(color=OKABE_ITO["black"], width=1, dash="dot"))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text="Slice", autorange="reversed", type="category")
    _legend_above(fig, y=1.02)
    fig = base_layout(fig, height=max(280, 120 + 34 * len(slices)))
    fig.update_layout(margin=dict(t=50))
    return fig


# --------------------------------------------------------------------------------------------
# safety sentences
# --------------------------------------------------------------------------------------------


def _unit_meaning(factor: float) -> str:
    for f, meaning in UNIT_FACTORS:
        if math.isclose(factor, f, rel_tol=1e-6) or math.isclose(factor, 1 / f, rel_tol=1e-6):
            return meaning
    return "a unit conversion"


def unit_changes(safety: Mapping[str, Any], *, name: Callable[[Any], str] = str) -> list[str]:
    """Plain sentences for every likely unit change, e.g. "total_chol at site FI-Tampere looks
    multiplied by ~38.7 (mg/dL vs mmol/L for cholesterol?)"; ``name`` formats each name."""
    out = []
    for f in safety.get("shift") or []:
        factor = f.get("unit_factor")
        if f.get("statistic") != "median_ratio" or not factor:
            continue
        shown, verb = (factor, "multiplied") if factor >= 1 else (1 / factor, "divided")
        group = f.get("group") or {}
        where = (
            "in the whole cohort"
            if not group
            else "at " + " & ".join(f"{name(k)} {name(v)}" for k, v in group.items())
        )
        out.append(
            f"{name(f['feature'])} {where} looks {verb} by ~{shown:.3g} ({_unit_meaning(factor)}?)"
        )
    return out


def safety_verdict(safety: Mapping[str, Any]) -> list[str]:
    """The Safety page's first lines, in plain words, from the stored findings only.

    Markdown (for Streamlit): names are escaped with :func:`~cohortaudit.textsafe.for_markdown`.
    """
    lines = []
    units = unit_changes(safety, name=for_markdown)
    if units:
        n = len(units)
        lines.append(f"**{n} likely unit change{'s' if n > 1 else ''}:** " + "; ".join(units) + ".")
    overall = [
        f
        for f in safety.get("shift") or []
        if not f.get("group")
        and f.get("flag") in ("notable", "serious")
        and f.get("statistic") != "median_ratio"
    ]
    if overall:
        serious = sorted({f["feature"] for f in overall if f["flag"] == "serious"})
        notable = sorted({f["feature"] for f in overall if f["flag"] == "notable"} - set(serious))
        parts = []
        if serious:
            parts.append("serious for " + ", ".join(map(for_markdown, serious)))
        if notable:
            parts.append("notable for " + ", ".join(map(for_markdown, notable)))
        lines.append("**Cohort shift vs the development data:** " + "; ".join(parts) + ".")
    elif safety.get("shift"):
        lines.append("**Cohort shift:** no input of the whole cohort is flagged.")
    group_flags = [
        f
        for f in safety.get("shift") or []
        if f.get("group") and f.get("flag") != "none" and f.get("statistic") == "unseen_categories"
    ]
    if group_flags:
        lines.append(f"**Unseen categories:** {len(group_flags)} group finding(s).")
    use = safety.get("intended_use") or {}
    whole = next((r for r in use.get("rows") or [] if not r.get("group")), None)
    if whole is not None and whole.get("n"):
        out = whole.get("outside_population")
        rule = use.get("population_rule")
        if out:
            lines.append(
                f"**Intended use:** {out:,} of {whole['n']:,} patients "
                f"({out / whole['n']:.1%}) are outside the card's population"
                + (f" ({for_markdown(rule)})" if rule else "")
                + "."
            )
        elif out == 0:
            lines.append("**Intended use:** every patient is inside the card's population.")
        elif rule and "outside_population" in (whole.get("suppressed") or []):
            lines.append(
                "**Intended use:** some patients are outside the card's population "
                f"({for_markdown(rule)}); the count is withheld, because beside the released "
                "group sizes it would give back a group of fewer than k."
            )
    robust = safety.get("robustness") or {}
    whole_rows = [
        r
        for r in robust.get("rows") or []
        if not r.get("group") and _v(r.get("delta_auroc")) is not None
    ]
    if whole_rows:
        worst = min(whole_rows, key=lambda r: _v(r["delta_auroc"]) or 0.0)
        kind = _PERTURBATIONS.get(worst["perturbation"], (worst["perturbation"],))[0].lower()
        lines.append(
            f"**Robustness:** the largest AUROC change for all patients is "
            f"{_v(worst['delta_auroc']):+.3f} ({kind}, level {worst['level']:g})."
        )
    slices = safety.get("weak_slices") or []
    if slices or "weak_slices" not in ((safety.get("settings") or {}).get("skipped") or {}):
        counts = {m: sum(s.get("metric") == m for s in slices) for m in _WEAK_METRICS}
        detail = ", ".join(f"{n} on {_WEAK_METRICS[m][0]}" for m, n in counts.items() if n)
        fdr = (safety.get("settings") or {}).get("slice_fdr")
        lines.append(
            f"**{len(slices)} weak slice{'s' if len(slices) != 1 else ''}**"
            + (f" ({detail})" if detail else "")
            + " significantly worse than the rest of the cohort"
            + (f" at a false discovery rate of {fdr:.0%}" if fdr else "")
            + "."
        )
    return lines

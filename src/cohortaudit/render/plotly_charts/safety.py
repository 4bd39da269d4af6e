"""Plotly charts (and their sentences) of the result's ``safety`` block: shift, robustness,
weak slices, and the safety verdict in words.

Pure functions of the block's plain dict: they select, order and draw what the engine stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cohortaudit.render.plotly_charts.base import base_layout, group_color
from cohortaudit.render.plotly_charts.checks_base import (
    WEAK_METRICS,
    ci_text,
    empty_figure,
    error_bars,
    escapes_names,
    legend_above,
    row_offsets,
    value_of,
)
from cohortaudit.render.theme import GREY as _GREY
from cohortaudit.render.theme import OKABE_ITO
from cohortaudit.textsafe import for_markdown
from cohortaudit.vocabulary import UNIT_FACTORS

__all__ = [
    "shift_plot",
    "robustness_plot",
    "slice_name",
    "weak_slice_plot",
    "unit_changes",
    "safety_verdict",
]


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


@escapes_names
def shift_plot(safety: Mapping[str, Any], *, statistic: str = "smd") -> go.Figure:
    """The whole cohort's shift per input (``statistic``: smd, ks_at_quantiles or tvd) with the
    documented notable/serious thresholds; colour = the engine's flag."""
    rows = [
        f
        for f in safety.get("shift") or []
        if not f.get("group") and f.get("statistic") == statistic and f.get("value") is not None
    ]
    if not rows:
        return empty_figure("No shift statistics of this kind for the whole cohort.")
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
    legend_above(fig, y=1.08)
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


@escapes_names
def robustness_plot(
    safety: Mapping[str, Any], *, attribute: str | None = None, metric: str = "auroc"
) -> go.Figure:
    """Change in AUROC (or sensitivity) under each perturbation and level, with paired CIs:
    all patients (black) and, with ``attribute``, each of its groups."""
    robust = safety.get("robustness") or {}
    rows = list(robust.get("rows") or [])
    if not rows:
        return empty_figure("No robustness check in this result.")
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
    dodge = row_offsets(len(series), spread=min(0.5, 0.12 * len(series)))
    for i, (name, group) in enumerate(series):
        color = OKABE_ITO["black"] if not group else group_color(i - 1)[0]
        for c, kind in enumerate(kinds, start=1):
            sel = [r for r in rows if r["perturbation"] == kind and (r.get("group") or {}) == group]
            sel = [r for r in sel if value_of(r.get(key)) is not None]
            sel.sort(key=lambda r: r["level"])
            if not sel:
                continue
            errs = [error_bars(r[key]) for r in sel]
            fig.add_trace(
                go.Scatter(
                    x=[levels[kind].index(r["level"]) + dodge[i] for r in sel],
                    y=[value_of(r[key]) for r in sel],
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
                        f"{ci_text(r[key], 4)} (n = {r['n']:,})"
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


@escapes_names
def weak_slice_plot(safety: Mapping[str, Any], *, metric: str, top: int = 10) -> go.Figure:
    """The ``top`` weak slices on ``metric`` (as the engine ranked them): the slice's value with
    its CI (vermillion) against the rest of the cohort (grey diamond)."""
    slices = [s for s in safety.get("weak_slices") or [] if s.get("metric") == metric][:top]
    short, x_title = WEAK_METRICS.get(metric, (metric, metric))
    if not slices:
        return empty_figure(f"No weak slices on {short}.")
    names = [slice_name(s) for s in slices]
    errs = [error_bars(s["value"]) for s in slices]
    fig = go.Figure()
    for name, s in zip(names, slices, strict=True):
        v, rest = value_of(s["value"]), s.get("rest_value")
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
            # the caption (shared with the PDF) says: slice ●, rest of the cohort |
            marker=dict(color=_GREY, symbol="line-ns-open", size=14, line=dict(width=3)),
            hovertext=[f"rest of the cohort: {short} {s.get('rest_value', 0):.3f}" for s in slices],
            hoverinfo="text",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[value_of(s["value"]) for s in slices],
            y=names,
            mode="markers",
            name="slice (95% CI)",
            marker=dict(color=OKABE_ITO["vermillion"], size=11, symbol="circle"),
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
    legend_above(fig, y=1.02)
    fig = base_layout(fig, height=max(280, 120 + 34 * len(slices)))
    fig.update_layout(margin=dict(t=50))
    return fig


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
        if not r.get("group") and value_of(r.get("delta_auroc")) is not None
    ]
    if whole_rows:
        worst = min(whole_rows, key=lambda r: value_of(r["delta_auroc"]) or 0.0)
        kind = _PERTURBATIONS.get(worst["perturbation"], (worst["perturbation"],))[0].lower()
        lines.append(
            f"**Robustness:** the largest AUROC change for all patients is "
            f"{value_of(worst['delta_auroc']):+.3f} ({kind}, level {worst['level']:g})."
        )
    slices = safety.get("weak_slices") or []
    if slices or "weak_slices" not in ((safety.get("settings") or {}).get("skipped") or {}):
        counts = {m: sum(s.get("metric") == m for s in slices) for m in WEAK_METRICS}
        detail = ", ".join(f"{n} on {WEAK_METRICS[m][0]}" for m, n in counts.items() if n)
        fdr = (safety.get("settings") or {}).get("slice_fdr")
        groups = safety.get("weak_slice_groups") or []
        if slices and groups:
            head = (
                f"**{len(groups)} group{'s' if len(groups) != 1 else ''} of weak slices** "
                f"({len(slices)} overlapping slice{'s' if len(slices) != 1 else ''}: {detail})"
            )
        else:
            head = f"**{len(slices)} weak slice{'s' if len(slices) != 1 else ''}**" + (
                f" ({detail})" if detail else ""
            )
        lines.append(
            head
            + " significantly worse than the rest of the cohort"
            + (f" at a false discovery rate of {fdr:.0%}" if fdr else "")
            + "."
        )
    return lines

"""The plotly figures of each chart kind the report uses, for the HTML report.

One function per kind, ``kind_figures(result, **params) -> list[go.Figure]``: the interactive
twin of the static chart of the same kind in :mod:`cohortaudit.render.svg_charts` (a static
chart with one panel per attribute becomes one figure per attribute). The pairs are listed in
:mod:`cohortaudit.render.chart_registry`.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from cohortaudit.render.findings import top_slices
from cohortaudit.render.plotly_charts.base import groups_for, metric_label
from cohortaudit.render.plotly_charts.curves import (
    calibration_plot,
    decision_curve_plot,
    risk_histogram_plot,
    roc_plot,
)
from cohortaudit.render.plotly_charts.explanations import (
    global_importance_plot,
    group_reliance_plot,
)
from cohortaudit.render.plotly_charts.groups import forest_plot
from cohortaudit.render.plotly_charts.safety import shift_plot, weak_slice_plot
from cohortaudit.render.plotly_charts.sites import SITE_FOREST_METRICS, site_forest_plot
from cohortaudit.results import AuditResult, GroupResult
from cohortaudit.textsafe import for_plotly

__all__ = [
    "roc_figures",
    "calibration_figures",
    "calibration_groups_figures",
    "decision_curve_figures",
    "forest_figures",
    "shap_global_figures",
    "shap_groups_figures",
    "shift_smd_figures",
    "weak_slices_figures",
    "site_forest_figures",
]

#: Weak slices per metric in the report's chart (the static chart shows as many).
_SLICES_SHOWN = 6


def _k(result: AuditResult) -> int | None:
    return (result.settings.get("disclosure") or {}).get("min_cell")


def _overall(result: AuditResult) -> list[tuple[str, GroupResult]]:
    return [("all patients", result.overall)]


def _groups(result: AuditResult, attribute: str) -> list[tuple[str, GroupResult]]:
    return [(next(iter(g.attributes.values())), g) for g in groups_for(result, [attribute])]


def _titled(fig: go.Figure, title: str, **layout) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), **layout)
    return fig


def roc_figures(result: AuditResult) -> list[go.Figure]:
    k, t = _k(result), result.settings.get("threshold")
    attrs = list(result.cohort.sensitive_features)
    figs = [roc_plot(_overall(result), k=k, operating_threshold=t)]
    figs += [roc_plot(_groups(result, a), k=k, operating_threshold=t) for a in attrs]
    titles = ["All patients", *[f"by {for_plotly(a)}" for a in attrs]]
    return [_titled(f, title, height=420) for f, title in zip(figs, titles, strict=False)]


def calibration_figures(result: AuditResult) -> list[go.Figure]:
    k = _k(result)
    return [calibration_plot(_overall(result), k=k), risk_histogram_plot(_overall(result), k=k)]


def calibration_groups_figures(result: AuditResult) -> list[go.Figure]:
    k = _k(result)
    return [
        _titled(
            calibration_plot(_groups(result, a), k=k, overall=result.overall),
            f"by {for_plotly(a)}",
        )
        for a in result.cohort.sensitive_features
    ]


def decision_curve_figures(result: AuditResult) -> list[go.Figure]:
    rng = (result.model.card or {}).get("clinically_relevant_range")
    return [
        decision_curve_plot(
            _overall(result),
            k=_k(result),
            relevant_range=tuple(rng) if rng else None,
            operating_threshold=result.settings.get("threshold"),
        )
    ]


def forest_figures(
    result: AuditResult, metrics: Sequence[str] = ("auroc", "sensitivity")
) -> list[go.Figure]:
    return [
        _titled(
            forest_plot(result, metric=m, attributes=[a], min_cell=_k(result)),
            f"{metric_label(m)} by {for_plotly(a)}",
        )
        for m in metrics
        for a in result.cohort.sensitive_features
    ]


def shap_global_figures(result: AuditResult) -> list[go.Figure]:
    return [global_importance_plot(result.explanations or {})]


def shap_groups_figures(result: AuditResult) -> list[go.Figure]:
    """One reliance chart per attribute that has group comparisons."""
    e = result.explanations or {}
    attrs = list(dict.fromkeys(c.get("attribute") for c in e.get("by_group") or []))
    return [_titled(group_reliance_plot(e, a), f"by {for_plotly(a)}") for a in attrs]


def shift_smd_figures(result: AuditResult) -> list[go.Figure]:
    return [shift_plot(result.safety or {}, statistic="smd")]


def weak_slices_figures(result: AuditResult) -> list[go.Figure]:
    """One chart per slice metric that has weak slices, as the static chart shows them."""
    safety = result.safety or {}
    metrics = [m for m in ("auroc", "sensitivity", "oe") if top_slices(safety, m, 1)]
    return [weak_slice_plot(safety, metric=m, top=_SLICES_SHOWN) for m in metrics]


def site_forest_figures(result: AuditResult) -> list[go.Figure]:
    return [site_forest_plot(result, metric=m) for m in SITE_FOREST_METRICS]

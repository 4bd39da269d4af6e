"""The chart registry: every chart kind of the report, with its plotly and its SVG builder.

Why one table: the report names a chart by kind (:class:`~cohortaudit.render.document.Chart`),
and the PDF draws it static (SVG, matplotlib) while the HTML draws it interactive (plotly). With
both builders of a kind side by side, a kind cannot exist for one renderer and not the other;
neither renderer dispatches kinds itself, and an unknown kind is a ReportError, not a quiet
fallback. The dashboard draws the same plotly family (:mod:`cohortaudit.render.plotly_charts`).

Each builder takes the result and the chart's ``params``: the plotly one returns a list of
figures (one per panel of the static chart where that reads better interactively), the SVG
one the SVG bytes of one figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cohortaudit.errors import ReportError
from cohortaudit.render.plotly_charts import report as plotly_report
from cohortaudit.render.plotly_charts import survival_report as plotly_survival
from cohortaudit.render.svg_charts import checks as svg_checks
from cohortaudit.render.svg_charts import performance as svg_performance
from cohortaudit.render.svg_charts import sites as svg_sites
from cohortaudit.render.svg_charts import survival as svg_survival
from cohortaudit.results import AuditResult

__all__ = ["ChartBuilders", "CHARTS", "chart_figures", "chart_svg"]


@dataclass(frozen=True)
class ChartBuilders:
    """The two builders of one chart kind."""

    plotly: Callable[..., list[Any]]
    svg: Callable[..., bytes]


#: kind -> (plotly builder, SVG builder), in the order the report shows them.
CHARTS: Mapping[str, ChartBuilders] = {
    "roc": ChartBuilders(plotly_report.roc_figures, svg_performance.roc_svg),
    "calibration": ChartBuilders(
        plotly_report.calibration_figures, svg_performance.calibration_svg
    ),
    "calibration_groups": ChartBuilders(
        plotly_report.calibration_groups_figures, svg_performance.calibration_groups_svg
    ),
    "decision_curve": ChartBuilders(
        plotly_report.decision_curve_figures, svg_performance.decision_curve_svg
    ),
    "forest": ChartBuilders(plotly_report.forest_figures, svg_performance.forest_svg),
    "shap_global": ChartBuilders(plotly_report.shap_global_figures, svg_checks.shap_global_svg),
    "shap_groups": ChartBuilders(plotly_report.shap_groups_figures, svg_checks.shap_groups_svg),
    "shift_smd": ChartBuilders(plotly_report.shift_smd_figures, svg_checks.shift_smd_svg),
    "weak_slices": ChartBuilders(plotly_report.weak_slices_figures, svg_checks.weak_slices_svg),
    "site_forest": ChartBuilders(plotly_report.site_forest_figures, svg_sites.site_forest_svg),
    # time-to-event audits
    "km_risk": ChartBuilders(plotly_survival.km_risk_figures, svg_survival.km_risk_svg),
    "survival_calibration": ChartBuilders(
        plotly_survival.survival_calibration_figures, svg_survival.survival_calibration_svg
    ),
    "survival_decision_curve": ChartBuilders(
        plotly_survival.survival_decision_curve_figures, svg_survival.survival_decision_curve_svg
    ),
}


def _builders(kind: str) -> ChartBuilders:
    try:
        return CHARTS[kind]
    except KeyError:
        raise ReportError(
            f"The report has a chart of kind {kind!r}, which the chart registry does not know. "
            f"Known kinds: {', '.join(CHARTS)}."
        ) from None


def chart_svg(result: AuditResult, kind: str, **params: Any) -> bytes:
    """The static chart of ``kind`` as SVG bytes (for the PDF)."""
    return _builders(kind).svg(result, **params)


def chart_figures(result: AuditResult, kind: str, **params: Any) -> list[Any]:
    """The interactive plotly figures of ``kind`` (for the HTML report)."""
    return _builders(kind).plotly(result, **params)

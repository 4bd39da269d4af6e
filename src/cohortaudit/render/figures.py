"""Old import path of the plotly charts of groups and curves (kept so callers need not
change): they live in :mod:`cohortaudit.render.plotly_charts`.
"""

from __future__ import annotations

from cohortaudit.render.plotly_charts.base import (
    CALIBRATION_LABELS,
    GROUP_COLORS,
    axis_label,
    groups_for,
    metric_label,
    metric_unit,
    partitions,
    reference_for,
)
from cohortaudit.render.plotly_charts.curves import (
    calibration_plot,
    decision_curve_plot,
    interventions_avoided_plot,
    pr_plot,
    risk_histogram_plot,
    roc_plot,
)
from cohortaudit.render.plotly_charts.groups import (
    compare_overall_plot,
    forest_plot,
    group_estimates_plot,
    intersection_heatmap,
)

__all__ = [
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

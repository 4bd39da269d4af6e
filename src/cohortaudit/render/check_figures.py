"""Old import path of the plotly charts of explanations and safety (kept so callers need not
change): they live in :mod:`cohortaudit.render.plotly_charts`.
"""

from __future__ import annotations

from cohortaudit.render.plotly_charts.checks_base import (
    SHAP_AXIS,
    group_label,
)
from cohortaudit.render.plotly_charts.explanations import (
    by_construction,
    dependence_features,
    dependence_plot,
    global_importance_plot,
    group_reliance_plot,
    local_waterfall_plot,
    proxy_plot,
    reliance_sentences,
    shap_distribution_plot,
)
from cohortaudit.render.plotly_charts.safety import (
    robustness_plot,
    safety_verdict,
    shift_plot,
    slice_name,
    unit_changes,
    weak_slice_plot,
)

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

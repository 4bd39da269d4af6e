"""Old import path of the pooled audit's plotly charts (kept so callers need not change):
they live in :mod:`cohortaudit.render.plotly_charts.sites`.
"""

from __future__ import annotations

from cohortaudit.render.plotly_charts.sites import (
    SITE_FOREST_METRICS,
    site_forest_plot,
    site_table_rows,
)

__all__ = ["SITE_FOREST_METRICS", "site_forest_plot", "site_table_rows"]

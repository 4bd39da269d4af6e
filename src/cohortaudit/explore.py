"""Interactive exploration of a finished audit, without recomputing anything from patients.

The dashboard's threshold slider calls :func:`metrics_at_threshold`; it reads the
disclosure-controlled confusion counts on the fixed grid stored in the result, so moving the
slider is instant and shows exactly what an export would contain.
"""

from __future__ import annotations

import math

from cohortaudit.metrics.performance import (
    Confusion,
    threshold_metric_values,
    threshold_proportions,
    wilson_interval,
)
from cohortaudit.results import AuditResult, GroupResult, MetricValue

__all__ = ["metrics_at_threshold", "grid_thresholds", "snap_threshold"]

_Z95 = 1.959963984540054


def grid_thresholds(result: AuditResult) -> list[float]:
    """The fixed thresholds at which the result holds confusion counts."""
    return list(result.settings.get("threshold_grid", []))


def snap_threshold(result: AuditResult, threshold: float) -> float:
    """The grid threshold nearest to ``threshold``."""
    grid = grid_thresholds(result)
    if not grid:
        return float(result.settings["threshold"])
    return min(grid, key=lambda t: (abs(t - threshold), t))


def metrics_at_threshold(
    result: AuditResult, group: GroupResult, threshold: float
) -> dict[str, MetricValue]:
    """Threshold metrics of ``group`` at the grid threshold nearest ``threshold``.

    Proportions get Wilson intervals at the result's confidence level; balanced accuracy and
    F1 are shown without an interval (their bootstrap exists only at the operating threshold).
    Withheld rows (disclosure control) and suppressed groups give values of None.
    """
    grid = grid_thresholds(result)
    keys = threshold_metric_values(Confusion(0, 0, 0, 0)).keys()
    if group.suppressed or not group.threshold_grid or not grid:
        return {k: MetricValue(None) for k in keys}
    j = grid.index(snap_threshold(result, threshold))
    tp, fp, tn, fn = (group.threshold_grid[c][j] for c in ("tp", "fp", "tn", "fn"))
    if None in (tp, fp, tn, fn):
        return {k: MetricValue(None) for k in keys}
    conf = Confusion(tp=tp, fp=fp, tn=tn, fn=fn)
    z = _z(result)
    values = threshold_metric_values(conf)
    out = {k: MetricValue(v) for k, v in values.items()}
    for key, (x, n) in threshold_proportions(conf).items():
        lo, hi = wilson_interval(x, n, z)
        out[key] = MetricValue(values[key], lo, hi)
    return out


def _z(result: AuditResult) -> float:
    level = float(result.settings.get("confidence_level", 0.95))
    if math.isclose(level, 0.95):
        return _Z95
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)

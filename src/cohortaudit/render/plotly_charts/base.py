"""The plotly family's shared look and lookups: layout, group colours, labels, partitions.

Every plotly chart of the dashboard and the HTML report starts from :func:`base_layout` and
colours groups with :func:`group_color`, so all of them look alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from cohortaudit.registry import METRICS, keys
from cohortaudit.render.outcome import survival_label
from cohortaudit.render.text import METRIC_LABELS
from cohortaudit.render.theme import OKABE_ITO, PALETTE
from cohortaudit.results import AuditResult, GroupResult
from cohortaudit.textsafe import for_plotly as _m

__all__ = [
    "GROUP_COLORS",
    "CALIBRATION_LABELS",
    "group_color",
    "metric_label",
    "metric_unit",
    "base_layout",
    "partitions",
    "groups_for",
    "reference_for",
    "axis_label",
    "rgba_color",
    "escaped_groups",
    "fmt_number",
]


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


def rgba_color(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def metric_label(metric: str) -> str:
    if metric in CALIBRATION_LABELS:
        return CALIBRATION_LABELS[metric]
    return METRIC_LABELS.get(metric) or survival_label(metric) or metric.replace("_", " ")


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


def partitions(result: AuditResult) -> list[tuple[str, ...]]:
    """Attribute combinations present in the result (:meth:`AuditResult.partitions`)."""
    return list(result.partitions())


def groups_for(result: AuditResult, attributes: Sequence[str]) -> list[GroupResult]:
    """The subgroups of one partition (:meth:`AuditResult.groups_for`), as a list."""
    return list(result.groups_for(attributes))


def reference_for(result: AuditResult, attributes: Sequence[str]) -> dict[str, str]:
    """The reference group's attributes ({} = the whole cohort), from
    :meth:`AuditResult.reference_attributes`."""
    return dict(result.reference_attributes(attributes))


def axis_label(attributes: dict[str, str], *, short: bool = True) -> str:
    """Group name for an axis: just the value for one attribute (the axis names it)."""
    if not attributes:
        return "overall"
    if short and len(attributes) == 1:
        return next(iter(attributes.values()))
    return " & ".join(f"{k}={v}" for k, v in attributes.items())


def escaped_groups(groups: Sequence[tuple[str, GroupResult]]) -> list[tuple[str, GroupResult]]:
    """Caller labels (cohort names) escaped once, on entry: plotly renders HTML in labels."""
    return [(_m(label), g) for label, g in groups]


def fmt_number(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"

"""Shared helpers of the explanation and safety plotly charts (values, intervals, names)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import plotly.graph_objects as go

from cohortaudit.registry import METRICS
from cohortaudit.registry import label as metric_label
from cohortaudit.render.plotly_charts.base import base_layout
from cohortaudit.render.theme import GREY as _GREY
from cohortaudit.textsafe import for_plotly, short_name

__all__ = [
    "row_offsets",
    "SHAP_AXIS",
    "group_label",
    "SIGNED_SHAP_AXIS",
    "PROXY_STRONG",
    "WEAK_METRICS",
    "legend_above",
    "input_rows",
    "value_of",
    "excludes_zero",
    "error_bars",
    "ci_text",
    "escapes_names",
    "empty_figure",
    "block_min_cell",
    "first_k",
]


#: SHAP values on the probability scale are changes in predicted risk (0–1).
SHAP_AXIS = "mean |SHAP| (change in predicted risk, probability scale)"


SIGNED_SHAP_AXIS = "mean SHAP (change in predicted risk, probability scale)"


PROXY_STRONG = 0.8


WEAK_METRICS = {
    "auroc": (metric_label("auroc"), f"{metric_label('auroc')} (0–1; higher is better)"),
    "sensitivity": (
        metric_label("sensitivity"),
        f"{metric_label('sensitivity')} at the operating threshold (proportion, 0–1)",
    ),
    "oe": (metric_label("oe_ratio"), f"{metric_label('oe_ratio')} ({METRICS['oe_ratio'].meaning})"),
}


def legend_above(fig: go.Figure, *, y: float, title: str | None = None) -> None:
    """A horizontal legend above the plot area, left-aligned (one look for every figure)."""
    legend: dict[str, Any] = dict(orientation="h", yanchor="bottom", y=y, x=0, xanchor="left")
    if title is not None:
        legend["title"] = dict(text=title)
    fig.update_layout(legend=legend)


def input_rows(fig: go.Figure, labels: Sequence[str], *, top: float) -> None:
    """A y axis of one row per model input, first at the top (``top`` leaves headroom)."""
    fig.update_yaxes(
        title_text="Model input",
        tickvals=list(range(len(labels))),
        ticktext=list(labels),
        range=[len(labels) - 0.5, top],
        showgrid=False,
    )


def value_of(mv: Mapping[str, Any] | None, key: str = "value") -> float | None:
    if not mv:
        return None
    x = mv.get(key)
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def excludes_zero(mv: Mapping[str, Any] | None) -> bool:
    lo, hi = value_of(mv, "ci_low"), value_of(mv, "ci_high")
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def error_bars(mv: Mapping[str, Any] | None) -> tuple[float, float]:
    """(minus, plus) error bar lengths of a {value, ci_low, ci_high} dict (0 when absent)."""
    v, lo, hi = value_of(mv), value_of(mv, "ci_low"), value_of(mv, "ci_high")
    if v is None:
        return 0.0, 0.0
    return (v - lo if lo is not None else 0.0), (hi - v if hi is not None else 0.0)


def ci_text(mv: Mapping[str, Any] | None, digits: int = 3) -> str:
    v, lo, hi = value_of(mv), value_of(mv, "ci_low"), value_of(mv, "ci_high")
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


def escapes_names(builder: _F) -> _F:
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


def empty_figure(message: str, *, height: int = 220) -> go.Figure:
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


def block_min_cell(block: Mapping[str, Any] | None) -> int | None:
    settings = (block or {}).get("settings") or {}
    k = settings.get("min_cell")
    return int(k) if k is not None else None


def first_k(*candidates: int | None) -> int:
    """The first stated k (0 included: disclosure control off), else the default 10."""
    return next((int(k) for k in candidates if k is not None), 10)


def row_offsets(n: int, spread: float = 0.7) -> list[float]:
    """Vertical offsets that spread ``n`` markers of one row over ``spread`` (centred)."""
    if n <= 1:
        return [0.0]
    step = spread / (n - 1)
    return [-spread / 2 + i * step for i in range(n)]

"""A fairlearn ``MetricFrame``-shaped view of a finished audit (``result.metric_frame(...)``).

Why not a real ``MetricFrame``: one needs ``y_true`` and the predictions, and an audit result
holds only released aggregates (no patient rows may leave the secure environment). So this is
an object with MetricFrame's reading surface -- ``overall``, ``by_group`` (indexed exactly as
MetricFrame indexes it: a named ``Index`` for one sensitive feature, a ``MultiIndex`` for
several), ``group_min()``, ``group_max()``, ``difference()`` and ``ratio()`` with fairlearn's
definitions -- built from the numbers the audit released. Suppressed groups are absent and
withheld values are NaN, which fairlearn's aggregates skip as it does.

Unlike MetricFrame, return types never change with the input: ``overall`` is always a Series
and ``by_group`` always a DataFrame, one column per metric key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from cohortaudit.errors import ConfigError

if TYPE_CHECKING:
    from cohortaudit.results import AuditResult

__all__ = ["ResultMetricFrame", "result_metric_frame"]

Method = Literal["between_groups", "to_overall"]


@dataclass(frozen=True)
class ResultMetricFrame:
    """``overall`` (Series by metric) and ``by_group`` (DataFrame: groups x metrics)."""

    overall: pd.Series
    by_group: pd.DataFrame
    sensitive_features: tuple[str, ...]

    def group_min(self) -> pd.Series:
        return self.by_group.min(axis=0)

    def group_max(self) -> pd.Series:
        return self.by_group.max(axis=0)

    def difference(self, method: Method = "between_groups") -> pd.Series:
        """Largest absolute gap: ``group_max - group_min``, or largest ``|group - overall|``."""
        if method == "between_groups":
            return self.group_max() - self.group_min()
        if method == "to_overall":
            return (self.by_group - self.overall).abs().max(axis=0)
        raise ConfigError(_method_message(method))

    def ratio(self, method: Method = "between_groups") -> pd.Series:
        """Smallest ratio, forced below 1: ``group_min / group_max``, or of group to overall."""
        if method == "between_groups":
            return self.group_min() / self.group_max()
        if method == "to_overall":
            ratios = self.by_group / self.overall
            ratios = ratios.where(~(ratios > 1), 1 / ratios)
            return ratios.min(axis=0)
        raise ConfigError(_method_message(method))


def _method_message(method: object) -> str:
    return (
        f"The 'method' parameter must be 'between_groups' or 'to_overall'. Got {method!r} instead."
    )


def result_metric_frame(
    result: AuditResult,
    *,
    metric_keys: Sequence[str] | None = None,
    attributes: str | Sequence[str] | None = None,
) -> ResultMetricFrame:
    """The view of one partition (default: the first sensitive feature) and some metrics
    (default: every built-in metric of the audit, then its user-defined ones)."""
    parts = result.partitions()
    if attributes is None:
        if not parts:
            raise ConfigError("This audit has no subgroups, so there is no by-group view.")
        attrs = parts[0]
    else:
        attrs = (attributes,) if isinstance(attributes, str) else tuple(attributes)
    if attrs not in parts:
        raise ConfigError(
            f"The 'attributes' parameter must name a partition of this audit, one of "
            f"{[list(p) for p in parts]}. Got {list(attrs)} instead."
        )
    user = _user_values(result)
    available = list(result.overall.metrics) + [k for k in user.get((), {}) if k]
    keys = list(available) if metric_keys is None else list(metric_keys)
    unknown = [k for k in keys if k not in available]
    if unknown:
        raise ConfigError(
            f"The 'metric_keys' parameter names metrics this audit does not have: {unknown}. "
            f"Available: {available}."
        )

    def values(group) -> list[float]:
        extra = user.get(tuple(sorted(group.attributes.items())), {})
        out = []
        for k in keys:
            mv = group.metrics.get(k)
            v = mv.value if mv is not None else extra.get(k)
            out.append(np.nan if v is None else float(v))
        return out

    released = [g for g in result.groups_for(attrs) if not g.suppressed]
    rows = [values(g) for g in released]
    labels = [tuple(g.attributes[a] for a in attrs) for g in released]
    if len(attrs) == 1:
        index: pd.Index = pd.Index([lab[0] for lab in labels], name=attrs[0])
    else:
        index = pd.MultiIndex.from_tuples(labels, names=list(attrs))
    by_group = pd.DataFrame(rows, index=index, columns=keys, dtype=float)
    overall = pd.Series(values(result.overall), index=keys, dtype=float)
    return ResultMetricFrame(overall=overall, by_group=by_group, sensitive_features=attrs)


def _user_values(result: AuditResult) -> dict[tuple, dict[str, float | None]]:
    """User-defined metrics' released values by group (key: sorted attribute items)."""
    block = result.user_metrics or {}
    out: dict[tuple, dict[str, float | None]] = {}
    entries = [block.get("overall") or {}, *(block.get("groups") or [])]
    for entry in entries:
        if not entry or not entry.get("released", True):
            continue
        key = tuple(sorted((entry.get("attributes") or {}).items()))
        out[key] = {k: v.get("value") for k, v in (entry.get("values") or {}).items()}
    return out

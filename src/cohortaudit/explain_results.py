"""The explanation result's types: aggregate SHAP summaries, plain JSON through ``to_dict``.

Split from :mod:`cohortaudit.explain` (which re-exports them) so that the proxy check and the
SHAP computation can both build them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cohortaudit.results import MetricValue, clean_float

__all__ = [
    "FeatureImportance",
    "GroupReliance",
    "GroupComparison",
    "ProxyStrength",
    "ExplanationResult",
]


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureImportance:
    """Mean |SHAP| of one raw input over the explained rows, with a bootstrap CI."""

    feature: str
    mean_abs_shap: MetricValue

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "mean_abs_shap": self.mean_abs_shap.to_dict()}


@dataclass(frozen=True)
class GroupReliance:
    """How much the model relies on one input for one group, versus the reference group."""

    feature: str
    mean_abs_shap: MetricValue
    reference_mean_abs_shap: MetricValue
    difference: MetricValue

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "mean_abs_shap": self.mean_abs_shap.to_dict(),
            "reference_mean_abs_shap": self.reference_mean_abs_shap.to_dict(),
            "difference": self.difference.to_dict(),
        }


@dataclass(frozen=True)
class GroupComparison:
    """One group of one sensitive attribute; ``features`` ranked by |difference|, largest first.

    ``n`` is the number of explained rows in the group; ``None`` (and no features) when it is
    below :data:`MIN_CELL`, which ``suppressed`` also says.
    """

    attribute: str
    group: str
    reference: str
    n: int | None
    suppressed: bool
    features: tuple[GroupReliance, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "group": self.group,
            "reference": self.reference,
            "n": self.n,
            "suppressed": self.suppressed,
            "features": [f.to_dict() for f in self.features],
        }


@dataclass(frozen=True)
class ProxyStrength:
    """How well one input (``feature``; ``"(all inputs)"`` for all together) predicts an attribute."""

    attribute: str
    feature: str
    auroc: MetricValue
    classifier: str
    strong: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "feature": self.feature,
            "auroc": self.auroc.to_dict(),
            "classifier": self.classifier,
            "strong": self.strong,
        }


@dataclass(frozen=True)
class ExplanationResult:
    """Aggregate SHAP summaries; ``to_dict()`` is plain JSON types with no per-patient values."""

    global_importance: tuple[FeatureImportance, ...]
    distribution: dict[str, Any]
    dependence: dict[str, Any]
    by_group: tuple[GroupComparison, ...]
    proxies: tuple[ProxyStrength, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    #: Wall time of the SHAP step; diagnostic only, kept out of ``to_dict`` so JSON re-runs match.
    seconds_shap: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "global": [g.to_dict() for g in self.global_importance],
            "distribution": _plain(self.distribution),
            "dependence": _plain(self.dependence),
            "by_group": [g.to_dict() for g in self.by_group],
            "proxies": [p.to_dict() for p in self.proxies],
            "settings": _plain(self.settings),
        }


def _plain(obj: Any) -> Any:
    """Deep copy into JSON types: numpy scalars unwrapped, NaN/inf -> None, floats rounded."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return clean_float(obj)
    return obj

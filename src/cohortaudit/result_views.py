"""Typed, read-only views of the audit result's JSON blocks (settings, safety, explanations, sites).

Why views and not new stored types: the result's JSON is a public, versioned contract and must
stay byte-identical, so the blocks are still stored as the plain dicts they always were. A view
is built from such a dict on demand, names the fields readers need (with the defaults an older
result implies, stated once here instead of in every page), and exposes the rest read-only
through ``raw``. Nothing here computes a statistic or imports the rest of cohortaudit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["SettingsView", "SafetyView", "ExplanationsView", "SitesView", "UserMetricsView"]


def _frozen(d: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(d or {}))


def _rows(items: Any) -> tuple[Mapping[str, Any], ...]:
    return tuple(_frozen(r) for r in (items or ()))


@dataclass(frozen=True)
class SettingsView:
    """How the audit was run: the numbers every page quotes beside its tables."""

    threshold: float
    threshold_source: str
    confidence_level: float
    min_cell: int
    n_boot: int
    seed: int | None
    max_intersection_order: int | None
    #: (attributes of a partition, its reference group's attributes; {} = the whole cohort)
    references: tuple[tuple[tuple[str, ...], Mapping[str, str]], ...]
    calibration: Mapping[str, Any]
    disclosure: Mapping[str, Any]
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SettingsView:
        boot = d.get("bootstrap") or {}
        disclosure = d.get("disclosure") or {}
        return cls(
            threshold=float(d.get("threshold", 0.5)),
            threshold_source=str(d.get("threshold_source", "")),
            confidence_level=float(d.get("confidence_level", 0.95)),
            min_cell=int(disclosure.get("min_cell", 0)),
            n_boot=int(boot.get("n_boot", 0)),
            seed=boot.get("seed"),
            max_intersection_order=d.get("max_intersection_order"),
            references=tuple(
                (tuple(e.get("attributes", ())), _frozen(e.get("reference")))
                for e in d.get("references", ()) or ()
            ),
            calibration=_frozen(d.get("calibration")),
            disclosure=_frozen(disclosure),
            raw=_frozen(d),
        )

    def reference_of(self, attributes: tuple[str, ...]) -> dict[str, str]:
        """The reference group's attributes of one partition ({} = the whole cohort)."""
        for attrs, ref in self.references:
            if attrs == tuple(attributes):
                return dict(ref)
        return {}


@dataclass(frozen=True)
class _BlockView:
    """Shared by the optional blocks: their own ``settings`` and the audit's k as fallback."""

    settings: Mapping[str, Any]
    min_cell: int
    confidence: float
    raw: Mapping[str, Any]


def _block_fields(d: Mapping[str, Any], audit_min_cell: int) -> dict[str, Any]:
    settings = d.get("settings") or {}
    return {
        "settings": _frozen(settings),
        "min_cell": int(settings.get("min_cell") or audit_min_cell),
        "confidence": float(settings.get("confidence", 0.95)),
        "raw": _frozen(d),
    }


@dataclass(frozen=True)
class SafetyView(_BlockView):
    """Shift, intended use, robustness and weak slices (``result.safety``)."""

    skipped: Mapping[str, str]
    shift: tuple[Mapping[str, Any], ...]
    intended_use: Mapping[str, Any]
    robustness: Mapping[str, Any]
    weak_slices: tuple[Mapping[str, Any], ...]
    #: ``weak_slice_groups`` (issue 19); empty in results written before it
    weak_slice_groups: tuple[Mapping[str, Any], ...] = ()

    def slice_groups(
        self,
    ) -> tuple[tuple[Mapping[str, Any], Mapping[str, Any], tuple[Mapping[str, Any], ...]], ...]:
        """(group, its lead slice, its member slices) per weak-slice group, highest score
        first; empty when the result has no groups (older results: read ``weak_slices``)."""
        out = []
        n = len(self.weak_slices)
        for g in self.weak_slice_groups:
            members = tuple(self.weak_slices[i] for i in g.get("members", ()) if 0 <= i < n)
            lead = g.get("lead")
            if isinstance(lead, int) and 0 <= lead < n:
                out.append((g, self.weak_slices[lead], members))
        return tuple(out)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, audit_min_cell: int) -> SafetyView:
        base = _block_fields(d, audit_min_cell)
        return cls(
            **base,
            skipped=_frozen(base["settings"].get("skipped")),
            shift=_rows(d.get("shift")),
            intended_use=_frozen(d.get("intended_use")),
            robustness=_frozen(d.get("robustness")),
            weak_slices=_rows(d.get("weak_slices")),
            weak_slice_groups=_rows(d.get("weak_slice_groups")),
        )


@dataclass(frozen=True)
class ExplanationsView(_BlockView):
    """Aggregate SHAP summaries (``result.explanations``)."""

    global_importance: tuple[Mapping[str, Any], ...]
    by_group: tuple[Mapping[str, Any], ...]
    proxies: tuple[Mapping[str, Any], ...]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, audit_min_cell: int) -> ExplanationsView:
        return cls(
            **_block_fields(d, audit_min_cell),
            global_importance=_rows(d.get("global")),
            by_group=_rows(d.get("by_group")),
            proxies=_rows(d.get("proxies")),
        )

    def reference_value(self, attribute: str) -> str:
        """The reference group's value the reliance gaps of ``attribute`` are measured from."""
        return next((str(c["reference"]) for c in self.by_group if c["attribute"] == attribute), "")


@dataclass(frozen=True)
class SitesView:
    """Multi-site pooling (``result.sites``)."""

    n_sites: int | None
    sites: tuple[Any, ...]
    pooled: Mapping[str, Any]
    meta_analysis: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SitesView:
        return cls(
            n_sites=d.get("n_sites"),
            sites=tuple(d.get("sites") or ()),
            pooled=_frozen(d.get("pooled")),
            meta_analysis=_rows(d.get("meta_analysis")),
            raw=_frozen(d),
        )


@dataclass(frozen=True)
class UserMetricsView:
    """User-defined metrics (``result.user_metrics``, see :mod:`cohortaudit.metrics.user`)."""

    metrics: tuple[Mapping[str, Any], ...]
    overall: Mapping[str, Any]
    groups: tuple[Mapping[str, Any], ...]
    settings: Mapping[str, Any]
    raw: Mapping[str, Any]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UserMetricsView:
        return cls(
            metrics=_rows(d.get("metrics")),
            overall=_frozen(d.get("overall")),
            groups=_rows(d.get("groups")),
            settings=_frozen(d.get("settings")),
            raw=_frozen(d),
        )

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(str(m["key"]) for m in self.metrics)

    def entry_for(self, attributes: Mapping[str, str]) -> Mapping[str, Any] | None:
        """One group's entry ({} = the whole cohort); None if the audit has no such group."""
        if not attributes:
            return self.overall or None
        wanted = dict(attributes)
        return next((e for e in self.groups if dict(e.get("attributes") or {}) == wanted), None)

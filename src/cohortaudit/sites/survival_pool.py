"""Pooling time-to-event site files: life tables added up, the estimates computed once.

Inputs are the files of :mod:`cohortaudit.sites.survival_export`. For every group, per site and
pooled (the sum of the sites' counts):

* the **life-table Kaplan-Meier** on the group's intervals (:mod:`cohortaudit.survival.
  life_table`): pooled on the edges every contributing site kept (sites may have merged
  different intervals; a coarser interval is a sum of finer ones, so the pooled table is exact
  on the common edges). It is the number a single site holding every patient would compute on
  those edges; it equals the patient-level Kaplan-Meier when every event time is a grid point,
  and is otherwise the life-table estimate (censorings of an interval removed before its
  events), which converges to the Kaplan-Meier as the grid is refined;
* ``observed_risk`` = 1 - S(tau): per site, the site's life table with the Greenwood log(-log)
  interval (the local audit's formula, :func:`cohortaudit.survival.km.risk_interval`); pooled,
  the summed life table's when every site kept the same intervals (then it is the single-site
  number exactly), else the site-stratified estimate (:data:`STRATIFIED_METHOD`): the summed
  table exists only on the intervals every site kept, which can be too wide
  (:func:`_site_stratified_risk`).
  ``expected_risk`` = sum of
  predicted risks / n (exact), ``oe_ratio`` with exp(+-z / sqrt(events by tau)) (exact given
  the observed risk; :func:`cohortaudit.survival.calibration.oe_estimate`);
* the **decision curve** at the thresholds every contributing site released: the treated share
  is exact; S_sub(tau) among the treated is the life-table Kaplan-Meier of their pooled tables
  (on the decision curve's common time edges, which may be coarser than the life table's);
  treat-all uses the whole group's table on the same edges, so the two curves meet at t -> 0.

A group withheld at any site that has it is not pooled from the other sites (that would
silently misstate it): it is reported not evaluable, naming the sites. The metrics of
:data:`~cohortaudit.sites.survival_export.PATIENT_LEVEL_ONLY` are not computed and are listed
in the result with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cohortaudit.errors import InputError
from cohortaudit.sites.checks import check_no_duplicate_cohorts, released_numbers_fingerprint
from cohortaudit.sites.survival_export import (
    PATIENT_LEVEL_ONLY,
    SURVIVAL_SITE_FORMAT,
    SURVIVAL_SITE_FORMAT_VERSION,
)
from cohortaudit.survival.calibration import oe_estimate
from cohortaudit.survival.data import Estimate, not_evaluable
from cohortaudit.survival.decision import DecisionPoint
from cohortaudit.survival.km import Z95, risk_interval
from cohortaudit.survival.life_table import (
    LifeTable,
    coarsen,
    common_edges,
    life_table_curve,
)

__all__ = [
    "SurvivalEstimates",
    "PooledSurvivalGroup",
    "PooledSurvival",
    "pool_survival_sites",
    "pool_survival_site_files",
    "table_from_record",
]

POOLED = "pooled"


def _est(e: Estimate) -> dict[str, Any]:
    return {
        "value": e.value,
        "ci_low": e.lower,
        "ci_high": e.upper,
        "method": e.method,
        "reason": e.reason,
    }


@dataclass(frozen=True)
class SurvivalEstimates:
    """One group at one site (``site`` its name) or pooled (``site == "pooled"``)."""

    site: str
    n: int
    events: int
    censored_before: int
    event_free_at_horizon: int
    time_edges: tuple[float, ...]
    at_risk: tuple[int, ...]
    interval_events: tuple[int, ...]
    interval_censored: tuple[int, ...]
    survival: tuple[float, ...]
    observed_risk: Estimate
    expected_risk: Estimate
    oe_ratio: Estimate
    decision_curve: tuple[DecisionPoint, ...]
    #: the intervals of the treated patients' life tables (may be coarser than ``time_edges``)
    decision_time_edges: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "n": self.n,
            "events": self.events,
            "censored_before": self.censored_before,
            "event_free_at_horizon": self.event_free_at_horizon,
            "km": {
                "time": [0.0, *self.time_edges[1:]],
                "observed_risk": [0.0, *(1.0 - s for s in self.survival)],
                "at_risk": list(self.at_risk),
                "events": list(self.interval_events),
                "censored": list(self.interval_censored),
            },
            "observed_risk": _est(self.observed_risk),
            "expected_risk": _est(self.expected_risk),
            "oe_ratio": _est(self.oe_ratio),
            "decision_curve_time_edges": list(self.decision_time_edges),
            "decision_curve": [
                {
                    "threshold": p.threshold,
                    "net_benefit": p.net_benefit,
                    "net_benefit_treat_all": p.net_benefit_treat_all,
                    "treated": p.treated,
                    "reason": p.reason,
                }
                for p in self.decision_curve
            ],
        }


@dataclass(frozen=True)
class PooledSurvivalGroup:
    """A group's pooled estimates (None, with ``reason``, when not poolable) and each
    contributing site's own."""

    attributes: tuple[tuple[str, str], ...]
    pooled: SurvivalEstimates | None
    reason: str | None
    per_site: tuple[SurvivalEstimates, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "pooled": None if self.pooled is None else self.pooled.to_dict(),
            "reason": self.reason,
            "sites": [s.to_dict() for s in self.per_site],
        }


@dataclass(frozen=True)
class PooledSurvival:
    """Every group's pooled and per-site survival estimates, and what was not pooled."""

    sites: tuple[str, ...]
    horizon: float
    time_unit: str | None
    min_cell: int
    groups: tuple[PooledSurvivalGroup, ...]
    patient_level_only: tuple[tuple[str, str], ...]

    def group(self, **attributes: str) -> PooledSurvivalGroup:
        """The group with exactly these attributes (none: the whole cohort)."""
        key = tuple(sorted(attributes.items()))
        for g in self.groups:
            if tuple(sorted(g.attributes)) == key:
                return g
        raise KeyError(f"no pooled group with attributes {attributes}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": "time_to_event",
            "sites": list(self.sites),
            "horizon": self.horizon,
            "time_unit": self.time_unit,
            "min_cell": self.min_cell,
            "pooled_exactly": [
                "n",
                "events",
                "censored_before",
                "event_free_at_horizon",
                "life table (at risk, events, censored per interval)",
                "expected_risk",
                "treated share",
            ],
            "pooled_as_life_table": [
                "km curve (life table of the summed counts on the intervals every site kept)",
                "observed_risk and oe_ratio (the summed life table when every site kept the "
                "same intervals, else " + STRATIFIED_METHOD + ")",
                "net_benefit",
                "net_benefit_treat_all",
            ],
            "patient_level_only": dict(self.patient_level_only),
            "groups": [g.to_dict() for g in self.groups],
        }


# --------------------------------------------------------------------------------------------
# estimates from tables
# --------------------------------------------------------------------------------------------


def table_from_record(table: dict[str, Any], edges: Sequence[float]) -> LifeTable:
    """A :class:`LifeTable` from a file's ``{"at_risk", "events", "censored"}`` record."""
    return LifeTable(
        np.asarray(edges, dtype=np.float64),
        np.asarray(table["at_risk"], dtype=np.int64),
        np.asarray(table["events"], dtype=np.int64),
        np.asarray(table["censored"], dtype=np.int64),
    )


def _add(tables: Sequence[LifeTable]) -> LifeTable:
    edges = common_edges([t.edges for t in tables])
    parts = [coarsen(t, edges) for t in tables]
    return LifeTable(
        edges,
        sum(p.at_risk for p in parts),
        sum(p.events for p in parts),
        sum(p.censored for p in parts),
    )


def _net_benefit(
    threshold: float, above: LifeTable | None, n: int, whole: LifeTable
) -> DecisionPoint:
    """Net benefit at one threshold from the treated patients' table (as decision.py)."""
    odds = threshold / (1.0 - threshold)
    s_all = life_table_curve(whole).survival_at_horizon
    treat_all = (1.0 - s_all) - s_all * odds
    if above is None or above.n == 0:
        return DecisionPoint(threshold, 0.0, treat_all, 0.0)
    share = above.n / n
    curve = life_table_curve(above)
    if not curve.evaluable:
        return DecisionPoint(
            threshold, None, treat_all, share,
            "the treated patients' follow-up ends before the horizon",
        )  # fmt: skip
    s = curve.survival_at_horizon
    return DecisionPoint(threshold, share * (1.0 - s) - share * s * odds, treat_all, share)


def _estimates(
    site: str,
    table: LifeTable,
    *,
    sum_risk: float,
    dca: dict[float, LifeTable | None],
    dca_whole: LifeTable,
    z: float,
) -> SurvivalEstimates:
    curve = life_table_curve(table)
    n, events = table.n, int(table.events.sum())
    if curve.evaluable:
        observed = risk_interval(curve.survival_at_horizon, curve.greenwood_at_horizon, z)
        oe = oe_estimate(1.0 - curve.survival_at_horizon, sum_risk / n, events, z=z)
    else:
        why = "follow-up ends before the horizon: the risk by the horizon is not estimable"
        observed, oe = not_evaluable(why), not_evaluable(why)
    return SurvivalEstimates(
        site=site,
        n=n,
        events=events,
        censored_before=int(table.censored.sum()),
        event_free_at_horizon=table.beyond,
        time_edges=tuple(float(e) for e in table.edges),
        at_risk=tuple(int(x) for x in table.at_risk),
        interval_events=tuple(int(x) for x in table.events),
        interval_censored=tuple(int(x) for x in table.censored),
        survival=tuple(float(s) for s in curve.survival),
        observed_risk=observed,
        expected_risk=Estimate(sum_risk / n, method="mean predicted risk (sum of risks / n)"),
        oe_ratio=oe,
        decision_curve=tuple(
            _net_benefit(t, above, n, dca_whole) for t, above in sorted(dca.items())
        ),
        decision_time_edges=tuple(float(e) for e in dca_whole.edges),
    )


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SiteGroup:
    """One released group of one site file, as tables."""

    table: LifeTable
    sum_risk: float
    dca: dict[float, LifeTable]
    dca_edges: np.ndarray


def _site_groups(data: dict[str, Any]) -> dict[tuple, _SiteGroup | str]:
    """Per group key (attribute pairs in partition order): its tables, or the suppression
    reason."""
    parts = {tuple(p["attributes"]): p for p in data["partitions"]}
    out: dict[tuple, _SiteGroup | str] = {}
    for g in data["groups"]:
        attrs = g["attributes"]
        key = tuple(attrs.items())
        if g["suppressed"]:
            out[key] = str(g.get("suppression_reason") or "suppressed")
            continue
        part = parts[tuple(attrs)]
        dca_edges = np.asarray(part["decision_curve"]["time_edges"], dtype=np.float64)
        out[key] = _SiteGroup(
            table=table_from_record(g["life_table"], part["time_edges"]),
            sum_risk=float(g["sum_risk"]),
            dca={
                float(t): table_from_record(tab, dca_edges)
                for t, tab in zip(part["decision_curve"]["thresholds"], g["decision_curve"],
                                  strict=True)
            },  # fmt: skip
            dca_edges=dca_edges,
        )
    return out


def _check_site(data: Any, name: str, k_min: int | None) -> None:
    """The file is a survival site file whose every count is 0 or >= k and whose life tables
    add up (at risk = previous at risk - events - censored; totals = sums of intervals)."""
    if not isinstance(data, dict) or data.get("format") != SURVIVAL_SITE_FORMAT:
        raise InputError(
            f"'{name}' is not a cohortaudit time-to-event site file (its 'format' is not "
            f"'{SURVIVAL_SITE_FORMAT}'). Give files written by the time-to-event site export."
        )
    major = str(data.get("format_version", "")).split(".")[0]
    if major != SURVIVAL_SITE_FORMAT_VERSION.split(".")[0]:
        raise InputError(
            f"'{name}' has time-to-event site-file version {data.get('format_version')!r}; this "
            f"cohortaudit reads {SURVIVAL_SITE_FORMAT_VERSION.split('.')[0]}.x. Re-export it."
        )
    site = data.get("site")
    if not isinstance(site, str) or not site.strip():
        raise InputError(f"The site file '{name}': 'site' is not a non-empty text. Re-export it.")
    k = data.get("settings", {}).get("min_cell")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise InputError(f"The site file '{name}' (site {site!r}): 'settings.min_cell' is invalid.")
    k = max(k, k_min or 0)
    for g in data.get("groups", []):
        if g.get("suppressed"):
            continue
        tables = [g["life_table"], *g["decision_curve"]]
        counts = [g["n"], g["events"], g["censored_before"], g["event_free_at_horizon"]]
        for tab in tables:
            ar, ev, ce = (np.asarray(tab[c], dtype=np.int64) for c in ("at_risk", "events",
                                                                        "censored"))  # fmt: skip
            counts.extend([*ar.tolist(), *ev.tolist(), *ce.tolist()])
            if np.any(ar[1:] != ar[:-1] - ev[:-1] - ce[:-1]):
                raise InputError(
                    f"The site file '{name}' (site {site!r}), group {g['attributes']}: a life "
                    "table's numbers at risk do not follow from its events and censorings. "
                    "Ask the site for its original file."
                )
        lt = g["life_table"]
        if (
            lt["at_risk"][0] != g["n"]
            or sum(lt["events"]) != g["events"]
            or sum(lt["censored"]) != g["censored_before"]
            or lt["at_risk"][-1] - lt["events"][-1] - lt["censored"][-1]
            != g["event_free_at_horizon"]
        ):
            raise InputError(
                f"The site file '{name}' (site {site!r}), group {g['attributes']}: the totals "
                "do not equal the sums of the life table. Ask the site for its original file."
            )
        if k > 0 and any(0 < int(c) < k for c in counts):
            raise InputError(
                f"The site file '{name}' (site {site!r}), group {g['attributes']}: a count is "
                f"below the minimum cell k = {k}; a correct export never writes one. Refused."
            )


def _check_same(sites: Sequence[dict[str, Any]], names: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for d, f in zip(sites, names, strict=True):
        if d["site"] in seen:
            raise InputError(
                f"Two site files name the same site {d['site']!r}: '{seen[d['site']]}' and "
                f"'{f}'. Give each site's file once."
            )
        seen[d["site"]] = f
    first = sites[0]
    for d, f in zip(sites[1:], names[1:], strict=True):
        if (d.get("model") or {}).get("sha256") != (first.get("model") or {}).get("sha256"):
            raise InputError(
                f"The site file '{f}' (site {d['site']!r}) was exported with a different model "
                f"than '{names[0]}'. Only audits of the same model file can be pooled."
            )
        for key in sorted(set(first["settings"]) | set(d["settings"])):
            if first["settings"].get(key) != d["settings"].get(key):
                raise InputError(
                    f"The site file '{f}' (site {d['site']!r}) was exported with a different "
                    f"setting '{key}' than '{names[0]}'. Every site must export with the same "
                    "horizon, time grid, attributes, min-cell and max-order."
                )


def pool_survival_sites(
    sites: Sequence[dict[str, Any]],
    *,
    file_names: Sequence[str] | None = None,
    min_cell: int | None = None,
    z: float = Z95,
) -> PooledSurvival:
    """Pool the contents of time-to-event site files (no I/O). Sites are taken in order of
    their names, so the result does not depend on the order of the files."""
    if not sites:
        raise InputError("No site file given. Give at least one time-to-event site file.")
    names = list(file_names or [f"site file {i + 1}" for i in range(len(sites))])
    for d, f in zip(sites, names, strict=True):
        _check_site(d, f, min_cell)
    _check_same(sites, names)
    check_no_duplicate_cohorts(sites, names, fingerprint=released_numbers_fingerprint)
    order = sorted(range(len(sites)), key=lambda i: sites[i]["site"])
    sites = [sites[i] for i in order]
    per_site = [(d["site"], _site_groups(d)) for d in sites]
    keys = _group_keys(sites)
    groups = tuple(_pool_group(key, per_site, z) for key in keys)
    s0 = sites[0]["settings"]
    return PooledSurvival(
        sites=tuple(d["site"] for d in sites),
        horizon=float(s0["horizon"]),
        time_unit=s0.get("time_unit"),
        min_cell=max(int(s0["min_cell"]), min_cell or 0),
        groups=groups,
        patient_level_only=tuple(PATIENT_LEVEL_ONLY.items()),
    )


def _group_keys(sites: Sequence[dict[str, Any]]) -> list[tuple]:
    """Groups in local-audit order: partitions as the files list them, values in order."""
    value_order: dict[str, list[str]] = {}
    for d in sites:
        for col, values in d["value_order"].items():
            merged = value_order.setdefault(col, [])
            merged.extend(v for v in values if v not in merged)
    part_order: list[tuple[str, ...]] = []
    for d in sites:
        for p in d["partitions"]:
            if tuple(p["attributes"]) not in part_order:
                part_order.append(tuple(p["attributes"]))
    found: dict[tuple, tuple] = {}
    for d in sites:
        for g in d["groups"]:
            attrs = tuple(g["attributes"])
            rank = (
                part_order.index(attrs),
                tuple(value_order[a].index(g["attributes"][a]) for a in attrs),
            )
            found.setdefault(tuple(g["attributes"].items()), rank)
    return sorted(found, key=lambda key: found[key])


def _pool_group(key: tuple, per_site, z: float) -> PooledSurvivalGroup:
    present = [(s, groups[key]) for s, groups in per_site if key in groups]
    withheld = [s for s, g in present if isinstance(g, str)]
    released = [(s, g) for s, g in present if not isinstance(g, str)]
    own = tuple(_site_estimates(s, g, z) for s, g in released)
    if withheld:
        reason = (
            f"withheld at {', '.join(withheld)} (disclosure control there): not pooled from "
            "the other sites, which would misstate the group"
        )
        return PooledSurvivalGroup(key, None, reason, own)
    table = _add([g.table for _, g in released])
    thresholds = set.intersection(*(set(g.dca) for _, g in released))
    dca_edges = common_edges([g.dca_edges for _, g in released])
    dca = {t: _add([coarsen(g.dca[t], dca_edges) for _, g in released]) for t in thresholds}
    sum_risk = sum(g.sum_risk for _, g in released)
    pooled = _estimates(
        POOLED,
        table,
        sum_risk=sum_risk,
        dca=dca,
        dca_whole=coarsen(table, common_edges([table.edges, dca_edges])),
        z=z,
    )
    tables = [g.table for _, g in released]
    coarsened = any(not np.array_equal(t.edges, table.edges) for t in tables)
    observed = _site_stratified_risk(tables, z) if coarsened else None
    if observed is not None:
        oe = oe_estimate(observed.value, sum_risk / table.n, int(table.events.sum()), z=z)
        pooled = replace(pooled, observed_risk=observed, oe_ratio=oe)
    return PooledSurvivalGroup(key, pooled, None, own)


#: How the pooled observed risk at the horizon is estimated (stated in every pooled result).
STRATIFIED_METHOD = (
    "site-stratified: sum over sites of (n_site / n) x the site's life-table Kaplan-Meier risk "
    "at the horizon on its own intervals; variance sum (n_site / n)^2 x Greenwood; log(-log) "
    "interval"
)


def _site_stratified_risk(tables: Sequence[LifeTable], z: float) -> Estimate | None:
    """1 - S(tau) as the size-weighted mean of the sites' own life-table estimates.

    Why not the life table of the summed counts: the sites release different intervals, so
    their sum exists only on the intervals all of them kept, which can be a few wide ones; a
    wide interval's life table removes all its censorings before its events and overstates
    the risk when follow-up is heavily censored (on the bundled sample, 0.138 against a
    patient-level Kaplan-Meier of 0.111). Each site's own intervals stay fine, and with sites
    as strata the weighted mean estimates the same marginal risk (a stratified Kaplan-Meier),
    with a Greenwood variance that adds up over independent sites.
    """
    curves = [life_table_curve(t) for t in tables]
    if not curves or not all(c.evaluable for c in curves):
        return None
    n = float(sum(t.n for t in tables))
    surv = sum(t.n / n * c.survival_at_horizon for t, c in zip(tables, curves, strict=True))
    var = sum(
        (t.n / n) ** 2 * c.survival_at_horizon**2 * c.greenwood_at_horizon
        for t, c in zip(tables, curves, strict=True)
    )
    if not 0.0 < surv < 1.0:
        return None
    est = risk_interval(surv, var / surv**2, z)
    return replace(est, method=STRATIFIED_METHOD)


def _site_estimates(site: str, g: _SiteGroup, z: float) -> SurvivalEstimates:
    return _estimates(
        site, g.table, sum_risk=g.sum_risk, dca=g.dca,
        dca_whole=coarsen(g.table, g.dca_edges), z=z,
    )  # fmt: skip


def pool_survival_site_files(
    paths: Sequence[str | Path],
    *,
    min_cell: int | None = None,
    public_keys: Mapping[str, Any] | None = None,
) -> PooledSurvival:
    """Read time-to-event site files (size limit, duplicate keys and content hash checked, as
    :func:`cohortaudit.sites.export.read_site_file`), check the signature of every site with a
    key in ``public_keys`` (site name -> Ed25519 public key; as the binary pool does) and pool
    them."""
    from cohortaudit.sites.export import read_site_file
    from cohortaudit.sites.signature import verify_site_signatures

    data = [
        read_site_file(p, kind=SURVIVAL_SITE_FORMAT, version=SURVIVAL_SITE_FORMAT_VERSION)
        for p in paths
    ]
    verify_site_signatures(data, [Path(p) for p in paths], dict(public_keys or {}))
    return pool_survival_sites(data, file_names=[Path(p).name for p in paths], min_cell=min_cell)

"""Site export of a time-to-event audit: life tables on a shared time grid, disclosure-safe.

What decomposes exactly across sites is what is a sum over patients: counts of a life table on
a time grid fixed in advance (:mod:`cohortaudit.survival.life_table`), the number of events by
the horizon and the sum of predicted risks. A coordinator adding them up gets the life-table
Kaplan-Meier, the observed and expected risk, O/E and the decision curve of the pooled cohort
(:mod:`cohortaudit.sites.survival_pool`). The rest of a time-to-event audit needs every
patient's time, event and prediction together and is not in the file
(:data:`PATIENT_LEVEL_ONLY` says which and why; the file states it too).

What a file carries, for the whole cohort and every group of every partition (single
attributes and intersections up to ``max_order``, :func:`cohortaudit.metrics.subgroups.
build_partitions`, the local audit's groups):

* ``n``, ``events`` (by the horizon), ``censored_before`` (the horizon), ``event_free_at_horizon``
  (T > tau, or censored at tau) and ``sum_risk`` (sum of predicted risks);
* ``life_table``: per interval of the partition's ``time_edges`` the number at risk at its
  start, the events and the censorings in it (the grid: ``grid_steps`` equal steps of
  horizon / steps, the horizon the last edge);
* ``decision_curve``: for each released threshold of 0.01..0.99, the life table (on the
  partition's coarser ``decision_curve.time_edges``) of the patients with risk >= threshold,
  whose pooled Kaplan-Meier gives the net benefit.

Disclosure control, k = ``min_cell``:

1. Groups: the local audit's decision (the survival threshold S1 and rules 1 and 3,
   :func:`cohortaudit.disclosure_survival.apply_survival_disclosure`), then the counts the file
   releases -- n, events, censored before, event-free at the horizon -- closed over the sibling
   families with :func:`cohortaudit.disclosure.protect_counts` (a withheld group's counts are
   never ``parent - sum(released siblings)``, and never in 1..k-1). Withheld groups are listed
   with the reason and no numbers.
2. Life tables: the grid's intervals are merged (adjacent intervals, shared by every group of a
   partition) until every released group's events and censorings in every interval are 0 or
   >= k -- and the same for each sibling family's complement (parent minus its released
   children) where a member is withheld, so that complement cannot be read by subtraction.
   An interval with events then has >= k events; the number at risk at each interval start is
   a sum of such counts and of the event-free count, so also 0 or >= k. Pooling handles the
   coarser intervals (it pools on the edges every site kept).
3. Decision curve: the patients between two released thresholds (a *risk band*) are a
   difference of two released tables; thresholds are released only where every band's life
   table (and each complement's) has every count 0 or >= k. The time edges of these tables
   are the life table's, thinned when that releases more thresholds.

The disclosure log says what was withheld or merged and why, never a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit import __version__
from cohortaudit.disclosure import CountFamily, protect_counts, sibling_families
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.sites.export import check_site_name, content_sha256, merge_edges, score_site
from cohortaudit.survival.data import check_survival
from cohortaudit.survival.decision import THRESHOLD_GRID
from cohortaudit.survival.life_table import time_grid

__all__ = [
    "SURVIVAL_SITE_FORMAT",
    "SURVIVAL_SITE_FORMAT_VERSION",
    "GRID_STEPS",
    "PATIENT_LEVEL_ONLY",
    "build_survival_site_export",
    "export_survival_site",
    "survival_export_from_cohort",
    "survival_site_settings",
]

SURVIVAL_SITE_FORMAT = "cohortaudit-survival-site-export"
SURVIVAL_SITE_FORMAT_VERSION = "1.0.0"
#: Equal steps of the time grid from 0 to the horizon.
GRID_STEPS = 40

#: Time-to-event metrics a coordinator cannot compute from site files, and why.
PATIENT_LEVEL_ONLY = {
    "harrell_c": "pairs of patients across the cohort (each pair's times and predictions)",
    "uno_c": "pairs of patients and the pooled censoring distribution at each event time",
    "auc_t": "every case's prediction against every control's, IPCW-weighted",
    "brier": "each patient's squared error weighted by the censoring distribution at their time",
    "scaled_brier": "the IPCW Brier score (above)",
    "calibration_slope": "a Cox fit on every patient's time, event and cloglog(risk)",
    "ici": "the flexible calibration curve (a Cox spline fit on patient data)",
    "e50": "the flexible calibration curve (a Cox spline fit on patient data)",
    "e90": "the flexible calibration curve (a Cox spline fit on patient data)",
    "emax": "the flexible calibration curve (a Cox spline fit on patient data)",
    "calibration_curve": "the flexible calibration curve (a Cox spline fit on patient data)",
    "risk_deciles": "the pooled cohort's deciles of predicted risk (quantiles of every risk)",
    "sensitivity / specificity / ppv / npv": (
        "IPCW weights from the pooled censoring distribution at each patient's time"
    ),
    "median_follow_up": "the reverse Kaplan-Meier at every censoring time",
}

_SECONDARY = "withheld so that a withheld group's survival counts cannot be derived"


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not (0 <= k <= 10_000):
        raise ConfigError(
            f"The 'min_cell' parameter must be an integer in [0, 10000]. Got {k!r} instead."
        )
    return k


def _check_order(max_order: Any) -> int:
    if isinstance(max_order, bool) or not isinstance(max_order, int) or not 1 <= max_order <= 5:
        raise ConfigError(
            "The 'max_intersection_order' parameter must be an integer in [1, 5]. "
            f"Got {max_order!r} instead."
        )
    return max_order


def _passes(counts: np.ndarray, k: int) -> bool:
    return bool(np.all((counts == 0) | (counts >= k)))


def _fine_atoms(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, gi: np.ndarray, n_groups: int,
    edges: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Counts of shape (groups, 100 risk bands, 2 J + 1): events per interval, censorings per
    interval, event-free at tau. Band b holds risks in [t_b, t_{b+1}) of the threshold grid
    (band 0 below 0.01, band 99 from 0.99), so "risk >= t_b" is bands b and above."""
    n_int = len(edges) - 1
    band = np.searchsorted(np.asarray(THRESHOLD_GRID), risk, side="right")
    e_idx = np.searchsorted(edges, time, side="left")  # event in interval e_idx (1-based)
    c_idx = np.searchsorted(edges, time, side="right")  # censoring in interval c_idx
    col = np.where(
        event,
        np.where(e_idx <= n_int, e_idx - 1, 2 * n_int),
        np.where(c_idx <= n_int, n_int + c_idx - 1, 2 * n_int),
    )
    width = 2 * n_int + 1
    flat = (gi * 100 + band) * width + col
    counts = np.bincount(flat, minlength=n_groups * 100 * width)
    return counts.reshape(n_groups, 100, width).astype(np.int64)


def build_survival_site_export(
    time: object,
    event: object,
    risk: object,
    groups: pd.DataFrame,
    *,
    horizon: float,
    site: str,
    min_cell: int,
    max_order: int = 3,
    threshold: float = 0.5,
    grid_steps: int = GRID_STEPS,
    time_unit: str | None = None,
    model: dict[str, Any] | None = None,
    cohort: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The survival site file's content (a plain dict), disclosure control applied. No I/O.

    ``time`` > 0, ``event`` 0/1, ``risk`` the predicted risk of the event by ``horizon`` (one
    per row of ``groups``, a column of text labels per sensitive attribute); ``threshold`` is
    the operating threshold (it only decides, as in a local audit, which threshold metrics a
    group would show). ``model`` and ``cohort`` are identity facts copied into the file.
    """
    from cohortaudit.disclosure_survival import apply_survival_disclosure
    from cohortaudit.survival.table import survival_point_table

    check_site_name(site)
    k = _check_k(min_cell)
    max_order = _check_order(max_order)
    data = check_survival(time, event, risk, horizon=horizon)
    if len(groups) != data.n:
        raise SchemaError(
            f"The group labels have {len(groups)} rows but time, event and risk have {data.n}; "
            "give one row of labels per patient."
        )
    tau = data.tau
    edges = time_grid(tau, grid_steps)
    frame = groups.reset_index(drop=True)
    table = survival_point_table(
        data.time, data.event, data.risk, frame, horizon=tau, threshold=float(threshold),
        max_order=max_order, min_cell=k,
    )  # fmt: skip
    decision = apply_survival_disclosure(table, k).decision
    parts = table.partitions
    atoms = [
        _fine_atoms(
            data.time, data.event, data.risk, part.cell_to_group[table.cell], len(part.keys), edges
        )
        for part in parts
    ]
    hidden, reasons, log = _withheld_groups(table, decision, atoms, k)
    families = sibling_families(parts)
    n_int = len(edges) - 1
    partitions_out, groups_out = [], []
    for p, part in enumerate(parts):
        released = [g for g in range(len(part.keys)) if not hidden[(p, g)]]
        comps = _complements(families, p, atoms, hidden)
        virtual = [atoms[p][g] for g in released] + comps
        kept = _time_edges(virtual, n_int, k)
        dca_kept, band_edges = _decision_edges(virtual, kept, n_int, k)
        label = " x ".join(part.attributes) or "overall"
        if len(kept) - 1 < n_int and virtual:
            log.append(_log(label, "S2: survival threshold", "life-table intervals merged", (
                f"adjacent intervals of the {n_int}-step time grid were merged (shared by every "
                f"group of the partition) so that every released count of events and of "
                f"censorings in an interval is 0 or at least {k}"
            )))  # fmt: skip
        thresholds = [float(THRESHOLD_GRID[b - 1]) for b in band_edges[1:-1]]
        if len(thresholds) < len(THRESHOLD_GRID) and virtual:
            log.append(_log(label, "S4: survival threshold", "decision-curve thresholds thinned", (
                f"{len(THRESHOLD_GRID) - len(thresholds)} of the {len(THRESHOLD_GRID)} grid "
                "thresholds are not released: the patients between neighbouring released "
                f"thresholds must have every life-table count 0 or at least {k}"
            )))  # fmt: skip
        partitions_out.append(
            {
                "attributes": list(part.attributes),
                "time_edges": [float(e) for e in edges[kept]],
                "decision_curve": {
                    "time_edges": [float(e) for e in edges[dca_kept]],
                    "thresholds": thresholds,
                },
            }
        )
        for g in range(len(part.keys)):
            attrs = part.attributes_of(g)
            if hidden[(p, g)]:
                groups_out.append(
                    {"attributes": attrs, "suppressed": True, "suppression_reason": reasons[(p, g)]}
                )
                continue
            groups_out.append(
                _group_record(attrs, atoms[p][g], data.risk, part, table, g, kept, dca_kept,
                              band_edges, n_int)
            )  # fmt: skip
    out: dict[str, Any] = {
        "format": SURVIVAL_SITE_FORMAT,
        "format_version": SURVIVAL_SITE_FORMAT_VERSION,
        "tool": {"name": "cohortaudit", "version": __version__},
        "site": site.strip(),
        "model": dict(model or {}),
        "cohort": dict(cohort or {}),
        "settings": survival_site_settings(
            tau, edges, k=k, max_order=max_order, features=tuple(frame.columns),
            time_unit=time_unit,
        ),  # fmt: skip
        "patient_level_only": dict(PATIENT_LEVEL_ONLY),
        "value_order": _value_order(frame),
        "partitions": partitions_out,
        "groups": groups_out,
        "disclosure_log": log,
    }
    out["content_sha256"] = content_sha256(out)
    return out


def _withheld_groups(table, decision, atoms, k: int):
    """Groups withheld: the local audit's decision, then the file's counts closed over the
    sibling families. Returns (hidden by cell, reason by withheld cell, log entries)."""
    cells = table.cells()
    hidden0 = {c for c in cells if decision.hidden[c[0]][c[1]]}
    counts = {}
    for p, g in cells:
        a = atoms[p][g].sum(axis=0)
        n_int = (a.size - 1) // 2
        events, censored, beyond = int(a[:n_int].sum()), int(a[n_int:-1].sum()), int(a[-1])
        counts[(p, g)] = (events + censored + beyond, events, censored, beyond)
    families = [
        CountFamily(children=tuple((p, g) for g in members), parent=(pp, pg))
        for p, pp, pg, members in sibling_families(table.partitions)
    ]
    prot = protect_counts(counts, families, k, withheld=sorted(hidden0))
    reasons = {c: decision.reasons.get(c, _SECONDARY) for c in hidden0}
    log = [e.to_dict() for e in decision.log if e.action == "group suppressed"]
    for c in sorted(prot.withheld - hidden0):
        reasons[c] = _SECONDARY
        where = table.partitions[c[0]].attributes_of(c[1]) or {"group": "overall"}
        log.append({"where": where, "rule": "S1: survival threshold", "action":
                    "group suppressed", "reason": _SECONDARY})  # fmt: skip
    hidden = {c: c in prot.withheld or c in hidden0 for c in cells}
    return hidden, reasons, log


def _complements(families, p: int, atoms, hidden) -> list[np.ndarray]:
    """Atoms of parent minus released children, for partition ``p``'s families with a
    withheld member and a released parent (what subtraction would give a reader)."""
    out = []
    for pc, pp, pg, members in families:
        if pc != p or hidden[(pp, pg)] or not any(hidden[(pc, g)] for g in members):
            continue
        comp = atoms[pp][pg] - sum(atoms[pc][g] for g in members if not hidden[(pc, g)])
        out.append(np.asarray(comp))
    return out


def _time_edges(virtual: list[np.ndarray], n_int: int, k: int) -> np.ndarray:
    """Indices of the grid edges a partition keeps: intervals merged until every count of
    events and censorings of every (virtual) group is 0 or >= k."""
    if k <= 0 or not virtual:
        return np.arange(n_int + 1)
    per_time = np.stack([v.sum(axis=0)[: 2 * n_int].reshape(2, n_int) for v in virtual])
    return np.asarray(merge_edges(per_time, k, [np.arange(1, n_int)]))


def _coarse_bands(v: np.ndarray, kept: np.ndarray, n_int: int) -> np.ndarray:
    """Atoms (bands, 2 J + 1) on the kept time edges: (bands, 2 I + 1)."""
    starts = kept[:-1]
    ev = np.add.reduceat(v[:, :n_int], starts, axis=1)
    ce = np.add.reduceat(v[:, n_int : 2 * n_int], starts, axis=1)
    return np.concatenate([ev, ce, v[:, -1:]], axis=1)


def _decision_edges(virtual, kept: np.ndarray, n_int: int, k: int):
    """The decision curve's time edges (the life table's, thinned when that releases more
    thresholds) and the kept risk-band edges (0, released threshold indices..., 100)."""
    all_bands = np.arange(101)
    if k <= 0 or not virtual:
        return kept, all_bands
    best = None
    inner = kept[1:-1]
    step = 1
    while True:
        cand = np.concatenate(([kept[0]], inner[step - 1 :: step], [kept[-1]]))
        cand = np.unique(cand)
        stack = np.stack([_coarse_bands(v, cand, n_int).T for v in virtual])  # (V, cols, bands)
        # thresholds first (empty bands may split off: nobody between two thresholds is 0)
        bands = np.asarray(merge_edges(stack, k, [np.arange(1, 100), np.zeros(0, dtype=int)]))
        if best is None or len(bands) > len(best[1]):
            best = (cand, bands)
        if len(cand) <= 2:
            break
        step *= 2
    return best


def _group_record(attrs, atoms: np.ndarray, risk, part, table, g, kept, dca_kept, band_edges,
                  n_int) -> dict[str, Any]:  # fmt: skip
    """A released group's numbers: totals, the life table and the decision-curve tables."""
    whole = atoms.sum(axis=0)
    coarse = _coarse_bands(whole[None, :], kept, n_int)[0]
    n_i = len(kept) - 1
    events, censored, beyond = coarse[:n_i], coarse[n_i : 2 * n_i], int(coarse[-1])
    gi = part.cell_to_group[table.cell]
    sum_risk = float(np.sum(risk[gi == g]))
    dca = _coarse_bands(atoms, dca_kept, n_int)
    m = len(dca_kept) - 1
    tables = []
    for b in band_edges[1:-1]:
        above = dca[b:].sum(axis=0)
        ev, ce = above[:m], above[m : 2 * m]
        tables.append(_table_dict(ev, ce, int(above[-1])))
    return {
        "attributes": attrs,
        "suppressed": False,
        "n": int(whole.sum()),
        "events": int(events.sum()),
        "censored_before": int(censored.sum()),
        "event_free_at_horizon": beyond,
        "sum_risk": sum_risk,
        "life_table": _table_dict(events, censored, beyond),
        "decision_curve": tables,
    }


def _table_dict(events: np.ndarray, censored: np.ndarray, beyond: int) -> dict[str, list[int]]:
    leaving_after = np.cumsum((events + censored)[::-1])[::-1]
    at_risk = leaving_after + beyond
    return {
        "at_risk": [int(x) for x in at_risk],
        "events": [int(x) for x in events],
        "censored": [int(x) for x in censored],
    }


def _log(partition: str, rule: str, action: str, reason: str) -> dict[str, Any]:
    return {"where": {"partition": partition}, "rule": rule, "action": action, "reason": reason}


def _value_order(frame: pd.DataFrame) -> dict[str, list[str]]:
    out = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[str(col)] = [str(v) for v in s.cat.categories]
        else:
            out[str(col)] = sorted({str(v) for v in s.astype(str)})
    return out


def survival_site_settings(
    horizon: float,
    edges: np.ndarray,
    *,
    k: int,
    max_order: int,
    features: Sequence[str],
    time_unit: str | None,
) -> dict[str, Any]:
    """Every choice that must be identical at all sites for their files to pool."""
    return {
        "outcome": "time_to_event",
        "horizon": float(horizon),
        "time_unit": time_unit,
        "sensitive_features": [str(f) for f in features],
        "min_cell": k,
        "max_intersection_order": max_order,
        "time_grid": {
            "steps": len(edges) - 1,
            "step": float(horizon) / (len(edges) - 1),
            "edges": [float(e) for e in edges],
            "description": (
                "equal steps from 0 to the horizon (the last edge); an event at a grid point "
                "closes its interval (t_{j-1} < T <= t_j), a censoring at a grid point opens "
                "the next (t_{j-1} <= T < t_j); each partition keeps a subset of these edges "
                "(time_edges), merging intervals until every count is 0 or >= k"
            ),
        },
        "life_table": (
            "at_risk = event-free and under observation at the interval's start; events and "
            "censored in the interval; at_risk of the next interval = at_risk - events - "
            "censored; what is left after the last is event_free_at_horizon"
        ),
        "threshold_grid": [float(t) for t in THRESHOLD_GRID],
        "threshold_rule": "treated iff risk >= threshold",
        "conventions": (
            "events by the horizon include events at it; a patient censored at the horizon is "
            "event-free at it; at tied times events come first"
        ),
    }


def export_survival_site(*, site: str, **inputs: Any) -> dict[str, Any]:
    """``cohortaudit site-export --time --event --horizon``: load, check and score as the
    binary export does (:func:`cohortaudit.sites.export.score_site`, whose keyword arguments
    these are), then build the time-to-event site file."""
    scored = score_site(**inputs)
    return survival_export_from_cohort(
        scored.cohort,
        scored.y_score,
        scored.config,
        site=site,
        threshold=scored.threshold,
        model=scored.model,
        cohort_facts=scored.cohort_facts,
    )


def survival_export_from_cohort(
    cohort: Any,
    y_score: np.ndarray,
    config: Any,
    *,
    site: str,
    threshold: float,
    model: dict[str, Any] | None = None,
    cohort_facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The hook for ``cohortaudit site-export`` with ``--time/--event/--horizon``: a validated
    :class:`~cohortaudit.intake.validate.Cohort` (``time``, ``event``, ``groups``) and its
    scores, with the :class:`~cohortaudit.config.AuditConfig` (``horizon``, ``time_unit``)."""
    horizon = getattr(config, "horizon", None)
    if horizon is None or getattr(cohort, "time", None) is None:
        raise ConfigError(
            "A time-to-event site export needs the follow-up time, the event and the horizon: "
            "give --time COL --event COL --horizon T."
        )
    return build_survival_site_export(
        cohort.time,
        cohort.event,
        y_score,
        cohort.groups[list(config.sensitive_features)],
        horizon=float(horizon),
        site=site,
        min_cell=config.min_cell,
        max_order=config.max_intersection_order,
        threshold=threshold,
        time_unit=getattr(config, "time_unit", None),
        model=model,
        cohort=cohort_facts,
    )

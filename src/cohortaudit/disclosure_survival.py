"""Disclosure control of a time-to-event audit: the survival threshold, then the usual rules.

Output checkers of secure processing environments release survival analyses under a *survival
threshold*: a Kaplan-Meier curve or risk table only where at least k patients are at risk, and
each step of a curve reflects at least k events (a step of one event says when one patient had
the event). Here, with k = ``--min-cell``:

S1. A group is released only with >= k patients at risk at the horizon and with a count of
    patients censored before the horizon that is 0 or >= k (events by the horizon and the other
    rules are :func:`cohortaudit.disclosure.apply_disclosure`'s rule 1). These counts are cells
    like n and events: they are closed over the same sibling families (secondary suppression),
    so a withheld group's at-risk or censored count is never ``parent - sum(released)``.
S2. A released group's Kaplan-Meier curve shows a step only where >= k events have accumulated
    since the previous shown step and >= k patients are still at risk; between shown steps the
    curve is flat. The number at risk is shown at the shown steps only.
S3. Observed-vs-predicted risk by decile is released only when every decile has >= k events by
    the horizon, >= k patients at risk at it and >= k patients; otherwise the table is withheld.
S4. A decision-curve point is released only where the patients above the threshold number 0 or
    >= k with >= k events by the horizon among them, and differ from the previous released
    point's by 0 or >= k (neighbouring points would otherwise give a small count back).

Then the binary rules apply unchanged to the table (groups: n, events, non-events; the counts
behind the threshold metrics: cases and controls above and below the threshold), so both
outcome kinds have one disclosure pass. The log says what was withheld and why, never a count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cohortaudit.disclosure import (
    CountFamily,
    DisclosureDecision,
    apply_disclosure,
    protect_counts,
    sibling_families,
)
from cohortaudit.metrics.table import GroupTable, finite
from cohortaudit.results import DisclosureEntry

__all__ = [
    "SURVIVAL_DISCLOSURE_RULES",
    "SURVIVAL_THRESHOLD",
    "SurvivalDisclosure",
    "apply_survival_disclosure",
    "released_km",
    "released_deciles",
    "released_decision_curve",
    "survival_log_entries",
]

#: Why a group fails the survival threshold (S1), as the log and the tables say it.
SURVIVAL_THRESHOLD = (
    "survival threshold: fewer than k patients at risk at the horizon, or 1 to k-1 "
    "censored before it"
)
_SECONDARY = "withheld so that a withheld group's survival counts cannot be derived"

SURVIVAL_DISCLOSURE_RULES = (
    "S1: a group is released only with >= k patients at risk at the horizon and 0 or >= k "
    "censored before it; these counts are closed over sibling families like n and events",
    "S2: Kaplan-Meier curves show a step only where >= k events have accumulated since the "
    "previous shown step and >= k patients are at risk",
    "S3: observed vs predicted by risk decile only when every decile has >= k patients, "
    ">= k events by the horizon and >= k at risk",
    "S4: decision-curve points only where 0 or >= k patients are above the threshold with "
    ">= k events among them, differing from the previous point by 0 or >= k",
)


@dataclass(frozen=True)
class SurvivalDisclosure:
    """The table as disclosure control saw it (survival withholdings marked) and its decision."""

    table: GroupTable
    decision: DisclosureDecision


def _families(table: GroupTable) -> list[CountFamily]:
    return [
        CountFamily(children=tuple((p, g) for g in members), parent=(pp, pg))
        for p, pp, pg, members in sibling_families(table.partitions)
    ]


def _survival_counts(row) -> tuple[int, int]:
    facts = row.survival
    return (0, 0) if facts is None else (facts.at_risk, facts.censored_before)


def _marked(table: GroupTable, reasons: Mapping[tuple[int, int], str]) -> GroupTable:
    rows = tuple(
        tuple(
            replace(r, withheld_by_source=r.withheld_by_source or reasons[(p, g)])
            if (p, g) in reasons
            else r
            for g, r in enumerate(row)
        )
        for p, row in enumerate(table.rows)
    )
    return replace(table, rows=rows)


def apply_survival_disclosure(
    table: GroupTable, k: int, *, curves_up_to_order: int = 1
) -> SurvivalDisclosure:
    """S1 over the survival counts, then :func:`apply_disclosure`, until both agree.

    Each pass can only withhold more, so the loop ends; it usually takes one or two passes.
    """
    cells = table.cells()
    primary = {
        c: SURVIVAL_THRESHOLD
        for c in cells
        if k > 0
        and table.rows[c[0]][c[1]].survival is not None
        and (
            _survival_counts(table.rows[c[0]][c[1]])[0] < k
            or 0 < _survival_counts(table.rows[c[0]][c[1]])[1] < k
        )
    }
    families = _families(table)
    counts = {c: _survival_counts(table.rows[c[0]][c[1]]) for c in cells}
    withheld = dict(primary)
    while True:
        prot = protect_counts(counts, families, k, withheld=list(withheld))
        for c in prot.withheld:
            withheld.setdefault(c, _SECONDARY)
        marked = _marked(table, withheld)
        decision = apply_disclosure(marked, k, curves_up_to_order=curves_up_to_order)
        hidden = {(p, g) for p, row in enumerate(decision.hidden) for g, h in enumerate(row) if h}
        if hidden <= set(withheld):
            return SurvivalDisclosure(table=marked, decision=decision)
        for c in hidden:
            withheld.setdefault(c, decision.reasons.get(c, _SECONDARY))


def _entry(table: GroupTable, p: int, g: int, rule: str, action: str, reason: str):
    where = table.partitions[p].attributes_of(g) if table.partitions[p].attributes else {}
    return DisclosureEntry(
        where=where or {"group": "overall"}, rule=rule, action=action, reason=reason
    )


def released_km(row, k: int) -> dict[str, list[Any]]:
    """S2: the group's Kaplan-Meier observed risk at the shown steps (time 0 first).

    Columns ``time``, ``observed_risk``, ``ci_low``, ``ci_high`` (log(-log) Greenwood) and
    ``at_risk`` (the number at risk just before the step).
    """
    from cohortaudit.survival.km import Z95

    km = row.survival.km
    out: dict[str, list[Any]] = {
        "time": [0.0],
        "observed_risk": [0.0],
        "ci_low": [0.0],
        "ci_high": [0.0],
        "at_risk": [int(row.n) if k <= 0 or row.n >= k else None],
    }
    pending = 0.0
    for i in range(km.times.size):
        pending += float(km.events[i])
        if k > 0 and (pending < k or km.at_risk[i] < k):
            continue
        if pending == 0:
            continue
        surv, gw = float(km.survival[i]), float(km.greenwood[i])
        lo = hi = None
        if 0.0 < surv < 1.0 and np.isfinite(gw):
            se = np.sqrt(gw) / abs(np.log(surv))
            lo, hi = 1.0 - surv ** np.exp(-Z95 * se), 1.0 - surv ** np.exp(Z95 * se)
        out["time"].append(finite(km.times[i]))
        out["observed_risk"].append(finite(1.0 - surv))
        out["ci_low"].append(finite(lo))
        out["ci_high"].append(finite(hi))
        out["at_risk"].append(int(km.at_risk[i]))
        pending = 0.0
    return out


def released_deciles(row, k: int) -> tuple[dict[str, Any], ...] | None:
    """S3: observed (KM) vs mean predicted risk by decile of predicted risk, or None."""
    groups = row.survival.summary.risk_groups
    if k > 0 and any(g.n < k or g.events < k or g.at_risk < k for g in groups):
        return None
    return tuple(
        {
            "n": g.n,
            "events": g.events,
            "at_risk": g.at_risk,
            "expected_risk": finite(g.expected_risk),
            "observed_risk": finite(g.observed_risk.value),
            "ci_low": finite(g.observed_risk.lower),
            "ci_high": finite(g.observed_risk.upper),
        }
        for g in groups
    )


def released_decision_curve(row, k: int) -> tuple[dict[str, Any], ...]:
    """S4: the decision-curve points that may leave (net benefit of the model and treat-all).

    ``treated`` (the share above the threshold) is released with the point: with the group's
    n it gives the count above the threshold, which S4 keeps at 0 or >= k.
    """
    facts = row.survival
    summary = facts.summary
    n = row.n
    out = []
    previous: int | None = None
    for j, point in enumerate(summary.decision_curve):
        treated = int(round(point.treated * n))
        if k > 0:
            events_treated = row.survival.events_above[j]
            ok = treated == 0 or (treated >= k and events_treated >= k and n - treated >= k)
            if ok and previous is not None and 0 < abs(previous - treated) < k:
                ok = False
            if not ok:
                continue
        previous = treated
        band = facts.decision_band[j] if j < len(facts.decision_band) else None
        out.append(_decision_row(point, row.values.get("observed_risk"), band))
    return tuple(out)


def _decision_row(point, observed_risk: float | None, band=None) -> dict[str, Any]:
    """One decision-curve row with the binary audit's columns (metrics/utility.py and the
    intervals of metrics/utility_boot.py), the observed risk by the horizon in place of the
    prevalence, plus the share treated. ``band``: (NB low, high, NB - treat-all low, high)."""
    nb, nb_all = point.net_benefit, point.net_benefit_treat_all
    w = point.threshold / (1.0 - point.threshold)
    avoided = None if nb is None else (nb - nb_all) / w * 100.0
    risk = observed_risk if observed_risk is not None and np.isfinite(observed_risk) else None
    standardized = None if nb is None or not risk else nb / risk
    return {
        "threshold": point.threshold,
        "net_benefit": finite(nb),
        "net_benefit_treat_all": finite(nb_all),
        "interventions_avoided_per_100": finite(avoided),
        "standardized_net_benefit": finite(standardized),
        "treated": finite(point.treated),
        "net_benefit_ci_low": None if nb is None or band is None else finite(band[0]),
        "net_benefit_ci_high": None if nb is None or band is None else finite(band[1]),
        "net_benefit_vs_treat_all": None if nb is None else finite(nb - nb_all),
        "net_benefit_vs_treat_all_ci_low": None if nb is None or band is None else finite(band[2]),
        "net_benefit_vs_treat_all_ci_high": None if nb is None or band is None else finite(band[3]),
    }


def survival_log_entries(
    table: GroupTable, decision: DisclosureDecision, k: int, *, curves_up_to_order: int
) -> tuple[DisclosureEntry, ...]:
    """Log entries for the curves and tables S2-S4 thin or withhold (released groups only)."""
    out = []
    for p, g in table.cells():
        row = table.rows[p][g]
        if decision.hidden[p][g] or row.survival is None:
            continue
        if len(row.attributes) > curves_up_to_order or k <= 0:
            continue
        if released_deciles(row, k) is None:
            out.append(
                _entry(
                    table,
                    p,
                    g,
                    "S3: survival threshold",
                    "observed vs predicted by risk decile withheld",
                    "a decile has fewer than k patients, events by the horizon or at risk",
                )
            )
    return tuple(out)

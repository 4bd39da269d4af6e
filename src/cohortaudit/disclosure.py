"""Small-cell suppression (REFERENCE.md, "Disclosure control") and the disclosure log.

Exports leave secure processing environments, so a group's numbers are released only when no
individual can be singled out from them:

1. A group is released only with at least k events AND k non-events; otherwise its counts and
   metrics are withheld ("not evaluable (suppressed, n < k)").
2. If any confusion-matrix cell of a released group is below k (zero included), its confusion
   counts and every threshold metric are withheld: together with n and events, the threshold
   metrics would give the cells back.
3. Secondary suppression: a group withheld under rule 1 or 2 must not be derivable by
   subtraction from a released parent and its released siblings. Siblings are the groups of a
   partition that share all attributes but one (the parent is the group without that
   attribute; the whole cohort for single attributes). When exactly one sibling is withheld, the
   smallest other sibling is withheld too; a withheld group identical to its parent withholds
   the parent. This repeats until nothing changes.

One disclosure pass (issue 14, point 3): every table that leaves -- the metric tables, the
threshold grid, risk histograms and calibration bins, intended-use counts, SHAP distribution
and dependence bins, shift, robustness and explanation group sizes -- is closed by the same
two functions, :func:`close_families` (one family) and :func:`protect_counts` (a table of
families that share cells). A *family* is a parent count and children that add up to it (or
to part of it: children that are not listed, such as groups too small to be shown, are an
implicit withheld remainder). A family is closed when no released child is in 1..k-1,
``parent - sum(released children)`` -- the withheld children together -- is 0 or >= k, and
it is not one withheld child on its own (which the subtraction would give back exactly);
otherwise the next-smallest released sibling is withheld too, or the parent when no sibling
is left. Where a zero is itself a small cell (the zero-cell rule of rules 1 and 2), a
withheld sum of 0 is a leak as well. Caveat texts go through :func:`protect_caveats`: a count
in 1..k-1 is reworded to "fewer than k".

:func:`apply_disclosure` applies rules 1-4 to a group table
(:class:`~cohortaudit.metrics.table.GroupTable`) whichever engine built it -- in memory,
streamed, Dask, or pooled from site files. A pooled table may say that a group was withheld by
a site or that some counts are not derivable; those stay withheld. The pooled audit keeps its
older threshold-grid rule (``grid_closure="siblings"``, see :data:`GRID_CLOSURES`). The count
primitives live in :mod:`cohortaudit.disclosure_counts`, the caveat texts in
:mod:`cohortaudit.disclosure_caveats`; both are importable from here.

The log never contains a count: it says what was withheld, where, and under which rule.

Profiles (the value of k):

- k >= 2 (default 10): the rules above.
- k = 1: groups need one event and one non-event; a confusion-matrix cell of zero still
  withholds the group's threshold metrics (the zero-cell rule, :data:`ZERO_CELL_RULE`): a
  released zero says "no patient in this group is X", which is itself a disclosure, and with
  n and events it gives back the other cells.
- k = 0: disclosure control is off (an authorised reproduction outside a secure environment):
  nothing is withheld, zero cells included, and every output carries
  :data:`~cohortaudit.results.NOT_CONTROLLED_BANNER`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cohortaudit.disclosure_caveats import CutOffCounts, cut_off_counts, protect_caveats
from cohortaudit.disclosure_counts import (
    Closure,
    CountFamily,
    Protection,
    close_families,
    protect_counts,
    protect_table,
)
from cohortaudit.errors import ConfigError
from cohortaudit.metrics.subgroups import THRESHOLD_GRID
from cohortaudit.metrics.table import GroupTable
from cohortaudit.results import NOT_CONTROLLED_BANNER, DisclosureEntry

__all__ = [
    "ZERO_CELL_RULE",
    "Closure",
    "CountFamily",
    "DisclosureDecision",
    "DisclosureWording",
    "GRID_CLOSURES",
    "Protection",
    "apply_disclosure",
    "apply_disclosure_control",
    "close_families",
    "disclosure_profile",
    "protect_caveats",
    "CutOffCounts",
    "cut_off_counts",
    "protect_counts",
    "protect_table",
    "sibling_families",
    "thin_thresholds",
]

#: The zero-cell rule and its reason, stated in ``settings.disclosure`` wherever it decides
#: something a reader might not expect (k = 1, where the only cells below k are zeros).
ZERO_CELL_RULE = (
    "a confusion-matrix cell of 0 is below k and is withheld like any other small cell: a "
    "released zero says that no patient in the group has that outcome and prediction, which "
    "is itself disclosive, and with n and events it gives back the other cells"
)
_ZERO_CELL_OFF = "released: disclosure control is off (k = 0), nothing is withheld"


def disclosure_profile(k: int) -> dict[str, object]:
    """Fields added to ``settings.disclosure`` beside ``min_cell`` and ``rules``.

    Empty for k >= 2, so results at the default k are unchanged; at k = 1 the zero-cell rule and
    its reason; at k = 0 ``controlled: false``, the zero-cell statement and the banner.
    """
    if k >= 2:
        return {}
    if k == 1:
        return {"zero_cells": ZERO_CELL_RULE}
    return {"controlled": False, "zero_cells": _ZERO_CELL_OFF, "banner": NOT_CONTROLLED_BANNER}


@dataclass(frozen=True)
class DisclosureDecision:
    """hidden[p][g]: group withheld; confusion_hidden[p][g]: threshold metrics withheld;
    grid_hidden[p][g][j]: confusion counts at the j-th grid threshold withheld;
    histogram_hidden[(p, g)][column][b] and calibration_hidden[(p, g)][b]: bins withheld
    (groups with curves only)."""

    hidden: list[list[bool]]
    confusion_hidden: list[list[bool]]
    grid_hidden: list[list[list[bool]]]
    reasons: dict[tuple[int, int], str]
    log: tuple[DisclosureEntry, ...]
    histogram_hidden: dict[tuple[int, int], dict[str, list[bool]]] = field(default_factory=dict)
    calibration_hidden: dict[tuple[int, int], list[bool]] = field(default_factory=dict)


_WHY = {
    "would let a withheld sibling be derived by subtraction": (
        "would let a withheld sibling group be derived by subtraction"
    ),
    "identical to a withheld subgroup": "identical to a withheld subgroup (secondary suppression)",
    "would let a withheld parent group be derived as the sum of its parts": (
        "would let a withheld parent group be derived as the sum of its parts"
    ),
}


def _group_families(engine: GroupTable) -> list[CountFamily]:
    return [
        CountFamily(children=tuple((p, g) for g in members), parent=(pp, pg))
        for p, pp, pg, members in _families(engine)
    ]


@dataclass(frozen=True)
class DisclosureWording:
    """Reasons the disclosure log gives where a source's counts may not be derivable.

    A single-site table derives every count; a pooled one may not (a site merged a score bin
    across a threshold), and its log says so in its own words.
    """

    #: rule 2, when the confusion counts at the operating threshold are not derivable
    not_derivable: str = "the confusion counts at the operating threshold are not derivable"
    #: the threshold-grid entry; ``{k}`` is replaced by k
    grid: str = (
        "at those thresholds a confusion-matrix cell has fewer than {k} "
        "patients, or the counts would let a withheld cell be derived "
        "(from sibling groups, or from the neighbouring released thresholds)"
    )


#: How the threshold grid is closed: ``"counts"`` (every family closed with
#: :func:`protect_counts`, zero cells included, then thinned along the thresholds) or
#: ``"siblings"`` (the pooled audit's older rule: per threshold, a lone withheld sibling takes
#: the smallest other with it; no thinning). They differ on the bundled 4-site sample at one
#: cell (see ``tests/test_assemble.py``), so the pooled audit keeps its rule for now.
GRID_CLOSURES = ("counts", "siblings")


def apply_disclosure(
    engine: GroupTable,
    k: int,
    *,
    curves_up_to_order: int = 1,
    wording: DisclosureWording = DisclosureWording(),
    grid_closure: str = "counts",
) -> DisclosureDecision:
    """Rules 1-3 over every count the table's groups release, as one pass.

    The one disclosure step of every audit (in memory, streamed, Dask, pooled): it reads only
    the group table, so the same counts are withheld whichever engine produced them.

    Groups (n, events, non-events), the confusion counts at the operating threshold, the
    confusion counts at every grid threshold, and -- for groups whose curves are exported
    (order <= ``curves_up_to_order``) -- risk-histogram and calibration bins are each closed
    with :func:`protect_counts` over the same sibling families, so no withheld count is
    ``parent - sum(released siblings)``. A group the source already withheld
    (``withheld_by_source``) stays withheld, and counts the source cannot derive are withheld
    whatever k is. ``grid_closure`` names the threshold-grid rule (:data:`GRID_CLOSURES`).
    """
    if grid_closure not in GRID_CLOSURES:
        raise ConfigError(
            f"The 'grid_closure' parameter must be one of {GRID_CLOSURES}. Got {grid_closure!r}."
        )
    est = engine.estimates
    families = _group_families(engine)
    cells = [(p, g) for p, row in enumerate(est) for g in range(len(row))]
    log: list[DisclosureEntry] = []
    reasons: dict[tuple[int, int], str] = {}

    by_source = [c for c in cells if _est(engine, c).withheld_by_source]
    rule1 = [
        c
        for c in cells
        if _est(engine, c).withheld_by_source
        or (k > 0 and (_est(engine, c).events < k or _nonev(_est(engine, c)) < k))
    ]
    for p, g in rule1:
        reasons[(p, g)] = (
            _est(engine, (p, g)).withheld_by_source
            or f"fewer than {k} events or fewer than {k} non-events"
        )
        log.append(
            _entry(engine, p, g, "1: minimum cell size", "group suppressed", reasons[(p, g)])
        )
    prot = protect_counts(
        {c: (_est(engine, c).n, _est(engine, c).events, _nonev(_est(engine, c))) for c in cells},
        families,
        k,
        withheld=rule1,
        zero_cells=True,
    )
    for (p, g), why in prot.secondary:
        reasons.setdefault((p, g), _WHY[why])
        log.append(_entry(engine, p, g, "3: secondary suppression", "group suppressed", _WHY[why]))
    group_withheld = prot.withheld | set(by_source)
    hidden = [[(p, g) in group_withheld for g in range(len(row))] for p, row in enumerate(est)]

    underivable = [
        c for c in cells if _est(engine, c).confusion is None and c not in group_withheld
    ]
    rule2 = [
        c
        for c in cells
        if c not in group_withheld and (c in underivable or (k > 0 and min(_cells(est, c)) < k))
    ]
    for p, g in rule2:
        log.append(
            _entry(
                engine,
                p,
                g,
                "2: confusion-matrix cell below k",
                "confusion counts and threshold metrics withheld",
                wording.not_derivable
                if (p, g) in underivable
                else f"a confusion-matrix cell at the operating threshold has fewer than {k} patients",
            )
        )
    conf = protect_counts(
        {c: _cells(est, c) for c in cells},
        families,
        k,
        withheld=[*group_withheld, *rule2],
        zero_cells=True,
    )
    for (p, g), why in conf.secondary:
        log.append(
            _entry(
                engine,
                p,
                g,
                "3: secondary suppression",
                "confusion counts and threshold metrics withheld",
                _WHY[why],
            )
        )
    conf_withheld = conf.withheld | group_withheld | set(underivable)
    confusion_hidden = [
        [(p, g) in conf_withheld for g in range(len(row))] for p, row in enumerate(est)
    ]
    if grid_closure == "siblings":
        grid_hidden = _grid_by_siblings(engine, hidden, k, log, wording.grid.format(k=k))
    else:
        grid_hidden = _grid_control(
            engine, hidden, k, log, families, confusion_hidden, wording.grid.format(k=k)
        )
    histogram_hidden, calibration_hidden = _bin_control(engine, hidden, k, log, curves_up_to_order)
    return DisclosureDecision(
        hidden=hidden,
        confusion_hidden=confusion_hidden,
        grid_hidden=grid_hidden,
        reasons=reasons,
        log=tuple(log),
        histogram_hidden=histogram_hidden,
        calibration_hidden=calibration_hidden,
    )


#: The name before issue 15 (site exports and older callers use it).
apply_disclosure_control = apply_disclosure


def _est(engine: GroupTable, cell: tuple[int, int]):
    return engine.estimates[cell[0]][cell[1]]


def _nonev(e) -> int:
    return e.n - e.events


def _grid_control(
    engine: GroupTable,
    hidden: list[list[bool]],
    k: int,
    log: list,
    families,
    confusion_hidden: list[list[bool]] | None = None,
    reason: str = DisclosureWording().grid,
):
    """Rules 2 and 3 applied to the confusion counts at every threshold of the fixed grid,
    and the grid thinned along the thresholds (:func:`thin_thresholds`).

    Closing each threshold across sibling groups is not enough: the counts are cumulative, so
    ``tp(t1) - tp(t2)`` is the number of events scored in [t1, t2). Each group's released
    thresholds are thinned until neighbouring released points (the operating threshold's
    released confusion counts included) differ by 0 or >= k in every count; the two steps
    alternate until neither withholds anything more. The log gets one summary entry per group
    rather than one per threshold.
    """
    first = engine.estimates[0][0].grid_counts
    if first is None:
        return [[[] for _ in row] for row in engine.estimates]
    n_thresholds = first.shape[0]
    est = engine.estimates
    cells = [(p, g) for p, row in enumerate(est) for g in range(len(row))]
    base = {c for c in cells if hidden[c[0]][c[1]]}
    counts = [
        {c: tuple(int(x) for x in _est(engine, c).grid_counts[j]) for c in cells}
        for j in range(n_thresholds)
    ]
    underivable = [
        {
            c
            for c in cells
            if _est(engine, c).grid_derivable is not None and not _est(engine, c).grid_derivable[j]
        }
        for j in range(n_thresholds)
    ]
    extra: list[set] = [set() for _ in range(n_thresholds)]
    per_threshold: list[frozenset] = [frozenset(u) for u in underivable]
    dirty = set(range(n_thresholds))
    thresholds = [float(t) for t in THRESHOLD_GRID][:n_thresholds]
    while dirty and k > 0:
        for j in sorted(dirty):
            prot = protect_counts(
                counts[j],
                families,
                k,
                withheld=[
                    *base,
                    *underivable[j],
                    *extra[j],
                    *(c for c in cells if min(counts[j][c]) < k),
                ],
                zero_cells=True,
            )
            per_threshold[j] = prot.withheld
        dirty = set()
        for c in cells:
            if c in base:
                continue
            e = _est(engine, c)
            forced = []
            if confusion_hidden is not None and not confusion_hidden[c[0]][c[1]]:
                forced = [(float(engine.threshold), (e.confusion.tp, e.confusion.fp))]
            keep = thin_thresholds(
                thresholds,
                [(counts[j][c][0], counts[j][c][1]) for j in range(n_thresholds)],
                [c not in per_threshold[j] for j in range(n_thresholds)],
                k,
                total=(e.events, e.n - e.events),
                forced=forced,
            )
            for j in range(n_thresholds):
                if not keep[j] and c not in per_threshold[j]:
                    extra[j].add(c)
                    dirty.add(j)
    grid_hidden = [
        [[(p, g) in per_threshold[j] for j in range(n_thresholds)] for g in range(len(row))]
        for p, row in enumerate(est)
    ]
    for p, row in enumerate(grid_hidden):
        for g, flags in enumerate(row):
            if any(flags) and not hidden[p][g]:
                log.append(
                    _entry(
                        engine,
                        p,
                        g,
                        "2/3: threshold grid",
                        "confusion counts withheld at some grid thresholds",
                        reason,
                    )
                )
    return grid_hidden


def _grid_by_siblings(
    engine: GroupTable, hidden: list[list[bool]], k: int, log: list, reason: str
) -> list[list[list[bool]]]:
    """The older grid rule (``grid_closure="siblings"``): at each threshold a cell is withheld
    with its group, when not derivable or below k, and by :func:`_secondary` (a lone withheld
    sibling takes the smallest other with it); one log entry per group."""
    est = engine.estimates
    families = _families(engine)
    n_thresholds = len(THRESHOLD_GRID)
    layers = []
    for j in range(n_thresholds):
        layer = [
            [
                hidden[p][g]
                or (e.grid_derivable is not None and not e.grid_derivable[j])
                or int(min(e.grid_counts[j])) < k
                for g, e in enumerate(row)
            ]
            for p, row in enumerate(est)
        ]
        _secondary(engine, layer, {}, None, layer="", families=families)
        layers.append(layer)
    out = [
        [[layers[j][p][g] for j in range(n_thresholds)] for g in range(len(row))]
        for p, row in enumerate(est)
    ]
    for p, row in enumerate(out):
        for g, flags in enumerate(row):
            if any(flags) and not hidden[p][g]:
                log.append(
                    _entry(
                        engine,
                        p,
                        g,
                        "2/3: threshold grid",
                        "confusion counts withheld at some grid thresholds",
                        reason,
                    )
                )
    return out


def thin_thresholds(
    thresholds: Sequence[float],
    counts: Sequence[tuple[int, int]],
    released: Sequence[bool],
    k: int,
    *,
    total: tuple[int, int],
    forced: Sequence[tuple[float, tuple[int, int]]] = (),
) -> list[bool]:
    """Which thresholds of a cumulative grid may be released (``released`` thinned).

    ``counts[j]`` are the patients at or above ``thresholds[j]`` by outcome (tp, fp);
    ``total`` the group's (events, non-events), released with the group; ``forced`` other
    released points on the same scale (the operating threshold's tp and fp). Between any two
    released points the difference in each count is the number of patients scored between
    them, so it must be 0 or >= k: walking up the thresholds, a point too close to the last
    kept one is dropped, and before a forced point the kept points too close to it are.
    """
    if k <= 0:
        return list(released)
    points = [(-1.0, tuple(total), True, None)]
    points += [
        (t, tuple(c), False, j)
        for j, (t, c, r) in enumerate(zip(thresholds, counts, released, strict=True))
        if r
    ]
    points += [(float(t), tuple(c), True, None) for t, c in forced]
    points.sort(key=lambda x: (x[0], not x[2]))
    points.append((2.0, (0, 0), True, None))

    def ok(a, b) -> bool:
        return all(x - y == 0 or x - y >= k for x, y in zip(a[1], b[1], strict=True))

    kept = [points[0]]
    for pt in points[1:]:
        if ok(kept[-1], pt):
            kept.append(pt)
        elif pt[2]:
            while not ok(kept[-1], pt) and not kept[-1][2]:
                kept.pop()
            kept.append(pt)
    keep = [False] * len(thresholds)
    for pt in kept:
        if pt[3] is not None:
            keep[pt[3]] = True
    return keep


def _bin_control(engine: GroupTable, hidden, k: int, log: list, max_order: int):
    """Rules 3 and 4 for risk-histogram bins (events and non-events) and calibration bins.

    Each bin is a cell of two families: the group's bins (they add up to the group's events,
    non-events or n) and the same bin of its sibling groups (they add up to the parent's).
    """
    est = engine.estimates
    curve_parts = [
        p for p, part in enumerate(engine.partitions) if len(part.attributes) <= max_order
    ]
    groups = [(p, g) for p in curve_parts for g in range(len(est[p]))]
    fams = [
        (p, pp, pg, members)
        for p, pp, pg, members in _families(engine)
        if p in curve_parts and pp in curve_parts
    ]
    hist_hidden: dict[tuple[int, int], dict[str, list[bool]]] = {}
    cal_hidden: dict[tuple[int, int], list[bool]] = {}
    withheld_groups: set[tuple[int, int]] = set()

    hist = {c: _est(engine, c).risk_histogram for c in groups}
    for col, total in (("events", lambda e: e.events), ("non_events", _nonev)):
        if not all(h and col in h for h in hist.values()):
            continue
        n_bins = len(next(iter(hist.values()))[col])
        counts = {(*c, b): int(hist[c][col][b] or 0) for c in groups for b in range(n_bins)}
        families = [
            CountFamily(
                children=tuple((*c, b) for b in range(n_bins)),
                total=None if hidden[c[0]][c[1]] else total(_est(engine, c)),
            )
            for c in groups
        ]
        families += [
            CountFamily(children=tuple((p, g, b) for g in members), parent=(pp, pg, b))
            for p, pp, pg, members in fams
            for b in range(n_bins)
        ]
        base = [(*c, b) for c in groups if hidden[c[0]][c[1]] for b in range(n_bins)]
        prot = protect_counts(counts, families, k, withheld=base)
        for c in groups:
            flags = [(*c, b) in prot.withheld for b in range(n_bins)]
            hist_hidden.setdefault(c, {})[col] = flags
            if any(flags) and not hidden[c[0]][c[1]]:
                withheld_groups.add(c)

    tables = {c: _ece_table(_est(engine, c)) for c in groups}
    if all(tables.values()):
        n_bins = len(next(iter(tables.values())))
        counts = {
            (*c, b): (r["n"], r["events"], r["n"] - r["events"])
            for c in groups
            for b, r in enumerate(tables[c])
        }
        families = [
            CountFamily(
                children=tuple((*c, b) for b in range(n_bins)),
                total=None
                if hidden[c[0]][c[1]]
                else (_est(engine, c).n, _est(engine, c).events, _nonev(_est(engine, c))),
            )
            for c in groups
        ]
        families += [
            CountFamily(children=tuple((p, g, b) for g in members), parent=(pp, pg, b))
            for p, pp, pg, members in fams
            for b in range(n_bins)
        ]
        primary = [
            cell
            for cell, (n, ev, ne) in counts.items()
            if hidden[cell[0]][cell[1]] or (n > 0 and (ev < k or ne < k))
        ]
        prot = protect_counts(counts, families, k, withheld=primary)
        for c in groups:
            flags = [(*c, b) in prot.withheld for b in range(n_bins)]
            cal_hidden[c] = flags
            if any(flags) and not hidden[c[0]][c[1]]:
                withheld_groups.add(c)
    for p, g in sorted(withheld_groups):
        log.append(
            _entry(
                engine,
                p,
                g,
                "4/3: histogram and calibration bins",
                "bin counts withheld",
                f"a bin has fewer than {k} patients, or its count would let a withheld bin "
                "be derived from the group's total or from the same bin of its sibling groups",
            )
        )
    return hist_hidden, cal_hidden


def _ece_table(e) -> list[dict[str, Any]]:
    return [dict(r) for r in e.ece_table]


def _cells(est, cell: tuple[int, int]) -> tuple[int, int, int, int]:
    """The confusion counts at the operating threshold (zeros where not derivable)."""
    c = est[cell[0]][cell[1]].confusion
    return (0, 0, 0, 0) if c is None else (c.tp, c.fp, c.tn, c.fn)


def _entry(engine: GroupTable, p: int, g: int, rule: str, action: str, reason: str):
    where = engine.partitions[p].attributes_of(g) if engine.partitions[p].attributes else {}
    return DisclosureEntry(
        where=where or {"group": "overall"}, rule=rule, action=action, reason=reason
    )


def _families(engine: GroupTable) -> list[tuple[int, int, int, list[int]]]:
    return sibling_families(engine.partitions)


def sibling_families(partitions: Sequence[Any]) -> list[tuple[int, int, int, list[int]]]:
    """Sibling sets: (partition, parent partition, parent group, member groups).

    Siblings are the groups of a partition that share all attributes but one; their parent is
    the group without that attribute (the whole cohort for single attributes). Rule 3 closes
    each set against its parent; site exports use the same sets for their complements.
    """
    parts = list(partitions)
    index = {part.attributes: i for i, part in enumerate(parts)}
    families = []  # (parent partition, parent group, [member groups]) per sibling set
    for p, part in enumerate(parts):
        for drop in range(len(part.attributes)):
            parent_attrs = part.attributes[:drop] + part.attributes[drop + 1 :]
            pp = index.get(parent_attrs)
            if pp is None:
                continue
            parent_pos = {k: i for i, k in enumerate(parts[pp].keys)}
            sets: dict[int, list[int]] = {}
            for g, key in enumerate(part.keys):
                pkey = key[:drop] + key[drop + 1 :]
                sets.setdefault(parent_pos[pkey], []).append(g)
            families.extend((p, pp, pg, members) for pg, members in sorted(sets.items()))
    return families


def _secondary(
    engine: GroupTable,
    hidden: list[list[bool]],
    reasons: dict,
    log: list | None,
    *,
    layer: str,
    families: list | None = None,
) -> None:
    """Withhold extra groups until no withheld group is derivable by subtraction.

    The older group-level rule (a lone withheld sibling takes the smallest other with it),
    used for the threshold grid when ``grid_closure="siblings"``; everything else is closed
    with :func:`protect_counts`.
    """
    if families is None:
        families = _families(engine)
    changed = True
    while changed:
        changed = False
        for p, pp, pg, members in families:
            if hidden[pp][pg]:
                continue
            withheld = [g for g in members if hidden[p][g]]
            if len(withheld) != 1:
                continue
            if len(members) == 1:
                hidden[pp][pg] = True
                why = "identical to a withheld subgroup (secondary suppression)"
                reasons.setdefault((pp, pg), why)
                if log is not None:
                    log.append(_entry(engine, pp, pg, "3: secondary suppression", layer, why))
            else:
                candidates = [g for g in members if not hidden[p][g]]
                g = min(candidates, key=lambda c: (engine.estimates[p][c].n, c))
                hidden[p][g] = True
                why = "would let a withheld sibling group be derived by subtraction"
                reasons.setdefault((p, g), why)
                if log is not None:
                    log.append(_entry(engine, p, g, "3: secondary suppression", layer, why))
            changed = True

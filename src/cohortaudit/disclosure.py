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

from dataclasses import dataclass

from cohortaudit.metrics.subgroups import EngineOutput
from cohortaudit.results import NOT_CONTROLLED_BANNER, DisclosureEntry

__all__ = [
    "ZERO_CELL_RULE",
    "DisclosureDecision",
    "apply_disclosure_control",
    "disclosure_profile",
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
    grid_hidden[p][g][j]: confusion counts at the j-th grid threshold withheld."""

    hidden: list[list[bool]]
    confusion_hidden: list[list[bool]]
    grid_hidden: list[list[list[bool]]]
    reasons: dict[tuple[int, int], str]
    log: tuple[DisclosureEntry, ...]


def apply_disclosure_control(engine: EngineOutput, *, k: int) -> DisclosureDecision:
    hidden = [[e.events < k or (e.n - e.events) < k for e in row] for row in engine.estimates]
    reasons: dict[tuple[int, int], str] = {}
    log: list[DisclosureEntry] = []
    for p, row in enumerate(hidden):
        for g, h in enumerate(row):
            if h:
                reasons[(p, g)] = f"fewer than {k} events or fewer than {k} non-events"
                log.append(
                    _entry(
                        engine, p, g, "1: minimum cell size", "group suppressed", reasons[(p, g)]
                    )
                )
    _secondary(engine, hidden, reasons, log, layer="group suppressed")

    confusion_hidden = [
        [hidden[p][g] or min(_cells(e)) < k for g, e in enumerate(row)]
        for p, row in enumerate(engine.estimates)
    ]
    for p, row in enumerate(confusion_hidden):
        for g, h in enumerate(row):
            if h and not hidden[p][g]:
                log.append(
                    _entry(
                        engine,
                        p,
                        g,
                        "2: confusion-matrix cell below k",
                        "confusion counts and threshold metrics withheld",
                        f"a confusion-matrix cell at the operating threshold has fewer than "
                        f"{k} patients",
                    )
                )
    _secondary(
        engine, confusion_hidden, {}, log, layer="confusion counts and threshold metrics withheld"
    )
    grid_hidden = _grid_control(engine, hidden, k, log)
    return DisclosureDecision(
        hidden=hidden,
        confusion_hidden=confusion_hidden,
        grid_hidden=grid_hidden,
        reasons=reasons,
        log=tuple(log),
    )


def _grid_control(engine: EngineOutput, hidden: list[list[bool]], k: int, log: list):
    """Rules 2 and 3 applied to the confusion counts at every threshold of the fixed grid.

    The log gets one summary entry per group rather than one per threshold.
    """
    first = engine.estimates[0][0].grid_counts
    if first is None:
        return [[[] for _ in row] for row in engine.estimates]
    n_thresholds = first.shape[0]
    per_threshold = []
    families = _families(engine)
    for j in range(n_thresholds):
        layer = [
            [hidden[p][g] or int(e.grid_counts[j].min()) < k for g, e in enumerate(row)]
            for p, row in enumerate(engine.estimates)
        ]
        _secondary(engine, layer, {}, None, layer="", families=families)
        per_threshold.append(layer)
    grid_hidden = [
        [[per_threshold[j][p][g] for j in range(n_thresholds)] for g in range(len(row))]
        for p, row in enumerate(engine.estimates)
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
                        f"at those thresholds a confusion-matrix cell has fewer than {k} "
                        "patients, or the counts would let a withheld cell be derived",
                    )
                )
    return grid_hidden


def _cells(e) -> tuple[int, int, int, int]:
    c = e.confusion
    return (c.tp, c.fp, c.tn, c.fn)


def _entry(engine: EngineOutput, p: int, g: int, rule: str, action: str, reason: str):
    where = engine.partitions[p].attributes_of(g) if engine.partitions[p].attributes else {}
    return DisclosureEntry(
        where=where or {"group": "overall"}, rule=rule, action=action, reason=reason
    )


def _families(engine: EngineOutput) -> list[tuple[int, int, int, list[int]]]:
    """Sibling sets: (partition, parent partition, parent group, member groups)."""
    parts = engine.partitions
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
    engine: EngineOutput,
    hidden: list[list[bool]],
    reasons: dict,
    log: list | None,
    *,
    layer: str,
    families: list | None = None,
) -> None:
    """Withhold extra groups until no withheld group is derivable by subtraction."""
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

"""Caveat texts that give away no small count (disclosure rule 5).

A caveat's message and its ``where`` leave with the result like any table: a count in 1..k-1
is reworded to "fewer than k", the size of a suppressed group is not stated, and counts of one
column cut at neighbouring values must not differ by 1..k-1 (see :func:`protect_caveats`).
Kept apart from :mod:`cohortaudit.disclosure` (which re-exports these names) because it is
text work on finished caveats, not the closing of count tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cohortaudit.disclosure_counts import close_families
from cohortaudit.results import Caveat

__all__ = ["CutOffCounts", "cut_off_counts", "protect_caveats"]


_CAVEAT_COUNT = re.compile(r"(?<![\d.,\[\w])(\d{1,3}(?:,\d{3})*|\d+)(?![\d.%\]])")


#: Counts in a caveat's ``where`` that add up to another one there: total -> parts.
_CAVEAT_FAMILIES = {"n_rows": ("n_below", "n_above")}
_GROUP_SIZE = re.compile(r"(\d[\d,]*) rows (are (below|above) [^;']*? form the group '([^']*)')")


def protect_caveats(
    caveats: Sequence[Caveat],
    k: int,
    *,
    suppressed_groups: Iterable[Mapping[str, str]] = (),
    column_counts: Mapping[str, CutOffCounts] | None = None,
) -> tuple[Caveat, ...]:
    """Caveats whose text and ``where`` give away no small count and no withheld group size.

    * A count in 1..k-1 is reworded to "fewer than k" (and dropped from ``where``). Counts are
      the numbers of a message followed by patients, rows, predictions, events, below or
      above; a share next to a reworded count ("(0.3%)") goes with it.
    * Counts in ``where`` that add up to another (``n_rows`` = ``n_below`` + ``n_above``) are
      a family: when one part is withheld, the other becomes "the rest" (78 rows, fewer than
      10 below and 77 above would give 1 back).
    * The size of a group disclosure control suppresses (``suppressed_groups``, single
      attributes) is not stated: "132 rows ... form the group '< 40'" becomes "some rows".
    * Counts of one variable cut at neighbouring values (``column_counts``: every count that
      leaves elsewhere for groups of that column, see :func:`cut_off_counts`) must not differ
      by 1..k-1: "141 above" the card's maximum of 79.9 beside 140 patients in the released
      age group '> 80' gives back the one patient aged exactly 80. Such a count is stated as
      "some" (and its total with it), since the table's count is the one a reader needs.

    At k = 0 (disclosure control off) caveats are returned unchanged.
    """
    if k <= 0:
        return tuple(caveats)
    suppressed = {(a, v) for g in suppressed_groups if len(g) == 1 for a, v in dict(g).items()}
    out = []
    for c in caveats:
        drop = {key for key, v in c.where.items() if _is_small_count(key, v, k)}
        message = c.message
        column = c.where.get("column")
        if column_counts and isinstance(column, str) and column in column_counts:
            message = _close_neighbouring_cut_offs(c, message, column_counts[column], k, drop)

        def _group_size(m: re.Match, column=column, drop=drop) -> str:
            if (column, m.group(4)) in suppressed:
                drop.add(f"n_{m.group(3)}")
                return "some rows " + m.group(2)
            return m.group(0)

        message = _GROUP_SIZE.sub(_group_size, message)
        for total, parts in _CAVEAT_FAMILIES.items():
            if not all(isinstance(c.where.get(x), int) for x in (total, *parts)):
                continue
            values = [int(c.where[x]) for x in parts]
            closure = close_families(
                int(c.where[total]),
                values,
                k,
                withheld=[i for i, x in enumerate(parts) if x in drop],
            )
            for i in closure.children:
                if values[i] >= k:
                    side = parts[i].removeprefix("n_")
                    message = re.sub(
                        rf"(?<![\d,]){values[i]:,} {side}\b", f"the rest {side}", message
                    )
                    message = re.sub(
                        rf"(?<![\d,]){values[i]} {side}\b", f"the rest {side}", message
                    )
                drop.add(parts[i])
        message = _CAVEAT_COUNT.sub(lambda m: _reword(m, k), message)
        # a share next to a reworded count gives it back: "fewer than 10 rows (0.3%)"
        message = re.sub(
            r"(fewer than \d+ (?:of [\d,]+ )?[\w-]+) \(\d+(?:\.\d+)?%\)", r"\1", message
        )
        if message == c.message and not drop:
            out.append(c)
            continue
        where = {key: v for key, v in c.where.items() if key not in drop}
        if isinstance(where.get("columns"), dict):
            where["columns"] = {
                col: v if not _is_small_count("n", v, k) else None
                for col, v in where["columns"].items()
            }
        out.append(replace(c, message=message, where=where))
    return tuple(out)


#: Keys of a caveat's ``where`` that count rows beyond a cut-off on its ``column``.
_CUT_OFF_KEYS = ("n_below", "n_above")


@dataclass(frozen=True)
class CutOffCounts:
    """Counts of one ordered column's tails that a reader can add up from released group sizes:
    ``below`` = sizes of the lowest 1, 2, ... groups together, ``above`` = of the highest."""

    below: frozenset[int]
    above: frozenset[int]


def cut_off_counts(counts_in_order: Sequence[int | None]) -> CutOffCounts:
    """The tail counts of a column whose groups, lowest values first, have these sizes.

    A tail (all patients below, or above, a cut-off) nests inside every longer tail on the same
    side, so a caveat's count of rows above the card's maximum minus the released size of the
    highest group is the number of patients between the two cut-offs. Runs stop at a withheld
    group (None): its size is not known to the reader.
    """

    def runs(values: Sequence[int | None]) -> frozenset[int]:
        out, total = set(), 0
        for v in values:
            if v is None:
                break
            total += int(v)
            out.add(total)
        return frozenset(out)

    values = list(counts_in_order)
    return CutOffCounts(below=runs(values), above=runs(values[::-1]))


def _close_neighbouring_cut_offs(
    c: Caveat, message: str, tails: CutOffCounts, k: int, drop: set[str]
) -> str:
    """``message`` with its tail counts stated as "some" when one sits 1..k-1 from a released
    tail on the same side (the keys withheld are added to ``drop``). A withheld part withholds
    the total too (the total minus the other part would give it back), and the other part."""

    def near(key: str, released: frozenset[int]) -> bool:
        v = c.where.get(key)
        return isinstance(v, int) and any(0 < abs(v - r) < k for r in released)

    if not (near("n_below", tails.below) or near("n_above", tails.above)):
        return message
    withheld = [key for key in (*_CUT_OFF_KEYS, "n_rows") if isinstance(c.where.get(key), int)]
    for key in withheld:
        v = int(c.where[key])
        if key == "n_rows":
            message = re.sub(
                rf"(?<![\d,])(?:{v:,}|{v}) of ([\d,]+) rows \(\d+(?:\.\d+)?%\)",
                r"some of \1 rows",
                message,
            )
        else:
            side = key.removeprefix("n_")
            message = re.sub(rf"(?<![\d,])(?:{v:,}|{v}) {side}\b", f"some {side}", message)
        drop.add(key)
    column = c.where.get("column")
    return (
        f"{message.rstrip()} (Counts withheld: beside the released sizes of the '{column}' "
        f"groups they would give back fewer than {k} patients.)"
    )


_NOT_COUNT_KEYS = {
    "min",
    "max",
    "n_columns",
    "n_groups",
    "column",
    "columns",
    "group",
    "k",
    "min_cell",
}


def _is_small_count(key: str, v: Any, k: int) -> bool:
    if key in _NOT_COUNT_KEYS or isinstance(v, bool) or not isinstance(v, int):
        return False
    return 0 < v < k


def _reword(m: re.Match, k: int) -> str:
    v = int(m.group(1).replace(",", ""))
    if not 0 < v < k:
        return m.group(0)
    # a count followed by a unit of patients: "3 rows" -> "fewer than 10 rows"
    rest = m.string[m.end() : m.end() + 24]
    if re.match(
        r"\s*(?:of \d[\d,]* )?(?:patients?|rows?|predictions?|people|events?|"
        r"non-events?|below|above|cases?)\b",
        rest,
    ):
        return f"fewer than {k}"
    return m.group(0)

"""Count protection: the one closing rule every released table of counts goes through.

A *family* is a parent count and children that add up to it (or to part of it). A family is
closed when no released child is in 1..k-1, ``parent - sum(released children)`` is 0 or >= k,
and it is not one withheld child on its own; otherwise the next-smallest released sibling is
withheld too, or the parent when none is left. :mod:`cohortaudit.disclosure` (groups, the
threshold grid, bins), the safety tables and the explanations all close their counts here,
so there is one implementation of rule 3 (see :mod:`cohortaudit.disclosure` for the rules).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Closure",
    "Count",
    "CountFamily",
    "Protection",
    "close_families",
    "protect_counts",
    "protect_table",
]

Count = int | Sequence[int]


@dataclass(frozen=True)
class CountFamily:
    """Children that add up to a parent.

    ``parent`` is a cell of the same table (so it can itself be withheld), or None when the
    parent's count is released elsewhere and given as ``total`` (None: not released, so the
    family constrains nothing). Children that do not cover the whole parent leave an implicit
    withheld remainder.
    """

    children: tuple[Hashable, ...]
    parent: Hashable | None = None
    total: Count | None = None


@dataclass(frozen=True)
class Protection:
    """What :func:`protect_counts` withholds: every cell, and why the extra ones were added.

    ``secondary`` lists (cell, why) for cells withheld only so that others cannot be derived;
    ``unclosable`` the indices of families whose external total itself gives a small count
    away (the caller must not release that total).
    """

    withheld: frozenset
    secondary: tuple[tuple[Hashable, str], ...] = ()
    unclosable: tuple[int, ...] = ()


@dataclass(frozen=True)
class Closure:
    """:func:`close_families` for one family: the children to withhold, and whether the parent
    must be withheld too (no released sibling was left to close it)."""

    children: frozenset[int]
    parent: bool = False


def _vec(x: Count) -> tuple[int, ...]:
    return (
        (int(x),)
        if isinstance(x, int | float) or not isinstance(x, Sequence)
        else tuple(int(v) for v in x)
    )


def protect_counts(
    counts: Mapping[Hashable, Count],
    families: Sequence[CountFamily],
    k: int,
    *,
    withheld: Iterable[Hashable] = (),
    zero_cells: bool = False,
    known: Iterable[Hashable] = (),
) -> Protection:
    """Withhold cells until no family lets a count in 1..k-1 be rebuilt by subtraction.

    ``counts`` are the true counts of every cell (a cell may hold several counts that are
    released or withheld together, e.g. n, events and non-events of a group). ``withheld``
    are the cells the caller's primary rule withholds; cells with a count in 1..k-1 are
    withheld anyway. With ``zero_cells`` (the zero-cell rule), counts below k -- zero
    included -- are small, and withheld children adding up to 0 are a leak too.

    ``known`` are cells a reader can fill in without their being released -- a count equal to
    its row's size where the table's definition makes it so ("every patient under 40 is
    outside the population aged 40 to 80"). Withholding one protects nothing, so it is never
    chosen as the secondary cell and counts as released when a family is checked.

    At k = 0 disclosure control is off: nothing is withheld.
    """
    if k <= 0:
        return Protection(frozenset())
    vec = {c: _vec(v) for c, v in counts.items()}
    hidden = set(withheld)
    known = set(known)

    def small(v: int) -> bool:
        return v < k if zero_cells else 0 < v < k

    hidden |= {c for c, v in vec.items() if any(small(x) for x in v)}
    secondary: list[tuple[Hashable, str]] = []
    unclosable: set[int] = set()
    order = {c: i for i, c in enumerate(counts)}
    changed = True
    while changed:
        changed = False
        for f_index, fam in enumerate(families):
            if fam.parent is not None:
                total = vec[fam.parent]
                parent_hidden = fam.parent in hidden
            else:
                total = None if fam.total is None else _vec(fam.total)
                parent_hidden = total is None
            released = [c for c in fam.children if c not in hidden]
            readable = [c for c in fam.children if c not in hidden or c in known]
            withheld_children = len(readable) < len(fam.children)
            if parent_hidden:
                if total is None or withheld_children:
                    continue
                # a withheld parent must not be the sum of released children
                rest = [t - sum(vec[c][i] for c in fam.children) for i, t in enumerate(total)]
                if any(rest) or not released:
                    continue
                leaking = list(range(len(total)))
                why = "would let a withheld parent group be derived as the sum of its parts"
            else:
                gap = [t - sum(vec[c][i] for c in readable) for i, t in enumerate(total)]
                leaking = [
                    i
                    for i, w in enumerate(gap)
                    if 0 < w < k or (zero_cells and w == 0 and withheld_children)
                ]
                if len(fam.children) - len(readable) == 1:
                    # one withheld child and nothing unlisted: the gap *is* that child
                    rest = [t - sum(vec[c][i] for c in fam.children) for i, t in enumerate(total)]
                    if not any(rest):
                        leaking = list(range(len(total)))
                if not leaking:
                    continue
                why = "would let a withheld sibling be derived by subtraction"
            candidates = [
                c for c in released if c not in known and any(vec[c][i] > 0 for i in leaking)
            ]
            if candidates:
                pick = min(candidates, key=lambda c: (vec[c][0], order[c]))
                hidden.add(pick)
                secondary.append((pick, why))
                changed = True
            elif fam.parent is not None and not parent_hidden:
                hidden.add(fam.parent)
                secondary.append((fam.parent, "identical to a withheld subgroup"))
                changed = True
            elif fam.parent is None:
                unclosable.add(f_index)
    return Protection(frozenset(hidden), tuple(secondary), tuple(sorted(unclosable)))


def close_families(
    parent_total: Count | None,
    children_counts: Sequence[Count],
    k: int,
    *,
    withheld: Iterable[int] = (),
    zero_cells: bool = False,
) -> Closure:
    """Which children of one family to withhold (indices), and whether the parent must go.

    >>> sorted(close_families(25000, [132, 140, 6849, 7745, 6689, 3444, 1], 10).children)
    [0, 6]

    The patient aged 80 (the last child) is withheld as a small cell, and the smallest
    sibling (132 patients under 40) goes with it, so that 25000 minus the released children
    is >= k.
    """
    cells = dict(enumerate(children_counts))
    fam = CountFamily(children=tuple(cells), total=parent_total)
    prot = protect_counts(cells, [fam], k, withheld=withheld, zero_cells=zero_cells)
    return Closure(children=frozenset(prot.withheld), parent=bool(prot.unclosable))


def protect_table(
    parent: Mapping[str, int | None],
    children: Sequence[Mapping[str, int | None]],
    k: int,
    *,
    size: str | None = None,
    families: Sequence[Sequence[int]] | None = None,
) -> tuple[dict[str, int | None], list[dict[str, int | None]], list[list[str]]]:
    """A table of counts (columns) for a parent row and its children rows, closed column by
    column: ``(parent, children, withheld column names per child)`` with withheld cells None.

    ``families`` are the sets of child rows that partition the parent (e.g. the groups of one
    attribute); by default all children form one family. With ``size`` (the column of each
    row's number of patients), a count and its complement ``size - count`` are protected
    together: "all but 3 of the 40 patients" is as disclosive as "3 patients". A row whose
    size is withheld has all its counts withheld.
    """
    rows = [dict(parent), *[dict(c) for c in children]]
    if k <= 0:
        return rows[0], rows[1:], [[] for _ in children]
    fams = [list(f) for f in families] if families is not None else [list(range(len(children)))]
    columns = [c for c in rows[0] if isinstance(rows[0][c], int)]
    hidden_rows: set[int] = set()
    if size is not None and size in columns:
        prot = protect_counts(
            {i: r[size] or 0 for i, r in enumerate(rows)},
            [CountFamily(tuple(i + 1 for i in f), parent=0) for f in fams],
            k,
            withheld=[i for i, r in enumerate(rows) if r.get(size) is None],
        )
        hidden_rows = set(prot.withheld)
    out_withheld: list[list[str]] = [[] for _ in rows]
    for col in columns:
        counts: dict[int, tuple[int, ...]] = {}
        for i, r in enumerate(rows):
            v = r.get(col)
            v = 0 if v is None else int(v)
            if size is not None and col != size and r.get(size) is not None:
                counts[i] = (v, int(r[size]) - v)
            else:
                counts[i] = (v,)
        if col == size:
            hidden = hidden_rows
        else:
            # a count equal to its row's size may be known by definition (every patient
            # under 40 is outside a population aged 40 to 80): withholding it protects nothing
            whole_row = {i for i, c in counts.items() if len(c) == 2 and c[0] > 0 and c[1] == 0}
            prot = protect_counts(
                counts,
                [CountFamily(tuple(i + 1 for i in f), parent=0) for f in fams],
                k,
                withheld=hidden_rows | {i for i, r in enumerate(rows) if r.get(col) is None},
                known=whole_row - hidden_rows,
            )
            hidden = set(prot.withheld)
        for i in sorted(hidden):
            if col in rows[i]:
                rows[i][col] = None
                out_withheld[i].append(col)
    return rows[0], rows[1:], out_withheld[1:]

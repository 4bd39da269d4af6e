"""Weak-slice groups: one line per weakness, not one per overlapping slice.

The slice search (:func:`~cohortaudit.safety.slices.weak_slices`) tests every single attribute
and pair, so one weakness shows up many times: "age 40 to under 50" and each of its sub-slices
("age 40 to under 50, HDL >= 1.62", ...), and slices of largely the same patients under other
names. A reader sees "204 weak slices" and cannot tell how few problems they are.
:func:`group_weak_slices` puts every weak slice into exactly one group, per metric, and reports
the group once.

**Grouping** (greedy and deterministic).
Slices of one metric are taken coarsest first -- fewer attributes, then larger
``|delta| x n``, then their index -- and each one joins the group of

* an earlier member whose attributes it extends (a *sub-slice*: that member's conditions and
  more, so some of the same patients; the same weakness unless it is much worse, which the lead
  rule decides), or
* an earlier group's first slice whose patients it shares with Jaccard
  ``|A and B| / |A or B| >= SLICE_JACCARD_MIN`` (0.7: 70 % or more of each one's patients are in
  both), computed from the slices' membership masks. Not lower: a slice of 95 % of the cohort
  ("no diabetes") has Jaccard 0.5 with any slice of half of it ("women"), which are different
  findings; or
* an earlier group's first slice that is its *sibling* -- the same conditions but one, e.g.
  "South Asian, never smoked" and "South Asian, no diabetes" -- when ``|A and B| / min(|A|, |B|) >=
  SLICE_CONTAINMENT_MIN`` (0.8): one is then, in effect, a sub-slice of the other. This gathers
  the sub-slices of a parent that is not itself flagged ("South Asian" cut by conditions that
  nearly everybody meets) without letting a slice of nearly everybody ("no diabetes") absorb
  slices that merely lie inside it. Only the first slice counts, for overlap and siblings alike:
  a near-universal sibling of a member would otherwise chain unrelated slices together;

or, failing all three, starts a new group. With several candidate groups it joins the one whose
matching member's value is closest to its own (O/E on the log scale), then the earlier one.

**Delta** is each slice's gap to the rest on a scale the metrics share: sensitivity
``rest - slice``; AUROC ``2 x (rest - slice)``, the difference in Somers' D (an AUROC lives in
0.5..1, so doubling puts it on the 0..1 scale of a proportion); O/E ``|ln(OE_slice / OE_rest)|``
(0.69 = a two-fold miscalibration).

**Lead** (the member the group is reported by) and **score** (its rank). Each member accounts
for ``delta x n`` of "gap x patients". The lead is the member with the fewest attributes among
those within ``SLICE_LEAD_TOLERANCE`` (20 %) of the group's largest ``delta x n``, then the
larger ``delta x n``, the smaller q, p and index; the score is the lead's ``delta x n``. A parent
that carries the effect of its sub-slices has about their gap and more patients, so it leads:
it is the simpler statement of the same problem. A sub-slice leads only when it accounts for
clearly more than every simpler member, i.e. when the extra condition is the finding. The score
is built from the lead's released delta and n, so it gives nothing away, and overlapping
members cannot inflate it.

**Case mix.** A sensitivity slice whose gap is what its predicted risks alone imply under a
calibrated model (:mod:`cohortaudit.safety.slice_case_mix`: the interval of the gap beyond case
mix includes 0) is not a failure of the model for that slice; a group led by such a
slice is marked ``case_mix`` and ranked after every other group, whatever its score.

**Patients** is the number of distinct patients in the union of the members, subject to
disclosure control. Every member lies inside the union, so ``patients - n`` of a member counts
the group's patients outside that member, and with exactly two largest members A and B,
``n_A + n_B - patients`` is ``|A and B|``. When one member contains all the others the union is
that member's n, already released. Otherwise the union (and, for two largest members, their
overlap) is a new count, and it is released only when it differs by 0 or at least k from every
count it contains or is contained in among: the whole cohort, every single-attribute and
two-attribute level of the searched frame (which covers the audit's groups and intersections
of two, the intended-use rows and every weak slice of order <= 2), every weak slice, and every
union released before it (groups in rank order). Otherwise ``patients`` is None (withheld). The
score does not use the union, so a withheld union cannot be recovered from it. Not covered:
differences that need three or more released counts at once (a union minus two disjoint
members), and audit groups of three attributes that are not weak slices; both need a reader to
combine several tables, and the union counts a group of at least 2k patients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from cohortaudit.errors import SchemaError
from cohortaudit.safety.common import check_frame, check_min_cell
from cohortaudit.safety.results import (
    SLICE_CONTAINMENT_MIN,
    SLICE_JACCARD_MIN,
    SLICE_LEAD_TOLERANCE,
    WeakSlice,
    WeakSliceGroup,
)
from cohortaudit.safety.slices import encode_levels

__all__ = ["group_weak_slices", "slice_delta"]


def slice_delta(ws: WeakSlice) -> float:
    """The slice's gap to the rest on the shared scale (module docstring); 0 when undefined."""
    v, r = ws.value.value, ws.rest_value
    if v is None or r is None or not (math.isfinite(v) and math.isfinite(r)):
        return 0.0
    if ws.metric == "oe":
        return abs(math.log(v / r)) if v > 0 and r > 0 else 0.0
    gap = r - v
    return 2.0 * gap if ws.metric == "auroc" else gap


def _on_scale(ws: WeakSlice) -> float:
    v = ws.value.value
    if v is None or not math.isfinite(v):
        return math.nan
    if ws.metric == "oe":
        return math.log(v) if v > 0 else math.nan
    return v


@dataclass(frozen=True, eq=False)
class _Masks:
    """Packed membership bits of the frame's levels, so that intersections are popcounts."""

    n: int
    levels: dict[str, tuple[np.ndarray, list[str]]]

    def of(self, attributes: Mapping[str, str]) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        for col, value in attributes.items():
            if col not in self.levels or value not in self.levels[col][1]:
                raise SchemaError(
                    "A weak slice names an attribute or level the frame does not have "
                    f"(attribute '{col}'). Group the slices found on this same frame."
                )
            codes, values = self.levels[col]
            mask &= codes == values.index(value)
        return np.packbits(mask)


def _count(bits: np.ndarray) -> int:
    return int(np.bitwise_count(bits).sum())


def _nested(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """True when slice ``b`` extends slice ``a`` (a's conditions and more)."""
    return len(a) < len(b) and all(b.get(k) == v for k, v in a.items())


def _siblings(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """True when the slices share all their conditions but one each (and at least one)."""
    common = sum(1 for k, v in a.items() if b.get(k) == v)
    return len(a) == len(b) and common == len(a) - 1 >= 1 and set(a) != set(b)


def group_weak_slices(
    slices: Sequence[WeakSlice],
    frame: pd.DataFrame,
    *,
    min_cell: int,
    jaccard_min: float = SLICE_JACCARD_MIN,
    containment_min: float = SLICE_CONTAINMENT_MIN,
    lead_tolerance: float = SLICE_LEAD_TOLERANCE,
) -> tuple[WeakSliceGroup, ...]:
    """The weak slices grouped (module docstring), highest score first.

    ``slices`` must have been found on ``frame`` (same columns, same order of rows); the
    groups index into ``slices``. Ties in the score fall to the lead's index, so the same
    slices and frame always give the same groups.
    """
    check_frame(frame, "frame")
    check_min_cell(min_cell)
    if not slices:
        return ()
    masks = _Masks(len(frame), {col: (codes, vals) for col, codes, vals, _ in encode_levels(frame)})
    bits = [masks.of(ws.attributes) for ws in slices]
    sizes = [_count(b) for b in bits]
    delta = [slice_delta(ws) for ws in slices]
    raw: list[list[int]] = []
    for metric in dict.fromkeys(ws.metric for ws in slices):
        idx = [i for i, ws in enumerate(slices) if ws.metric == metric]
        idx.sort(key=lambda i: (len(slices[i].attributes), -delta[i] * slices[i].n, i))
        raw.extend(_cluster(idx, slices, bits, sizes, jaccard_min, containment_min))
    groups = []
    for members in raw:
        lead = _lead(members, slices, delta, lead_tolerance)
        groups.append((delta[lead] * slices[lead].n, lead, sorted(members)))
    # a group whose lead's gap is what its case mix implies ranks after every other group
    groups.sort(key=lambda g: (slices[g[1]].case_mix, -g[0], g[1]))
    known = _Known(masks, bits, min_cell)  # level sizes are counted on first use only
    out = []
    for score, lead, members in groups:
        patients = _patients(members, bits, sizes, known)
        out.append(
            WeakSliceGroup(
                lead=lead,
                members=tuple(members),
                patients=patients,
                score=score,
                metric=slices[lead].metric,
                case_mix=slices[lead].case_mix,
            )
        )
    return tuple(out)


def _cluster(
    order: list[int],
    slices: Sequence[WeakSlice],
    bits: list[np.ndarray],
    sizes: list[int],
    jaccard_min: float,
    containment_min: float,
) -> list[list[int]]:
    """Members of each group, slices taken in ``order`` (coarsest, largest first)."""
    groups: list[list[int]] = []
    for s in order:
        here = _on_scale(slices[s])
        best: tuple[float, int] | None = None
        for gi, members in enumerate(groups):
            this = slices[s].attributes
            matches = [t for t in members if _nested(slices[t].attributes, this)]
            root = members[0]
            if _siblings(slices[root].attributes, this):
                both = _count(bits[s] & bits[root])
                if both >= containment_min * min(sizes[s], sizes[root]) > 0:
                    matches.append(root)
            lo, hi = sorted((sizes[s], sizes[root]))
            if hi and lo / hi >= jaccard_min:  # cheap bound first: J <= min / max
                both = _count(bits[s] & bits[root])
                union = sizes[s] + sizes[root] - both
                if union and both / union >= jaccard_min:
                    matches.append(root)
            for t in matches:
                dist = abs(here - _on_scale(slices[t]))
                cand = (dist if math.isfinite(dist) else math.inf, gi)
                if best is None or cand < best:
                    best = cand
        if best is None:
            groups.append([s])
        else:
            groups[best[1]].append(s)
    return groups


def _lead(
    members: list[int], slices: Sequence[WeakSlice], delta: list[float], tolerance: float
) -> int:
    weight = {i: delta[i] * slices[i].n for i in members}
    top = max(weight.values())
    near = [i for i in members if weight[i] >= (1 - tolerance) * top]

    def key(i: int) -> tuple:
        ws = slices[i]
        q = ws.q_value if ws.q_value is not None else math.inf
        p = ws.p_value if ws.p_value is not None else math.inf
        return (len(ws.attributes), -weight[i], q, p, i)

    return min(near, key=key)


class _Known:
    """The released counts a new count could be differenced against (module docstring)."""

    def __init__(self, masks: _Masks, bits: list[np.ndarray], k: int) -> None:
        self.k = k
        self.n = masks.n
        self.columns = [(codes, len(values)) for codes, values in masks.levels.values()]
        self.pairs = list(combinations(range(len(self.columns)), 2))
        self.level_sizes: list[np.ndarray] = []
        self.pair_sizes: list[np.ndarray] = []
        self.sets: list[tuple[np.ndarray, int]] = [(b, _count(b)) for b in bits]

    def _count_levels(self) -> None:
        if self.level_sizes or not self.columns:
            return
        self.level_sizes = [np.bincount(c, minlength=L) for c, L in self.columns]
        self.pair_sizes = []
        for i, j in self.pairs:
            (ci, li), (cj, lj) = self.columns[i], self.columns[j]
            self.pair_sizes.append(np.bincount(ci * lj + cj, minlength=li * lj))

    def _bad(self, size: int, inside: np.ndarray, total: np.ndarray) -> bool:
        """Any level nested with the new set (inside == its size, or == the level's size)
        whose size differs from the new set's by 1..k-1?"""
        present = total > 0
        sub = present & (inside == size)  # the new set lies inside the level
        sup = present & (inside == total)  # the level lies inside the new set
        gaps = np.concatenate([total[sub] - size, size - total[sup]])
        return bool(np.any((gaps > 0) & (gaps < self.k)))

    def safe(self, new: np.ndarray) -> bool:
        """May the size of the set ``new`` (packed bits) be released?"""
        size = _count(new)
        if self.k <= 1:
            return True
        if 0 < size < self.k or 0 < self.n - size < self.k:
            return False
        self._count_levels()
        rows = np.flatnonzero(np.unpackbits(new, count=self.n))
        inside = [codes[rows] for codes, _ in self.columns]  # one gather per column
        for (_, L), sub, total in zip(self.columns, inside, self.level_sizes, strict=True):
            if self._bad(size, np.bincount(sub, minlength=L), total):
                return False
        for (i, j), total in zip(self.pairs, self.pair_sizes, strict=True):
            lj = self.columns[j][1]
            codes = inside[i] * lj + inside[j]
            if self._bad(size, np.bincount(codes, minlength=len(total)), total):
                return False
        for b, t in self.sets:
            both = _count(new & b)
            if (both == size and 0 < t - size < self.k) or (both == t and 0 < size - t < self.k):
                return False
        return True

    def add(self, new: np.ndarray) -> None:
        self.sets.append((new, _count(new)))


def _patients(
    members: list[int], bits: list[np.ndarray], sizes: list[int], known: _Known
) -> int | None:
    """The union's size, or None when releasing it could give back a count in 1..k-1."""
    largest = [
        i
        for i in members
        if not any(
            j != i
            and _count(bits[i] & bits[j]) == sizes[i]
            and (sizes[j] > sizes[i] or (sizes[j] == sizes[i] and j < i))
            for j in members
        )
    ]
    if len(largest) == 1:  # one member holds the rest: its n is already released
        return sizes[largest[0]]
    union = bits[largest[0]].copy()
    for i in largest[1:]:
        union |= bits[i]
    new = [union]
    if len(largest) == 2:
        new.append(bits[largest[0]] & bits[largest[1]])
    if not all(known.safe(b) for b in new):
        return None
    for b in new:
        known.add(b)
    return _count(union)

"""Intended-use fit: how many patients fall outside what the model's card says it is for.

A card names the population the model was developed for (an age range) and the range of each
input it saw. A patient outside either, or with an input missing, gets a prediction the card does
not vouch for; :func:`intended_use_fit` counts them for the cohort and each group, so the reader
knows how much of the audit rests on them.

Age outside the card's population is ``age < age_min or age >= age_max + 1`` (ages in completed
years, so 79.9 is 79). Out-of-range means outside the card's input ``min``/``max``. Counts
0 < c < k are withheld (None) and listed in ``suppressed``, in one disclosure pass over the
cohort and its groups (:func:`cohortaudit.disclosure.protect_table`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohortaudit.disclosure import protect_table
from cohortaudit.intake.card import ModelCard
from cohortaudit.safety.common import check_frame, check_min_cell, cohort_subsets, numeric_values
from cohortaudit.safety.results import IntendedUseCounts, IntendedUseResult

__all__ = ["intended_use_fit"]


def intended_use_fit(
    features: pd.DataFrame,
    card: ModelCard,
    *,
    groups: pd.DataFrame | None = None,
    min_cell: int = 10,
) -> IntendedUseResult:
    """Patients outside the card's population, out of the card's input ranges, or missing.

    ``features`` may carry an ``age`` column even when the model does not take age. Counts
    with 0 < count < ``min_cell`` are withheld (None) and named in ``suppressed``; a group with
    fewer than ``min_cell`` patients is not listed at all.
    """
    check_frame(features)
    check_min_cell(min_cell)
    pop = card.intended_population or {}
    age_min, age_max = pop.get("age_min"), pop.get("age_max")
    outside: np.ndarray | None = None
    rule = None
    if "age" in features.columns and (age_min is not None or age_max is not None):
        age = numeric_values(features["age"])
        outside = np.zeros(len(age), dtype=bool)
        parts = []
        if age_min is not None:
            outside |= age < float(age_min)
            parts.append(f"age < {age_min}")
        if age_max is not None:
            outside |= age >= float(age_max) + 1
            parts.append(f"age >= {float(age_max) + 1:g}")
        rule = " or ".join(parts)
    range_masks: dict[str, np.ndarray] = {}
    missing_masks: dict[str, np.ndarray] = {}
    for spec in card.inputs:
        if spec.name not in features.columns:
            continue
        col = features[spec.name]
        missing_masks[spec.name] = col.isna().to_numpy()
        if spec.type == "numeric" and (spec.min is not None or spec.max is not None):
            x = numeric_values(col)
            m = np.zeros(len(x), dtype=bool)
            if spec.min is not None:
                m |= x < float(spec.min)
            if spec.max is not None:
                m |= x > float(spec.max)
            range_masks[spec.name] = m

    def count(mask: np.ndarray, sel: np.ndarray | None) -> int:
        return int(mask.sum() if sel is None else mask[sel].sum())

    subsets = cohort_subsets(len(features), groups, min_cell)
    table = []
    for _group, sel in subsets:
        row: dict[str, int | None] = {"n": len(features) if sel is None else int(sel.sum())}
        if outside is not None:
            row["outside_population"] = count(outside, sel)
        row.update({f"out_of_range.{k}": count(m, sel) for k, m in range_masks.items()})
        row.update({f"missing.{k}": count(m, sel) for k, m in missing_masks.items()})
        table.append(row)
    # one disclosure pass: every count 0 or >= k, and no withheld count (a group's, or the
    # groups too small to be listed) recoverable as the whole cohort minus released groups
    by_attribute: dict[str, list[int]] = {}
    for i, (group, _sel) in enumerate(subsets[1:]):
        by_attribute.setdefault(next(iter(group)), []).append(i)
    parent, children, withheld = protect_table(
        table[0], table[1:], min_cell, size="n", families=list(by_attribute.values())
    )
    released = [parent, *children]
    hidden = [[c for c in parent if parent[c] is None and table[0][c] is not None], *withheld]

    rows = []
    for (group, _sel), row, sup in zip(subsets, released, hidden, strict=True):
        rows.append(
            IntendedUseCounts(
                group=group,
                n=row["n"],
                outside_population=row.get("outside_population") if outside is not None else None,
                out_of_range={k: row[f"out_of_range.{k}"] for k in range_masks},
                missing={k: row[f"missing.{k}"] for k in missing_masks},
                suppressed=tuple(sup),
            )
        )
    return IntendedUseResult(population_rule=rule, rows=tuple(rows))

"""What every safety check shares: argument checks, the normal quantile, the groups reported on.

Shift, intended use and robustness each report on the whole cohort and on every
single-attribute group with at least k patients (:func:`cohort_subsets`). The sizes they release
must not let a withheld group's size be recovered as the cohort minus the listed groups
(disclosure rule 3), so the set is closed with :func:`cohortaudit.disclosure.close_families`
(:func:`closed_subsets`). Kept in one module so that every check reports on the same groups and
rejects a bad argument with the same message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortaudit.disclosure import close_families
from cohortaudit.errors import ConfigError, SchemaError

__all__ = [
    "check_frame",
    "check_min_cell",
    "closed_subsets",
    "cohort_subsets",
    "numeric_values",
    "z_value",
]


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (1.959964 for 0.95)."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def check_min_cell(min_cell: int) -> None:
    """Reject a disclosure threshold k that is not a non-negative integer (ConfigError)."""
    if not isinstance(min_cell, int | np.integer) or min_cell < 0:
        raise ConfigError(f"The 'min_cell' parameter must be an integer >= 0. Got {min_cell!r}.")


def check_frame(features: Any, name: str = "features") -> None:
    """Reject anything but a pandas DataFrame for the parameter ``name`` (SchemaError)."""
    if not isinstance(features, pd.DataFrame):
        raise SchemaError(
            f"The '{name}' parameter must be a pandas DataFrame. Got {type(features).__name__} "
            "instead."
        )


def cohort_subsets(
    n: int, groups: pd.DataFrame | None, min_cell: int
) -> list[tuple[dict[str, str], np.ndarray | None]]:
    """The whole cohort (mask None) and every single-attribute group with >= k patients."""
    out: list[tuple[dict[str, str], np.ndarray | None]] = [({}, None)]
    if groups is None:
        return out
    check_frame(groups, "groups")
    if len(groups) != n:
        raise SchemaError(
            f"The 'groups' frame has {len(groups)} rows but the features have {n}. "
            "Pass groups for the same patients, in the same order."
        )
    for col in groups.columns:
        labels = groups[col].astype(object).where(groups[col].notna(), "missing").astype(str)
        values = labels.to_numpy()
        for level in sorted(set(values.tolist())):
            mask = values == level
            if int(mask.sum()) >= min_cell:
                out.append(({str(col): level}, mask))
    return closed_subsets(out, n, min_cell)


def closed_subsets(
    subsets: list[tuple[dict[str, str], np.ndarray | None]], n: int, k: int
) -> list[tuple[dict[str, str], np.ndarray | None]]:
    """The subsets whose sizes may be released: per attribute, the groups left out (too small)
    must not be recoverable as ``n - sum(listed sizes)`` (disclosure rule 3), so the smallest
    listed group may have to be left out too (:func:`cohortaudit.disclosure.close_families`)."""
    by_attribute: dict[str, list[int]] = {}
    for i, (group, _mask) in enumerate(subsets):
        if group:
            by_attribute.setdefault(next(iter(group)), []).append(i)
    drop: set[int] = set()
    for members in by_attribute.values():
        sizes = [int(subsets[i][1].sum()) for i in members]
        closure = close_families(n, sizes, k)
        drop |= {members[j] for j in closure.children}
    return [s for i, s in enumerate(subsets) if i not in drop]


def numeric_values(series: pd.Series) -> np.ndarray:
    """The column as float64; values that are not numbers become NaN."""
    x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return x

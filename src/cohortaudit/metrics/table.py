"""The group table: one frozen, MetricFrame-like object per audit, whatever computed it.

Every audit -- in memory, streamed, Dask or pooled from site files -- ends its statistics in a
:class:`GroupTable`: the partitions (the whole cohort, each attribute, their intersections), and
for each group one :class:`GroupRow` of counts, confusion counts, point values, intervals,
threshold-grid counts, calibration bins and risk histogram. Disclosure control
(:func:`cohortaudit.disclosure.apply_disclosure`) decides from the table what may leave, and
:func:`cohortaudit.assemble.assemble_result` turns table + decision into the
:class:`~cohortaudit.results.AuditResult`. Nothing downstream knows which engine built it.

The table is frozen: a step that adds something (the bootstrap's replicates and intervals)
returns a new table with :func:`dataclasses.replace`, so a table seen by disclosure control is
never changed behind its back.

Where a source cannot compute something, the table says so as data, not as a different code
path: ``confusion`` or a grid count that is not derivable (a pooled site merged a score bin
across the threshold), ``withheld_by_source`` (a group a site already withheld), NaN values for
metrics the source cannot compute, and ``ci_methods`` / ``bootstrap_ci`` per table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.errors import ConfigError
from cohortaudit.metrics.calibration import CalibrationEstimate
from cohortaudit.metrics.performance import Confusion

__all__ = ["GroupRow", "GroupTable", "Partition", "calibration_facts", "finite"]


@dataclass(frozen=True)
class Partition:
    """A set of attributes and its groups, as unions of finest cells."""

    attributes: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    membership: np.ndarray  # (G, C) float64 of 0/1
    cell_to_group: np.ndarray  # (C,) int64

    def attributes_of(self, g: int) -> dict[str, str]:
        return dict(zip(self.attributes, self.keys[g], strict=False))


@dataclass(frozen=True)
class GroupRow:
    """One group's numbers before disclosure control (all of them; disclosure decides).

    ``confusion`` is None when the counts at the operating threshold cannot be derived from
    the source; ``grid_derivable[j]`` is False where the grid counts at threshold j cannot
    (None: all can). ``withheld_by_source`` is the reason a group arrives already withheld
    (a pooled group some site did not release); disclosure control keeps it withheld.
    """

    partition: int
    index: int
    attributes: Mapping[str, str]
    n: int
    events: int
    confusion: Confusion | None
    values: Mapping[str, float]
    ci: Mapping[str, tuple[float, float]]
    #: (len(THRESHOLD_GRID), 4) confusion counts tp, fp, tn, fn at each grid threshold
    grid_counts: np.ndarray | None = None
    grid_derivable: np.ndarray | None = None
    #: exact calibration estimate (curve, smoother); None where the source has no predictions
    calibration: CalibrationEstimate | None = None
    #: the ECE bins (lower, upper, n, events, sum_p); empty when not derivable
    ece_table: tuple[Mapping[str, Any], ...] = ()
    #: the JSON-ready calibration facts of the group (smoother, knots, fit problems ...)
    calibration_facts: Mapping[str, Any] = field(default_factory=dict)
    #: risk histogram (all counts: disclosure control decides which bins leave)
    risk_histogram: Mapping[str, Any] | None = None
    #: the k-safe range of predictions for the calibration curve (never exported)
    support: tuple[float, float] = (math.inf, -math.inf)
    undefined_replicates: Mapping[str, int] = field(default_factory=dict)
    withheld_by_source: str | None = None
    #: a time-to-event row's facts at the horizon (``cohortaudit.survival.table.SurvivalFacts``:
    #: the group's summary and Kaplan-Meier curve); None in a binary audit
    survival: Any = None
    #: bootstrap intervals of net benefit at the operating threshold and on the decision
    #: curve (``cohortaudit.metrics.utility_boot.NetBenefitIntervals``); None without them
    net_benefit: Any = None

    def __post_init__(self) -> None:
        # read-only views: a row seen by disclosure control cannot change behind its back
        for name in ("attributes", "values", "ci", "undefined_replicates", "calibration_facts"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


@dataclass(frozen=True)
class GroupTable:
    """Every group of every partition, with what the bootstrap added (if it ran).

    ``replicates[p][metric]`` are (B, G) replicates centred on the reported estimates (NaN
    for groups not released); ``overall_replicates[p][metric]`` the whole cohort's (B,) from
    the same draws. ``ci_methods`` states how each metric's interval is computed and
    ``bootstrap_ci`` which metrics take their interval from the bootstrap.
    """

    partitions: tuple[Partition, ...]
    rows: tuple[tuple[GroupRow, ...], ...]
    threshold: float
    cell: np.ndarray | None = None
    replicates: tuple[Mapping[str, np.ndarray], ...] = ()
    overall_replicates: tuple[Mapping[str, np.ndarray], ...] = ()
    grid_exact: bool = True
    n_bins: int = 0
    auroc_bin_error_bound: float | None = 0.0
    n_boot: int = 0
    n_smooth: int = 0
    ci_methods: Mapping[str, str] = field(default_factory=dict)
    bootstrap_ci: tuple[str, ...] = ()

    @property
    def estimates(self) -> tuple[tuple[GroupRow, ...], ...]:
        """The rows, by partition (the name the engine's callers have always used)."""
        return self.rows

    def cells(self) -> list[tuple[int, int]]:
        """Every (partition, group) index pair, in table order."""
        return [(p, g) for p, row in enumerate(self.rows) for g in range(len(row))]

    def partition_index(self, attributes: Sequence[str]) -> int:
        """The position of the partition over ``attributes`` (``()``: the whole cohort)."""
        wanted = tuple(attributes)
        for p, part in enumerate(self.partitions):
            if part.attributes == wanted:
                return p
        known = [" x ".join(part.attributes) or "overall" for part in self.partitions]
        raise ConfigError(
            f"The table has no partition over {wanted!r}. Partitions: {', '.join(known)}."
        )

    def by_group(self, metric: str, attributes: Sequence[str]) -> pd.Series:
        """One metric for every group of one partition, indexed by the groups' values (as
        fairlearn's ``MetricFrame.by_group``); all groups, before disclosure control."""
        p = self.partition_index(attributes)
        part = self.partitions[p]
        if len(part.attributes) == 1:  # one attribute: a flat index, as MetricFrame has
            index = pd.Index([key[0] for key in part.keys], name=part.attributes[0])
        else:
            index = pd.MultiIndex.from_tuples(part.keys, names=list(part.attributes))
        values = [float(r.values.get(metric, math.nan)) for r in self.rows[p]]
        return pd.Series(values, index=index, name=metric)


def finite(x: Any) -> float | None:
    """A JSON-safe float: None for missing, NaN or infinite values."""
    if x is None:
        return None
    x = float(x)
    return float(f"{x:.12g}") if math.isfinite(x) else None


def calibration_facts(cal: CalibrationEstimate, hl_chi2: float | None) -> dict[str, Any]:
    """The calibration block of a group result, from its exact calibration estimate."""
    return {
        "smoother": dict(cal.smoother),
        "knots_logit": [finite(x) for x in cal.knots],
        "hosmer_lemeshow_chi2": finite(hl_chi2),
        "hosmer_lemeshow_groups": cal.hl_groups,
        "clipped_predictions": cal.n_clipped,
        "problems": list(cal.problems),
    }

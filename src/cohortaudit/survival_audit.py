"""The time-to-event steps of :func:`cohortaudit.audit.run_audit`.

A time-to-event audit runs the binary audit's pipeline -- score, group table, disclosure
control, intervals, assembly -- with three steps swapped for their survival forms: the group
table (:func:`cohortaudit.survival.table.survival_point_table`), disclosure control with the
survival threshold first (:func:`cohortaudit.disclosure_survival.apply_survival_disclosure`)
and the patient bootstrap of the released groups (:mod:`cohortaudit.survival.bootstrap`). What
the assembly needs to read such a table is :func:`survival_assembly`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from cohortaudit.assemble import CURVES_UP_TO_ORDER
from cohortaudit.assemble_survival import (
    SURVIVAL_CHECKS,
    SURVIVAL_DISPARITY_METRICS,
    survival_disclosure_rules,
    survival_group_result,
    survival_methods,
    survival_settings,
)
from cohortaudit.disclosure_survival import apply_survival_disclosure, survival_log_entries
from cohortaudit.errors import ConfigError
from cohortaudit.survival.table import survival_point_table

if TYPE_CHECKING:
    import pandas as pd

    from cohortaudit.config import AuditConfig
    from cohortaudit.disclosure import DisclosureDecision
    from cohortaudit.intake.validate import Cohort
    from cohortaudit.metrics.table import GroupTable

__all__ = ["survival_table", "survival_assembly"]


def survival_table(
    cohort: Cohort,
    y_score: np.ndarray,
    groups_frame: pd.DataFrame,
    config: AuditConfig,
    threshold: float,
    report: Callable[[str, float], None],
) -> tuple[GroupTable, DisclosureDecision]:
    """The time-to-event group table and its disclosure decision, with bootstrap intervals
    for the released groups."""
    if cohort.time is None or cohort.event is None:
        raise ConfigError(
            "A time-to-event audit needs the follow-up time and the event of every patient: "
            "give --time COL and --event COL."
        )
    horizon = float(config.horizon)
    report("survival metrics", 0.0)
    exact = survival_point_table(
        cohort.time,
        cohort.event,
        y_score,
        groups_frame,
        horizon=horizon,
        threshold=threshold,
        max_order=config.max_intersection_order,
        min_cell=config.min_cell,
    )
    report("survival metrics", 1.0)
    controlled = apply_survival_disclosure(
        exact, config.min_cell, curves_up_to_order=CURVES_UP_TO_ORDER
    )
    decision = controlled.decision
    extra_log = survival_log_entries(
        controlled.table, decision, config.min_cell, curves_up_to_order=CURVES_UP_TO_ORDER
    )
    decision = replace(decision, log=(*decision.log, *extra_log))
    table = _with_bootstrap(controlled.table, decision, cohort, y_score, config, threshold, report)
    return table, decision


def _with_bootstrap(
    table: GroupTable,
    decision: DisclosureDecision,
    cohort: Cohort,
    y_score: np.ndarray,
    config: AuditConfig,
    threshold: float,
    report: Callable[[str, float], None],
) -> GroupTable:
    """The table with the patient bootstrap's replicates and intervals (released groups)."""
    if config.n_boot <= 0:
        return table
    from cohortaudit.survival.bootstrap_table import bootstrap_survival_table

    return bootstrap_survival_table(
        table,
        decision,
        cohort.time,
        cohort.event,
        y_score,
        horizon=float(config.horizon),
        threshold=threshold,
        n_boot=config.n_boot,
        seed=config.seed,
        confidence=config.confidence,
        progress=lambda done, total: report("bootstrap", done / total),
        decision_curves_up_to=CURVES_UP_TO_ORDER,
    )


def survival_assembly(table: GroupTable, config: AuditConfig) -> dict[str, Any]:
    """The keyword arguments :func:`cohortaudit.assemble.assemble_result` takes for a
    time-to-event table."""
    return {
        "group_result": survival_group_result,
        "disparity_metrics": SURVIVAL_DISPARITY_METRICS,
        "checks": SURVIVAL_CHECKS,
        "methods": survival_methods(table, config.seed),
        "disclosure_rules": survival_disclosure_rules(),
        "settings_extension": survival_settings(float(config.horizon), config.time_unit),
    }

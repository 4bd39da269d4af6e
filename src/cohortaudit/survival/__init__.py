"""Time-to-event estimators at a horizon (issue 16): pure numpy/scipy/statsmodels, on arrays.

Inputs everywhere: follow-up ``time`` > 0, ``event`` 0/1 (1 = event), predicted ``risk`` of
the event by the horizon in [0, 1], and ``horizon`` in the unit of ``time``. Definitions and
references: docs/TIME-TO-EVENT.md. ``summarize`` gives every point metric of one group.
"""

from __future__ import annotations

from cohortaudit.survival.brier import BrierResult, brier_at
from cohortaudit.survival.calibration import (
    CalibrationAtHorizon,
    FlexibleCalibration,
    RiskGroup,
    calibration_at,
    flexible_calibration,
    risk_groups,
)
from cohortaudit.survival.concordance import auc_t, harrell_c, uno_c
from cohortaudit.survival.data import Estimate, SurvivalData, check_survival
from cohortaudit.survival.decision import DecisionPoint, decision_curve
from cohortaudit.survival.km import HorizonSummary, summarize_follow_up
from cohortaudit.survival.summary import METRIC_KEYS, SETTINGS, SurvivalSummary, summarize
from cohortaudit.survival.threshold import ThresholdResult, threshold_metrics

__all__ = [
    "Estimate",
    "SurvivalData",
    "check_survival",
    "HorizonSummary",
    "summarize_follow_up",
    "harrell_c",
    "uno_c",
    "auc_t",
    "CalibrationAtHorizon",
    "FlexibleCalibration",
    "calibration_at",
    "flexible_calibration",
    "RiskGroup",
    "risk_groups",
    "BrierResult",
    "brier_at",
    "ThresholdResult",
    "threshold_metrics",
    "DecisionPoint",
    "decision_curve",
    "SurvivalSummary",
    "summarize",
    "METRIC_KEYS",
    "SETTINGS",
]

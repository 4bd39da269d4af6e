"""Which kind of outcome an audit result is about, and the words for a time-to-event one.

A leaf of render/ (it imports only :mod:`cohortaudit.results`), so the terminal text, the
findings and every chapter can ask the same question the same way. A binary result has no
``settings["outcome"]`` block and is read as ``"binary"``; everything here that names a
survival metric is used only for time-to-event results, so binary reports are unchanged.
"""

from __future__ import annotations

from typing import Any

from cohortaudit.results import AuditResult

__all__ = [
    "TIME_TO_EVENT",
    "SURVIVAL_LABELS",
    "SURVIVAL_MEANINGS",
    "outcome_kind",
    "is_time_to_event",
    "horizon",
    "time_unit",
    "horizon_text",
    "survival_label",
]

TIME_TO_EVENT = "time_to_event"

#: Display labels of the time-to-event metric keys (keys the binary registry also has, such as
#: sensitivity or oe_ratio, keep the registry's label unless they read differently here).
SURVIVAL_LABELS: dict[str, str] = {
    "median_follow_up": "Median follow-up",
    "observed_risk": "Observed risk (Kaplan–Meier)",
    "expected_risk": "Expected risk (mean predicted)",
    "harrell_c": "Harrell's C",
    "uno_c": "Uno's C",
    "auc_t": "AUC(t)",
    "brier": "Brier score (IPCW)",
    "scaled_brier": "Scaled Brier (IPA)",
}

#: What each time-to-event metric means, in a table's words (the definitions are in
#: ``settings["survival"]`` and docs/TIME-TO-EVENT.md).
SURVIVAL_MEANINGS: dict[str, str] = {
    "median_follow_up": "reverse Kaplan–Meier median",
    "observed_risk": "1 − Kaplan–Meier survival at the horizon",
    "expected_risk": "mean predicted risk by the horizon",
    "oe_ratio": "observed / expected risk; 1 = perfect",
    "harrell_c": "concordance, pairs truncated at the horizon; 0.5 = chance",
    "uno_c": "concordance weighted by inverse censoring (IPCW)",
    "auc_t": "cumulative/dynamic AUC at the horizon (IPCW)",
    "calibration_slope": "Cox slope on cloglog(risk); 1 = perfect, < 1 too extreme",
    "ici": "mean |observed − predicted| risk at the horizon",
    "e50": "median |observed − predicted| risk",
    "e90": "90th percentile |observed − predicted| risk",
    "emax": "largest |observed − predicted| risk",
    "brier": "IPCW mean squared error at the horizon (Graf); lower is better",
    "scaled_brier": "1 − Brier / Brier of the Kaplan–Meier null model",
}


def outcome_kind(result: AuditResult) -> str:
    """``"time_to_event"`` or ``"binary"`` (a result without an outcome block is binary)."""
    return str((result.settings.get("outcome") or {}).get("kind") or "binary")


def is_time_to_event(result: AuditResult) -> bool:
    return outcome_kind(result) == TIME_TO_EVENT


def _outcome(result: AuditResult) -> dict[str, Any]:
    return dict(result.settings.get("outcome") or {})


def horizon(result: AuditResult) -> float | None:
    h = _outcome(result).get("horizon")
    return None if h is None else float(h)


def time_unit(result: AuditResult) -> str:
    """The time unit as the card or configuration states it; "time units" when none is."""
    return str(_outcome(result).get("time_unit") or "time units")


def horizon_text(result: AuditResult) -> str:
    """``10 years``: the horizon with its unit."""
    h = horizon(result)
    return f"{h:g} {time_unit(result)}" if h is not None else "the horizon"


def survival_label(key: str) -> str | None:
    """The time-to-event label of ``key``, or None where the registry's label is used."""
    return SURVIVAL_LABELS.get(key)

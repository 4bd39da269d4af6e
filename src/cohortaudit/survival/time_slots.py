"""Time slots of the time-to-event bootstraps: every patient's place on a grid of event times.

The bootstraps (:mod:`~cohortaudit.survival.bootstrap`, ``bootstrap_smoother``,
``bootstrap_utility``, ``bootstrap_decision``) reduce patients to entries, and a product-limit
estimate per replicate needs only, per entry, where its follow-up ends relative to the event
times by the horizon. With edges ``u`` (event times <= tau, all of them or quantiles), slot
``2j + 1`` holds the events at or below ``u_j`` (above ``u_{j-1}``), slot ``2j`` the patients
censored before ``u_j``, and the last slot, ``2k + 1``, everyone followed past tau (event-free at
the horizon). Reverse cumulative sums over the slots then give the numbers at risk. One module,
so that the four bootstraps put a patient in the same slot for the same edges.
"""

from __future__ import annotations

import numpy as np

__all__ = ["quantile_edges", "time_slots"]


def quantile_edges(case_times: np.ndarray, n_bins: int) -> np.ndarray:
    """``n_bins`` quantiles of the event times by the horizon (distinct, ascending)."""
    if not case_times.size:
        return case_times[:0]
    qs = np.linspace(0.0, 1.0, n_bins + 1)[1:]
    return np.unique(np.quantile(case_times, qs, method="inverted_cdf"))


def time_slots(
    time: np.ndarray, event: np.ndarray, tau: float, edges: np.ndarray
) -> tuple[np.ndarray, int]:
    """Each patient's slot on ``edges`` (module docstring) and the number of slots."""
    case = event & (time <= tau)
    control = (time > tau) | ((time == tau) & ~event)
    k = edges.size
    slot = np.where(
        case,
        2 * np.searchsorted(edges, time, side="left") + 1,
        np.where(control, 2 * k + 1, 2 * np.searchsorted(edges, time, side="right")),
    ).astype(np.int64)
    return slot, 2 * k + 2

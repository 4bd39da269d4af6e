"""Decision curves (Vickers & Elkin 2006) from confusion counts on a threshold grid.

Everything here is a function of the counts (TP, FP at each threshold, n, events), never of
patient rows: the counts are already what the engine computes for the threshold metrics, they
pool exactly across sites, and they are what disclosure control inspects. A count withheld
by disclosure control arrives as NaN and yields NaN at that threshold only.

Rule: a patient is treated (positive) iff p >= t. Definitions follow ``shared/REFERENCE.md``
("Clinical utility").
"""

from __future__ import annotations

import numpy as np

__all__ = ["DECISION_CURVE_KEYS", "decision_curve"]

#: Keys of the dict returned by :func:`decision_curve`.
DECISION_CURVE_KEYS = (
    "threshold",
    "net_benefit",
    "net_benefit_treat_all",
    "interventions_avoided_per_100",
    "standardized_net_benefit",
)


def decision_curve(
    thresholds: np.ndarray, tp: np.ndarray, fp: np.ndarray, n: int, events: int
) -> dict[str, np.ndarray]:
    """Net benefit of the model, of treating all, and the derived curves, per threshold.

    With odds ``w = t / (1 - t)`` (the harm-to-benefit exchange rate the threshold implies):

    * ``net_benefit`` = TP/n - FP/n * w
    * ``net_benefit_treat_all`` = ybar - (1 - ybar) * w (treat none is 0)
    * ``interventions_avoided_per_100`` = (NB_model - NB_all) / w * 100
    * ``standardized_net_benefit`` = NB_model / ybar

    Thresholds must lie in (0, 1); ``t`` of 0 or 1 (or outside) gives NaN rather than an
    infinite exchange rate. ``n == 0`` or ``events == 0`` gives NaN where the quantity divides
    by them. Inputs are broadcast against ``thresholds``; outputs are float64 arrays.
    """
    t = np.asarray(thresholds, dtype=np.float64)
    tp_a = np.broadcast_to(np.asarray(tp, dtype=np.float64), t.shape)
    fp_a = np.broadcast_to(np.asarray(fp, dtype=np.float64), t.shape)
    valid_t = (t > 0.0) & (t < 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(valid_t, t / (1.0 - t), np.nan)
        n_f = float(n) if n > 0 else np.nan
        prevalence = events / n_f
        nb = tp_a / n_f - fp_a / n_f * odds
        nb_all = prevalence - (1.0 - prevalence) * odds
        avoided = (nb - nb_all) / odds * 100.0
        standardized = nb / prevalence if prevalence > 0 else np.full(t.shape, np.nan)
    return {
        "threshold": t.copy(),
        "net_benefit": np.asarray(nb, dtype=np.float64),
        "net_benefit_treat_all": np.broadcast_to(nb_all, t.shape).astype(np.float64),
        "interventions_avoided_per_100": np.asarray(avoided, dtype=np.float64),
        "standardized_net_benefit": np.asarray(standardized, dtype=np.float64),
    }

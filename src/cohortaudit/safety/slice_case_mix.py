"""Case mix of a weak sensitivity slice: how much of its gap its predicted risks alone imply.

At a fixed threshold, a slice of patients with lower predicted risks has a lower sensitivity
even under a perfectly calibrated model: fewer of its events lie above the threshold. The
slice search flags such a slice all the same ("no diabetes: sensitivity 0.67 vs 0.94 rest"),
and a reader cannot tell a model that fails a group from a group that is simply at lower risk.
This module gives, for every sensitivity slice and its rest,

* the **expected sensitivity** under perfect calibration, ``E = sum_{p >= t} p / sum p``
  (Kleinberg et al. 2017; the same definition as :mod:`cohortaudit.metrics.expected`), and
* the **gap beyond case mix**, ``delta = (O_rest - E_rest) - (O_slice - E_slice)`` with ``O`` the
  observed sensitivity: the part of the slice's shortfall its risk distribution does not
  explain. Zero for a calibrated model; positive when the slice's cases are missed more than
  their predicted risks imply.

The interval is the delta-method (influence-function) interval of patient resampling, the
large-sample equivalent of the stratified bootstrap that splits the audit's own error-rate
gaps (``case_mix`` / ``beyond_case_mix`` of the disparities). For one set of patients with
``h = [p >= t]``, ``B = sum y``, ``P = sum p``, ``D = O - E`` has influence
``y (h - O) / B - p (h - E) / P`` per patient, so

    Var(D) = sum y (h - O)^2 / B^2 + sum p^2 (h - E)^2 / P^2 - 2 sum y p (h - O)(h - E) / (B P),

and slice and rest are disjoint, so their variances add. Every sum is a bincount of five
per-patient weights (``p h``, ``p^2 h``, ``p^2``, ``y p h``, ``y p``) besides the counts the
slice search already keeps, so the split costs five bincounts per attribute combination. Why by
hand: the search scores thousands of slices at once from bincounts; a bootstrap per slice would
cost thousands of times more, and no library offers this contrast.

A slice is **explained by case mix** when the interval of ``delta`` includes zero. Above zero
the model misses the slice's cases more than their predicted risks imply; below zero it misses
fewer, which means those predicted risks are wrong in the slice (squeezed towards the mean, say)
and the gap is a calibration failure rather than case mix. The yardstick takes the slice's
predicted risks as given: it cannot tell a truly low-risk slice from one whose risks the model
under-states uniformly; that failure shows as O/E (the search tests it too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["CaseMixWeights", "SliceCaseMix", "case_mix_weights", "slice_case_mix"]


@dataclass(frozen=True, eq=False)
class CaseMixWeights:
    """The five per-patient weights and their whole-cohort totals (rows: p h, p^2 h, p^2,
    y p h, y p)."""

    weights: np.ndarray  # (5, n)
    totals: np.ndarray  # (5,)


@dataclass(frozen=True, eq=False)
class SliceCaseMix:
    """Per slice (arrays over the slices of one attribute combination)."""

    expected: np.ndarray  # expected sensitivity of the slice under perfect calibration
    expected_rest: np.ndarray
    beyond: np.ndarray  # (O_rest - E_rest) - (O_slice - E_slice)
    se: np.ndarray  # its standard error (delta method)


def case_mix_weights(y: np.ndarray, p: np.ndarray, pred: np.ndarray) -> CaseMixWeights:
    """The weights once per search (``y`` 0/1, ``p`` predicted risk, ``pred`` = p >= t)."""
    h = pred.astype(np.float64)
    yf = y.astype(np.float64)
    p2 = p * p
    w = np.stack([p * h, p2 * h, p2, yf * p * h, yf * p])
    return CaseMixWeights(weights=w, totals=w.sum(axis=1))


def _var_d(
    a: np.ndarray, b: np.ndarray, s: np.ndarray, part: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected sensitivity and Var(O - E) of a set: ``a`` true positives, ``b`` events,
    ``s`` the five sums of :class:`CaseMixWeights`, ``part`` the set's sum of p."""
    ph, p2h, p2, yph, yp = s
    o = a / b
    e = ph / part
    var = (
        (a * (1 - o) ** 2 + (b - a) * o**2) / b**2
        + ((1 - e) ** 2 * p2h + e**2 * (p2 - p2h)) / part**2
        - 2 * ((1 - o) * (1 - e) * yph + o * e * (yp - yph)) / (b * part)
    )
    return e, var


def slice_case_mix(
    bc: Callable[[np.ndarray], np.ndarray],
    mix: CaseMixWeights,
    *,
    tp_s: np.ndarray,
    m_s: np.ndarray,
    e_s: np.ndarray,
    tp_all: float,
    m_all: float,
    e_all: float,
) -> SliceCaseMix:
    """The split for every slice of one combination; ``bc`` bincounts a weight by slice.

    ``tp_s``, ``m_s``, ``e_s``: the slices' true positives, events and sums of p (the search
    has them already); the ``_all`` values are the whole cohort's.
    """
    sums = np.stack([bc(w) for w in mix.weights])
    rest = mix.totals[:, None] - sums
    with np.errstate(divide="ignore", invalid="ignore"):
        exp_s, var_s = _var_d(tp_s, m_s, sums, e_s)
        exp_c, var_c = _var_d(tp_all - tp_s, m_all - m_s, rest, e_all - e_s)
        beyond = (tp_all - tp_s) / (m_all - m_s) - exp_c - (tp_s / m_s - exp_s)
        se = np.sqrt(np.maximum(var_s, 0.0) + np.maximum(var_c, 0.0))
    return SliceCaseMix(expected=exp_s, expected_rest=exp_c, beyond=beyond, se=se)

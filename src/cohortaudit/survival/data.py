"""Validated survival inputs and the not-evaluable-aware estimate every survival metric returns.

Why one boundary: every estimator in :mod:`cohortaudit.survival` takes the same three arrays
(follow-up ``time`` > 0, ``event`` 0/1 with 1 = event, predicted ``risk`` of the event by the
horizon in [0, 1]) and a horizon ``tau`` in the unit of ``time``. They are checked here, once,
into float64/bool arrays, so the estimators never meet a NaN, a negative time or a horizon
beyond the data and never extrapolate silently. Messages name the argument, counts and types,
never values (they may be patient data).

Conventions (stated once, used everywhere; docs/TIME-TO-EVENT.md):

* an event at ``time == tau`` counts as an event *by* the horizon;
* a patient censored exactly at ``tau`` is event-free at the horizon (at risk at ``tau``);
* at a time with both events and censorings, the events come first (the standard order):
  the censored are still at risk for the events at that time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cohortaudit.errors import ConfigError, SchemaError

__all__ = ["Estimate", "SurvivalData", "check_survival", "check_horizon", "not_evaluable"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval, the method that produced them and, when the value or
    the interval is undefined, the reason (``value``/``lower``/``upper`` are then ``None``).

    Undefined quantities are returned, not raised: a subgroup without events has no C-index,
    and the audit must say so for that group instead of failing the whole run.
    """

    value: float | None
    lower: float | None = None
    upper: float | None = None
    method: str = ""
    reason: str | None = None

    @property
    def evaluable(self) -> bool:
        """True when the point estimate exists (the interval may still be missing)."""
        return self.value is not None


def not_evaluable(reason: str, method: str = "") -> Estimate:
    """An estimate whose value is undefined, with the reason the report shows."""
    return Estimate(value=None, method=method, reason=reason)


@dataclass(frozen=True, eq=False)
class SurvivalData:
    """One group's checked arrays: ``time`` float64 > 0, ``event`` bool, ``risk`` float64 in
    [0, 1] (or ``None`` for estimators that need no prediction), and the horizon ``tau``."""

    time: np.ndarray
    event: np.ndarray
    risk: np.ndarray | None
    tau: float

    @property
    def n(self) -> int:
        return int(self.time.size)

    @property
    def case(self) -> np.ndarray:
        """Event by the horizon: ``event`` and ``time <= tau``."""
        return self.event & (self.time <= self.tau)

    @property
    def control(self) -> np.ndarray:
        """Event-free at the horizon: follow-up reaches ``tau`` without an event by ``tau``
        (``time > tau``, or censored exactly at ``tau``)."""
        return (self.time > self.tau) | ((self.time == self.tau) & ~self.event)


def _as_float(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise SchemaError(
            f"The '{name}' argument must be a one-dimensional array; got {arr.ndim} dimensions."
        )
    if arr.dtype.kind not in "biuf":
        raise SchemaError(
            f"The '{name}' argument must be numeric; got an array of dtype {arr.dtype}. "
            "Convert the column to numbers first."
        )
    arr = arr.astype(np.float64)
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise SchemaError(
            f"The '{name}' argument must be finite, but {n_bad} of {arr.size} values are missing "
            "or infinite. Drop or impute those patients before the audit."
        )
    return arr


def check_horizon(horizon: object) -> float:
    """The horizon as a positive finite float, or a :class:`ConfigError`."""
    if isinstance(horizon, bool) or not isinstance(horizon, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"The 'horizon' parameter must be a positive number in the unit of the follow-up "
            f"time. Got {type(horizon).__name__} instead."
        )
    tau = float(horizon)
    if not math.isfinite(tau) or tau <= 0:
        raise ConfigError(
            f"The 'horizon' parameter must be a positive finite number. Got {tau!r} instead."
        )
    return tau


def check_survival(
    time: object, event: object, risk: object = None, *, horizon: object
) -> SurvivalData:
    """Check the arrays and the horizon once and return them in canonical form.

    Raises :class:`SchemaError` for bad arrays (wrong shape or type, missing values, time <= 0,
    an event other than 0/1, a risk outside [0, 1], lengths that differ, no patients) and
    :class:`ConfigError` for a bad horizon, including one beyond the last follow-up time:
    nobody is then at risk at the horizon, and any number there would be an extrapolation.
    """
    tau = check_horizon(horizon)
    t = _as_float("time", time)
    e_raw = _as_float("event", event)
    if t.size == 0:
        raise SchemaError("The survival arrays are empty: at least one patient is needed.")
    if e_raw.size != t.size:
        raise SchemaError(
            f"'time' and 'event' must have the same length; got {t.size} and {e_raw.size}."
        )
    n_bad = int(np.count_nonzero(t <= 0))
    if n_bad:
        raise SchemaError(
            f"Follow-up 'time' must be > 0, but {n_bad} of {t.size} patients have time <= 0. "
            "Check the time origin (a patient cannot be censored or have the event at entry)."
        )
    n_bad = int(np.count_nonzero((e_raw != 0) & (e_raw != 1)))
    if n_bad:
        raise SchemaError(
            f"The 'event' argument must be 0/1 (1 = event, 0 = censored), but {n_bad} of "
            f"{t.size} values are something else. Competing events are not supported yet."
        )
    r = None
    if risk is not None:
        r = _as_float("risk", risk)
        if r.size != t.size:
            raise SchemaError(
                f"'risk' must have one value per patient; got {r.size} for {t.size} patients."
            )
        n_bad = int(np.count_nonzero((r < 0) | (r > 1)))
        if n_bad:
            raise SchemaError(
                f"The predicted 'risk' by the horizon must be a probability in [0, 1], but "
                f"{n_bad} of {r.size} values are outside it."
            )
    last = float(t.max())
    if tau > last:
        raise ConfigError(
            f"The horizon ({tau:g}) is beyond the last follow-up time of these {t.size} "
            "patients (the maximum is not shown: it is a patient's value): nobody is at risk at the horizon, so the risk by the horizon "
            "cannot be estimated without extrapolating. Choose a shorter horizon."
        )
    return SurvivalData(time=t, event=e_raw.astype(bool), risk=r, tau=tau)

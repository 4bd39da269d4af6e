"""A small time-to-event audit result for the report tests, made by ``run_audit`` itself.

A synthetic censored cohort (exponential event times whose rate rises with sex and age band,
uniform administrative censoring between 4 and 14 time units, horizon 10) and a predicted
10-unit risk near the truth. Until the CLI's ``--time/--event/--horizon`` land in
``AuditConfig``, the config and cohort are the core's stand-ins: subclasses that carry the
time-to-event fields and say ``outcome_kind == "time_to_event"``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.intake.validate import Cohort
from cohortaudit.results import AuditResult

HORIZON = 10.0
TIME_UNIT = "years"


def _config_class() -> type:
    if "time" in {f.name for f in dataclasses.fields(AuditConfig)}:
        return AuditConfig

    @dataclass(frozen=True, kw_only=True)
    class _TimeToEventConfig(AuditConfig):
        time: str | None = None
        event: str | None = None
        horizon: float | None = None
        time_unit: str | None = None

        @property
        def outcome_kind(self) -> str:
            return "time_to_event"

    return _TimeToEventConfig


def _cohort_class() -> type:
    if "time" in {f.name for f in dataclasses.fields(Cohort)}:
        return Cohort

    @dataclass(frozen=True, eq=False, kw_only=True)
    class _TimeToEventCohort(Cohort):
        time: object = None
        event: object = None

    return _TimeToEventCohort


def make_tte_data(n: int = 4000, *, seed: int = 1) -> pd.DataFrame:
    """``n`` synthetic censored patients: sex, age, site, follow-up ``t``, event ``e``, ``risk``."""
    rng = np.random.default_rng(seed)
    g = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "age": rng.choice(["a", "b", "c", "d"], n),
            "site": rng.choice(list("WXYZ"), n),
        }
    )
    lp = (g.sex == "M") * 0.4 + g.age.map({"a": 0.0, "b": 0.5, "c": 1.0, "d": 1.5})
    scale = 60 / np.exp(lp.to_numpy(dtype=float))
    t_event = rng.exponential(scale, n)
    censor = rng.uniform(4, 14, n)
    risk = 1 - np.exp(-HORIZON / scale)
    g["t"] = np.minimum(t_event, censor)
    g["e"] = (t_event <= censor).astype(np.int8)
    g["risk"] = np.clip(risk * np.exp(rng.normal(0, 0.1, n)), 0.001, 0.99)
    return g


def make_tte_result(n: int = 4000, *, seed: int = 1, n_boot: int = 0) -> AuditResult:
    """The audit result of :func:`make_tte_data`'s patients in sex x age x site groups."""
    frame = make_tte_data(n, seed=seed)
    cfg = _config_class()(
        label="event",
        sensitive_features=("sex", "age", "site"),
        score_column="risk",
        n_boot=n_boot,
        time="t",
        event="e",
        horizon=HORIZON,
        time_unit=TIME_UNIT,
        max_intersection_order=2,
    )
    event = frame["e"].to_numpy()
    cohort = _cohort_class()(
        features=None,
        y_true=event,
        y_score=frame["risk"].to_numpy(),
        groups=frame[["sex", "age", "site"]],
        n_input_rows=n,
        n_dropped=0,
        caveats=(),
        time=frame["t"].to_numpy(),
        event=event,
    )
    return run_audit(cohort, None, cfg)

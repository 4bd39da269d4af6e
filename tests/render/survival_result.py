"""A small time-to-event audit result for the report tests, made by ``run_audit`` itself.

A synthetic censored cohort (exponential event times whose rate rises with sex and age band,
uniform administrative censoring between 4 and 14 time units, horizon 10) and a predicted
10-unit risk near the truth, audited in scores mode through the real intake.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.intake.validate import validate_cohort
from cohortaudit.results import AuditResult

HORIZON = 10.0
TIME_UNIT = "years"


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
    """The audit result of :func:`make_tte_data`'s patients in sex x age x site groups, through
    the real intake (``validate_cohort``) and ``run_audit``."""
    frame = make_tte_data(n, seed=seed)
    cfg = AuditConfig(
        sensitive_features=("sex", "age", "site"),
        score_column="risk",
        n_boot=n_boot,
        time="t",
        event="e",
        horizon=HORIZON,
        time_unit=TIME_UNIT,
        max_intersection_order=2,
    )
    return run_audit(validate_cohort(frame, config=cfg), None, cfg)

"""A small synthetic time-to-event audit for the dashboard tests (issue 16, point 5).

Why through the CLI and not a stored audit.json: the pages must read what the library writes
today, the way a user gets it (``cohortaudit audit --event --time --horizon`` in scores mode).
The cohort is censored (administrative censoring between 4 and 14 years), the horizon is 10
years, and the risk column is the true 10-year risk with noise, so every block of a
time-to-event result is filled (Kaplan–Meier curves, deciles, decision curves).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cohortaudit.cli import main
from cohortaudit.results import AuditResult


def write_cohort(path: Path, *, n: int = 6000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "age": rng.choice(["40-59", "60-79"], n),
            "site": rng.choice(list("WXYZ"), n),
        }
    )
    lp = (frame.sex == "M") * 0.4 + (frame.age == "60-79") * 1.0
    scale = 60 / np.exp(lp)
    t_event = rng.exponential(scale, n)
    censor = rng.uniform(4, 14, n)
    frame["t"] = np.minimum(t_event, censor).round(4)
    frame["e"] = (t_event <= censor).astype(int)
    risk = (1 - np.exp(-10 / scale)) * np.exp(rng.normal(0, 0.1, n))
    frame["risk"] = np.clip(risk, 0.001, 0.99).round(5)
    frame.to_csv(path, index=False)
    return frame


def make_result(folder: Path, *, n_boot: int = 20) -> tuple[AuditResult, Path]:
    """Audit the synthetic cohort with the CLI into ``folder``; the result as the app reads it
    (``AuditResult.from_dict`` of the audit.json) and the path of that file."""
    folder.mkdir(parents=True, exist_ok=True)
    cohort = folder / "cohort.csv"
    write_cohort(cohort)
    out = folder / "out"
    code = main(
        [
            "audit",
            "--score-column", "risk",
            "--cohort", str(cohort),
            "--event", "e",
            "--time", "t",
            "--horizon", "10",
            "--time-unit", "years",
            "--sensitive", "sex", "age", "site",
            "--n-boot", str(n_boot),
            "--no-explain",
            "--no-safety",
            "--out", str(out),
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0, code
    path = out / "audit.json"
    return AuditResult.from_dict(json.loads(path.read_text(encoding="utf-8"))), path


if __name__ == "__main__":  # writes the audit.json the browser test opens
    import sys

    print(make_result(Path(sys.argv[1]))[1])

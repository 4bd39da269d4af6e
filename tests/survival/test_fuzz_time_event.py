"""Hostile follow-up times and event codes end in an audit or a clear refusal (issue 16, point 1).

A seeded fuzzer corrupts the time and event columns of a small scores-mode cohort the way real
extracts go wrong -- missing and infinite times, negative and zero times, absurdly large or
tiny ones, text and dates in the time column, event codes 2, -1, 0.5, "yes", booleans, blanks --
one to three corruptions per case, and runs the real CLI (``cohortaudit.cli.main``) on it.

Every case must end in exit 0 (the audit, with the dropped rows counted in a caveat) or exit 2
(one stderr line naming the error class and the column); never a traceback or another code.
An audit that runs must keep its numbers meaningful: the observed risk is a probability, each
interval contains its estimate, and the patients audited are the input rows less the rows a
caveat says were left out.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cohortaudit.cli import main

SEED = 20261207
CASES = 80
N = 600
DROP_CODES = {"missing_time", "negative_time", "zero_time", "missing_event"}


def _cohort(rng: np.random.Generator) -> pd.DataFrame:
    risk = rng.uniform(0.02, 0.6, N)
    t_event = rng.exponential(10.0 / np.maximum(risk * 3, 0.05), N)
    time = np.minimum.reduce([t_event, rng.uniform(0.5, 30.0, N), np.full(N, 12.0)])
    return pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], N),
            "risk": risk.round(4),
            "time": time.round(3),
            "event": (t_event <= time).astype(int),
        }
    )


#: numbers the intake must count or refuse, then text (which makes the column non-numeric; drawn
#: less often so that most cases reach the audit)
TIME_NUMBERS = (np.nan, np.inf, -np.inf, -2.5, 0.0, 1e308, 1e-300, 10.0)
TIME_TEXT = ("abc", "", "1e1", "2020-01-01")
EVENT_NUMBERS = (np.nan, 2, -1, 0.5, 1.0, 0)
EVENT_TEXT = ("yes", True, "")


def _corrupt(frame: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, list[str]]:
    frame = frame.astype({"time": object, "event": object})
    done = []
    for _ in range(int(rng.integers(1, 4))):
        column = str(rng.choice(["time", "event"]))
        numbers, text = (TIME_NUMBERS, TIME_TEXT) if column == "time" else (EVENT_NUMBERS, EVENT_TEXT)
        values = text if rng.random() < 0.2 else numbers
        value = values[int(rng.integers(len(values)))]
        rows = rng.choice(N, size=int(rng.choice([1, 5, 15, 60, N])), replace=False)
        frame.loc[rows, column] = value
        done.append(f"{column}[{len(rows)} rows]={value!r}")
    return frame, done


def _run(path, out) -> int:
    return main(
        [
            "audit", "--score-column", "risk", "--cohort", str(path), "--sensitive", "sex",
            "--event", "event", "--time", "time", "--horizon", "10", "--n-boot", "20",
            "--no-explain", "--no-safety", "--out", str(out), "--quiet",
        ]
    )  # fmt: skip


def _intervals(node):
    if isinstance(node, dict):
        if {"value", "ci_low", "ci_high"} <= node.keys():
            yield node
        for child in node.values():
            yield from _intervals(child)
    elif isinstance(node, list):
        for child in node:
            yield from _intervals(child)


@pytest.mark.slow
def test_corrupted_time_and_event_columns_give_an_audit_or_one_clear_error(tmp_path, capsys):
    rng = np.random.default_rng(SEED)
    base = _cohort(rng)
    outcomes = {0: 0, 2: 0}
    for case in range(CASES):
        frame, what = _corrupt(base, rng)
        path = tmp_path / f"case{case}.csv"
        frame.to_csv(path, index=False)
        out = tmp_path / f"out{case}"
        rc = _run(path, out)
        err = capsys.readouterr().err
        assert rc in (0, 2), (what, rc, err)
        assert "Traceback" not in err, (what, err)
        outcomes[rc] += 1
        if rc == 2:
            assert err.count("\n") == 1 and "Error: " in err, (what, err)
            continue
        result = json.loads((out / "audit.json").read_text(encoding="utf-8"))
        risk = result["overall"]["metrics"]["observed_risk"]["value"]
        assert 0.0 <= risk <= 1.0, what
        for node in _intervals(result):
            if None not in (node["value"], node["ci_low"], node["ci_high"]):
                assert node["ci_low"] <= node["value"] + 1e-12, (what, node)
                assert node["value"] <= node["ci_high"] + 1e-12, (what, node)
        dropped = [c for c in result["caveats"] if c["code"] in DROP_CODES]
        if result["cohort"]["n"] < N:
            assert dropped, ("rows left out without a caveat", what)
        else:
            assert not dropped, what
    # the fuzzer exercised both ends: corruptions that are refused and ones that are counted
    assert outcomes[0] >= 5 and outcomes[2] >= 5, outcomes

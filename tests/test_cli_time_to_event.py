"""``cohortaudit audit`` with a time-to-event outcome, and the binary-label guard, as a user runs
them: exit codes and the one stderr line (issue 16, points 1 and 7).

Small synthetic cohorts in scores mode (``--score-column``), written to ``tmp_path``.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from cohortaudit.cli import main

HAS_SURVIVAL_AUDIT = importlib.util.find_spec("cohortaudit.survival_audit") is not None


def _write_cohort(tmp_path, n: int = 400, seed: int = 16):
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.02, 0.6, n)
    t_event = rng.exponential(10.0 / np.maximum(risk * 3, 0.05), n)
    time = np.minimum.reduce([t_event, rng.uniform(0.5, 30.0, n), np.full(n, 12.0)])
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "risk": risk.round(4),
            "time": time.round(3),
            "event": (t_event <= time).astype(int),
        }
    )
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _write_card(tmp_path, outcome):
    raw = {
        "schema_version": "1.0",
        "name": "risk10",
        "version": "1",
        "inputs": [{"name": "age", "type": "numeric"}],
        "outcome": outcome,
    }
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _audit(tmp_path, *args):
    cohort, _ = _write_cohort(tmp_path)
    return main(
        [
            "audit",
            "--score-column",
            "risk",
            "--cohort",
            str(cohort),
            "--sensitive",
            "sex",
            "--n-boot",
            "0",
            "--no-explain",
            "--no-safety",
            "--out",
            str(tmp_path / "out"),
            "--quiet",
            *args,
        ]
    )


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line, no traceback
    return err


def test_the_help_lists_the_time_to_event_flags(capsys):
    assert main(["audit", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--event", "--time", "--horizon", "--time-unit", "--censored-as-event-free"):
        assert flag in out


def test_label_and_event_together_exit_2(tmp_path, capsys):
    code = _audit(tmp_path, "--label", "event", "--event", "event", "--time", "time")
    assert code == 2
    assert _err(capsys).startswith("ConfigError: Both a label column ('event') and an event")


def test_neither_label_nor_event_exits_2_naming_both_ways(tmp_path, capsys):
    assert _audit(tmp_path) == 2
    err = _err(capsys)
    assert "Pass --label COLUMN for a binary outcome, or --event COLUMN --time COLUMN" in err


def test_an_event_without_a_time_exits_2(tmp_path, capsys):
    assert _audit(tmp_path, "--event", "event", "--horizon", "10") == 2
    assert "needs the follow-up time column" in _err(capsys)


def test_a_time_to_event_audit_without_a_horizon_exits_2(tmp_path, capsys):
    assert _audit(tmp_path, "--event", "event", "--time", "time") == 2
    assert "Pass --horizon T" in _err(capsys)


@pytest.mark.parametrize("horizon", ["0", "-3", "inf", "nan"])
def test_a_horizon_that_is_not_a_positive_finite_number_exits_2(tmp_path, capsys, horizon):
    code = _audit(tmp_path, "--event", "event", "--time", "time", "--horizon", horizon)
    assert code == 2
    assert "'horizon' parameter must be a positive finite number" in _err(capsys)


def test_a_horizon_beyond_the_follow_up_exits_2(tmp_path, capsys):
    code = _audit(tmp_path, "--event", "event", "--time", "time", "--horizon", "15")
    assert code == 2
    err = _err(capsys)
    assert "ConfigError: The horizon (15) is beyond the last follow-up time" in err
    assert "about 12" in err


def test_a_competing_event_code_exits_2(tmp_path, capsys):
    cohort, frame = _write_cohort(tmp_path)
    frame.loc[:4, "event"] = 2
    frame.to_csv(cohort, index=False)
    code = main(
        ["audit", "--score-column", "risk", "--cohort", str(cohort), "--event", "event"]
        + ["--time", "time", "--horizon", "10", "--n-boot", "0", "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "SchemaError: The event column 'event' must be 0/1" in _err(capsys)


def test_a_horizon_the_card_contradicts_exits_2(tmp_path, capsys):
    card = _write_card(tmp_path, {"kind": "time_to_event", "horizon": 10, "time_unit": "years"})
    code = _audit(
        tmp_path, "--card", str(card), "--event", "event", "--time", "time", "--horizon", "5"
    )
    assert code == 2
    assert "predicts the risk of the event by 10 years, but --horizon is 5" in _err(capsys)


@pytest.mark.parametrize(
    "engine", [["--chunk-rows", "100"], ["--engine", "dask"]], ids=["stream", "dask"]
)
def test_time_to_event_on_the_streamed_or_dask_engine_exits_2_for_now(tmp_path, capsys, engine):
    code = _audit(tmp_path, "--event", "event", "--time", "time", "--horizon", "10", *engine)
    assert code == 2
    assert "is not yet supported for time-to-event audits (--event)" in _err(capsys)


@pytest.mark.skipif(HAS_SURVIVAL_AUDIT, reason="the survival pipeline is in this build")
def test_a_valid_time_to_event_audit_reaches_the_survival_pipeline(tmp_path, capsys):
    code = _audit(tmp_path, "--event", "event", "--time", "time", "--horizon", "10")
    assert code == 2
    assert "time-to-event audits are not available in this build" in _err(capsys)


def test_the_binary_guard_refuses_follow_up_shorter_than_the_horizon(tmp_path, capsys):
    _, frame = _write_cohort(tmp_path)
    n_short = int(((frame["event"] == 0) & (frame["time"] < 10)).sum())
    code = _audit(tmp_path, "--label", "event", "--time", "time", "--horizon", "10")
    assert code == 2
    err = _err(capsys)
    assert err.startswith(f"ConfigError: {n_short} of 400 patients without an event")
    assert "--censored-as-event-free" in err and "--event event --time time" in err
    assert not (tmp_path / "out").exists()


def test_the_binary_guard_with_the_opt_in_audits_and_records_the_count(tmp_path):
    _, frame = _write_cohort(tmp_path)
    n_short = int(((frame["event"] == 0) & (frame["time"] < 10)).sum())
    code = _audit(
        tmp_path, "--label", "event", "--time", "time", "--horizon", "10",
        "--censored-as-event-free",
    )  # fmt: skip
    assert code == 0
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    caveat = next(c for c in data["caveats"] if c["code"] == "censored_as_event_free")
    assert caveat["severity"] == "warning" and caveat["where"]["n_rows"] == n_short
    assert data["config"]["censored_as_event_free"] is True
    assert (data["config"]["time"], data["config"]["horizon"]) == ("time", 10.0)


def test_a_binary_audit_of_a_time_to_event_card_exits_2_unless_asked_for(tmp_path, capsys):
    card = _write_card(tmp_path, {"kind": "time_to_event", "horizon": 10, "time_unit": "years"})
    assert _audit(tmp_path, "--card", str(card), "--label", "event") == 2
    err = _err(capsys)
    assert "says the model predicts a time-to-event outcome" in err
    assert "A 0/1 label treats every patient censored before the horizon as event-free" in err
    code = _audit(tmp_path, "--card", str(card), "--label", "event", "--censored-as-event-free")
    assert code == 0
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert any(c["code"] == "censored_as_event_free" for c in data["caveats"])

"""Intake of time-to-event audits (issue 16, points 1 and 7), as a specification.

* A time-to-event audit takes an event column (0/1, 1 = the event), a follow-up time column and
  a horizon in the unit of the time; the event column replaces the label.
* The one validator parses both columns on every chunk: unusable rows are dropped and counted,
  values that make the audit meaningless are fatal, and the horizon must lie inside the
  follow-up with at least k patients still followed there.
* The model card states the outcome kind, horizon and time unit; ``--horizon`` and the card
  must agree.
* The binary-label guard: a 0/1 label given follow-up times refuses to count patients censored
  before the horizon as event-free, unless asked explicitly.

Every count below is recomputed from the synthetic frame with pandas, independently of the
validator.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cohortaudit.config import AuditConfig
from cohortaudit.errors import CardError, ConfigError, SchemaError
from cohortaudit.intake.card import card_from_dict, load_card
from cohortaudit.intake.inputs import load_inputs
from cohortaudit.intake.outcome import resolve_outcome
from cohortaudit.intake.validate import (
    CohortAccumulator,
    check_header,
    make_spec,
    reduce_chunk,
    validate_cohort,
)

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
HORIZON = 10.0


def _tte(**kw) -> AuditConfig:
    base = dict(
        event="event",
        time="time",
        horizon=HORIZON,
        score_column="risk",
        sensitive_features=("sex",),
        n_boot=0,
    )
    return AuditConfig(**{**base, **kw})


def _binary(**kw) -> AuditConfig:
    base = dict(label="event", score_column="risk", sensitive_features=("sex",), n_boot=0)
    return AuditConfig(**{**base, **kw})


def _frame(n: int = 400, seed: int = 16) -> pd.DataFrame:
    """Follow-up up to 12 years: administrative censoring at 12, loss to follow-up before it."""
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.02, 0.6, n)
    t_event = rng.exponential(10.0 / np.maximum(risk * 3, 0.05), n)
    t_loss = rng.uniform(0.5, 30.0, n)
    time = np.minimum.reduce([t_event, t_loss, np.full(n, 12.0)])
    event = (t_event <= time).astype(int)
    return pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "risk": risk.round(4),
            "time": time.round(3),
            "event": event,
        }
    )


def _card(outcome: dict | None = None, output: dict | None = None, name: str = "risk10"):
    raw = {
        "schema_version": "1.0",
        "name": name,
        "version": "1",
        "inputs": [{"name": "age", "type": "numeric"}],
    }
    if outcome is not None:
        raw["outcome"] = outcome
    if output is not None:
        raw["output"] = output
    return card_from_dict(raw)


TTE_CARD = {"kind": "time_to_event", "horizon": 10, "time_unit": "years"}


def _chunked(frame: pd.DataFrame, config: AuditConfig, size: int, card=None):
    spec = make_spec(config, None, card, sample_rows=0)
    check_header(frame.columns, spec)
    acc = CohortAccumulator(spec, header=list(frame.columns), in_memory=True)
    for start in range(0, len(frame), size):
        acc.add(reduce_chunk(frame.iloc[start : start + size], spec, key_offset=start))
    return acc.finish()[0]


def _caveat(cohort, code):
    found = [c for c in cohort.caveats if c.code == code]
    assert len(found) == 1, [c.code for c in cohort.caveats]
    return found[0]


# -- the configuration ------------------------------------------------------------------------


def test_an_event_column_makes_the_audit_time_to_event_and_replaces_the_label():
    config = _tte()
    assert config.outcome_kind == "time_to_event"
    assert config.label is None and config.outcome_column == "event"
    assert config.horizon == 10.0 and isinstance(config.horizon, float)
    assert _binary().outcome_kind == "binary" and _binary().outcome_column == "event"


def test_a_binary_config_records_exactly_the_keys_it_always_recorded():
    keys = list(_binary().to_dict())
    assert keys == [
        "label",
        "sensitive_features",
        "bins",
        "reference",
        "threshold",
        "score_column",
        "n_boot",
        "seed",
        "min_cell",
        "confidence",
        "boot_score_bins",
        "max_intersection_order",
        "safety",
        "slice_max_order",
        "slice_fdr",
        "robustness_rows",
        "explain",
        "explain_rows",
    ]


def test_time_to_event_options_appear_in_the_record_and_round_trip():
    config = _tte(time_unit="years", bins={}, reference={"sex": "F"})
    d = config.to_dict()
    assert {k: d[k] for k in ("label", "event", "time", "horizon", "time_unit")} == {
        "label": None,
        "event": "event",
        "time": "time",
        "horizon": 10.0,
        "time_unit": "years",
    }
    assert "censored_as_event_free" not in d  # at its default
    assert AuditConfig.from_dict(d) == config
    assert AuditConfig.from_dict(json.loads(json.dumps(d))) == config
    guarded = _binary(time="time", horizon=5, censored_as_event_free=True)
    assert AuditConfig.from_dict(guarded.to_dict()) == guarded
    assert AuditConfig.from_dict(_binary().to_dict()) == _binary()


def test_from_dict_does_not_import_user_metrics_or_accept_unknown_keys():
    with pytest.raises(ConfigError, match="user metrics cannot be rebuilt"):
        AuditConfig.from_dict({"label": "y", "user_metrics": [{"key": "m", "source": "a:b"}]})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['horizn'\]"):
        AuditConfig.from_dict({"label": "y", "horizn": 3})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, r"Got None instead\. Pass --label COLUMN for a binary outcome, or --event"),
        (dict(label="y", event="e", time="t"), r"Both a label column \('y'\) and an event column"),
        (dict(event="e"), r"event column 'e' needs the follow-up time column"),
        (dict(label="y", horizon=5.0), r"'horizon' parameter applies to a follow-up time column"),
        (dict(label="y", time_unit="years"), r"'time_unit' parameter applies to a follow-up"),
        (dict(label="y", time="t", horizon=0), r"positive finite number .* Got 0 instead"),
        (dict(label="y", time="t", horizon=float("inf")), r"Got inf instead"),
        (dict(label="y", time="t", horizon=True), r"Got True instead"),
        (dict(label="y", time="t", horizon="10"), r"Got '10' instead"),
        (dict(label="y", time="y", horizon=1.0), r"label column and the time column .* 'y'"),
        (dict(event="e", time="e", horizon=1.0), r"event column and the time column"),
        (dict(event="e", time="t", score_column="t"), r"time column and the score column"),
        (dict(event="e", time="t", sensitive_features=("t",)), r"time column 't' cannot"),
        (dict(event="e", time="t", sensitive_features=("e",)), r"event column 'e' cannot"),
        (dict(event="e", time="t", censored_as_event_free=True), r"binary audits \(--label\)"),
        (dict(label="y", censored_as_event_free="yes"), r"must be True or False"),
        (dict(event="", time="t"), r"'event' parameter must be a non-empty text"),
    ],
)
def test_contradicting_or_malformed_outcome_options_are_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        AuditConfig(**kw)


# -- the validator ------------------------------------------------------------------------------


def test_a_time_to_event_cohort_carries_read_only_time_and_event_and_the_event_as_y_true():
    frame = _frame()
    cohort = validate_cohort(frame, config=_tte())
    assert cohort.n_rows == len(frame) and cohort.n_dropped == 0
    assert cohort.time.dtype == np.float64 and cohort.event.dtype == np.int8
    np.testing.assert_array_equal(cohort.time, frame["time"].to_numpy())
    np.testing.assert_array_equal(cohort.event, frame["event"].to_numpy())
    np.testing.assert_array_equal(cohort.y_true, cohort.event)
    for a in (cohort.time, cohort.event, cohort.y_true):
        assert not a.flags.writeable


def test_a_binary_cohort_has_no_time_or_event():
    cohort = validate_cohort(_frame(), config=_binary())
    assert cohort.time is None and cohort.event is None


def test_unusable_times_and_missing_events_are_dropped_and_counted():
    frame = _frame().astype({"time": "float64", "event": "float64"})
    frame.loc[[1, 2, 3], "time"] = np.nan
    frame.loc[4, "time"] = np.inf
    frame.loc[[5, 6], "time"] = -1.5
    frame.loc[[7, 8, 9, 10], "time"] = 0.0
    frame.loc[[11, 12], "event"] = np.nan
    frame.loc[3, "event"] = np.nan  # two reasons, one dropped row
    cohort = validate_cohort(frame, config=_tte(min_cell=0))
    t, e = frame["time"], frame["event"]
    expected = {
        "missing_event": int(e.isna().sum()),
        "missing_time": int((t.isna() | np.isinf(t)).sum()),
        "negative_time": int((t < 0).sum()),
        "zero_time": int((t == 0).sum()),
    }
    assert expected == {"missing_event": 3, "missing_time": 4, "negative_time": 2, "zero_time": 4}
    for code, n in expected.items():
        caveat = _caveat(cohort, code)
        assert caveat.where["n_rows"] == n and caveat.severity == "warning"
    assert "'time'" in _caveat(cohort, "negative_time").message
    bad = e.isna() | t.isna() | np.isinf(t) | (t <= 0)
    assert cohort.n_dropped == int(bad.sum()) == 12
    np.testing.assert_array_equal(cohort.time, t[~bad].to_numpy())
    assert (cohort.time > 0).all()


def test_times_stored_as_text_are_read_as_numbers():
    frame = _frame()
    frame["time"] = frame["time"].map(str)
    frame.loc[0, "time"] = " NA "
    cohort = validate_cohort(frame, config=_tte(min_cell=0))
    assert _caveat(cohort, "missing_time").where["n_rows"] == 1
    np.testing.assert_array_equal(cohort.time, _frame()["time"].to_numpy()[1:])


def test_in_memory_and_chunked_validation_of_a_censored_cohort_agree():
    frame = _frame(600).astype({"time": "float64", "event": "float64"})
    frame.loc[[10, 300, 599], "time"] = np.nan
    frame.loc[[20, 450], "time"] = 0.0
    frame.loc[[30], "event"] = np.nan
    whole = validate_cohort(frame, config=_tte(min_cell=5))
    chunked = _chunked(frame, _tte(min_cell=5), 97)
    assert [c.to_dict() for c in whole.caveats] == [c.to_dict() for c in chunked.caveats]
    np.testing.assert_array_equal(whole.time, chunked.time)
    np.testing.assert_array_equal(whole.event, chunked.event)
    np.testing.assert_array_equal(whole.y_score, chunked.y_score)


def test_a_time_column_of_text_is_fatal():
    frame = _frame()
    frame["time"] = frame["time"].map(lambda x: f"{x} y")
    with pytest.raises(SchemaError, match=r"follow-up time column 'time' must be numeric, but 400"):
        validate_cohort(frame, config=_tte())


@pytest.mark.parametrize("bad", [2, -1, 0.5, "death"])
def test_an_event_other_than_0_or_1_is_fatal_competing_events_are_a_later_issue(bad):
    frame = _frame().astype({"event": object})
    frame.loc[[0, 1, 2], "event"] = bad
    with pytest.raises(SchemaError, match=r"event column 'event' must be 0/1 .* but 3 of 400"):
        validate_cohort(frame, config=_tte())
    with pytest.raises(SchemaError, match="Competing events"):
        validate_cohort(frame, config=_tte())


def test_mostly_unusable_times_make_the_cohort_unauditable():
    frame = _frame().astype({"time": "float64"})
    frame.loc[: len(frame) // 2, "time"] = 0.0  # 201 of 400
    with pytest.raises(SchemaError, match=r"drop 201 of 400 rows .* more than half"):
        validate_cohort(frame, config=_tte())


def test_the_missing_columns_message_names_the_event_and_time_roles():
    frame = _frame().drop(columns=["time", "event"])
    with pytest.raises(SchemaError) as err:
        validate_cohort(frame, config=_tte())
    msg = str(err.value)
    assert "'event' (event column)" in msg and "'time' (follow-up time)" in msg
    assert "pass --event COLUMN" in msg and "pass --time COLUMN" in msg


def test_a_follow_up_time_the_model_reads_is_refused():
    card = load_card(SAMPLE / "model.card.yaml")
    from cohortaudit.intake.model import load_model

    model = load_model(SAMPLE / "model.onnx", card=card)
    frame = pd.read_csv(SAMPLE / "cohort.csv", nrows=50)
    config = AuditConfig(event="cvd_10y", time="age", horizon=50.0)
    with pytest.raises(SchemaError, match=r"follow-up time column 'age' is one of the model's"):
        validate_cohort(frame, config=config, model=model, card=card)


# -- the horizon --------------------------------------------------------------------------------


def test_a_horizon_beyond_the_last_follow_up_is_refused_with_the_last_follow_up_rounded_down():
    frame = _frame()
    frame["time"] = np.minimum(frame["time"], 9.0)
    frame.loc[7, "time"] = 9.876  # the last follow-up
    with pytest.raises(ConfigError, match=r"horizon \(10 years\) is beyond the last follow-up") as e:
        validate_cohort(frame, config=_tte(time_unit="years"))
    assert "about 9.87 years" in str(e.value)  # 3 significant digits, rounded down
    assert "9.876" not in str(e.value)


def test_fewer_than_k_patients_still_followed_at_the_horizon_is_refused():
    frame = _frame()
    at_risk = int((frame["time"] >= HORIZON).sum())
    assert 10 <= at_risk < 200
    validate_cohort(frame, config=_tte(min_cell=at_risk))  # exactly k at risk: fine
    with pytest.raises(ConfigError, match=rf"Fewer than {at_risk + 1} of 400 patients are still"):
        validate_cohort(frame, config=_tte(min_cell=at_risk + 1))


def test_a_patient_censored_exactly_at_the_horizon_is_still_followed_there():
    frame = _frame()
    frame["time"] = np.minimum(frame["time"], 9.5)
    frame.loc[:4, ["time", "event"]] = [HORIZON, 0]  # 5 censored exactly at the horizon
    cohort = validate_cohort(frame, config=_tte(min_cell=5))
    assert int((cohort.time >= HORIZON).sum()) == 5
    with pytest.raises(ConfigError, match="Fewer than 6 of 400"):
        validate_cohort(frame, config=_tte(min_cell=6))


def test_fewer_than_two_events_by_the_horizon_is_fatal():
    frame = _frame()
    frame["event"] = 0
    frame.loc[0, ["time", "event"]] = [3.0, 1]  # one event by the horizon
    frame.loc[1, ["time", "event"]] = [11.0, 1]  # one after it
    with pytest.raises(SchemaError, match=r"fewer than 2 events by the horizon \(10\)"):
        validate_cohort(frame, config=_tte())


def test_a_time_to_event_audit_without_any_horizon_is_refused():
    config = _tte(horizon=None)
    with pytest.raises(ConfigError, match="needs the horizon by which the model predicts"):
        validate_cohort(_frame(), config=config)
    text_card = _card({"definition": "cvd", "horizon": "10 years"})
    with pytest.raises(ConfigError, match=r"gives its horizon as text \('10 years'\)"):
        validate_cohort(_frame(), config=config, card=text_card)


# -- the model card -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.card.yaml", "model_tensor.card.yaml"])
def test_the_sample_cards_load_unchanged_as_binary_cards(name):
    card = load_card(SAMPLE / name)
    assert card.outcome_kind == "binary" and card.output_kind == "probability"
    assert card.horizon is None and card.time_unit is None
    assert card.horizon_text == "10 years"  # a description, not a horizon


def test_a_time_to_event_card_states_kind_horizon_unit_and_output():
    card = _card(TTE_CARD)
    assert (card.outcome_kind, card.horizon, card.time_unit) == ("time_to_event", 10.0, "years")
    assert card.output_kind == "risk_by_horizon"  # the default for a time-to-event card
    assert _card(TTE_CARD, {"kind": "risk_by_horizon"}).output_kind == "risk_by_horizon"
    assert _card({"horizon": 5}).horizon == 5.0  # a binary card may give a numeric horizon


@pytest.mark.parametrize(
    ("outcome", "output", "message"),
    [
        ({"kind": "time_to_event", "time_unit": "years"}, None, r"needs the horizon as a number"),
        (
            {"kind": "time_to_event", "horizon": "10 years", "time_unit": "years"},
            None,
            r"needs the horizon as a number .* got str",
        ),
        ({"kind": "time_to_event", "horizon": 10}, None, r"outcome.time_unit: a time_to_event"),
        (TTE_CARD, {"kind": "probability"}, r"outputs risk_by_horizon"),
        (None, {"kind": "risk_by_horizon"}, r"risk_by_horizon needs outcome.kind: time_to_event"),
        ({"kind": "survival"}, None, r"outcome.kind: 'survival' is not one of"),
        ({"kind": "time_to_event", "horizon": 0, "time_unit": "y"}, None, r"outcome.horizon"),
    ],
)
def test_an_inconsistent_outcome_in_a_card_is_refused(outcome, output, message):
    with pytest.raises(CardError, match=message):
        _card(outcome, output)


def test_the_horizon_is_the_options_else_the_cards_and_the_two_must_agree():
    card = _card(TTE_CARD, name="QRISK-like")
    from_card = resolve_outcome(_tte(horizon=None), card)
    assert (from_card.horizon, from_card.time_unit) == (10.0, "years")
    assert resolve_outcome(from_card, card) is from_card  # settled: nothing changes
    same = _tte(horizon=10, time_unit="Year")
    assert resolve_outcome(same, card) is same  # unit compared without case and plural
    with pytest.raises(
        ConfigError,
        match=r"card 'QRISK-like' says the model predicts the risk of the event by 10 years, "
        r"but --horizon is 5\. .* Pass --horizon 10",
    ):
        resolve_outcome(_tte(horizon=5), card)
    with pytest.raises(ConfigError, match=r"time is in 'days' .* horizon in 'years'"):
        resolve_outcome(_tte(time_unit="days"), card)
    plain = _tte()
    assert resolve_outcome(plain, None) is plain


def test_load_inputs_settles_the_outcome_before_the_cohort_is_read(tmp_path):
    frame = _frame()
    frame.to_csv(tmp_path / "cohort.csv", index=False)
    card_path = tmp_path / "card.yaml"
    card_path.write_text(yaml.safe_dump(_card(TTE_CARD).raw), encoding="utf-8")
    inputs = load_inputs(
        config=_tte(horizon=None), cohort_path=tmp_path / "cohort.csv", card_path=card_path
    )
    assert inputs.config.horizon == 10.0 and inputs.config.time_unit == "years"
    assert inputs.cohort.time is not None and inputs.cohort.n_rows == 400
    with pytest.raises(ConfigError, match="predicts the risk of the event by 10 years"):
        load_inputs(  # refused before the (missing) cohort file is looked at
            config=_tte(horizon=3), cohort_path=tmp_path / "absent.csv", card_path=card_path
        )


# -- the binary-label guard (issue 16, point 7) ----------------------------------------------


def _short(frame: pd.DataFrame, horizon: float = HORIZON) -> int:
    """Patients without an event whose follow-up ends before the horizon (independently)."""
    return int(((frame["event"] == 0) & (frame["time"] < horizon)).sum())


def test_a_binary_audit_given_follow_up_times_refuses_to_count_the_censored_as_event_free():
    frame = _frame()
    n_short = _short(frame)
    assert n_short >= 10
    with pytest.raises(ConfigError) as err:
        validate_cohort(frame, config=_binary(time="time", horizon=HORIZON))
    msg = str(err.value)
    assert msg.startswith(f"{n_short} of 400 patients without an event (label 'event' = 0)")
    assert "less than the horizon (10, column 'time')" in msg
    assert "--event event --time time --horizon 10" in msg
    assert "--censored-as-event-free" in msg


def test_the_guard_words_a_count_below_k_as_fewer_than_k():
    frame = _frame()
    short = (frame["event"] == 0) & (frame["time"] < HORIZON)
    frame.loc[short[short].index[3:], "time"] = 12.0  # leave 3
    assert _short(frame) == 3
    with pytest.raises(ConfigError, match=r"^fewer than 10 of 400 patients without an event"):
        validate_cohort(frame, config=_binary(time="time", horizon=HORIZON))


def test_with_the_explicit_opt_in_the_binary_audit_runs_with_a_counted_warning():
    frame = _frame()
    cohort = validate_cohort(
        frame, config=_binary(time="time", horizon=HORIZON, censored_as_event_free=True)
    )
    caveat = _caveat(cohort, "censored_as_event_free")
    assert caveat.severity == "warning"
    assert caveat.where == {"column": "time", "n_rows": _short(frame), "horizon": 10.0}
    assert caveat.message.startswith(f"{_short(frame)} of 400 patients")
    assert cohort.time is None  # the binary audit used the times for the guard only
    assert cohort.n_rows == 400


def test_a_binary_audit_whose_patients_were_all_followed_to_the_horizon_runs_as_usual():
    frame = _frame()
    assert _short(frame, 0.4) == 0
    cohort = validate_cohort(frame, config=_binary(time="time", horizon=0.4))
    assert [c.code for c in cohort.caveats] == []


def test_the_guard_takes_the_horizon_from_the_card_and_needs_one():
    frame = _frame()
    card = _card({"horizon": 5, "time_unit": "years"})
    with pytest.raises(ConfigError, match=rf"^{_short(frame, 5.0)} of 400 .* \(5 years, column"):
        validate_cohort(frame, config=_binary(time="time"), card=card)
    with pytest.raises(ConfigError, match=r"given to a binary audit, .* no horizon was given"):
        validate_cohort(frame, config=_binary(time="time"))


def test_a_binary_audit_of_a_time_to_event_model_is_refused_unless_asked_for():
    card = _card(TTE_CARD, name="QRISK-like")
    with pytest.raises(ConfigError) as err:
        validate_cohort(_frame(), config=_binary(), card=card)
    msg = str(err.value)
    assert "card 'QRISK-like' says the model predicts a time-to-event outcome" in msg
    assert "(the risk of the event by 10 years)" in msg
    assert "treats every patient censored before the horizon as event-free" in msg
    cohort = validate_cohort(_frame(), config=_binary(censored_as_event_free=True), card=card)
    caveat = _caveat(cohort, "censored_as_event_free")
    assert "cannot be checked without a time column" in caveat.message
    assert caveat.where == {"column": "event"}


# -- engines --------------------------------------------------------------------------------------


def test_engines_that_do_not_carry_time_to_event_yet_refuse_it(tmp_path):
    from cohortaudit.engines import audit_with_engine
    from cohortaudit.engines.stream import audit_stream

    path = tmp_path / "cohort.csv"
    _frame().to_csv(path, index=False)
    with pytest.raises(ConfigError, match=r"streamed engine .* not yet supported for time-to-"):
        audit_stream(cohort_path=path, config=_tte(), chunk_rows=100)
    with pytest.raises(ConfigError, match="not yet supported for time-to-event"):
        audit_with_engine(cohort_path=path, config=_tte(), chunk_rows=100)
    with pytest.raises(ConfigError, match=r"Dask engine .* not yet supported for time-to-event"):
        audit_with_engine(engine="dask", cohort_path=path, config=_tte())


def test_run_audit_hands_a_time_to_event_audit_to_the_survival_pipeline(monkeypatch):
    from cohortaudit.audit import run_audit

    cohort = validate_cohort(_frame(), config=_tte())
    monkeypatch.setitem(sys.modules, "cohortaudit.survival_audit", None)  # not in this build
    with pytest.raises(ConfigError, match="time-to-event audits are not available in this build"):
        run_audit(cohort, None, _tte())

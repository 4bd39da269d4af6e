"""The Start page's two new choices (issue 16, point 5): where the predictions come from (a
model file, or a score column of the cohort scored elsewhere) and the outcome kind (a binary
0/1 label, or follow-up time and event). Driven with AppTest, as tests/test_app.py does.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app" / "streamlit_app.py"
sys.path.insert(0, str(APP.parent))

import choices  # noqa: E402  (app/choices.py: the Start page's choices -> AuditConfig)
import defaults  # noqa: E402
import state  # noqa: E402
from cohortaudit.config import AuditConfig, parse_bins  # noqa: E402

VIEWS = (
    "views/overview.py",
    "views/subgroups.py",
    "views/calibration.py",
    "views/utility.py",
    "views/explanations.py",
    "views/safety.py",
    "views/sites.py",
    "views/report.py",
    "views/compare.py",
    "views/start.py",
)


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv(defaults.ENV_N_BOOT, "5")
    monkeypatch.setenv(defaults.ENV_MAX_ORDER, "2")


def _app(monkeypatch, *, autorun: bool = False):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(defaults.ENV_AUTORUN, "1" if autorun else "0")
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    return at


def _no_errors(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def scored_cohort(n: int = 1500, seed: int = 16) -> pd.DataFrame:
    """A small synthetic cohort whose predicted risks were computed elsewhere (column 'risk');
    'site' is text, so it must not be offered as a score column."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    age = rng.integers(40, 80, n)
    true_risk = 1 / (1 + np.exp(-(-2.2 + 0.05 * (age - 60) + 0.4 * (sex == "M"))))
    outcome = rng.binomial(1, true_risk)
    risk = np.clip(true_risk + rng.normal(0, 0.08, n), 0.001, 0.999).round(4)
    return pd.DataFrame(
        {
            "sex": sex,
            "age": age,
            "site": rng.choice(["north", "south"], n),
            "outcome": outcome,
            "risk": risk,
        }
    )


@pytest.fixture
def cohort_csv(tmp_path) -> Path:
    path = tmp_path / "scored.csv"
    scored_cohort().to_csv(path, index=False)
    return path


def _upload_scored(at, path: Path):
    at.switch_page("views/start.py").run()
    at.radio(key=state.K_SOURCE).set_value("My own files").run()
    at.radio(key=state.K_PREDICTIONS).set_value(choices.FROM_COLUMN).run()
    at.file_uploader(key=state.K_COHORT_UPLOAD).upload(
        path.name, path.read_bytes(), "text/csv"
    ).run()
    at.selectbox(key=state.K_LABEL).set_value("outcome").run()
    return at


# ---- scores mode ----------------------------------------------------------------------------


def test_scores_mode_needs_no_model_and_offers_only_numeric_columns(monkeypatch, cohort_csv):
    at = _app(monkeypatch)
    at.switch_page("views/start.py").run()
    at.radio(key=state.K_SOURCE).set_value("My own files").run()
    assert at.radio(key=state.K_PREDICTIONS).options == list(choices.PREDICTION_SOURCES)
    assert at.radio(key=state.K_PREDICTIONS).value == choices.FROM_MODEL  # as before
    at.radio(key=state.K_PREDICTIONS).set_value(choices.FROM_COLUMN).run()
    _no_errors(at)
    uploaders = [u.key for u in at.get("file_uploader")]
    assert uploaders == [state.K_CARD_UPLOAD, state.K_COHORT_UPLOAD]  # no model upload
    _upload_scored(at, cohort_csv)
    _no_errors(at)
    score = at.selectbox(key=state.K_SCORE_COLUMN)
    # numeric columns other than the label; the text column 'site' is not offered
    assert score.options == ["age", "risk"]
    assert score.value == "risk"  # its name says it holds risks
    assert "risk" not in at.multiselect(key=state.K_SENSITIVE).options
    assert not at.button(key=state.K_RUN).disabled  # no model needed


def test_a_scores_mode_audit_runs_through_the_library(monkeypatch, cohort_csv):
    from sklearn.metrics import roc_auc_score

    at = _upload_scored(_app(monkeypatch), cohort_csv)
    at.multiselect(key=state.K_SENSITIVE).set_value(["sex", "site"]).run()
    at.button(key=state.K_RUN).click().run()
    _no_errors(at)
    result = at.session_state[state._RESULT]
    assert result.model.kind == "scores"
    assert result.config["score_column"] == "risk" and result.config["label"] == "outcome"
    frame = pd.read_csv(cohort_csv)
    expected = roc_auc_score(frame["outcome"], frame["risk"])
    assert result.overall.metrics["auroc"].value == pytest.approx(expected, abs=1e-12)
    for sex in ("F", "M"):
        rows = frame[frame["sex"] == sex]
        got = result.subgroup(sex=sex).metrics["auroc"].value
        assert got == pytest.approx(roc_auc_score(rows["outcome"], rows["risk"]), abs=1e-12)
    # the same audit as the CLI's --score-column gives
    source = at.session_state[state._SOURCE][1]
    assert source.model_path is None and source.config.score_column == "risk"
    assert at.session_state[state._RESULT_INFO].description == (
        "Uploaded files: scores from column 'risk', scored.csv"
    )


def test_every_page_renders_a_scores_mode_audit(monkeypatch, cohort_csv):
    at = _upload_scored(_app(monkeypatch), cohort_csv)
    at.multiselect(key=state.K_SENSITIVE).set_value(["sex"]).run()
    at.button(key=state.K_RUN).click().run()
    assert at.session_state[state._RESULT].model.kind == "scores"
    for view in VIEWS:
        at.switch_page(view).run()
        _no_errors(at)
        assert at.title, view
        if view == "views/explanations.py":
            assert "scores mode" in at.info[0].value
            assert all(b.key != state.K_XAI_COMPUTE for b in at.button)
        if view == "views/safety.py":
            infos = [i.value for i in at.info]
            assert "Not run: scores mode: there is no model to re-score perturbed inputs." in infos
        if view == "views/overview.py":
            text = "\n".join(m.value for m in at.markdown)
            assert "**Predictions:** the column 'risk' of the cohort, scored elsewhere" in text
            assert at.code[0].value.startswith("model  none (scores mode)\nn/a\n")
        if view == "views/report.py":
            command = at.code[0].value
            assert "--score-column risk" in command and "--model" not in command
            for button in ("Prepare the PDF report", "Prepare the HTML report"):
                next(b for b in at.button if b.label == button).click().run()
                _no_errors(at)
            assert {b.label for b in at.get("download_button")} >= {
                "Download audit.pdf",
                "Download audit.html",
            }
        if view == "views/compare.py":  # this audit against itself, read from its JSON
            from cohortaudit.render.json import result_to_json

            data = result_to_json(at.session_state[state._RESULT]).encode()
            at.file_uploader(key=state.K_COMPARE_UPLOAD).upload(
                "scores.json", data, "application/json"
            ).run()
            _no_errors(at)
            text = "\n".join(m.value for m in at.markdown)
            assert "- Model none (scores mode), SHA-256 `n/a…`" in text


# ---- outcome kind ---------------------------------------------------------------------------


def test_the_outcome_choice_defaults_to_a_binary_label_as_before(monkeypatch):
    at = _app(monkeypatch, autorun=True)
    first = at.session_state[state._RESULT]
    at.switch_page("views/start.py").run()
    _no_errors(at)
    outcome = at.radio(key=state.K_OUTCOME_KIND)
    assert outcome.label == "Outcome"
    assert outcome.options == list(choices.OUTCOME_KINDS) and outcome.value == choices.BINARY
    assert at.selectbox(key=state.K_LABEL).value == defaults.SAMPLE_LABEL
    keys = {w.key for w in [*at.selectbox, *at.number_input, *at.text_input]}
    assert not keys & {state.K_TIME, state.K_EVENT, state.K_HORIZON, state.K_TIME_UNIT}
    at.button(key=state.K_RUN).click().run()
    _no_errors(at)
    # the binary path builds the very config the first load used, so it is the same audit
    assert at.session_state[state._SOURCE][1].config == _sample_config()
    assert at.session_state[state._RESULT] is first


def _sample_config() -> AuditConfig:
    """The config the Start page built before it had an outcome choice (spelled out here)."""
    return AuditConfig(
        label=defaults.SAMPLE_LABEL,
        sensitive_features=defaults.SAMPLE_SENSITIVE,
        bins=parse_bins([f"{k}={v}" for k, v in defaults.SAMPLE_BINS.items()]),
        reference={},
        threshold=None,
        n_boot=5,
        min_cell=10,
        max_intersection_order=2,
    )


def test_time_to_event_asks_for_time_event_horizon_and_unit(monkeypatch):
    at = _app(monkeypatch)
    at.switch_page("views/start.py").run()
    at.radio(key=state.K_OUTCOME_KIND).set_value(choices.TIME_TO_EVENT).run()
    assert not at.exception
    assert not [s for s in at.selectbox if s.key == state.K_LABEL]  # the event replaces it
    numeric = ["age", "sbp", "total_chol", "hdl", "deprivation", "cvd_10y"]
    time_box = at.selectbox(key=state.K_TIME)
    assert time_box.label == "Follow-up time column"
    assert set(numeric) <= set(time_box.options)
    assert "sex" not in time_box.options  # numeric columns only
    # no column name hints at a time or an event: nothing is guessed (not 'age' as the time)
    assert time_box.value is None and at.selectbox(key=state.K_EVENT).value is None
    time_box.set_value("sbp").run()
    event = at.selectbox(key=state.K_EVENT)
    assert event.label == "Event column, 0/1 (1 = event)"
    assert "sbp" not in event.options
    # the bundled card says "horizon: 10 years"
    assert at.number_input(key=state.K_HORIZON).value == 10.0
    assert at.text_input(key=state.K_TIME_UNIT).value == "years"
    assert "sbp" not in at.multiselect(key=state.K_SENSITIVE).options


def test_time_to_event_on_a_library_without_it_says_so_instead_of_crashing(monkeypatch):
    monkeypatch.setattr(choices, "supports_time_to_event", lambda *a: False)
    at = _app(monkeypatch)
    at.switch_page("views/start.py").run()
    at.radio(key=state.K_OUTCOME_KIND).set_value(choices.TIME_TO_EVENT).run()
    assert not at.exception
    assert [e.value for e in at.error] == [choices.NEEDS_NEWER_LIBRARY]
    assert at.error[0].value.startswith("Time-to-event audits need a newer cohortaudit")
    assert at.button(key=state.K_RUN).disabled
    at.radio(key=state.K_OUTCOME_KIND).set_value(choices.BINARY).run()
    _no_errors(at)
    assert not at.button(key=state.K_RUN).disabled


def test_switching_the_outcome_kind_and_back_keeps_the_choices(monkeypatch, cohort_csv):
    monkeypatch.setattr(choices, "supports_time_to_event", lambda *a: True)
    at = _upload_scored(_app(monkeypatch), cohort_csv)
    assert at.selectbox(key=state.K_LABEL).value == "outcome"  # not the first column, 'sex'
    at.radio(key=state.K_OUTCOME_KIND).set_value(choices.TIME_TO_EVENT).run()
    at.selectbox(key=state.K_EVENT).set_value("outcome").run()
    at.number_input(key=state.K_HORIZON).set_value(3.0).run()
    at.radio(key=state.K_OUTCOME_KIND).set_value(choices.BINARY).run()
    _no_errors(at)
    assert at.selectbox(key=state.K_LABEL).value == "outcome"
    assert not at.warning, [w.value for w in at.warning]  # no session-state warnings
    at.radio(key=state.K_OUTCOME_KIND).set_value(choices.TIME_TO_EVENT).run()
    assert at.selectbox(key=state.K_EVENT).value == "outcome"
    assert at.number_input(key=state.K_HORIZON).value == 3.0


def test_without_a_card_the_horizon_is_asked_for(monkeypatch, cohort_csv):
    monkeypatch.setattr(choices, "supports_time_to_event", lambda *a: True)
    at = _upload_scored(_app(monkeypatch), cohort_csv)
    at.radio(key=state.K_OUTCOME_KIND).set_value(choices.TIME_TO_EVENT).run()
    _no_errors(at)
    assert at.button(key=state.K_RUN).disabled
    assert any("Choose the follow-up time and event columns" in c.value for c in at.caption)
    at.selectbox(key=state.K_TIME).set_value("age").run()
    at.selectbox(key=state.K_EVENT).set_value("outcome").run()
    assert at.number_input(key=state.K_HORIZON).value is None
    assert at.text_input(key=state.K_TIME_UNIT).value == "years"
    assert at.button(key=state.K_RUN).disabled
    assert any("Set the horizon" in c.value for c in at.caption)
    at.number_input(key=state.K_HORIZON).set_value(5.0).run()
    assert not at.button(key=state.K_RUN).disabled
    # the score column is never also the time or the event column
    assert at.selectbox(key=state.K_SCORE_COLUMN).options == ["risk"]


# ---- the one function that spells the config's arguments ------------------------------------

COMMON = dict(
    sensitive=["sex", "age"],
    bins_specs=["age=40,60"],
    reference={"sex": "F"},
    threshold=0.2,
    n_boot=7,
    min_cell=5,
    max_order=1,
)


def test_config_kwargs_of_a_binary_audit_are_exactly_the_old_ones():
    kwargs = choices.config_kwargs(outcome_kind=choices.BINARY, label="y", **COMMON)
    assert kwargs == {
        "label": "y",
        "sensitive_features": ("sex", "age"),
        "bins": {"age": (40.0, 60.0)},
        "reference": {"sex": "F"},
        "threshold": 0.2,
        "n_boot": 7,
        "min_cell": 5,
        "max_intersection_order": 1,
    }
    # the time-to-event widgets' values never reach a binary audit
    ignored = choices.config_kwargs(
        outcome_kind=choices.BINARY, label="y", time="t", event="e", horizon=5, **COMMON
    )
    assert ignored == kwargs


def test_config_kwargs_in_scores_mode_add_the_score_column():
    kwargs = choices.config_kwargs(
        outcome_kind=choices.BINARY, label="y", score_column="risk", **COMMON
    )
    assert kwargs["score_column"] == "risk"
    assert AuditConfig(**kwargs).score_column == "risk"


def test_config_kwargs_of_a_time_to_event_audit():
    kwargs = choices.config_kwargs(
        outcome_kind=choices.TIME_TO_EVENT,
        label=None,
        time="followup",
        event="cvd",
        horizon=10,
        time_unit=" years ",
        score_column="risk",
        **COMMON,
    )
    assert kwargs["label"] is None
    assert {k: kwargs[k] for k in ("time", "event", "horizon", "time_unit")} == {
        "time": "followup",
        "event": "cvd",
        "horizon": 10.0,
        "time_unit": "years",
    }
    assert kwargs["score_column"] == "risk"


def test_supports_time_to_event_reads_the_config_fields():
    @dataclasses.dataclass(frozen=True)
    class Newer:
        label: str | None = None
        time: str | None = None
        event: str | None = None
        horizon: float | None = None
        time_unit: str | None = None

    @dataclasses.dataclass(frozen=True)
    class Older:
        label: str

    assert choices.supports_time_to_event(Newer) is True
    assert choices.supports_time_to_event(Older) is False
    names = {f.name for f in dataclasses.fields(AuditConfig)}
    assert choices.supports_time_to_event() is ("time" in names)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ({"horizon": "10 years"}, (10.0, "years")),  # the bundled card's spelling
        ({"horizon": 5, "time_unit": "months"}, (5.0, "months")),
        ({"horizon": 2.5}, (2.5, None)),
        ({"horizon": "365 days", "time_unit": "days"}, (365.0, "days")),
        ({"horizon": "ten years"}, (None, None)),
        ({"horizon": 0}, (None, None)),
        ({"horizon": True}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_card_outcome_reads_the_horizon_and_unit(outcome, expected):
    assert choices.card_outcome(outcome) == expected


def test_a_time_to_event_audit_runs_from_the_start_page(monkeypatch, tmp_path):
    """Own files in scores mode, outcome 'time to event': the result is the library's
    time-to-event audit, its observed risk the Kaplan-Meier of the uploaded follow-up."""
    from cohortaudit.survival.km import summarize_follow_up

    rng = np.random.default_rng(5)
    frame = scored_cohort(1500)
    rate = 0.03 * np.exp(2.0 * frame["risk"].to_numpy())
    t_event = rng.exponential(1 / rate)
    censor = rng.uniform(3, 14, len(frame))
    frame["followup_time"] = np.maximum(np.minimum(t_event, censor), 0.01).round(3)
    frame["event_flag"] = (t_event <= censor).astype(int)
    frame = frame.drop(columns=["outcome"])
    path = tmp_path / "tte.csv"
    frame.to_csv(path, index=False)
    at = _app(monkeypatch)
    at.switch_page("views/start.py").run()
    at.radio(key=state.K_SOURCE).set_value("My own files").run()
    at.radio(key=state.K_PREDICTIONS).set_value(choices.FROM_COLUMN).run()
    at.file_uploader(key=state.K_COHORT_UPLOAD).upload(path.name, path.read_bytes(), "text/csv").run()
    at.radio(key=state.K_OUTCOME_KIND).set_value(choices.TIME_TO_EVENT).run()
    at.selectbox(key=state.K_TIME).set_value("followup_time").run()
    at.selectbox(key=state.K_EVENT).set_value("event_flag").run()
    at.number_input(key=state.K_HORIZON).set_value(5.0).run()
    at.multiselect(key=state.K_SENSITIVE).set_value(["sex"]).run()
    at.button(key=state.K_RUN).click().run()
    _no_errors(at)
    result = at.session_state[state._RESULT]
    assert result.settings["outcome"]["kind"] == "time_to_event"
    assert result.settings["outcome"]["horizon"] == 5.0
    km = summarize_follow_up(frame["followup_time"], frame["event_flag"], horizon=5.0)
    assert result.overall.metrics["observed_risk"].value == pytest.approx(
        km.observed_risk.value, abs=1e-11
    )
    for page in ("views/overview.py", "views/calibration.py", "views/report.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])

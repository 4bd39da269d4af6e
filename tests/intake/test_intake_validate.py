"""The one validator: in memory, a cohort is the chunk validator run on one chunk.

``validate_cohort`` (in memory), ``stream_cohort`` (file chunks) and the Dask engine (partitions)
all validate with ``reduce_chunk`` + ``CohortAccumulator``; these tests pin that they cannot
disagree -- same kept rows, same labels, same caveats in the same order -- on a cohort that
exercises every survivable problem at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortaudit.config import AuditConfig
from cohortaudit.engines.stream import stream_cohort
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.intake.card import load_card
from cohortaudit.intake.model import load_model
from cohortaudit.intake.validate import (
    CohortAccumulator,
    check_header,
    make_spec,
    reduce_chunk,
    validate_cohort,
)

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"

CONFIG = AuditConfig(
    label="cvd_10y",
    sensitive_features=("sex", "age", "site"),
    bins={"age": (45.0, 55.0, 65.0, 75.0)},
    n_boot=20,
)


@pytest.fixture(scope="module")
def model_and_card():
    card = load_card(SAMPLE / "model.card.yaml")
    return load_model(SAMPLE / "model.onnx", card=card), card


@pytest.fixture(scope="module")
def messy_frame() -> pd.DataFrame:
    """The sample cohort with every survivable problem: rows without a label or a required
    input (dropped), an optional input left empty, values off the card's range, a category the
    card does not list, sensitive values missing, and ages outside the bins."""
    frame = pd.read_csv(SAMPLE / "cohort.csv").head(3000).copy()
    rng = np.random.default_rng(7)
    rows = lambda k: rng.choice(len(frame), size=k, replace=False)  # noqa: E731
    frame["cvd_10y"] = frame["cvd_10y"].astype("float64")
    frame.loc[rows(30), "cvd_10y"] = np.nan
    frame.loc[rows(25), "sbp"] = np.nan
    frame.loc[rows(40), "bmi"] = np.nan
    frame.loc[rows(15), "total_chol"] = 99.0
    frame.loc[rows(12), "smoking"] = "unknown"
    frame.loc[rows(20), "site"] = np.nan  # a sensitive feature the model does not read
    frame.loc[rows(10), "age"] = 30.0
    return frame


def _in_chunks(frame: pd.DataFrame, model, card, size: int):
    spec = make_spec(CONFIG, model, card, sample_rows=0)
    check_header(frame.columns, spec)
    acc = CohortAccumulator(spec, header=list(frame.columns), in_memory=True)
    for start in range(0, len(frame), size):
        acc.add(reduce_chunk(frame.iloc[start : start + size], spec, key_offset=start))
    cohort, sample = acc.finish()
    assert sample is None
    return cohort


def _assert_same_cohort(a, b, *, features: bool = True) -> None:
    assert [c.to_dict() for c in a.caveats] == [c.to_dict() for c in b.caveats]
    assert (a.n_input_rows, a.n_dropped, a.n_rows) == (b.n_input_rows, b.n_dropped, b.n_rows)
    np.testing.assert_array_equal(a.y_true, b.y_true)
    pd.testing.assert_frame_equal(a.groups.astype(str), b.groups.astype(str))
    if features:
        pd.testing.assert_frame_equal(a.features, b.features)


def test_the_messy_cohort_raises_every_survivable_caveat(messy_frame, model_and_card):
    model, card = model_and_card
    cohort = validate_cohort(messy_frame, config=CONFIG, model=model, card=card)
    codes = [c.code for c in cohort.caveats]
    for code in (
        "missing_label",
        "missing_inputs",
        "missing_optional_inputs",
        "out_of_range",
        "unseen_category",
        "outside_bins",
        "missing_sensitive",
    ):
        assert code in codes


@pytest.mark.parametrize("size", [1, 97, 1000])
def test_in_memory_validation_is_the_chunk_validator_on_one_chunk(
    messy_frame, model_and_card, size
):
    model, card = model_and_card
    whole = validate_cohort(messy_frame, config=CONFIG, model=model, card=card)
    _assert_same_cohort(whole, _in_chunks(messy_frame, model, card, size))


def test_in_memory_and_streamed_validation_of_one_file_agree(messy_frame, model_and_card, tmp_path):
    model, card = model_and_card
    path = tmp_path / "messy.csv"
    messy_frame.to_csv(path, index=False)
    from cohortaudit.intake.tables import load_cohort

    frame, _ = load_cohort(path)
    whole = validate_cohort(frame, config=CONFIG, model=model, card=card)
    streamed = stream_cohort(path, config=CONFIG, model=model, card=card, chunk_rows=700)
    assert streamed.n_chunks == 5
    assert streamed.cohort.features is None  # the streamed form keeps scores, not features
    _assert_same_cohort(whole, streamed.cohort, features=False)


def test_the_in_memory_form_keeps_text_groups_and_typed_features(messy_frame, model_and_card):
    model, card = model_and_card
    cohort = validate_cohort(messy_frame, config=CONFIG, model=model, card=card)
    assert cohort.y_score is None and list(cohort.features.columns) == [
        i.name for i in model.inputs
    ]
    assert cohort.groups["sex"].dtype == object  # unbinned: plain text labels
    assert isinstance(cohort.groups["age"].dtype, pd.CategoricalDtype)  # binned: ordered bins
    assert cohort.groups["age"].cat.ordered
    assert not cohort.y_true.flags.writeable


def test_a_fatal_problem_is_the_same_error_in_one_chunk_or_many(messy_frame, model_and_card):
    model, card = model_and_card
    bad = messy_frame.copy()
    bad.loc[2500, "cvd_10y"] = 2.0
    with pytest.raises(SchemaError) as whole:
        validate_cohort(bad, config=CONFIG, model=model, card=card)
    with pytest.raises(SchemaError) as chunked:
        _in_chunks(bad, model, card, 3000)
    assert str(whole.value) == str(chunked.value)
    assert "must be binary" in str(whole.value)


@pytest.mark.parametrize("has_model", [True, False])
def test_model_xor_score_column_is_one_rule_with_one_message(model_and_card, has_model):
    model, card = model_and_card
    config = (
        AuditConfig(label="cvd_10y", score_column="sbp") if has_model else AuditConfig("cvd_10y")
    )
    with pytest.raises(ConfigError, match=r"exactly one source of predictions.*Got (both|neither)"):
        make_spec(config, model if has_model else None, card, sample_rows=0)

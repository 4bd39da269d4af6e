"""Tests of scoring: agreement with sklearn, output styles, batching, and failure messages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LinearRegression

from cohortaudit.errors import ModelSignatureError, SchemaError
from cohortaudit.io import load_model
from cohortaudit.scoring import score

TENSOR_COLUMNS = ["age", "sbp", "visits"]
SECRET = "PATIENT_SECRET_777"


def _expected_named(built_models, frame: pd.DataFrame) -> np.ndarray:
    cols = ["age", "visits", "sex", "site"]
    return built_models.named_pipeline.predict_proba(frame[cols])[:, 1]


def _expected_tensor(built_models, frame: pd.DataFrame) -> np.ndarray:
    return built_models.tensor_estimator.predict_proba(frame[TENSOR_COLUMNS].to_numpy(np.float32))[
        :, 1
    ]


@pytest.mark.parametrize("which", ["onnx_named", "onnx_named_zipmap"])
def test_named_onnx_matches_sklearn(built_models, which):
    frame = built_models.frame
    got = score(load_model(getattr(built_models, which)), frame)
    assert got.dtype == np.float64 and got.shape == (len(frame),)
    np.testing.assert_allclose(got, _expected_named(built_models, frame), atol=1e-5)


@pytest.mark.parametrize("which", ["onnx_tensor", "onnx_tensor_zipmap"])
def test_tensor_onnx_matches_sklearn(built_models, tensor_card, which):
    frame = built_models.frame
    model = load_model(getattr(built_models, which), card=tensor_card)
    # shuffled cohort columns: the card's order, not the frame's, decides the tensor layout
    got = score(model, frame[["visits", "y", "sbp", "age"]])
    np.testing.assert_allclose(got, _expected_tensor(built_models, frame), atol=1e-5)


def test_zipmap_and_tensor_outputs_agree(built_models, tensor_card):
    frame = built_models.frame
    a = score(load_model(built_models.onnx_named), frame)
    b = score(load_model(built_models.onnx_named_zipmap), frame)
    np.testing.assert_array_equal(a, b)
    c = score(load_model(built_models.onnx_tensor, card=tensor_card), frame)
    d = score(load_model(built_models.onnx_tensor_zipmap, card=tensor_card), frame)
    np.testing.assert_array_equal(c, d)


def test_skops_matches_sklearn(built_models, tmp_path):
    import yaml

    from cohortaudit.card import load_card

    inputs = [
        {"name": "age", "type": "numeric"},
        {"name": "visits", "type": "numeric"},
        {"name": "sex", "type": "categorical"},
        {"name": "site", "type": "categorical"},
    ]
    path = tmp_path / "card.yaml"
    path.write_text(
        yaml.safe_dump({"schema_version": "1.0", "name": "t", "version": "1", "inputs": inputs})
    )
    frame = built_models.frame
    got = score(load_model(built_models.skops_named, card=load_card(path)), frame)
    np.testing.assert_allclose(got, _expected_named(built_models, frame), atol=1e-12)


def test_skops_without_card_treats_inputs_as_numbers(built_models):
    model = load_model(built_models.skops_named)
    with pytest.raises(
        SchemaError,
        match="Column 'sex' is not numeric.*declare text columns with 'type: categorical'",
    ):
        score(model, built_models.frame)


def test_positive_class_zero_gives_complement(built_models, tmp_path):
    import yaml

    from cohortaudit.card import load_card

    path = tmp_path / "card.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "schema_version": "1.0",
                "name": "t",
                "version": "1",
                "inputs": [{"name": "age", "type": "numeric"}],
                "output": {"positive_class": 0},
            }
        )
    )
    card = load_card(path)
    frame = built_models.frame
    p1 = score(load_model(built_models.onnx_named), frame)
    for which in ("onnx_named", "onnx_named_zipmap"):
        p0 = score(load_model(getattr(built_models, which), card=card), frame)
        np.testing.assert_allclose(p0, 1 - p1, atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 7, 400, 10_000])
def test_batching_does_not_change_scores(built_models, batch_size):
    model = load_model(built_models.onnx_named)
    frame = built_models.frame
    # onnxruntime's vectorised kernels may differ by one float32 ulp with the batch length
    np.testing.assert_allclose(
        score(model, frame, batch_size=batch_size), score(model, frame), rtol=0, atol=1e-6
    )


def test_scoring_is_repeatable(built_models):
    model = load_model(built_models.onnx_named)
    first = score(model, built_models.frame, batch_size=64)
    np.testing.assert_array_equal(first, score(model, built_models.frame, batch_size=64))
    again = load_model(built_models.onnx_named)
    np.testing.assert_array_equal(first, score(again, built_models.frame, batch_size=64))


def test_scores_follow_rows_not_index(built_models):
    model = load_model(built_models.onnx_named)
    frame = built_models.frame
    shuffled = frame.sample(frac=1.0, random_state=1)
    np.testing.assert_allclose(
        score(model, shuffled), score(model, frame)[shuffled.index.to_numpy()], rtol=0, atol=1e-6
    )


def test_empty_frame(built_models):
    model = load_model(built_models.onnx_named)
    assert score(model, built_models.frame.iloc[:0]).shape == (0,)


def test_bad_batch_size(built_models):
    with pytest.raises(ValueError, match="'batch_size' parameter must be a positive int"):
        score(load_model(built_models.onnx_named), built_models.frame, batch_size=0)


def test_missing_column(built_models):
    frame = built_models.frame.drop(columns=["sex", "site"])
    with pytest.raises(
        SchemaError, match=r"lacks 2 column\(s\) the model needs: \['sex', 'site'\]"
    ):
        score(load_model(built_models.onnx_named), frame)


def test_text_column_with_missing_values(built_models):
    frame = built_models.frame.copy()
    frame.loc[[0, 5], "sex"] = None
    with pytest.raises(
        SchemaError, match="Column 'sex' has 2 missing values, but the model takes it as text"
    ):
        score(load_model(built_models.onnx_named), frame)


def test_non_numeric_column_message_has_no_values(built_models):
    frame = built_models.frame.copy()
    frame["age"] = frame["age"].astype(object)
    frame.loc[3, "age"] = SECRET
    with pytest.raises(
        SchemaError,
        match=r"Column 'age' is not numeric, but the model takes it as a number \(float32\)",
    ) as info:
        score(load_model(built_models.onnx_named), frame)
    assert SECRET not in str(info.value)


def test_int_column_with_fractions(built_models):
    frame = built_models.frame.copy()
    frame["visits"] = frame["visits"] + 0.5
    with pytest.raises(SchemaError, match="Column 'visits' has non-integer values"):
        score(load_model(built_models.onnx_named), frame)


def test_nan_output_is_not_a_probability(built_models, tensor_card):
    frame = built_models.frame.copy()
    frame.loc[[1, 2, 3], "age"] = np.nan
    model = load_model(built_models.onnx_tensor, card=tensor_card)
    with pytest.raises(
        ModelSignatureError,
        match=r"not a probability for 3 of 400 rows \(3 NaN/infinite, 0 outside",
    ):
        score(model, frame)


def test_regression_output_outside_unit_interval(built_models, tmp_path):
    frame = built_models.frame
    reg = LinearRegression().fit(frame[["age"]].to_numpy(np.float32), frame["age"])
    onx = convert_sklearn(reg, initial_types=[("age", FloatTensorType([None, 1]))], target_opset=17)
    path = tmp_path / "reg.onnx"
    path.write_bytes(onx.SerializeToString())
    model = load_model(path)
    assert model.metadata["probability_output_style"] == "tensor1"
    with pytest.raises(
        ModelSignatureError, match=r"not a probability for 400 of 400 rows .*outside \[0, 1\]"
    ):
        score(model, frame)


def test_runtime_failure_is_a_signature_error(built_models, tensor_card):
    model = load_model(built_models.onnx_tensor, card=tensor_card)
    broken = dataclasses.replace(model, inputs=model.inputs[:2])  # feeds 2 columns, needs 3
    with pytest.raises(
        ModelSignatureError, match=r"onnxruntime failed to run the model 'onnx_tensor\.onnx' \("
    ) as info:
        score(broken, built_models.frame)
    assert "Traceback" not in str(info.value)

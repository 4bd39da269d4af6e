"""Tests of cohort validation: every fatal branch, every caveat, and the typed happy path."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.intake import columns as cohort_columns
from cohortaudit.intake.validate import Cohort, validate_cohort
from cohortaudit.modelspec import InputSpec, LoadedModel

SECRET_TEXT = "PATIENT_SECRET_123"
SECRET_NUMBER = 987654.321
SECRET_FRAGMENTS = ("PATIENT_SECRET", "987654", "98765")


# --------------------------------------------------------------------------------------------
# stand-ins for card.py (written elsewhere) and a model without a runner
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StubCardInput:
    name: str
    type: str = "numeric"
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    required: bool = True


@dataclass(frozen=True)
class StubCard:
    inputs: tuple[StubCardInput, ...]
    operating_threshold: float | None = None


def make_model(*specs: tuple[str, str]) -> LoadedModel:
    return LoadedModel(
        kind="onnx",
        path=Path("model.onnx"),
        sha256="0" * 64,
        inputs=tuple(InputSpec(name, kind) for name, kind in specs),  # type: ignore[arg-type]
    )


MODEL = make_model(("age", "float"), ("sbp", "float"), ("sex", "string"), ("smoker", "int"))
CARD = StubCard(
    inputs=(
        StubCardInput("age", unit="years", min=18, max=100),
        StubCardInput("sbp", unit="mmHg", min=60, max=250),
        StubCardInput("sex", type="categorical", categories=("F", "M")),
        StubCardInput("smoker", type="categorical", categories=("0", "1")),
    )
)


def run(
    frame: pd.DataFrame,
    *,
    scores: bool = False,
    model: LoadedModel | None = MODEL,
    card: Any = CARD,
    **config: Any,
) -> Cohort:
    """Validate with the default test setup; keyword arguments override the AuditConfig."""
    options: dict[str, Any] = {
        "label": "y",
        "sensitive_features": ("sex", "age"),
        "bins": {"age": (18, 40, 65, 80)},
    }
    options.update(config)
    if scores:
        options.setdefault("score_column", "score")
        model = None
    return validate_cohort(frame, config=AuditConfig(**options), model=model, card=card)


def caveat(result: Cohort, code: str, **where: Any):
    found = [
        c
        for c in result.caveats
        if c.code == code and all(c.where.get(k) == v for k, v in where.items())
    ]
    assert len(found) == 1, [c.to_dict() for c in result.caveats]
    return found[0]


def set_rows(frame: pd.DataFrame, column: str, rows: slice | list[int], value: Any) -> pd.DataFrame:
    """Put ``value`` in some rows, turning the column into object dtype first if needed."""
    out = frame.copy()
    col = out[column].astype(object)
    col.iloc[rows] = value
    out[column] = pd.Series(col.to_numpy(dtype=object), dtype=object)
    return out


# --------------------------------------------------------------------------------------------
# the bad-input matrix: (name, build(frame) -> (frame, options), exception type, pattern)
# --------------------------------------------------------------------------------------------

Case = Callable[[pd.DataFrame], tuple[pd.DataFrame, dict[str, Any]]]


def _with_label(values: list[Any]) -> Case:
    def build(f: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
        f = f.iloc[: len(values)].copy()
        f["y"] = pd.Series(values, dtype=object)
        return f, {}

    return build


BAD_INPUTS: list[Any] = [
    pytest.param(
        lambda f: (f.iloc[0:0], {}), r"^The cohort has no rows \(it has 8 columns\)", id="empty"
    ),
    pytest.param(
        lambda f: (pd.concat([f, f[["age"]]], axis=1), {}),
        r"duplicate column names: 'age' \(2 times\)\. Each column name must be unique",
        id="duplicate-columns",
    ),
    pytest.param(
        lambda f: (f.rename(columns={"y": "Outcome"}), {}),
        r"missing 1 required column\(s\): 'y' \(label\)\. Available columns \(8\): "
        r"\['Outcome', 'score', .*\]\. .*pass --label COLUMN",
        id="missing-label",
    ),
    pytest.param(
        lambda f: (f.drop(columns=["sbp", "sex"]), {}),
        r"missing 2 required column\(s\): 'sbp' \(model input\); "
        r"'sex' \(model input and sensitive feature\)\. .*rename the cohort columns",
        id="missing-input-and-sensitive",
    ),
    pytest.param(
        lambda f: (f.rename(columns={"sbp": "SBP"}), {}),
        r"'sbp' \(model input\) -- did you mean 'SBP'\?",
        id="missing-input-case-hint",
    ),
    pytest.param(
        lambda f: (f, {"scores": True, "score_column": "risk"}),
        r"missing 1 required column\(s\): 'risk' \(score column\).*--score-column",
        id="missing-score-column",
    ),
    pytest.param(
        lambda f: (set_rows(f, "y", [5, 6, 7], 2), {}),
        r"label column 'y' must be binary, but 3 of 200 rows have other values "
        r"\(1 distinct non-binary values; column type object\)\. Expected 0/1",
        id="label-int-2",
    ),
    pytest.param(
        lambda f: (set_rows(f, "y", slice(10, 15), "yes"), {}),
        r"but 5 of 200 rows have other values \(1 distinct",
        id="label-text-yes",
    ),
    pytest.param(
        lambda f: (f.assign(y=f["y"].astype(float).where(f.index != 3, 0.5)), {}),
        r"but 1 of 200 rows have other values "
        r"\(1 distinct non-binary values; column type float64\)",
        id="label-float-half",
    ),
    pytest.param(
        lambda f: (set_rows(set_rows(f, "y", [1], SECRET_TEXT), "y", [2], SECRET_NUMBER), {}),
        r"but 2 of 200 rows have other values \(2 distinct",
        id="label-secret-values",
    ),
    pytest.param(
        lambda f: (f.assign(y=0), {}),
        r"only one outcome, 0 \(no event\), in all 200 rows\. The audit needs both outcomes; "
        r"AUROC, sensitivity",
        id="label-one-class",
    ),
    pytest.param(
        _with_label([1, 0, 0, 0, 0, 0]),
        r"has 1 events and 5 non-events in 6 rows; at least 2 of each",
        id="label-one-event",
    ),
    pytest.param(
        lambda f: (set_rows(f, "sbp", [0, 1, 2, 3], SECRET_TEXT), {}),
        r"model input 'sbp' must be numeric \(mmHg\), but 4 of 200 rows hold values that are not "
        r"numbers \(column type object\)",
        id="input-unparseable-with-unit",
    ),
    pytest.param(
        lambda f: (set_rows(f, "sbp", [9], "120 mmHg"), {"card": None}),
        r"model input 'sbp' must be numeric, but 1 of 200 rows",
        id="input-unparseable-no-card",
    ),
    pytest.param(
        lambda f: (set_rows(f, "smoker", [4, 5], SECRET_NUMBER), {}),
        r"model input 'smoker' must be integer, but 2 of 200 rows have a fractional part",
        id="int-input-fraction",
    ),
    pytest.param(
        lambda f: (set_rows(f, "smoker", [4], "PATIENT_SECRET_123"), {}),
        r"model input 'smoker' must be integer, but 1 of 200 rows hold values that are not numbers",
        id="int-input-text",
    ),
    pytest.param(
        lambda f: (f.assign(smoker=f["smoker"].astype(float).where(f.index != 0, 1e30)), {}),
        r"'smoker' must be integer, but 1 of 200 rows are too large for a 64-bit integer",
        id="int-input-huge",
    ),
    pytest.param(
        lambda f: (f.assign(sbp=f["sbp"].where(f.index >= 120)), {}),
        r"would drop 120 of 200 rows \(60\.0%\), more than half of the cohort: 120 had missing "
        r"\(or infinite\) values in model inputs the model needs \('sbp': 120\)",
        id="too-many-dropped-inputs",
    ),
    pytest.param(
        lambda f: (f.assign(y=f["y"].astype(float).where(f.index % 4 == 0)), {}),
        r"would drop 150 of 200 rows \(75\.0%\).*150 had no value in the label column 'y'",
        id="too-many-dropped-label",
    ),
    pytest.param(
        lambda f: (f.assign(score=f["score"] * 100), {"scores": True}),
        r"score column 'score' must hold predicted risks in \[0, 1\], but \d+ of 200 rows are "
        r"outside that range\. The column may hold logits or percentages",
        id="score-percent",
    ),
    pytest.param(
        lambda f: (f.assign(score=f["score"].where(f.index != 0, SECRET_NUMBER)), {"scores": True}),
        r"but 1 of 200 rows are outside that range",
        id="score-secret-out-of-range",
    ),
    pytest.param(
        lambda f: (f.assign(score=f["score"].where(f.index != 0, np.inf)), {"scores": True}),
        r"but 1 of 200 rows are outside that range",
        id="score-inf",
    ),
    pytest.param(
        lambda f: (set_rows(f, "score", [3, 4], SECRET_TEXT), {"scores": True}),
        r"score column 'score' must be numeric, but 2 of 200 rows are not numbers "
        r"\(column type object\)",
        id="score-text",
    ),
    pytest.param(
        lambda f: (set_rows(f, "age", [7], SECRET_TEXT), {"model": make_model(("sbp", "float"))}),
        r"sensitive feature 'age' has bins \(18,40,65,80\), so it must be numeric, but 1 of 200 "
        r"rows are not numbers",
        id="binned-not-numeric",
    ),
    pytest.param(
        lambda f: (f, {"bins": {}}),
        r"sensitive feature 'age' is numeric with \d+ distinct values; it looks continuous.*"
        r"--bins age=18,40,65,80",
        id="unbinned-continuous",
    ),
    pytest.param(
        lambda f: (
            f.assign(site=pd.Series([f"site{i % 51}" for i in range(len(f))], dtype=object)),
            {"sensitive_features": ("site",), "bins": {}},
        ),
        r"sensitive feature 'site' has 51 distinct values; at most 50 groups",
        id="too-many-groups",
    ),
    pytest.param(
        lambda f: (f, {"reference": {"sex": "X"}}),
        r"reference group 'X' for the sensitive feature 'sex' does not occur in the cohort\. "
        r"Groups present: \['F', 'M'\]\. Pass --reference sex=<one of these>",
        id="reference-absent",
    ),
    pytest.param(
        lambda f: (f, {"reference": {"age": "18-40"}}),
        r"reference group '18-40' for the sensitive feature 'age' .*"
        r"Groups present: \['\[18, 40\)', '\[40, 65\)', '\[65, 80\]'\]",
        id="reference-bin-label",
    ),
]


def _apply(case: Case, frame: pd.DataFrame) -> Cohort:
    frame, options = case(frame)
    return run(frame, **options)


@pytest.mark.parametrize("case, pattern", BAD_INPUTS)
def test_bad_input_raises_schema_error(make_cohort_frame, case: Case, pattern: str) -> None:
    with pytest.raises(SchemaError, match=pattern):
        _apply(case, make_cohort_frame())


def test_bad_input_matrix_is_large_enough() -> None:
    assert len(BAD_INPUTS) >= 22


@pytest.mark.parametrize("case, pattern", BAD_INPUTS)
def test_messages_never_contain_row_values(make_cohort_frame, case: Case, pattern: str) -> None:
    with pytest.raises(SchemaError) as info:
        _apply(case, make_cohort_frame())
    _assert_no_secret(str(info.value))


def _assert_no_secret(text: str) -> None:
    for fragment in SECRET_FRAGMENTS:
        assert fragment not in text


@pytest.mark.parametrize("model, config", [(None, {}), (MODEL, {"score_column": "score"})])
def test_exactly_one_source_of_predictions(make_cohort_frame, model, config) -> None:
    cfg = AuditConfig(label="y", sensitive_features=("sex",), **config)
    with pytest.raises(ConfigError, match=r"exactly one source of predictions.*Got (neither|both)"):
        validate_cohort(make_cohort_frame(), config=cfg, model=model)


def test_not_a_dataframe() -> None:
    with pytest.raises(SchemaError, match=r"must be a pandas DataFrame.*Got dict instead"):
        config = AuditConfig(label="y", score_column="s")
        validate_cohort({"y": [0, 1]}, config=config)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# the caveat matrix: survivable problems, each with its code and count
# --------------------------------------------------------------------------------------------

CAVEAT_CASES: list[Any] = [
    pytest.param(
        lambda f: (f.assign(y=f["y"].astype(float).where(~f.index.isin([10, 11, 12]))), {}),
        "missing_label",
        {"n_rows": 3, "column": "y"},
        "warning",
        3,
        id="missing-label",
    ),
    pytest.param(
        lambda f: (f.assign(y=f["y"].astype(float).where(f.index >= 20)), {}),
        "missing_label",
        {"n_rows": 20},
        "serious",
        20,
        id="missing-label-serious",
    ),
    pytest.param(
        lambda f: (
            f.assign(
                sbp=f["sbp"].where(~f.index.isin([4, 5])), age=f["age"].where(f.index != 5)
            ).pipe(lambda g: g.assign(age=g["age"].where(g.index != 6, np.inf))),
            {},
        ),
        "missing_inputs",
        {"n_rows": 3, "columns": {"age": 2, "sbp": 2}},
        "warning",
        3,
        id="missing-inputs-and-inf",
    ),
    pytest.param(
        lambda f: (set_rows(f, "sex", [8, 9], None), {"sensitive_features": ("site",), "bins": {}}),
        "missing_inputs",
        {"n_rows": 2, "columns": {"sex": 2}},
        "warning",
        2,
        id="missing-string-input",
    ),
    pytest.param(
        lambda f: (f.assign(score=f["score"].where(f.index != 0)), {"scores": True}),
        "missing_score",
        {"n_rows": 1, "column": "score"},
        "warning",
        1,
        id="missing-score",
    ),
    pytest.param(
        lambda f: (f.assign(sbp=f["sbp"].where(~f.index.isin([1, 2]), SECRET_NUMBER)), {}),
        "out_of_range",
        {"column": "sbp", "n_rows": 2, "n_above": 2, "n_below": 0},
        "warning",
        0,
        id="out-of-range",
    ),
    pytest.param(
        lambda f: (set_rows(set_rows(f, "sex", [3], SECRET_TEXT), "sex", [4, 5], "U"), {}),
        "unseen_category",
        {"column": "sex", "n_rows": 3, "n_distinct": 2, "categories": []},
        "warning",
        0,
        id="unseen-rare-categories-unnamed",
    ),
    pytest.param(
        lambda f: (set_rows(f, "sex", slice(0, 12), "U"), {}),
        "unseen_category",
        {"column": "sex", "n_rows": 12, "n_distinct": 1, "categories": ["U"]},
        "warning",
        0,
        id="unseen-frequent-category-named",
    ),
    pytest.param(
        lambda f: (f.assign(age=f["age"].where(f.index > 2, 85.0).where(f.index != 3, 10.0)), {}),
        "outside_bins",
        {"column": "age", "n_below": 1, "n_above": 3},
        "warning",
        0,
        id="outside-bins",
    ),
    pytest.param(
        lambda f: (
            set_rows(f, "site", [0, 1], None),
            {"sensitive_features": ("site",), "bins": {}},
        ),
        "missing_sensitive",
        {"column": "site", "n_rows": 2},
        "warning",
        0,
        id="missing-sensitive",
    ),
    pytest.param(
        lambda f: (
            f.assign(age=f["age"].where(f.index > 30)),
            {"model": make_model(("sbp", "float"))},
        ),
        "missing_sensitive",
        {"column": "age", "n_rows": 31},
        "serious",
        0,
        id="missing-binned-sensitive-serious",
    ),
    pytest.param(
        lambda f: (f.assign(site="A"), {"sensitive_features": ("site",), "bins": {}}),
        "single_group",
        {"column": "site"},
        "warning",
        0,
        id="single-group",
    ),
    pytest.param(
        lambda f: (f, {}),
        "ignored_columns",
        {"n_columns": 3},
        "info",
        0,
        id="ignored-columns",
    ),
]


@pytest.mark.parametrize("case, code, where, severity, n_dropped", CAVEAT_CASES)
def test_caveats(make_cohort_frame, case, code, where, severity, n_dropped) -> None:
    result = _apply(case, make_cohort_frame())
    found = caveat(result, code)
    assert found.where == {**found.where, **where}
    assert found.severity == severity
    assert result.n_dropped == n_dropped
    assert result.n_input_rows == 200
    assert len(result.y_true) == len(result.groups) == 200 - n_dropped
    _assert_no_secret(found.message)
    _assert_no_secret(repr(found.where))


def test_caveat_messages_are_plain_language(make_cohort_frame) -> None:
    frame = make_cohort_frame().assign(sbp=lambda f: f["sbp"].where(~f.index.isin([4, 5])))
    found = caveat(run(frame), "missing_inputs")
    assert found.message == (
        "2 of 200 rows (1.0%) had missing (or infinite) values in model inputs the model needs "
        "('sbp': 2); they were left out of the audit."
    )


# --------------------------------------------------------------------------------------------
# happy paths
# --------------------------------------------------------------------------------------------


def test_types_and_shapes(make_cohort_frame) -> None:
    frame = make_cohort_frame()
    frame.index = pd.Index(np.arange(1000, 1200))
    result = run(frame)
    assert result.features is not None
    assert list(result.features.columns) == ["age", "sbp", "sex", "smoker"]
    assert result.features.dtypes.astype(str).tolist() == ["float64", "float64", "object", "int64"]
    assert all(type(v) is str for v in result.features["sex"])
    assert result.y_true.dtype == np.int8
    assert set(np.unique(result.y_true)) == {0, 1}
    assert result.y_score is None
    assert list(result.groups.columns) == ["sex", "age"]
    assert result.groups["sex"].dtype == object
    # binned attributes are ordered categoricals, so groups list in bin order, not text order
    age = result.groups["age"].dtype
    assert isinstance(age, pd.CategoricalDtype) and age.ordered
    assert all(isinstance(c, str) for c in age.categories)
    for df in (result.features, result.groups):
        assert df.index.equals(pd.RangeIndex(200))
    np.testing.assert_array_equal(result.y_true, frame["y"].to_numpy())
    assert (result.n_input_rows, result.n_dropped, result.n_rows) == (200, 0, 200)
    assert [c.code for c in result.caveats] == ["ignored_columns"]


def test_outcome_arrays_are_read_only(make_cohort_frame) -> None:
    result = run(make_cohort_frame(), scores=True)
    for array in (result.y_true, result.y_score):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_features_follow_model_input_order(make_cohort_frame) -> None:
    model = make_model(("smoker", "int"), ("sex", "string"), ("sbp", "float"))
    result = run(make_cohort_frame(), model=model)
    assert list(result.features.columns) == ["smoker", "sex", "sbp"]


def test_sensitive_feature_can_be_a_model_input(make_cohort_frame) -> None:
    result = run(make_cohort_frame(), sensitive_features=("sex", "smoker"), bins={})
    assert result.features is not None
    assert result.features["smoker"].dtype == np.int64
    assert sorted(result.groups["smoker"].unique()) == ["0", "1"]
    np.testing.assert_array_equal(result.groups["sex"], result.features["sex"])


def test_scores_mode(make_cohort_frame) -> None:
    frame = make_cohort_frame()
    frame.loc[0, "score"] = 0.0
    frame.loc[1, "score"] = 1.0
    result = run(frame, scores=True, card=None)
    assert result.features is None
    assert result.y_score is not None and result.y_score.dtype == np.float64
    assert result.y_score[0] == 0.0 and result.y_score[1] == 1.0
    # model inputs are not needed in scores mode: the sbp, smoker columns are ignored
    assert caveat(result, "ignored_columns").where == {"n_columns": 4}


def test_scores_as_text_are_parsed(make_cohort_frame) -> None:
    frame = make_cohort_frame()
    frame["score"] = frame["score"].map(lambda v: f" {v:.6f} ").astype("str")
    result = run(frame, scores=True)
    np.testing.assert_allclose(result.y_score, make_cohort_frame()["score"], atol=1e-6)


def test_bin_labels_and_edges(make_cohort_frame) -> None:
    ages = [17, 18, 39.9, 40, 64, 65, 79.5, 80, 81, np.nan]
    frame = make_cohort_frame(len(ages)).assign(age=ages)
    model = make_model(("sbp", "float"))
    result = run(frame, model=model)
    assert result.groups["age"].tolist() == [
        "< 18",
        "[18, 40)",
        "[18, 40)",
        "[40, 65)",
        "[40, 65)",
        "[65, 80]",
        "[65, 80]",
        "[65, 80]",
        "> 80",
        "missing (no value)",
    ]
    assert caveat(result, "outside_bins").where == {"column": "age", "n_below": 1, "n_above": 1}
    assert caveat(result, "missing_sensitive").where == {"column": "age", "n_rows": 1}


@pytest.mark.parametrize(
    "edges, names",
    [
        ((18, 40, 65, 80), ["[18, 40)", "[40, 65)", "[65, 80]"]),
        ((0, 2.5, 5.0), ["[0, 2.5)", "[2.5, 5]"]),
        ((-1.0, 0.001), ["[-1, 0.001]"]),
    ],
)
def test_bin_names_are_compact(edges, names) -> None:
    assert cohort_columns.bin_names(edges) == names


def test_string_input_conversion(make_cohort_frame) -> None:
    frame = make_cohort_frame(6)
    frame["stage"] = [3.0, 2.5, 1.0, 3.0, 2.5, 1.0]
    frame["code"] = pd.Series([1, 2, " x ", True, 2.0, "2"], dtype=object)
    model = make_model(("stage", "string"), ("code", "string"))
    result = run(frame, model=model, card=None)
    assert result.features["stage"].tolist() == ["3", "2.5", "1", "3", "2.5", "1"]
    assert result.features["code"].tolist() == ["1", "2", "x", "1", "2", "2"]
    assert all(type(v) is str for v in result.features["code"])


def test_sensitive_labels_are_strings(make_cohort_frame) -> None:
    frame = make_cohort_frame()
    frame["grade"] = (frame.index % 3 + 1).astype(float)  # 1.0, 2.0, 3.0
    frame["flag"] = frame.index % 2 == 0
    result = run(frame, sensitive_features=("grade", "flag"), bins={}, reference={"grade": "2"})
    assert sorted(result.groups["grade"].unique()) == ["1", "2", "3"]
    assert sorted(result.groups["flag"].unique()) == ["False", "True"]


@pytest.mark.parametrize(
    "values",
    [
        [0, 1, 1, 0, 0, 1],
        [0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
        [False, True, True, False, False, True],
        ["0", "1", "1", "0", "0", "1"],
        ["false", "TRUE", " True ", "False", "0", "1"],
    ],
    ids=["int", "float", "bool", "text-digits", "text-bool"],
)
def test_label_encodings(make_cohort_frame, values) -> None:
    frame = make_cohort_frame(6).assign(y=values)
    result = run(frame, sensitive_features=("sex",), bins={})
    assert result.y_true.tolist() == [0, 1, 1, 0, 0, 1]
    assert result.y_true.dtype == np.int8


def test_label_pandas_str_and_nullable(make_cohort_frame) -> None:
    frame = make_cohort_frame(7)
    frame["y"] = pd.Series(["0", "1", "1", "0", "0", "1", None], dtype="str")
    result = run(frame, sensitive_features=("sex",), bins={})
    assert result.y_true.tolist() == [0, 1, 1, 0, 0, 1]
    assert caveat(result, "missing_label").where["n_rows"] == 1
    frame["y"] = pd.array([0, 1, 1, 0, 0, 1, None], dtype="Int64")
    assert run(frame, sensitive_features=("sex",), bins={}).n_dropped == 1


def test_numeric_text_inputs_are_parsed(make_cohort_frame) -> None:
    frame = make_cohort_frame()
    expected = frame["sbp"].to_numpy()
    frame["sbp"] = frame["sbp"].map(lambda v: f" {v} ").astype("str")
    frame["smoker"] = frame["smoker"].astype(float)
    result = run(frame)
    np.testing.assert_array_equal(result.features["sbp"].to_numpy(), expected)
    assert result.features["smoker"].dtype == np.int64


def test_dropping_counts_union_of_reasons(make_cohort_frame) -> None:
    frame = make_cohort_frame()
    frame["y"] = frame["y"].astype(float).where(~frame.index.isin([10, 11]))
    frame["sbp"] = frame["sbp"].where(~frame.index.isin([11, 12, 13]))
    frame = set_rows(frame, "sex", [13, 14], None)
    result = run(frame)
    assert result.n_dropped == 5  # rows 10..14
    assert caveat(result, "missing_label").where["n_rows"] == 2
    assert caveat(result, "missing_inputs").where == {
        "columns": {"sbp": 3, "sex": 2},
        "n_rows": 4,
    }
    assert len(result.features) == len(result.y_true) == len(result.groups) == 195
    expected = np.delete(make_cohort_frame()["sbp"].to_numpy(), [10, 11, 12, 13, 14])
    np.testing.assert_array_equal(result.features["sbp"].to_numpy(), expected)


def test_optional_input_keeps_nan(make_cohort_frame) -> None:
    card = StubCard(inputs=(StubCardInput("sbp", unit="mmHg", required=False),))
    frame = make_cohort_frame().assign(sbp=lambda f: f["sbp"].where(f.index >= 4))
    result = run(frame, card=card)
    assert result.n_dropped == 0
    assert int(result.features["sbp"].isna().sum()) == 4
    found = caveat(result, "missing_optional_inputs")
    assert (found.severity, found.where) == ("info", {"columns": {"sbp": 4}})


@pytest.mark.parametrize("column", ["sex", "smoker"])
def test_optional_string_or_int_input_still_drops(make_cohort_frame, column) -> None:
    card = StubCard(inputs=(StubCardInput(column, required=False),))
    frame = set_rows(make_cohort_frame(), column, [0, 1], None)
    result = run(frame, card=card, sensitive_features=("site",), bins={})
    assert result.n_dropped == 2
    assert caveat(result, "missing_inputs").where["columns"] == {column: 2}


def test_reference_group_found(make_cohort_frame) -> None:
    result = run(make_cohort_frame(), reference={"sex": "F", "age": "[40, 65)"})
    assert "F" in set(result.groups["sex"])


def test_one_class_after_dropping_mentions_the_drop(make_cohort_frame) -> None:
    frame = make_cohort_frame(10).assign(y=[1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    frame["sbp"] = frame["sbp"].where(~frame.index.isin([0, 1]))
    with pytest.raises(
        SchemaError, match=r"only one outcome.*in all 8 rows \(after dropping 2 rows\)"
    ):
        run(frame)


def test_a_literal_missing_category_stays_apart_from_rows_without_a_value(
    make_cohort_frame,
) -> None:
    frame = set_rows(make_cohort_frame(), "site", [0], "missing")
    frame = set_rows(frame, "site", [1], None)
    result = run(frame, sensitive_features=("site",), bins={})
    assert result.groups["site"].tolist()[:2] == ["missing", "missing (no value)"]


def test_a_category_spelled_like_the_missing_group_is_refused(make_cohort_frame) -> None:
    frame = set_rows(make_cohort_frame(), "site", [0], "missing (no value)")
    with pytest.raises(SchemaError, match=r"'site' has a category spelled 'missing \(no value\)'"):
        run(frame, sensitive_features=("site",), bins={})


def test_missing_column_message_truncates_long_listings(make_cohort_frame) -> None:
    frame = make_cohort_frame()
    for i in range(60):
        frame[f"extra{i}"] = 0
    with pytest.raises(SchemaError, match=re.escape("... and 27 more]")):
        run(frame.drop(columns=["y"]))


@pytest.mark.slow
def test_one_million_rows_validate(make_cohort_frame) -> None:
    """A million rows, numbers stored as text (the slowest path); speed is measured in bench/."""
    frame = make_cohort_frame(1_000_000, seed=1)
    frame["sbp"] = frame["sbp"].astype("str")  # the slowest path: numbers stored as text
    frame["site"] = frame["site"].astype("str")
    result = run(frame, sensitive_features=("sex", "age", "site"))
    assert result.n_rows == 1_000_000


def test_binned_groups_keep_numeric_order_through_the_engine():
    from types import SimpleNamespace

    from cohortaudit.audit import run_audit

    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {
            "age": rng.uniform(30, 95, n),
            "y": rng.integers(0, 2, n),
            "p": rng.random(n),
        }
    )
    config = AuditConfig(
        label="y",
        sensitive_features=("age",),
        bins={"age": (40, 65, 80)},
        score_column="p",
        n_boot=0,
    )
    cohort = validate_cohort(frame, config=config)
    assert list(cohort.groups["age"].cat.categories) == ["< 40", "[40, 65)", "[65, 80]", "> 80"]
    result = run_audit(SimpleNamespace(**{**cohort.__dict__}), None, config)
    labels = [g.attributes["age"] for g in result.subgroups]
    assert labels == ["< 40", "[40, 65)", "[65, 80]", "> 80"]

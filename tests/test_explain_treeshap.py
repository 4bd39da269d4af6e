"""Exact tree SHAP (cohortaudit.explain_treeshap) is the model-agnostic explainer's game, solved
from the trees: the same Shapley values to 1e-6 on every tree model it reads, efficiency holds,
and anything it cannot read exactly falls back to the model-agnostic path, saying why."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortaudit import explain as E
from cohortaudit.explain_treeshap import METHOD, Unmappable, tree_shap_values
from cohortaudit.io import load_model
from cohortaudit.modelspec import InputSpec, LoadedModel

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SKOPS_TRUSTED = ["numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


@pytest.fixture(scope="module")
def sample_features() -> pd.DataFrame:
    return pd.read_csv(SAMPLE / "cohort.csv")


def _both(model, features, *, n_bg=30, n_rows=20, seed=0):
    """(tree values, tree bases, agnostic values, agnostic bases, f(rows)) on one sample."""
    enc = E._build_encoding(model, features)
    fast = E._single_thread_model(model, enc)
    predict = E._predict_fn(fast, enc)
    X = enc.encode(features)
    rng = np.random.default_rng(seed)
    bg = X[rng.choice(len(X), n_bg, replace=False)]
    rows = X[rng.choice(len(X), n_rows, replace=False)]
    phi_t, base_t, _ = tree_shap_values(fast, enc.names, enc.decode, predict, bg, rows)
    phi_a, base_a, name = E._shap_values(predict, bg, rows, enc.names, seed=seed)
    assert name == "ExactExplainer"
    return phi_t, base_t, phi_a, base_a, predict(rows), predict(bg)


# ------------------------------------------------------------------------------- equality


def test_sample_onnx_model_matches_exact_explainer(sample_features):
    phi_t, base_t, phi_a, base_a, fx, fz = _both(load_model(SAMPLE / "model.onnx"), sample_features)
    # the agnostic path reads onnxruntime's float32 probabilities: agreement to ~1e-7
    assert np.max(np.abs(phi_t - phi_a)) < 1e-6
    assert np.max(np.abs(base_t - base_a)) < 1e-6
    # efficiency: the values add up to f(x) - mean f(z), with the trees' own arithmetic
    np.testing.assert_allclose(phi_t.sum(axis=1), fx - fz.mean(), atol=1e-6, rtol=0)
    assert np.ptp(base_t) == 0.0


def test_sample_skops_model_matches_exact_explainer(sample_features):
    model = load_model(SAMPLE / "model.skops", trusted_types=SKOPS_TRUSTED)
    phi_t, base_t, phi_a, base_a, fx, fz = _both(model, sample_features, n_rows=12)
    # sklearn computes in float64 on both paths: agreement to rounding
    assert np.max(np.abs(phi_t - phi_a)) < 1e-10
    assert np.max(np.abs(base_t - base_a)) < 1e-10
    np.testing.assert_allclose(phi_t.sum(axis=1), fx - fz.mean(), atol=1e-10, rtol=0)


def _frame(n=300, seed=5):
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 12, n).round(1)
    sbp = rng.normal(130, 15, n).round(1)
    sex = rng.choice(np.array(["F", "M"], dtype=object), n)
    site = rng.choice(np.array(["A", "B", "C"], dtype=object), n)
    lp = -6 + 0.08 * age + 0.01 * sbp + 0.8 * (sex == "M") + 0.5 * (site == "C")
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(np.int64)
    X = pd.DataFrame({"age": age, "sbp": sbp, "sex": sex, "site": site})
    return X, y


_TYPES = None


def _onnx_file(tmp_path, estimator, name, *, prep="onehot") -> Path:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [
        ("age", FloatTensorType([None, 1])),
        ("sbp", FloatTensorType([None, 1])),
        ("sex", StringTensorType([None, 1])),
        ("site", StringTensorType([None, 1])),
    ]
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    onx = convert_sklearn(estimator, initial_types=types, target_opset=TARGET_OPSET, options=options)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


def _pipeline(final, *, mix=False):
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    prep = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["age", "sbp"]),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["sex", "site"]),
        ]
    )
    steps = [("prep", prep)] + ([("mix", PCA(3, random_state=0))] if mix else []) + [("m", final)]
    return Pipeline(steps)


def _regressor_model(path: Path) -> LoadedModel:
    """A tree regressor's output read as the probability (trained on a 0/1 outcome)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return LoadedModel(
        kind="onnx",
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        inputs=(
            InputSpec("age", "float"),
            InputSpec("sbp", "float"),
            InputSpec("sex", "string"),
            InputSpec("site", "string"),
        ),
        probability_output=session.get_outputs()[0].name,
        runner=session,
    )


def test_random_forest_onnx_with_no_post_transform_matches(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    X, y = _frame()
    pipe = _pipeline(RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0)).fit(X, y)
    model = load_model(_onnx_file(tmp_path, pipe, "forest"))
    import onnx

    (op,) = [n for n in onnx.load(str(model.path)).graph.node if n.op_type.startswith("TreeEns")]
    post = {a.name: a.s for a in op.attribute}.get("post_transform", b"NONE")
    assert post == b"NONE"
    phi_t, base_t, phi_a, base_a, fx, fz = _both(model, X, n_rows=15)
    assert np.max(np.abs(phi_t - phi_a)) < 1e-6
    assert np.max(np.abs(base_t - base_a)) < 1e-6
    np.testing.assert_allclose(phi_t.sum(axis=1), fx - fz.mean(), atol=1e-6, rtol=0)


def test_tree_regressor_onnx_matches(tmp_path):
    from sklearn.ensemble import GradientBoostingRegressor

    X, y = _frame()
    reg = GradientBoostingRegressor(n_estimators=20, max_depth=3, learning_rate=0.05)
    pipe = _pipeline(reg).fit(X, y)
    model = _regressor_model(_onnx_file(tmp_path, pipe, "regressor"))
    phi_t, base_t, phi_a, base_a, fx, fz = _both(model, X, n_rows=15)
    assert np.max(np.abs(phi_t - phi_a)) < 1e-6
    assert np.max(np.abs(base_t - base_a)) < 1e-6
    np.testing.assert_allclose(phi_t.sum(axis=1), fx - fz.mean(), atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------- fallback


def test_a_graph_mixing_raw_inputs_falls_back_with_the_reason(tmp_path):
    from sklearn.ensemble import RandomForestRegressor

    X, y = _frame()
    forest = RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0)
    model = _regressor_model(_onnx_file(tmp_path, _pipeline(forest, mix=True).fit(X, y), "pca"))
    enc = E._build_encoding(model, X)
    fast = E._single_thread_model(model, enc)
    predict = E._predict_fn(fast, enc)
    Xc = enc.encode(X)
    with pytest.raises(Unmappable, match="operator"):
        tree_shap_values(fast, enc.names, enc.decode, predict, Xc[:5], Xc[:3])
    result = E.explain_model(model, X, n_explain=12, n_background=10, n_boot=0, method="auto")
    assert result.settings["explainer"] == "ExactExplainer"
    assert result.settings["model_agnostic"] is True
    assert result.settings["fast_path"].startswith("none: the operator")
    assert result.settings["fast_path"].endswith("the model-agnostic explainer was used")


def test_a_non_tree_model_falls_back():
    model = load_model(SAMPLE / "model.onnx")
    enc_names = ("age",)
    lin = LoadedModel(kind="onnx", path=SAMPLE / "model_tensor.onnx", sha256="0" * 64, inputs=())
    with pytest.raises(Unmappable, match="no single TreeEnsemble"):
        tree_shap_values(lin, enc_names, None, None, np.zeros((1, 1)), np.zeros((1, 1)))
    assert model.kind == "onnx"


# ------------------------------------------------------------------------------- explain_model


def test_explain_model_auto_gives_the_agnostic_result_with_the_method_named(sample_features):
    model = load_model(SAMPLE / "model.onnx")
    kwargs = {"n_explain": 40, "n_background": 20, "n_boot": 20, "seed": 3}
    groups = sample_features[["sex", "site"]].astype(str)
    auto = E.explain_model(model, sample_features, groups=groups, method="auto", **kwargs)
    agn = E.explain_model(model, sample_features, groups=groups, **kwargs)
    a, b = auto.to_dict(), agn.to_dict()
    assert a["settings"]["explainer"] == METHOD
    assert a["settings"]["model_agnostic"] is False
    assert a["settings"]["fast_path"].startswith("onnx TreeEnsembleClassifier:")
    assert b["settings"]["explainer"] == "ExactExplainer"
    changed = {"explainer", "model_agnostic", "fast_path"}
    assert {k: v for k, v in a["settings"].items() if k not in changed} == {
        k: v for k, v in b["settings"].items() if k not in changed
    }
    assert set(a) == set(b)
    for fa, fb in zip(auto.global_importance, agn.global_importance, strict=True):
        assert fa.feature == fb.feature
        assert fa.mean_abs_shap.value == pytest.approx(fb.mean_abs_shap.value, abs=1e-6)
        assert fa.mean_abs_shap.ci_low == pytest.approx(fb.mean_abs_shap.ci_low, abs=1e-6)
        assert fa.mean_abs_shap.ci_high == pytest.approx(fb.mean_abs_shap.ci_high, abs=1e-6)
    assert a["distribution"] == b["distribution"]
    with pytest.raises(Exception, match="'method' parameter"):
        E.explain_model(model, sample_features, method="trees")


# ------------------------------------------------------------------------------- sampling


def test_strata_codes_equal_the_row_wise_joined_key():
    """The vectorised key is the row-wise "\\x1f" join it replaced (same codes, same samples)."""
    from cohortaudit.sampling import strata_codes

    rng = np.random.default_rng(0)
    groups = pd.DataFrame(
        {
            "a": pd.Series(rng.choice(["x", "y", None], 500), dtype=object),
            "b": rng.choice([1.5, 2.0, np.nan], 500),
            "c": pd.Series(rng.choice(["p", "q", None], 500)).astype("string"),
        }
    )
    key = groups.astype(str).fillna("(missing)").agg("\x1f".join, axis=1)
    expected = pd.factorize(key, sort=True)[0]
    np.testing.assert_array_equal(strata_codes(groups, 500), expected)
    np.testing.assert_array_equal(strata_codes(groups[["b"]], 500), pd.factorize(
        groups[["b"]].astype(str).fillna("(missing)").agg("\x1f".join, axis=1), sort=True
    )[0])

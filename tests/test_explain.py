"""Tests for cohortaudit.explain: additivity, ONNX/sklearn agreement, determinism, planted
reliance, proxies and the aggregate-only guarantee."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortaudit import explain as E
from cohortaudit.cohort import validate_cohort
from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError
from cohortaudit.explain_proxies import weighted_auroc
from cohortaudit.io import load_model
from cohortaudit.modelspec import InputSpec, LoadedModel

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SKOPS_TRUSTED = [
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


@pytest.fixture(scope="module")
def onnx_model() -> LoadedModel:
    return load_model(SAMPLE / "model.onnx")


@pytest.fixture(scope="module")
def sample_cohort(onnx_model):
    frame = pd.read_csv(SAMPLE / "cohort.csv")
    config = AuditConfig(label="cvd_10y", sensitive_features=("sex", "ethnicity", "site"))
    return validate_cohort(frame, config=config, model=onnx_model)


def _shap_for(model, features, *, n_bg=50, n_rows=30, seed=0):
    enc = E._build_encoding(model, features)
    predict = E._predict_fn(E._single_thread_model(model, enc), enc)
    X = enc.encode(features)
    rng = np.random.default_rng(seed)
    bg = X[rng.choice(len(X), n_bg, replace=False)]
    rows = X[rng.choice(len(X), n_rows, replace=False)]
    phi, base, name = E._shap_values(predict, bg, rows, enc.names, seed=seed)
    return phi, base, predict(rows), name


# ---------------------------------------------------------------------------------- additivity


def test_additivity_onnx_sample(onnx_model, sample_cohort):
    phi, base, fx, name = _shap_for(onnx_model, sample_cohort.features)
    assert name == "ExactExplainer"
    np.testing.assert_allclose(base + phi.sum(axis=1), fx, atol=1e-6, rtol=0)


def _sklearn_lr_model(n=400, seed=3):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": pd.Series(rng.choice(["p", "q", "r"], size=n), dtype=object),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(X.a - 0.5 * X.b + (X.c == "q"))))).astype(int)
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("num", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(), ["c"])]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(X, y)
    model = LoadedModel(
        kind="skops",
        path=Path("in-memory.skops"),
        sha256="0" * 64,
        inputs=(InputSpec("a", "float"), InputSpec("b", "float"), InputSpec("c", "string")),
        metadata={"class_labels": [0, 1], "feature_names_in": True},
        runner=pipe,
    )
    return model, X


def test_additivity_sklearn_and_local_explanation():
    model, X = _sklearn_lr_model()
    phi, base, fx, _ = _shap_for(model, X)
    np.testing.assert_allclose(base + phi.sum(axis=1), fx, atol=1e-9, rtol=0)
    local = E.local_explanation(model, X.iloc[[5]], X, n_background=50)
    total = local["base_value"] + sum(f["shap"] for f in local["features"])
    assert total == pytest.approx(local["prediction"], abs=1e-9)
    assert local["prediction"] == pytest.approx(model.runner.predict_proba(X.iloc[[5]])[0, 1])
    assert {f["feature"] for f in local["features"]} == {"a", "b", "c"}
    assert local["scale"] == "probability"


# ---------------------------------------------------------------------------------- agreement


def test_onnx_and_skops_agree_on_the_same_model(onnx_model, sample_cohort):
    skops_model = load_model(SAMPLE / "model.skops", trusted_types=SKOPS_TRUSTED)
    phi_onnx, base_onnx, _, _ = _shap_for(onnx_model, sample_cohort.features, n_rows=20)
    phi_skl, base_skl, _, _ = _shap_for(skops_model, sample_cohort.features, n_rows=20)
    np.testing.assert_allclose(phi_onnx, phi_skl, atol=1e-5, rtol=0)
    np.testing.assert_allclose(base_onnx, base_skl, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_result(onnx_model, sample_cohort):
    kwargs = {"groups": sample_cohort.groups, "n_explain": 60, "n_background": 30, "n_boot": 30}
    a = E.explain_model(onnx_model, sample_cohort.features, seed=4, **kwargs).to_dict()
    b = E.explain_model(onnx_model, sample_cohort.features, seed=4, **kwargs).to_dict()
    assert json.dumps(a) == json.dumps(b)
    assert a["settings"]["explainer"] == "ExactExplainer"
    assert a["settings"]["scale"] == "probability"
    # a sensitive attribute that is itself a model input is direct use, not its own proxy
    assert "sex" in a["settings"]["proxy_direct_inputs"]
    assert not [p for p in a["proxies"] if p["attribute"] == "sex" and p["feature"] == "sex"]


# ---------------------------------------------------------------------------------- planted reliance


def _planted_onnx(tmp_path: Path, n=3000, seed=11):
    """x2 matters only in group B; x1 is a strong proxy of the group."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(seed)
    grp = np.where(rng.random(n) < 0.6, "A", "B").astype(object)
    is_b = grp == "B"
    x1 = rng.normal(size=n) + 2.5 * is_b
    x2 = rng.normal(size=n)
    x3 = rng.normal(size=n)
    logit = 0.8 * (x1 - 1) + 0.5 * x3 + 2.5 * x2 * is_b
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "grp": pd.Series(grp, dtype=object)})
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", "passthrough", ["x1", "x2", "x3"]),
                        ("cat", OneHotEncoder(), ["grp"]),
                    ],
                    sparse_threshold=0,
                ),
            ),
            ("clf", HistGradientBoostingClassifier(max_iter=60, random_state=0)),
        ]
    ).fit(X, y)
    initial = [(c, FloatTensorType([None, 1])) for c in ("x1", "x2", "x3")]
    initial.append(("grp", StringTensorType([None, 1])))
    onx = to_onnx(pipe, initial_types=initial, options={"zipmap": False}, target_opset=17)
    path = tmp_path / "planted.onnx"
    path.write_bytes(onx.SerializeToString())
    return load_model(path), X, pd.DataFrame({"grp": X["grp"].astype(str)})


def test_group_comparison_recovers_planted_reliance(tmp_path, monkeypatch):
    model, X, groups = _planted_onnx(tmp_path)
    captured = {}
    real = E._shap_values

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        captured["phi"] = out[0]
        return out

    monkeypatch.setattr(E, "_shap_values", spy)
    progress = []
    res = E.explain_model(
        model,
        X,
        groups=groups,
        n_explain=200,
        n_background=50,
        n_boot=50,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert progress[-1] == (200, 200)
    d = res.to_dict()
    (cmp_b,) = [g for g in d["by_group"] if g["attribute"] == "grp"]
    assert (cmp_b["group"], cmp_b["reference"]) == ("B", "A")  # default: the largest group
    top = cmp_b["features"][0]
    assert top["feature"] == "x2"
    assert top["difference"]["value"] > 0 and top["difference"]["ci_low"] > 0

    # x1 was built as a proxy of the group; x3 was not
    prox = {p["feature"]: p for p in d["proxies"] if p["attribute"] == "grp"}
    assert prox["x1"]["strong"] and prox["x1"]["auroc"]["value"] >= E.PROXY_STRONG_AUROC
    assert not prox["x3"]["strong"]
    assert prox["(all inputs)"]["strong"]

    # ---- aggregate only: no per-patient value is exported
    text = json.dumps(d)
    assert len(text) < 40_000
    phi = captured["phi"]
    exported = set()

    def walk(o):
        if isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
        elif isinstance(o, float):
            exported.add(round(o, 9))

    walk(d)
    row_values = {round(float(v), 9) for v in phi.ravel() if abs(v) > 1e-9}
    assert not (row_values & exported)
    assert not any(
        all(f"{v:.12g}" in text for v in row if abs(v) > 1e-9) for row in phi
    )  # no explained row's SHAP vector appears
    for counts in d["distribution"]["counts"].values():
        assert all(c is None or c == 0 or c >= E.MIN_CELL for c in counts)
    for dep in d["dependence"].values():
        for b in dep["bins"]:
            assert b["n"] is None or b["n"] >= E.MIN_CELL
            assert (b["n"] is None) == (b["mean_shap"] is None)
        if dep["kind"] == "quantile_bins":
            assert dep["bins"][0]["low"] is None and dep["bins"][-1]["high"] is None
    assert "grp" not in d["dependence"]


def test_small_groups_are_suppressed():
    rng = np.random.default_rng(0)
    abs_shap = np.abs(rng.normal(size=(60, 2)))
    groups = pd.DataFrame({"g": ["A"] * 52 + ["B"] * 8})
    (only,) = E._by_group(("u", "v"), abs_shap, groups, {}, 20, rng, E.MIN_CELL)
    assert only.to_dict() == {
        "attribute": "g",
        "group": "B",
        "reference": "A",
        "n": None,
        "suppressed": True,
        "features": [],
    }
    counts = E._distribution(("u",), np.r_[np.zeros(25), np.full(3, 0.15)][:, None], E.MIN_CELL)
    # 3 is withheld, and 25 with it: 28 explained patients minus 25 would give the 3 back
    assert counts["counts"]["u"][6] is None and counts["counts"]["u"][11] is None
    counts = E._distribution(
        ("u",), np.r_[np.zeros(25), np.full(3, 0.15), np.full(12, -0.15)][:, None], E.MIN_CELL
    )
    assert counts["counts"]["u"][1] is None and counts["counts"]["u"][11] is None  # 12 and 3
    assert counts["counts"]["u"][6] == 25


# ---------------------------------------------------------------------------------- helpers


def test_weighted_auroc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.3
    s = np.round(rng.normal(size=300) + y, 1)  # rounded: ties
    w = np.vstack([np.ones(300), rng.multinomial(300, np.full(300, 1 / 300))])
    got = weighted_auroc(y, s, w)
    assert got[0] == pytest.approx(roc_auc_score(y, s))
    assert got[1] == pytest.approx(roc_auc_score(y, s, sample_weight=w[1]))


def test_stratified_sample_is_proportional_and_seeded():
    strata = np.repeat([0, 1, 2], [700, 200, 100])
    a = E._stratified_sample(strata, 100, np.random.default_rng(5))
    b = E._stratified_sample(strata, 100, np.random.default_rng(5))
    assert np.array_equal(a, b) and len(np.unique(a)) == 100
    assert np.bincount(strata[a]).tolist() == [70, 20, 10]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_explain": 0}, "The 'n_explain' parameter must be an int >= 1. Got 0 instead."),
        ({"n_boot": -1}, "The 'n_boot' parameter must be an int >= 0. Got -1 instead."),
        ({"groups": pd.DataFrame({"g": ["A"]})}, "one row per feature row"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs, message):
    model, X = _sklearn_lr_model(n=50)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        E.explain_model(model, X, **kwargs)

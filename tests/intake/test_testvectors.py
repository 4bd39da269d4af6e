"""Test vectors: a mis-converted, altered or swapped model is stopped, a clean one passes.

Every model here is tiny and built in ``tmp_path``: a named-input pipeline (one-hot + logistic
regression, the conversion that is known to be exact), the HistGradientBoosting model with
native categorical splits that skl2onnx converts *silently wrong* to a single float tensor, and
copies of the clean ONNX file with one weight altered through the onnx API.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from onnx import numpy_helper

from cohortaudit.cli import main
from cohortaudit.errors import CardError
from cohortaudit.intake.card import card_from_dict, load_card, write_card
from cohortaudit.intake.files import sha256_file
from cohortaudit.intake.model import load_model
from cohortaudit.intake.vectors import (
    DEFAULT_TOLERANCE,
    TestVectorReport,
    check_test_vectors,
    compare_outputs,
    generate_vectors,
    make_test_vectors,
)
from cohortaudit.results import ModelInfo

SEED = 7


def _dev_frame(n: int = 400, seed: int = SEED) -> pd.DataFrame:
    """Development data: two continuous inputs, one text category, a 0/1 outcome."""
    rng = np.random.default_rng(seed)
    x0 = np.round(rng.normal(50, 10, size=n), 1)
    x1 = np.round(rng.normal(0, 1, size=n), 3)
    c = rng.choice(np.array(["a", "b", "c"], dtype=object), size=n)
    lp = 0.08 * (x0 - 50) + 0.9 * x1 + np.where(c == "b", 1.0, np.where(c == "c", -1.0, 0.0))
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(np.int64)
    return pd.DataFrame({"x0": x0, "x1": x1, "c": pd.Series(c, dtype=object), "y": y})


def _trust_flags(path: Path) -> list[str]:
    import skops.io as sio

    return [arg for t in sio.get_untrusted_types(file=path) for arg in ("--trust", t)]


def _save_skops(estimator: Any, path: Path) -> Path:
    import skops.io as sio

    sio.dump(estimator, path)
    return path


@pytest.fixture
def clean(tmp_path: Path) -> dict[str, Path]:
    """A named-input pipeline (one-hot + LR) as ONNX and skops, its dev data and a cohort."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    dev = _dev_frame()
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", "passthrough", ["x0", "x1"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"]),
                    ]
                ),
            ),
            ("lr", LogisticRegression(C=1.0, max_iter=1000)),
        ]
    ).fit(dev[["x0", "x1", "c"]], dev["y"])
    onx = to_onnx(
        pipe,
        initial_types=[
            ("x0", FloatTensorType([None, 1])),
            ("x1", FloatTensorType([None, 1])),
            ("c", StringTensorType([None, 1])),
        ],
        options={id(pipe): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    paths = {
        "onnx": tmp_path / "model.onnx",
        "skops": _save_skops(pipe, tmp_path / "model.skops"),
        "dev": tmp_path / "dev.csv",
        "cohort": tmp_path / "cohort.csv",
        "base": tmp_path / "base.card.yaml",
    }
    paths["onnx"].write_bytes(onx.SerializeToString())
    dev.to_csv(paths["dev"], index=False)
    _dev_frame(n=300, seed=SEED + 1).to_csv(paths["cohort"], index=False)
    base = {
        "schema_version": "1.0",
        "name": "toy-risk",
        "version": "1.0",
        "inputs": [{"name": "x0", "type": "numeric"}],
        "training": {
            "algorithm": "LogisticRegression",
            "parameters": {"C": 1.0, "max_iter": 1000},
        },
    }
    paths["base"].write_text(yaml.safe_dump(base, sort_keys=False))
    return paths


def _card_init(paths: dict[str, Path], out: Path, *extra: str, reference: bool = True) -> int:
    args = ["card", "init", "--model", str(paths["onnx"]), "--data", str(paths["dev"])]
    args += ["--label", "y", "--out", str(out), "--card", str(paths["base"])]
    if reference:
        args += ["--reference-model", str(paths["skops"]), *_trust_flags(paths["skops"])]
    return main([*args, *extra])


def _audit(model: Path, card: Path, cohort: Path, out: Path) -> int:
    return main(
        [
            "audit",
            "--no-explain",
            "--model", str(model),
            "--card", str(card),
            "--cohort", str(cohort),
            "--label", "y",
            "--sensitive", "c",
            "--n-boot", "0",
            "--out", str(out),
            "--quiet",
        ]
    )  # fmt: skip


def _alter_one_weight(src: Path, dst: Path) -> None:
    """Change one weight of the ONNX graph with the onnx API and save it.

    skl2onnx stores a LinearClassifier's weights in the node attribute ``coefficients`` (one
    row per class; for a binary LOGISTIC classifier onnxruntime reads the positive-class row)
    rather than in an initializer (here only int64 shapes and indices), so that is where the
    weight is changed; a graph with float initializers gets its first float value changed.
    """
    model = onnx.load(str(src))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype.kind == "f" and arr.size:
            arr = arr.copy()
            arr.flat[0] += 0.5
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
            break
    else:
        node = next(n for n in model.graph.node if n.op_type == "LinearClassifier")
        attr = next(a for a in node.attribute if a.name == "coefficients")
        attr.floats[len(attr.floats) // 2] += 0.5  # the positive class's weight on x0
    onnx.save(model, str(dst))


# --------------------------------------------------------------------------------------------
# the owner's side: card init
# --------------------------------------------------------------------------------------------


def test_silent_hgb_categorical_misconversion_is_refused(tmp_path, capsys):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    n = 400
    x0 = np.round(rng.normal(size=n), 3)
    cat = rng.integers(0, 4, size=n)
    y = (x0 + np.array([-2.0, 2.0, -1.0, 1.0])[cat] + rng.normal(scale=0.5, size=n)) > 0
    X = np.column_stack([x0, cat]).astype(np.float32)
    native = HistGradientBoostingClassifier(
        categorical_features=[1], max_iter=20, random_state=0
    ).fit(X, y.astype(int))
    # The conversion skl2onnx accepts: one float tensor. It runs, and is silently wrong.
    onx = to_onnx(
        native,
        initial_types=[("input", FloatTensorType([None, 2]))],
        options={id(native): {"zipmap": False}},
    )
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(onx.SerializeToString())
    skops_path = _save_skops(native, tmp_path / "native.skops")
    pd.DataFrame({"x0": x0, "cat": cat, "y": y.astype(int)}).to_csv(
        tmp_path / "dev.csv", index=False
    )
    skeleton = {
        "schema_version": "1.0",
        "name": "hgb-cat",
        "version": "1",
        "inputs": [{"name": "x0", "type": "numeric", "order": 0},
                   {"name": "cat", "type": "numeric", "order": 1}],
    }  # fmt: skip
    write_card(skeleton, tmp_path / "skeleton.yaml")
    out = tmp_path / "card.yaml"
    code = main(
        ["card", "init", "--model", str(bad), "--card", str(tmp_path / "skeleton.yaml"),
         "--data", str(tmp_path / "dev.csv"), "--label", "y", "--out", str(out),
         "--reference-model", str(skops_path), *_trust_flags(skops_path)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert not out.exists()
    assert err.startswith("CardError: The model 'bad.onnx' disagrees with the reference model ")
    assert "'native.skops' on " in err and "of 32 test vectors (tolerance 0.0001), by up to " in err
    assert "Largest differences: vector " in err and "reference 0." in err and "model 0." in err
    assert "so the card was not written" in err
    biggest = float(re.search(r"by up to ([0-9.e-]+)\. ", err).group(1))
    assert biggest > 0.1  # the known failure: off by tenths, not rounding noise


def test_clean_conversion_writes_card_with_proven_vectors(clean, tmp_path, capsys):
    out = tmp_path / "card.yaml"
    assert _card_init(clean, out) == 0
    stdout = capsys.readouterr().out
    assert "32 test vectors match the reference model 'model.skops'" in stdout
    card = load_card(out)
    tv = card.raw["test_vectors"]
    assert tv["n"] == 32 and len(tv["expected"]) == 32
    assert set(tv["inputs"]) == {"x0", "x1", "c"}
    assert tv["tolerance"] == DEFAULT_TOLERANCE
    assert tv["reference"] == "skops:" + sha256_file(clean["skops"])
    assert 0 <= tv["max_abs_diff"] < 1e-5
    assert tv["generator"].startswith("synthetic")
    # each category at least once, range ends included
    assert set(tv["inputs"]["c"]) == {"a", "b", "c"}
    x0 = next(i for i in card.inputs if i.name == "x0")
    assert x0.min in tv["inputs"]["x0"] and x0.max in tv["inputs"]["x0"]
    assert all(x0.min <= v <= x0.max for v in tv["inputs"]["x0"])
    # provenance
    arch = card.raw["model"]["architecture"]
    assert arch["producer_name"] == "skl2onnx"
    assert (
        arch["opsets"]["ai.onnx"] >= 1
        and arch["operator_counts"]["ai.onnx.ml.LinearClassifier"] == 1
    )


def test_without_reference_the_model_outputs_are_recorded(clean, tmp_path, capsys):
    out = tmp_path / "card.yaml"
    assert _card_init(clean, out, "--vectors", "10", "--tolerance", "1e-3", reference=False) == 0
    assert "10 test vectors record this model's own outputs" in capsys.readouterr().out
    tv = load_card(out).raw["test_vectors"]
    assert tv["reference"] == "self" and tv["n"] == 10 and tv["tolerance"] == 1e-3
    assert "max_abs_diff" not in tv


def test_vectors_zero_writes_no_vectors(clean, tmp_path):
    out = tmp_path / "card.yaml"
    assert _card_init(clean, out, "--vectors", "0", reference=False) == 0
    assert "test_vectors" not in load_card(out).raw


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tolerance", "0"], "ConfigError: --tolerance must be a number in (0, 1). Got 0.0 instead."),
        (["--vectors", "-1"], "ConfigError: --vectors must be 0 or a positive int. Got -1 instead."),
        (["--vectors", "0"], "ConfigError: --vectors 0 writes no test vectors, so --reference-model"),
    ],
)  # fmt: skip
def test_card_init_flag_errors(clean, tmp_path, capsys, flags, message):
    assert _card_init(clean, tmp_path / "card.yaml", *flags) == 2
    assert capsys.readouterr().err.startswith(message)
    assert not (tmp_path / "card.yaml").exists()


def _rows(frame: pd.DataFrame, cols: list[str]) -> set[tuple]:
    return {
        tuple(v if isinstance(v, str) else float(v) for v in row)
        for row in frame[cols].itertuples(index=False)
    }


def test_vectors_never_contain_dev_rows_by_default(clean, tmp_path):
    out = tmp_path / "card.yaml"
    assert _card_init(clean, out) == 0
    cols = ["x0", "x1", "c"]
    vectors = pd.DataFrame(load_card(out).raw["test_vectors"]["inputs"])
    assert not _rows(vectors, cols) & _rows(pd.read_csv(clean["dev"]), cols)


def test_vectors_from_data_is_an_opt_in(clean, tmp_path):
    out = tmp_path / "card.yaml"
    assert _card_init(clean, out, "--vectors-from-data") == 0
    tv = load_card(out).raw["test_vectors"]
    assert tv["generator"] == "development data rows (owner opt-in)"
    cols = ["x0", "x1", "c"]
    vectors = pd.DataFrame(tv["inputs"])
    assert len(vectors) == 32
    assert _rows(vectors, cols) <= _rows(pd.read_csv(clean["dev"]), cols)


def test_synthetic_rows_that_equal_dev_rows_are_redrawn_or_dropped():
    # a tiny discrete input space: 2 x 3 combinations, 5 of them in the development data
    inputs = [
        {"name": "a", "type": "categorical", "categories": ["0", "1"]},
        {"name": "b", "type": "categorical", "categories": ["x", "y", "z"]},
    ]
    dev = pd.DataFrame({"a": ["0", "0", "0", "1", "1"], "b": ["x", "y", "z", "x", "y"]})
    frame = generate_vectors(inputs, n=12, avoid=dev)
    assert len(frame) >= 1
    assert set(map(tuple, frame.to_numpy().tolist())) == {("1", "z")}
    # every combination taken: nothing can be published without the owner's opt-in
    full = pd.DataFrame({"a": ["0", "0", "0", "1", "1", "1"], "b": ["x", "y", "z"] * 2})
    assert generate_vectors(inputs, n=12, avoid=full).empty


def test_make_test_vectors_refuses_when_every_vector_is_a_dev_row(clean):
    model = load_model(clean["onnx"])
    card = {"inputs": [
        {"name": "x0", "type": "numeric", "min": 1, "max": 1},
        {"name": "x1", "type": "numeric", "min": 0, "max": 0},
        {"name": "c", "type": "categorical", "categories": ["a"]},
    ]}  # fmt: skip
    dev = pd.DataFrame({"x0": [1.0], "x1": [0.0], "c": ["a"]})
    with pytest.raises(CardError, match=r"Every synthetic test vector equals a row of the"):
        make_test_vectors(card, model, dev=dev)


# --------------------------------------------------------------------------------------------
# generation and comparison units
# --------------------------------------------------------------------------------------------


def test_generate_vectors_is_seeded_in_range_and_covers_edges():
    inputs = [
        {"name": "age", "type": "numeric", "min": 18, "max": 90,
         "reference": {"quantiles": {"0.05": 25, "0.5": 55, "0.95": 85}}},
        {"name": "n_visits", "type": "numeric", "min": 0, "max": 12,
         "reference": {"quantiles": {"0.5": 3}}},
        {"name": "site", "type": "categorical", "categories": [f"s{i}" for i in range(40)]},
    ]  # fmt: skip
    kinds = {"age": "float", "n_visits": "int", "site": "string"}
    a = generate_vectors(inputs, kinds=kinds, n=8, random_state=1)
    b = generate_vectors(inputs, kinds=kinds, n=8, random_state=1)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 40  # raised so every category appears once
    assert set(a["site"]) == {f"s{i}" for i in range(40)}
    assert a["age"].between(18, 90).all() and {18.0, 90.0} <= set(a["age"])
    assert a["n_visits"].dtype.kind == "i" and {0, 12} <= set(a["n_visits"])
    assert not a.equals(generate_vectors(inputs, kinds=kinds, n=8, random_state=2))


def test_generate_vectors_includes_a_missing_value_when_development_had_them():
    inputs = [{"name": "bmi", "type": "numeric", "min": 15, "max": 45,
               "reference": {"n": 90, "missing_fraction": 0.1}}]  # fmt: skip
    frame = generate_vectors(inputs, kinds={"bmi": "float"}, n=5)
    assert frame["bmi"].isna().sum() == 1


def test_compare_outputs_counts_failures_and_nan():
    report = compare_outputs([0.1, 0.2, 0.3, 0.4], [0.1, 0.2002, np.nan, 0.4], tolerance=1e-4)
    assert (report.count, report.failed) == (4, 2)
    assert report.max_abs_diff == np.inf
    assert [w["vector"] for w in report.worst[:2]] == [3, 2]
    assert not report.passed
    ok = compare_outputs([0.5], [0.50000001], tolerance=1e-4, reference="self")
    assert ok.passed and ok.to_dict() == {
        "count": 1, "max_abs_diff": 1e-08, "tolerance": 1e-4, "reference": "self"
    }  # fmt: skip


def test_card_schema_checks_vector_lengths(clean, tmp_path):
    card = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "sample_data" / "model.card.yaml").read_text()
    )
    card["test_vectors"]["expected"] = card["test_vectors"]["expected"][:-1]
    with pytest.raises(CardError, match=r"test_vectors: expected n \(32\) values in 'expected'"):
        card_from_dict(card)
    card["test_vectors"] = {"rows": []}
    with pytest.raises(CardError, match=r"test_vectors: unknown field\(s\) \['rows'\]"):
        card_from_dict(card)


def test_model_info_round_trips_test_vectors():
    info = ModelInfo(
        kind="onnx", sha256="a" * 64, file="m.onnx",
        test_vectors={"count": 32, "max_abs_diff": 1e-7, "tolerance": 1e-4, "reference": "self"},
    )  # fmt: skip
    assert ModelInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    assert (
        ModelInfo.from_dict({"kind": "scores", "sha256": None, "file": None}).test_vectors is None
    )


# --------------------------------------------------------------------------------------------
# the auditor's side: intake
# --------------------------------------------------------------------------------------------


def test_clean_model_passes_and_the_result_records_it(clean, tmp_path):
    import jsonschema

    from cohortaudit.results import AuditResult

    card = tmp_path / "card.yaml"
    assert _card_init(clean, card) == 0
    assert _audit(clean["onnx"], card, clean["cohort"], tmp_path / "out") == 0
    doc = json.loads((tmp_path / "out" / "audit.json").read_text())
    tv = doc["model"]["test_vectors"]
    assert tv["count"] == 32 and tv["tolerance"] == 1e-4 and 0 <= tv["max_abs_diff"] < 1e-5
    assert tv["reference"].startswith("skops:")
    from importlib import resources

    schema = json.loads(
        resources.files("cohortaudit").joinpath("schemas/audit_result.schema.json").read_text()
    )
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert AuditResult.from_dict(doc).model.test_vectors == tv


def test_audit_without_vectors_records_none(clean, tmp_path):
    card = tmp_path / "card.yaml"
    assert _card_init(clean, card, "--vectors", "0", reference=False) == 0
    assert _audit(clean["onnx"], card, clean["cohort"], tmp_path / "out") == 0
    assert (
        json.loads((tmp_path / "out" / "audit.json").read_text())["model"]["test_vectors"] is None
    )


def test_altered_weight_is_stopped_by_the_hash_first(clean, tmp_path, capsys):
    card = tmp_path / "card.yaml"
    assert _card_init(clean, card) == 0
    altered = tmp_path / "altered.onnx"
    _alter_one_weight(clean["onnx"], altered)
    capsys.readouterr()
    assert _audit(altered, card, clean["cohort"], tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith("CardError: The model card 'toy-risk' is for a model file with SHA-256")
    assert not (tmp_path / "out" / "audit.json").exists()


def test_altered_weight_fails_the_vectors_when_the_card_has_no_hash(clean, tmp_path, capsys):
    card = tmp_path / "card.yaml"
    assert _card_init(clean, card) == 0
    raw = yaml.safe_load(card.read_text())
    del raw["model"]["sha256"]
    write_card(raw, card)
    altered = tmp_path / "altered.onnx"
    _alter_one_weight(clean["onnx"], altered)
    capsys.readouterr()
    assert _audit(altered, card, clean["cohort"], tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith("CardError: The model 'altered.onnx' fails ")
    assert " of 32 test vectors in the model card 'toy-risk': largest difference " in err
    assert "(tolerance 0.0001); vector " in err
    assert (
        "The model file is not the model the card was written for, or this runtime computes "
        "it differently (here: onnxruntime "
    ) in err
    assert not (tmp_path / "out" / "audit.json").exists()
    # inspect runs the vectors too
    assert main(["inspect", "--model", str(altered), "--card", str(card)]) == 2
    assert "fails " in capsys.readouterr().err


def test_run_audit_runs_the_vectors_when_the_caller_did_not(clean, tmp_path):
    """The library entry point cannot skip the check: run_audit runs a card's vectors itself."""
    from cohortaudit.audit import run_audit
    from cohortaudit.config import AuditConfig
    from cohortaudit.intake.validate import validate_cohort

    card_path = tmp_path / "card.yaml"
    assert _card_init(clean, card_path) == 0
    raw = yaml.safe_load(card_path.read_text())
    raw["test_vectors"]["expected"][0] = min(1.0, raw["test_vectors"]["expected"][0] + 0.01)
    card = card_from_dict(raw)
    model = load_model(clean["onnx"], card=card)
    config = AuditConfig(label="y", n_boot=0)
    cohort = validate_cohort(pd.read_csv(clean["cohort"]), config=config, model=model, card=card)
    with pytest.raises(CardError, match=r"fails 1 of 32 test vectors .* largest difference 0\.01"):
        run_audit(cohort, model, config, card=card)
    report = check_test_vectors(card_from_dict(yaml.safe_load(card_path.read_text())), model)
    assert isinstance(report, TestVectorReport) and report.passed
    result = run_audit(cohort, model, config, card=card, test_vectors=report)
    assert result.model.test_vectors == report.to_dict()


def test_inspect_prints_provenance(clean, tmp_path, capsys):
    card = tmp_path / "card.yaml"
    assert _card_init(clean, card) == 0
    capsys.readouterr()
    assert main(["inspect", "--model", str(clean["onnx"]), "--card", str(card)]) == 0
    out = capsys.readouterr().out
    sha = load_model(clean["onnx"]).sha256
    assert f"SHA-256 {sha}" in out
    assert "Producer  skl2onnx" in out
    assert "Opsets    ai.onnx " in out and "ai.onnx.ml " in out
    assert "Operators " in out and "ai.onnx.ml.LinearClassifier x1" in out
    assert "training algorithm: LogisticRegression" in out
    assert "    C: 1.0" in out and "    max_iter: 1000" in out
    assert "architecture recorded in the card:" in out
    assert "test vectors: 32 pass (largest difference " in out and "reference skops " in out


def test_model_text_handles_numeric_categories(clean):
    from cohortaudit.render.text import model_text

    card = card_from_dict({
        "schema_version": "1.0", "name": "n", "version": "1",
        "inputs": [{"name": "x0", "type": "numeric"}, {"name": "x1", "type": "numeric"},
                   {"name": "c", "type": "categorical", "categories": [1, 2.5, "z"]}],
    })  # fmt: skip
    text = model_text(load_model(clean["onnx"]), card)
    assert "categories 1, 2.5, z" in text
    assert "test vectors: none in the card" in text

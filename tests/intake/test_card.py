"""Tests of the model card: schema, parsing errors, matching a model, and init/write round trip."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml

from cohortaudit.errors import CardError, SchemaError
from cohortaudit.intake import card as card_mod
from cohortaudit.intake.card import (
    CardInput,
    ModelCard,
    card_schema,
    check_card_matches,
    init_card,
    load_card,
    validate_card_dict,
    write_card,
)
from cohortaudit.intake.model import load_model

FULL_CARD: dict[str, Any] = {
    "schema_version": "1.0",
    "name": "sepsis-risk",
    "version": "2.1",
    "developer": "Example Hospital AI Lab",
    "contact": "ai-lab@example.org",
    "license": "CC-BY-4.0",
    "intended_use": "Rank adult inpatients by 48 h sepsis risk for review.",
    "intended_population": {
        "description": "Adult inpatients",
        "age_min": 18,
        "age_max": 100,
        "setting": "hospital",
        "countries": ["NL", "BE"],
    },
    "outcome": {"definition": "Sepsis-3 within 48 h", "horizon": "48 h"},
    "output": {"positive_class": 1, "meaning": "P(sepsis within 48 h)"},
    "thresholds": {"operating": 0.3, "clinically_relevant_range": [0.1, 0.5]},
    "inputs": [
        {
            "name": "age",
            "type": "numeric",
            "unit": "years",
            "min": 18,
            "max": 100,
            "reference": {
                "n": 1000,
                "missing_fraction": 0.0,
                "mean": 61.2,
                "sd": 14.0,
                "quantiles": {"0.01": 25.0, "0.5": 62.0, "0.99": 92.0},
                "histogram": {"edges": [18, 50, 100], "counts": [400, None]},
            },
        },
        {
            "name": "sex",
            "type": "categorical",
            "categories": ["F", "M"],
            "required": False,
            "reference": {"n": 1000, "missing_fraction": 0.0, "frequencies": {"F": 0.5, "M": 0.5}},
        },
    ],
    "development_data": {
        "description": "2019-2021 admissions",
        "n": 1000,
        "events": 80,
        "prevalence": 0.08,
    },
    "claimed_metrics": {"auroc": {"value": 0.81, "ci_low": 0.78, "ci_high": 0.84}, "brier": 0.07},
    "training": {"algorithm": "logistic regression", "parameters": {"C": 1.0}},
    "model": {"sha256": "a" * 64, "format": "onnx", "file": "model.onnx"},
    "test_vectors": {
        "n": 1,
        "tolerance": 0.0001,
        "reference": "self",
        "inputs": {"age": [50], "sex": ["F"]},
        "expected": [0.2],
    },
    "x-local-note": "extensions are allowed",
}


def _write(tmp_path: Path, raw: Any, name: str = "card.yaml") -> Path:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False))
    return path


def _mutated(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(FULL_CARD)
    for dotted, value in changes.items():
        target = raw
        keys = dotted.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return raw


_DELETE = object()


# --------------------------------------------------------------------------------------------
# schema and parsing
# --------------------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12():
    schema = card_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_full_card_loads_into_plain_dataclasses(tmp_path):
    path = _write(tmp_path, FULL_CARD)
    card = load_card(path)
    assert isinstance(card, ModelCard)
    assert card.name == "sepsis-risk" and card.version == "2.1"
    assert card.positive_class == 1 and card.output_meaning == "P(sepsis within 48 h)"
    assert card.operating_threshold == 0.3
    assert card.clinically_relevant_range == (0.1, 0.5)
    assert card.model_sha256 == "a" * 64
    assert card.inputs[0] == CardInput(
        name="age",
        type="numeric",
        unit="years",
        min=18,
        max=100,
        reference=FULL_CARD["inputs"][0]["reference"],
    )
    assert card.inputs[1].categories == ("F", "M") and card.inputs[1].required is False
    assert card.claimed_metrics["brier"] == 0.07
    assert card.raw == FULL_CARD
    assert card.path == path
    assert len(card.sha256) == 64
    json.dumps(card.raw)  # plain types only


def test_minimal_card_defaults(tmp_path):
    raw = {
        "schema_version": "1.0",
        "name": "m",
        "version": "1",
        "inputs": [{"name": "age", "type": "numeric"}],
    }
    card = load_card(_write(tmp_path, raw))
    assert card.positive_class == 1
    assert card.inputs[0].required is True
    assert card.operating_threshold is None and card.clinically_relevant_range is None
    assert card.model_sha256 is None
    assert card.development_data == {} and card.claimed_metrics == {}


def test_yaml_float_keys_and_dates_are_normalised(tmp_path):
    text = yaml.safe_dump(_mutated(inputs__0__reference__quantiles={"0.5": 62.0})).replace(
        "'0.5'", "0.5"
    )
    text += "training:\n  trained_on: 2024-01-31\n"
    text = text.replace("training:\n  algorithm", "x-old:\n  algorithm", 1)
    card = load_card(_write(tmp_path, text))
    assert card.inputs[0].reference["quantiles"] == {"0.5": 62.0}
    assert card.training == {"trained_on": "2024-01-31"}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (
            _mutated(inputs__0__type="numerc"),
            r"inputs\[0\]\.type: 'numerc' is not one of \['numeric', 'categorical'\]",
        ),
        (_mutated(name=_DELETE), r"\(top level\): 'name' is a required property"),
        (_mutated(schema_version="2.0"), r"schema_version: '1.0' was expected"),
        (
            _mutated(thresold=0.3),
            r"\(top level\): unknown field\(s\) \['thresold'\]; expected only \['claimed_metrics', .*\(or extension keys starting with 'x-'\)",
        ),
        (
            _mutated(inputs__0__units="y"),
            r"inputs\[0\]: unknown field\(s\) \['units'\]; expected only \['categories', ",
        ),
        (
            _mutated(thresholds__operating=1.5),
            r"thresholds\.operating: 1\.5 is greater than the maximum of 1",
        ),
        (
            _mutated(inputs__1__categories=[True, False]),
            r"inputs\[1\]\.categories\[0\]: True is not of type .*put the value in quotes",
        ),
        (_mutated(model__sha256="abc"), r"model\.sha256: 'abc' does not match"),
        (_mutated(inputs=[]), r"inputs: \[\] should be non-empty"),
        (
            _mutated(claimed_metrics={"auroc": {"ci_low": 0.7}}),
            r"claimed_metrics\.auroc: 'value' is a required property",
        ),
        (
            _mutated(inputs__0__reference__histogram__counts=[1.5, None]),
            r"counts\[0\]: 1\.5 is not of type 'integer', 'null'",
        ),
    ],
)
def test_schema_errors_name_the_field(tmp_path, raw, match):
    with pytest.raises(CardError, match=match):
        load_card(_write(tmp_path, raw))


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (_mutated(inputs__1__name="age"), r"inputs: the names \['age'\] appear more than once"),
        (
            _mutated(inputs__0__order=0),
            r"inputs\[\*\]\.order: expected either no 'order' or orders 0\.\.1",
        ),
        (_mutated(inputs__0__min=200), r"inputs\[0\]: min \(200\) is greater than max \(100\)"),
        (
            _mutated(inputs__0__reference__histogram__counts=[1]),
            r"expected len\(counts\) == len\(edges\) - 1; got 1 counts and 3 edges",
        ),
        (
            _mutated(intended_population__age_min=90, intended_population__age_max=20),
            "age_min is greater than age_max",
        ),
        (
            _mutated(thresholds__clinically_relevant_range=[0.5, 0.1]),
            r"expected \[low, high\]; got \[0\.5, 0\.1\]",
        ),
    ],
)
def test_semantic_errors(tmp_path, raw, match):
    with pytest.raises(CardError, match=match):
        load_card(_write(tmp_path, raw))


def test_several_problems_reported_at_once(tmp_path):
    raw = _mutated(inputs__0__type="x", inputs__1__type="y")
    with pytest.raises(
        CardError, match=r"\(2 problem\(s\)\): inputs\[0\]\.type.*; inputs\[1\]\.type"
    ):
        load_card(_write(tmp_path, raw))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name: [unclosed\n", r"is not valid YAML at line 2, column 1"),
        ("- a\n- b\n", r"must be a YAML mapping .* got list"),
        ("", r"'card\.yaml' is empty"),
        ("yes: 1\nname: m\n", r"has the key True, which YAML read as a boolean"),
        ("a: !!python/object/apply:os.system ['echo hi']\n", r"is not valid YAML"),
    ],
)
def test_unparseable_cards(tmp_path, text, match):
    with pytest.raises(CardError, match=match):
        load_card(_write(tmp_path, text))


def test_card_file_problems(tmp_path, monkeypatch):
    with pytest.raises(CardError, match="Model card not found"):
        load_card(tmp_path / "nope.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(CardError, match="is not UTF-8 text"):
        load_card(tmp_path / "bin.yaml")
    monkeypatch.setattr(card_mod, "MAX_CARD_BYTES", 10)
    with pytest.raises(CardError, match="above the limit of 10 bytes. A card is a short YAML file"):
        load_card(_write(tmp_path, FULL_CARD))


# --------------------------------------------------------------------------------------------
# matching a card to a model
# --------------------------------------------------------------------------------------------


def _named_card(tmp_path: Path, *, sha: str | None, inputs: list[dict] | None = None) -> ModelCard:
    raw = {
        "schema_version": "1.0",
        "name": "named",
        "version": "1",
        "inputs": inputs
        or [
            {"name": "age", "type": "numeric"},
            {"name": "visits", "type": "numeric"},
            {"name": "sex", "type": "categorical"},
            {"name": "site", "type": "categorical"},
        ],
    }
    if sha:
        raw["model"] = {"sha256": sha}
    return load_card(_write(tmp_path, raw))


def test_matching_card_passes(built_models, tmp_path):
    model = load_model(built_models.onnx_named)
    check_card_matches(_named_card(tmp_path, sha=model.sha256.upper()), model)
    check_card_matches(_named_card(tmp_path, sha=None), model)


def test_hash_mismatch(built_models, tmp_path):
    model = load_model(built_models.onnx_named)
    card = _named_card(tmp_path, sha="b" * 64)
    with pytest.raises(
        CardError,
        match=rf"SHA-256 {'b' * 64}, but 'onnx_named\.onnx' has SHA-256 {model.sha256}\. The model file may have been swapped or corrupted",
    ):
        check_card_matches(card, model)


def test_card_missing_model_inputs(built_models, tmp_path):
    model = load_model(built_models.onnx_named)
    card = _named_card(tmp_path, sha=None, inputs=[{"name": "age", "type": "numeric"}])
    with pytest.raises(
        CardError,
        match=r"takes 3 input\(s\) the model card 'named' does not declare: \['visits', 'sex', 'site'\]",
    ):
        check_card_matches(card, model)


def test_card_type_disagrees_with_model(built_models, tmp_path):
    model = load_model(built_models.onnx_named)
    inputs = [
        {"name": "age", "type": "categorical", "categories": ["old", "young"]},
        {"name": "visits", "type": "numeric"},
        {"name": "sex", "type": "numeric"},
        {"name": "site", "type": "categorical"},
    ]
    card = _named_card(tmp_path, sha=None, inputs=inputs)
    with pytest.raises(
        CardError,
        match=r"disagree on input types: 'age' \(model: number, card: text categories\), 'sex' \(model: text, card: numeric\)",
    ):
        check_card_matches(card, model)


# --------------------------------------------------------------------------------------------
# init_card / write_card
# --------------------------------------------------------------------------------------------

META = {
    "name": "named-test",
    "version": "0.3",
    "developer": "Test Lab",
    "intended_use": "Unit tests.",
    "outcome": {"definition": "y = 1", "horizon": "none"},
    "development_data": {"description": "synthetic"},
    "inputs": {"age": {"unit": "years", "description": "Age at admission"}},
}


def test_init_card_round_trip(built_models, tmp_path):
    model = load_model(built_models.onnx_named)
    dev = built_models.frame
    made = init_card(model, dev, label="y", metadata=META, operating_threshold=0.25)
    path = write_card(made, tmp_path / "card.yaml")
    card = load_card(path)
    assert card.raw == made
    check_card_matches(card, model)
    assert card.model_sha256 == model.sha256
    assert card.operating_threshold == 0.25
    assert card.name == "named-test" and card.developer == "Test Lab"
    assert card.development_data == {
        "description": "synthetic",
        "n": 400,
        "events": int(dev["y"].sum()),
        "prevalence": round(dev["y"].mean(), 6),
    }
    age = card.inputs[0]
    assert (age.name, age.type, age.unit) == ("age", "numeric", "years")
    assert card.inputs[2].categories == ("F", "M")
    assert card.inputs[3].categories == ("A", "B", "C")
    # the written card loads back as the same model for scoring purposes
    assert load_model(built_models.onnx_named, card=card).inputs == model.inputs
    text = path.read_text()
    assert text.startswith("# cohortaudit model card (schema_version 1.0).")
    assert "# TODO before sharing: add contact, license, intended_population.\n" in text
    assert text.index("name:") < text.index("inputs:") < text.index("development_data:")


def test_init_card_is_deterministic(built_models, tmp_path):
    model = load_model(built_models.onnx_named)
    a = init_card(model, built_models.frame, label="y", metadata=META)
    b = init_card(model, built_models.frame.copy(), label="y", metadata=copy.deepcopy(META))
    assert a == b
    pa_, pb = write_card(a, tmp_path / "a.yaml"), write_card(b, tmp_path / "b.yaml")
    assert pa_.read_bytes() == pb.read_bytes()
    # writing a loaded card again gives the same bytes
    pc = write_card(load_card(pa_).raw, tmp_path / "c.yaml")
    assert pc.read_bytes() == pa_.read_bytes()


def test_init_card_reference_is_disclosure_safe(built_models):
    model = load_model(built_models.onnx_named)
    dev = built_models.frame
    made = init_card(model, dev, label="y")
    age = made["inputs"][0]
    ref = age["reference"]
    assert ref["n"] == 400 and ref["missing_fraction"] == 0.0
    assert ref["mean"] == pytest.approx(dev["age"].mean(), rel=1e-5)
    assert ref["sd"] == pytest.approx(dev["age"].std(), rel=1e-5)
    assert ref["quantiles"]["0.5"] == pytest.approx(dev["age"].median(), rel=1e-5)
    assert ref["quantiles"]["0.01"] is None  # only 4 patients below it: suppressed
    assert ref["quantiles"]["0.05"] is not None  # 20 below it
    counts = ref["histogram"]["counts"]
    assert len(counts) == len(ref["histogram"]["edges"]) - 1
    assert all(c is None or c >= 10 for c in counts)
    assert None in counts  # the tails are thin in 400 patients
    assert sum(c for c in counts if c is not None) <= 400
    # neither the observed minimum nor maximum is published
    published = json.dumps(made)
    for extreme in (dev["age"].min(), dev["age"].max(), dev["sbp"].min()):
        assert json.dumps(float(extreme)) not in published
    assert dev["age"].min() < age["min"] < age["max"] < dev["age"].max()
    sex = made["inputs"][2]["reference"]
    assert sex["frequencies"]["F"] == pytest.approx((dev["sex"] == "F").mean(), rel=1e-5)


def test_init_card_suppresses_small_categories(built_models):
    model = load_model(built_models.onnx_named)
    dev = built_models.frame.copy()
    dev.loc[:4, "site"] = "Z"  # 5 patients at a rare site
    dev.loc[5:7, "sex"] = None
    made = init_card(model, dev, label="y")
    site = made["inputs"][3]
    assert site["categories"] == ["A", "B", "C", "Z"]
    assert site["reference"]["frequencies"]["Z"] is None
    sex = made["inputs"][2]["reference"]
    assert sex["n"] == 397 and sex["missing_fraction"] == pytest.approx(3 / 400)


def test_init_card_tensor_model_records_order(built_models, tensor_card, tmp_path):
    model = load_model(built_models.onnx_tensor, card=tensor_card)
    made = init_card(model, built_models.frame, label="y")
    assert [(i["name"], i["order"]) for i in made["inputs"]] == [
        ("age", 0),
        ("sbp", 1),
        ("visits", 2),
    ]
    assert made["output"]["positive_class"] == 1
    card = load_card(write_card(made, tmp_path / "t.yaml"))
    reloaded = load_model(built_models.onnx_tensor, card=card)
    assert [i.name for i in reloaded.inputs] == ["age", "sbp", "visits"]


def test_init_card_small_development_data(built_models):
    model = load_model(built_models.onnx_named)
    made = init_card(model, built_models.frame.iloc[:12], label="y")
    ref = made["inputs"][0]["reference"]
    assert ref["mean"] is not None  # n >= 10
    assert all(v is None for v in ref["quantiles"].values())
    assert "histogram" not in ref and "min" not in made["inputs"][0]
    made = init_card(model, built_models.frame.iloc[:5], label="y")
    assert made["inputs"][0]["reference"]["mean"] is None


def test_init_card_errors(built_models):
    model = load_model(built_models.onnx_named)
    dev = built_models.frame
    with pytest.raises(SchemaError, match="label column 'outcome' is not in the development data"):
        init_card(model, dev, label="outcome")
    with pytest.raises(
        SchemaError, match=r"label column 'age' is not binary: .* found \d+ distinct"
    ):
        init_card(model, dev, label="age")
    with pytest.raises(SchemaError, match=r"lacks 1 model input column\(s\): \['site'\]"):
        init_card(model, dev.drop(columns=["site"]), label="y")
    with pytest.raises(CardError, match=r"metadata\['inputs'\] describes \['bmi'\]"):
        init_card(model, dev, label="y", metadata={"inputs": {"bmi": {"unit": "kg/m2"}}})
    with pytest.raises(
        CardError, match=r"generated model card is not valid .*unknown field\(s\) \['bogus'\]"
    ):
        init_card(model, dev, label="y", metadata={"bogus": 1})
    bad = dev.assign(age=dev["age"].astype(object))
    bad.loc[0, "age"] = "n/a"
    with pytest.raises(SchemaError, match="Column 'age' of the development data is not numeric"):
        init_card(model, bad, label="y")


def test_init_card_boolean_label_and_skops(built_models, tmp_path):
    inputs = [
        {"name": "age", "type": "numeric"},
        {"name": "visits", "type": "numeric"},
        {"name": "sex", "type": "categorical"},
        {"name": "site", "type": "categorical"},
    ]
    card = _named_card(tmp_path, sha=None, inputs=inputs)
    model = load_model(built_models.skops_named, card=card)
    dev = built_models.frame.assign(y=built_models.frame["y"].astype(bool))
    made = init_card(model, dev, label="y")
    assert made["development_data"]["events"] == int(dev["y"].sum())
    assert made["model"]["format"] == "skops"
    assert made["output"]["positive_class"] == 1


def test_write_card_validates_and_converts_numpy(tmp_path):
    raw = copy.deepcopy(FULL_CARD)
    raw["development_data"]["n"] = np.int64(1000)
    raw["thresholds"]["operating"] = np.float64(0.3)
    path = write_card(raw, tmp_path / "c.yaml")
    assert load_card(path).development_data["n"] == 1000
    with pytest.raises(CardError, match=r"model card to write is not valid .*inputs\[0\]\.type"):
        write_card(_mutated(inputs__0__type="x"), tmp_path / "bad.yaml")
    assert not (tmp_path / "bad.yaml").exists()


def test_validate_card_dict_rejects_non_mapping():
    with pytest.raises(CardError, match="must be a YAML mapping .* got str"):
        validate_card_dict("name: x")


def test_init_card_reuses_an_old_cards_inputs(built_models, tmp_path):
    model = load_model(built_models.onnx_named)
    old = init_card(model, built_models.frame, label="y", metadata=META)
    old["inputs"][1]["unit"] = "visits/year"
    old["inputs"][1]["min"] = 0
    again = init_card(model, built_models.frame, label="y", metadata={"inputs": old["inputs"]})
    assert again["inputs"][0]["unit"] == "years"
    assert (again["inputs"][1]["unit"], again["inputs"][1]["min"]) == ("visits/year", 0)
    assert again["inputs"][1]["reference"] == old["inputs"][1]["reference"]
    with pytest.raises(CardError, match=r"metadata\['inputs'\] must map input names"):
        init_card(model, built_models.frame, label="y", metadata={"inputs": "age"})


def test_full_card_has_no_todo(tmp_path):
    assert "TODO" not in write_card(FULL_CARD, tmp_path / "c.yaml").read_text()

"""Tests of model and cohort intake: formats, signatures, and every refusal path."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from cohortaudit.errors import (
    InputError,
    ModelLoadError,
    ModelSignatureError,
    SchemaError,
    UnsafeModelFormatError,
)
from cohortaudit.intake.card import load_card
from cohortaudit.intake.files import sha256_file
from cohortaudit.intake.model import load_model
from cohortaudit.intake.tables import load_cohort
from cohortaudit.modelspec import InputSpec

SECRET = "PATIENT_SECRET_777"


def _tiny_graph(
    *,
    domain: str = "",
    op: str = "Add",
    out_type: int = TensorProto.FLOAT,
    initializer: TensorProto | None = None,
) -> onnx.ModelProto:
    """x [N, 1] float -> op(x, w) -> y [N, 1]: a hand-built graph to exercise intake checks."""
    w = (
        initializer
        if initializer is not None
        else numpy_helper.from_array(np.array([[0.1]], dtype=np.float32), name="w")
    )
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])
    y = helper.make_tensor_value_info("y", out_type, [None, 1])
    node = helper.make_node(op, ["x", "w"], ["y"], domain=domain)
    graph = helper.make_graph([node], "g", [x], [y], initializer=[w])
    opsets = [helper.make_opsetid("", 17)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def _external(model: onnx.ModelProto, location: str) -> onnx.ModelProto:
    """Mark the initializer as stored externally at ``location`` without writing the data."""
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return model


# --------------------------------------------------------------------------------------------
# ONNX: the two input styles and the output styles
# --------------------------------------------------------------------------------------------


def test_named_inputs_map_float_int_string(built_models):
    model = load_model(built_models.onnx_named)
    assert model.kind == "onnx"
    assert model.inputs == (
        InputSpec("age", "float"),
        InputSpec("visits", "int"),
        InputSpec("sex", "string"),
        InputSpec("site", "string"),
    )
    assert not model.tensor_input and model.tensor_input_name is None
    assert model.probability_output == "probabilities"
    assert model.positive_class == 1
    assert model.sha256 == sha256_file(built_models.onnx_named)


def test_zipmap_output_is_recognised(built_models):
    model = load_model(built_models.onnx_named_zipmap)
    assert model.probability_output == "output_probability"
    assert model.metadata["probability_output_style"] == "zipmap"
    assert model.metadata["class_labels"] == [0, 1]
    assert model.positive_class == 1


def test_metadata_describes_the_graph(built_models):
    meta = load_model(built_models.onnx_named).metadata
    assert meta["producer_name"] == "skl2onnx"
    assert meta["ir_version"] > 0
    assert "ai.onnx" in meta["opsets"] and "ai.onnx.ml" in meta["opsets"]
    assert meta["operator_counts"]["ai.onnx.ml.LinearClassifier"] == 1
    assert [i["name"] for i in meta["inputs"]] == ["age", "visits", "sex", "site"]
    assert meta["inputs"][2]["type"] == "tensor(string)"
    assert {o["name"] for o in meta["outputs"]} == {"label", "probabilities"}


def test_tensor_model_takes_column_order_from_card(built_models, tensor_card):
    model = load_model(built_models.onnx_tensor, card=tensor_card)
    assert model.tensor_input and model.tensor_input_name == "X"
    # the card lists the inputs in reverse but numbers them with 'order'
    assert [i.name for i in model.inputs] == ["age", "sbp", "visits"]
    assert all(i.kind == "float" for i in model.inputs)


def test_tensor_model_without_card_is_refused(built_models):
    with pytest.raises(
        ModelSignatureError, match=r"takes one float tensor 'X' of shape \[None, 3\]"
    ):
        load_model(built_models.onnx_tensor)
    with pytest.raises(ModelSignatureError, match="Supply a model card whose 'inputs' list"):
        load_model(built_models.onnx_tensor)


def test_tensor_model_with_wrong_number_of_card_inputs(built_models, tmp_path):
    path = tmp_path / "card.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "schema_version": "1.0",
                "name": "t",
                "version": "1",
                "inputs": [{"name": "age", "type": "numeric"}, {"name": "sbp", "type": "numeric"}],
            }
        )
    )
    with pytest.raises(ModelSignatureError, match="takes 3 features .* card lists 2 inputs"):
        load_model(built_models.onnx_tensor, card=load_card(path))


def _card_with_positive(tmp_path: Path, positive: object, inputs: list[dict] | None = None):
    path = tmp_path / "card.yaml"
    raw = {
        "schema_version": "1.0",
        "name": "t",
        "version": "1",
        "inputs": inputs or [{"name": "age", "type": "numeric"}],
        "output": {"positive_class": positive},
    }
    path.write_text(yaml.safe_dump(raw))
    return load_card(path)


def test_positive_class_from_card(built_models, tmp_path):
    card = _card_with_positive(tmp_path, 0)
    assert load_model(built_models.onnx_named, card=card).positive_class == 0
    assert load_model(built_models.onnx_named_zipmap, card=card).positive_class == 0
    card = _card_with_positive(tmp_path, "1")  # a string key still finds integer class 1
    assert load_model(built_models.onnx_named_zipmap, card=card).positive_class == 1


def test_positive_class_not_among_model_classes(built_models, tmp_path):
    card = _card_with_positive(tmp_path, "yes")
    with pytest.raises(
        ModelSignatureError,
        match=r"positive class 'yes' .* not one of the model's classes \[0, 1\]",
    ):
        load_model(built_models.onnx_named_zipmap, card=card)
    with pytest.raises(ModelSignatureError, match="not one of the model's classes"):
        load_model(built_models.onnx_named, card=card)


def test_output_without_probability_is_refused(tmp_path):
    model = _tiny_graph(op="Add", out_type=TensorProto.FLOAT)
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    # an integer-only output cannot be a probability
    cast = helper.make_node("Cast", ["y0"], ["y"], to=TensorProto.INT64)
    model.graph.node[0].output[0] = "y0"
    model.graph.node.append(cast)
    model.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64
    path = _save(model, tmp_path / "int_out.onnx")
    with pytest.raises(
        ModelSignatureError, match=r"no output .* probability. Outputs: 'y' tensor\(int64\)"
    ):
        load_model(path)


def test_unsupported_input_type_is_refused(tmp_path):
    x = helper.make_tensor_value_info("flag", TensorProto.BOOL, [None, 1])
    y = helper.make_tensor_value_info("p", TensorProto.FLOAT, [None, 1])
    node = helper.make_node("Cast", ["flag"], ["p"], to=TensorProto.FLOAT)
    model = helper.make_model(
        helper.make_graph([node], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    path = _save(model, tmp_path / "bool_in.onnx")
    with pytest.raises(
        ModelSignatureError, match=r"inputs cohortaudit cannot map .* 'flag' tensor\(bool\)"
    ):
        load_model(path)


# --------------------------------------------------------------------------------------------
# ONNX safety
# --------------------------------------------------------------------------------------------


def test_custom_domain_operator_is_refused(tmp_path):
    path = _save(_tiny_graph(domain="evil.ops", op="Backdoor"), tmp_path / "custom.onnx")
    with pytest.raises(
        UnsafeModelFormatError, match="operator 'Backdoor' from the custom domain 'evil.ops'"
    ):
        load_model(path)
    with pytest.raises(
        UnsafeModelFormatError, match="refuses custom operators because they run native code"
    ):
        load_model(path)


def test_custom_domain_inside_a_subgraph_is_refused(tmp_path):
    inner_node = helper.make_node("Backdoor", [], ["z"], domain="evil.ops")
    inner = helper.make_graph(
        [inner_node], "then", [], [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])]
    )
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    out = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])
    node = helper.make_node("If", ["c"], ["z"], then_branch=inner, else_branch=inner)
    model = helper.make_model(
        helper.make_graph([node], "g", [cond], [out]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("evil.ops", 1)],
        ir_version=8,
    )
    with pytest.raises(UnsafeModelFormatError, match="custom domain 'evil.ops'"):
        load_model(_save(model, tmp_path / "nested.onnx"))


def test_external_data_outside_folder_is_refused(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 4)
    path = _save(_external(_tiny_graph(), "../secret.bin"), tmp_path / "sub" / "model.onnx")
    with pytest.raises(
        UnsafeModelFormatError,
        match=r"'\.\./secret\.bin', which resolves outside the model's folder",
    ):
        load_model(path)


def test_external_data_absolute_path_is_refused(tmp_path):
    path = _save(_external(_tiny_graph(), "/etc/passwd"), tmp_path / "model.onnx")
    with pytest.raises(
        UnsafeModelFormatError, match=r"absolute or empty location \('/etc/passwd'\)"
    ):
        load_model(path)


def test_external_data_next_to_model_is_allowed(tmp_path):
    model = _tiny_graph()
    path = tmp_path / "model.onnx"
    onnx.save_model(
        model,
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    loaded = load_model(path)
    assert "weights.bin" in loaded.metadata["external_data"]
    assert loaded.probability_output == "y"


def test_missing_external_data_file(tmp_path):
    path = _save(_external(_tiny_graph(), "weights.bin"), tmp_path / "model.onnx")
    with pytest.raises(ModelLoadError, match="needs the external data file 'weights.bin'"):
        load_model(path)


def test_oversize_model_is_refused(built_models):
    with pytest.raises(
        ModelLoadError,
        match=r"above the limit of 100 bytes\. .*COHORTAUDIT_MAX_MODEL_MB=1 .*max_bytes=",
    ):
        load_model(built_models.onnx_named, max_bytes=100)


def test_oversize_includes_external_data(tmp_path):
    path = tmp_path / "model.onnx"
    big = numpy_helper.from_array(np.zeros((1, 1), dtype=np.float32), name="w")
    onnx.save_model(
        _tiny_graph(initializer=big),
        path,
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    size = path.stat().st_size
    with pytest.raises(ModelLoadError, match="with its external data is"):
        load_model(path, max_bytes=size + 1)


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.1])
def test_truncated_onnx_is_a_load_error(built_models, tmp_path, fraction):
    data = built_models.onnx_named.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelLoadError, match=r"is not a (valid|usable) ONNX model"):
        load_model(path)


@pytest.mark.parametrize(
    "content", [b"", b"hello, this is not a model\n" * 10, bytes(range(256)) * 4]
)
def test_garbage_is_a_load_error(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=r"'model\.onnx' is not a (valid|usable) ONNX model"):
        load_model(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelLoadError, match="Model file not found"):
        load_model(tmp_path / "nope.onnx")


# --------------------------------------------------------------------------------------------
# pickle refusal
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".pkl", ".pickle", ".joblib", ".sav", ".dill"])
def test_pickle_extensions_are_refused_without_reading(tmp_path, ext):
    path = tmp_path / f"model{ext}"
    path.write_bytes(b"not even opened")
    with pytest.raises(UnsafeModelFormatError, match=f"pickle-based extension '\\{ext}'"):
        load_model(path)
    with pytest.raises(
        UnsafeModelFormatError,
        match=r"unpickling runs arbitrary code.*skl2onnx\.to_onnx.*skops\.io\.dump",
    ):
        load_model(path)


@pytest.mark.parametrize("name", ["model.onnx", "model.skops", "model.bin"])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_renamed_pickle_is_refused_by_magic_bytes(tmp_path, name, protocol):
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=protocol))
    with pytest.raises(
        UnsafeModelFormatError, match="contains pickle data .detected from its bytes"
    ):
        load_model(path)


def test_zip_with_pickle_inside_is_refused(tmp_path):
    path = tmp_path / "model.onnx"  # a torch checkpoint renamed
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps([1, 2], protocol=2))
    with pytest.raises(UnsafeModelFormatError, match="contains pickle data"):
        load_model(path)


def test_compressed_file_is_refused(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(gzip.compress(pickle.dumps([1], protocol=4)))
    with pytest.raises(UnsafeModelFormatError, match="compressed archive .*decompress it first"):
        load_model(path)


def test_unknown_extension_is_sniffed(built_models, tmp_path):
    onnx_copy = tmp_path / "model.bin"
    shutil.copy(built_models.onnx_named, onnx_copy)
    assert load_model(onnx_copy).kind == "onnx"
    skops_copy = tmp_path / "model.dat"
    shutil.copy(built_models.skops_named, skops_copy)
    assert load_model(skops_copy).kind == "skops"


# --------------------------------------------------------------------------------------------
# skops
# --------------------------------------------------------------------------------------------


def test_skops_model_loads_with_feature_names(built_models):
    model = load_model(built_models.skops_named)
    assert model.kind == "skops"
    assert [i.name for i in model.inputs] == ["age", "visits", "sex", "site"]
    assert all(i.kind == "float" for i in model.inputs)  # no card: numeric by default
    assert model.positive_class == 1
    assert model.metadata["class_labels"] == [0, 1]
    assert model.sha256 == hashlib.sha256(built_models.skops_named.read_bytes()).hexdigest()


def test_skops_kinds_come_from_card(built_models, tmp_path):
    inputs = [
        {"name": "age", "type": "numeric"},
        {"name": "visits", "type": "numeric"},
        {"name": "sex", "type": "categorical"},
        {"name": "site", "type": "categorical"},
    ]
    card = _card_with_positive(tmp_path, 1, inputs)
    model = load_model(built_models.skops_named, card=card)
    assert [i.kind for i in model.inputs] == ["float", "float", "string", "string"]


def test_skops_untrusted_type_refused_then_trusted(built_models):
    with pytest.raises(
        UnsafeModelFormatError,
        match=r"1 type\(s\) that skops does not trust by default: _operator\.neg",
    ):
        load_model(built_models.skops_untrusted)
    with pytest.raises(
        UnsafeModelFormatError,
        match="Only if you trust the sender and these types, pass --trust _operator.neg",
    ):
        load_model(built_models.skops_untrusted)
    model = load_model(built_models.skops_untrusted, trusted_types=["_operator.neg"])
    assert model.metadata["trusted_types"] == ["_operator.neg"]


def test_skops_without_predict_proba(tmp_path, built_models):
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    frame = built_models.frame
    path = tmp_path / "reg.skops"
    sio.dump(LinearRegression().fit(frame[["age", "sbp"]], frame["y"]), path)
    with pytest.raises(
        ModelSignatureError, match="is a LinearRegression, which has no predict_proba"
    ):
        load_model(path)


def test_corrupt_skops(tmp_path, built_models):
    data = built_models.skops_named.read_bytes()
    path = tmp_path / "bad.skops"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="is not a valid skops model"):
        load_model(path)


# --------------------------------------------------------------------------------------------
# cohorts
# --------------------------------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"age": [50.5, 61.0, np.nan], "sex": ["F", "M", None], "y": [0, 1, 1]})


def test_sha256_file_streams(tmp_path):
    path = tmp_path / "blob"
    data = np.random.default_rng(0).bytes(3 * 2**20 + 17)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["c.csv", "c.csv.gz", "c.tsv", "c.parquet", "c.pq"])
def test_load_cohort_formats(tmp_path, name):
    frame = _frame()
    path = tmp_path / name
    if name.endswith((".parquet", ".pq")):
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False, sep="\t" if ".tsv" in name else ",")
    got, sha = load_cohort(path)
    assert list(got.columns) == ["age", "sex", "y"]
    assert got["age"].isna().sum() == 1 and got["sex"].isna().sum() == 1
    assert got["y"].tolist() == [0, 1, 1]
    assert sha == sha256_file(path)


def test_load_cohort_strips_column_names(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(" age , sex\n1,F\n")
    got, _ = load_cohort(path)
    assert list(got.columns) == ["age", "sex"]


def test_duplicate_columns_csv(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(f"age,sex, age\n1,F,{SECRET}\n")
    with pytest.raises(SchemaError, match=r"'c\.csv' has duplicate column names: \['age'\]"):
        load_cohort(path)


def test_duplicate_columns_parquet(tmp_path):
    path = tmp_path / "c.parquet"
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["age", "age"])
    pq.write_table(table, path)
    with pytest.raises(SchemaError, match=r"duplicate column names: \['age'\]"):
        load_cohort(path)


def test_unnamed_column(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("age,,sex\n1,2,F\n")
    with pytest.raises(SchemaError, match=r"1 column\(s\) without a name \(position 2\)"):
        load_cohort(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "'c.csv' is empty"),
        (b"\n\n  \n", "'c.csv' is empty"),
        (b"age,sex\n", "has 2 columns but no rows"),
        (b"age,sex\x00\x01\x02\n" + bytes(range(256)), "contains binary data"),
        (b"age,sex\n\xff\xfe\xfa,1\n" + b"x,y\n" * 10, "is not UTF-8 text"),
    ],
)
def test_bad_csv_content(tmp_path, content, message):
    path = tmp_path / "c.csv"
    path.write_bytes(content)
    with pytest.raises(SchemaError, match=message):
        load_cohort(path)


def test_ragged_csv_names_line_not_values(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(f"a,b\n1,2\n3,4,{SECRET}\n")
    with pytest.raises(SchemaError, match=r"could not be parsed at line 3") as info:
        load_cohort(path)
    assert SECRET not in str(info.value)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "c.parquet"
    path.write_bytes(b"PAR1" + SECRET.encode() * 10)
    with pytest.raises(SchemaError, match="'c.parquet' is not a valid Parquet file") as info:
        load_cohort(path)
    assert SECRET not in str(info.value)


def test_empty_parquet(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(path)
    with pytest.raises(SchemaError, match="has 1 columns but no rows"):
        load_cohort(path)


def test_cohort_file_errors(tmp_path):
    with pytest.raises(InputError, match="Cohort file not found"):
        load_cohort(tmp_path / "missing.csv")
    path = tmp_path / "c.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(InputError, match=r"unsupported extension\. Expected one of \.csv"):
        load_cohort(path)
    path = tmp_path / "c.csv"
    path.write_text("a\n" + "1\n" * 100)
    with pytest.raises(InputError, match="above the limit of 10 bytes.*max_bytes="):
        load_cohort(path, max_bytes=10)

"""Read a shared model file, the untrusted half of what a third party is handed.

Every check that could stop arbitrary code from running happens here, *before* anything is
deserialised:

* pickle / joblib / torch files are refused outright (unpickling runs code), by extension and
  by magic bytes, so renaming ``model.pkl`` to ``model.onnx`` does not get past the gate;
* ONNX graphs may only use the standard operator domains (custom operators are native code)
  and may not read external data from outside the model's folder;
* skops files are loaded only after the user has explicitly trusted every non-default type.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

from cohortaudit.errors import (
    ModelLoadError,
    ModelSignatureError,
    UnsafeModelFormatError,
)
from cohortaudit.intake.files import (
    ENV_MAX_MODEL_MB,
    check_size,
    human_size,
    limit_from_env,
    raise_hint,
    sha256_file,
)
from cohortaudit.modelspec import InputSpec, LoadedModel

if TYPE_CHECKING:
    from cohortaudit.intake.card import ModelCard

__all__ = ["ALLOWED_ONNX_DOMAINS", "DEFAULT_MAX_MODEL_BYTES", "load_model"]

#: Largest model file accepted by default (500 MiB); larger files are usually not a risk score.
DEFAULT_MAX_MODEL_BYTES = 500 * 2**20

#: ONNX operator domains implemented inside onnxruntime itself. Anything else needs a custom
#: operator library, i.e. native code shipped by the sender.
ALLOWED_ONNX_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})

_PICKLE_EXTENSIONS = frozenset({".pkl", ".pickle", ".joblib", ".sav", ".dill", ".pt", ".pth"})
_ONNX_TYPE_TO_KIND = {
    "tensor(float)": "float",
    "tensor(double)": "float",
    "tensor(int64)": "int",
    "tensor(int32)": "int",
    "tensor(string)": "string",
}
_FLOAT_TENSOR_TYPES = frozenset({"tensor(float)", "tensor(double)"})


def _refuse_pickle(path: Path, why: str) -> UnsafeModelFormatError:
    return UnsafeModelFormatError(
        f"The model file '{path.name}' {why}. cohortaudit refuses pickle-based formats "
        "(pickle, joblib, dill, torch) because unpickling runs arbitrary code from the sender. "
        "Ask the model owner to share it as ONNX (skl2onnx.to_onnx(model, X[:1], "
        "target_opset=...)) or as skops (skops.io.dump(model, 'model.skops'))."
    )


# --------------------------------------------------------------------------------------------
# model intake
# --------------------------------------------------------------------------------------------


def _sniff(path: Path) -> str:
    """Classify a model file by content: 'pickle', 'skops', 'zip', 'compressed' or 'other'.

    Content wins over extension for anything dangerous: a renamed pickle is still a pickle.
    """
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "zip"
        if any(n.endswith((".pkl", ".pickle")) for n in names):
            return "pickle"
        if "schema.json" in names:
            return "skops"
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "compressed"
    if head[:1] == b"\x78" and len(head) > 1 and head[1] in (0x01, 0x5E, 0x9C, 0xDA):
        return "compressed"
    if head[:4] == b"\x04\x22\x4d\x18" or head[:2] == b"ZF":
        return "compressed"
    return "other"


def load_model(
    path: str | Path,
    *,
    card: ModelCard | None = None,
    trusted_types: Sequence[str] = (),
    max_bytes: int | None = None,
) -> LoadedModel:
    """Check a shared model file for safety and load it, ready to score.

    Parameters
    ----------
    path:
        ``.onnx`` (ONNX via onnxruntime) or ``.skops``; other extensions are sniffed.
    card:
        The model card, needed for single-tensor ONNX models (it gives the column order) and
        for the positive class (``output.positive_class``, default 1).
    trusted_types:
        skops types the user explicitly trusts (``--trust TYPE``); nothing else is trusted
        beyond skops' defaults.
    max_bytes:
        Refuse larger files before reading them (ONNX external data counts too). Default:
        ``COHORTAUDIT_MAX_MODEL_MB`` (MiB) if set, else :data:`DEFAULT_MAX_MODEL_BYTES`.

    Raises
    ------
    UnsafeModelFormatError
        Pickle-based files, custom operator domains, external data outside the model folder,
        untrusted skops types.
    ModelSignatureError
        Inputs or outputs that cannot be mapped to cohort columns and a binary risk score.
    ModelLoadError
        Missing, oversize, corrupt or truncated files.
    """
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"Model file not found: '{path}'. Check the path and try again.")
    if not path.is_file():
        raise ModelLoadError(f"The model path '{path}' is not a file. Give the model file itself.")
    suffix = path.suffix.lower()
    if suffix in _PICKLE_EXTENSIONS:
        raise _refuse_pickle(path, f"has the pickle-based extension '{suffix}'")
    if max_bytes is None:
        max_bytes = limit_from_env(ENV_MAX_MODEL_MB, DEFAULT_MAX_MODEL_BYTES)
    check_size(path, max_bytes, what="model", error=ModelLoadError, variable=ENV_MAX_MODEL_MB)
    sniffed = _sniff(path)
    if sniffed == "pickle":
        raise _refuse_pickle(path, "contains pickle data (detected from its bytes, not its name)")
    if sniffed == "compressed":
        raise UnsafeModelFormatError(
            f"The model file '{path.name}' is a compressed archive (gzip/zlib/bz2/xz/lz4). "
            "Compressed joblib pickles look like this, and pickles run arbitrary code, so "
            "cohortaudit does not open it. If it is a compressed ONNX or skops file, decompress "
            "it first and load the .onnx or .skops file."
        )
    if suffix == ".skops" or (suffix != ".onnx" and sniffed == "skops"):
        return _load_skops(path, card=card, trusted_types=trusted_types)
    if suffix != ".onnx" and sniffed == "zip":
        raise ModelLoadError(
            f"The model file '{path.name}' is a zip archive that is neither a skops file nor "
            "ONNX. Expected an .onnx or .skops file."
        )
    return _load_onnx(path, card=card, max_bytes=max_bytes)


# ---- ONNX -----------------------------------------------------------------------------------


def _iter_graphs(graph: Any) -> Iterator[Any]:
    """Yield a graph and every subgraph (If/Loop/Scan bodies), depth first."""
    import onnx

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _iter_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _iter_graphs(sub)


def _iter_nodes(model: Any) -> Iterator[Any]:
    for graph in _iter_graphs(model.graph):
        yield from graph.node
    for func in model.functions:
        yield from func.node


def _iter_tensors(model: Any) -> Iterator[Any]:
    """Yield every TensorProto that may carry data: initializers and tensor attributes."""
    import onnx

    for graph in _iter_graphs(model.graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
    for node in _iter_nodes(model):
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == onnx.AttributeProto.SPARSE_TENSOR:
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices


def _check_onnx_domains(model: Any, path: Path) -> None:
    for node in _iter_nodes(model):
        if node.domain not in ALLOWED_ONNX_DOMAINS:
            raise UnsafeModelFormatError(
                f"The ONNX model '{path.name}' uses operator '{node.op_type}' from the custom "
                f"domain '{node.domain}'. cohortaudit refuses custom operators because they run "
                "native code supplied with the model. Allowed domains: '' / 'ai.onnx' and "
                "'ai.onnx.ml'. Ask the model owner to export with standard operators only."
            )


def _check_external_data(model: Any, path: Path) -> dict[str, Path]:
    """Refuse external data that escapes the model folder; return the files it does use."""
    import onnx

    folder = path.resolve().parent
    files: dict[str, Path] = {}
    for tensor in _iter_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        if (
            not location
            or PurePosixPath(location).is_absolute()
            or PureWindowsPath(location).is_absolute()
            or PureWindowsPath(location).drive
        ):
            raise UnsafeModelFormatError(
                f"The ONNX model '{path.name}' stores tensor '{tensor.name}' in external data at "
                f"an absolute or empty location ('{location}'). cohortaudit only reads external "
                "data from files next to the model. Ask the owner to re-export with "
                "onnx.save_model(..., save_as_external_data=True, location='weights.bin') or "
                "with all weights inside the .onnx file."
            )
        target = (folder / location).resolve()
        if not target.is_relative_to(folder):
            raise UnsafeModelFormatError(
                f"The ONNX model '{path.name}' stores tensor '{tensor.name}' in external data at "
                f"'{location}', which resolves outside the model's folder. cohortaudit refuses "
                "this because a model could read arbitrary files on the auditor's machine. Put "
                "the weights file next to the model and use a plain relative file name."
            )
        if not target.is_file():
            raise ModelLoadError(
                f"The ONNX model '{path.name}' needs the external data file '{location}', which "
                "is not in the model's folder. Copy it next to the model."
            )
        files[location] = target
    return files


def _parse_onnx(path: Path, data: bytes) -> Any:
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises DecodeError / RuntimeError variants
        raise ModelLoadError(
            f"The file '{path.name}' is not a valid ONNX model: it could not be parsed "
            f"({type(exc).__name__}). It may be truncated, corrupted or another format. Check the "
            "download (compare its SHA-256 with the model card) or ask for the file again."
        ) from None
    if len(model.graph.node) == 0 or len(model.graph.output) == 0 or model.ir_version == 0:
        raise ModelLoadError(
            f"The file '{path.name}' is not a usable ONNX model: the parsed graph has "
            f"{len(model.graph.node)} operators and {len(model.graph.output)} outputs. It may "
            "be truncated or another format. Ask for the file again."
        )
    return model


def _onnx_metadata(model: Any, session: Any, size: int) -> dict[str, Any]:
    ops = Counter(
        n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        for n in _iter_nodes(model)
    )
    return {
        "format": "onnx",
        "file_bytes": size,
        "ir_version": int(model.ir_version),
        "opsets": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "model_version": int(model.model_version),
        "operator_counts": dict(sorted(ops.items())),
        "inputs": [
            {"name": i.name, "type": i.type, "shape": _plain_shape(i.shape)}
            for i in session.get_inputs()
        ],
        "outputs": [
            {"name": o.name, "type": o.type, "shape": _plain_shape(o.shape)}
            for o in session.get_outputs()
        ],
    }


def _plain_shape(shape: Any) -> list[int | str | None] | None:
    if shape is None:
        return None
    return [d if isinstance(d, int | str) or d is None else str(d) for d in shape]


def _make_session(source: bytes | str, path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.use_deterministic_compute = True
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        raise ModelLoadError(
            f"onnxruntime could not load the ONNX model '{path.name}' ({type(exc).__name__}: "
            f"{first}). The graph may be invalid or use an operator version this onnxruntime "
            "does not support; ask the owner to export with a lower target_opset."
        ) from None


def _card_columns(card: ModelCard) -> list[str]:
    inputs = list(card.inputs)
    if any(i.order is not None for i in inputs):
        inputs.sort(key=lambda i: (i.order is None, i.order if i.order is not None else 0))
    return [i.name for i in inputs]


def _map_onnx_inputs(
    session: Any, card: ModelCard | None, path: Path
) -> tuple[tuple[InputSpec, ...], bool, str | None]:
    ins = session.get_inputs()
    if len(ins) == 1 and ins[0].type in _FLOAT_TENSOR_TYPES:
        shape = ins[0].shape or []
        if len(shape) == 2 and shape[1] != 1:
            width = shape[1] if isinstance(shape[1], int) else None
            if card is None or not card.inputs:
                raise ModelSignatureError(
                    f"The ONNX model '{path.name}' takes one float tensor '{ins[0].name}' of shape "
                    f"{_plain_shape(shape)} instead of one named input per column, so the column "
                    "names and their order are not in the model. Supply a model card whose "
                    "'inputs' list the columns in the order the model expects (use 'order: 0, "
                    "1, ...' or list them in order)."
                )
            cols = _card_columns(card)
            if width is not None and width != len(cols):
                raise ModelSignatureError(
                    f"The ONNX model '{path.name}' takes {width} features in tensor "
                    f"'{ins[0].name}', but the model card lists {len(cols)} inputs. Expected one "
                    "card input per tensor column, in order. Fix the card's 'inputs'."
                )
            specs = tuple(InputSpec(name=c, kind="float") for c in cols)
            return specs, True, ins[0].name
    specs = []
    bad = []
    for inp in ins:
        kind = _ONNX_TYPE_TO_KIND.get(inp.type)
        shape = inp.shape or []
        ok_shape = len(shape) == 1 or (len(shape) == 2 and shape[1] in (1, None))
        if kind is None or not ok_shape:
            bad.append(f"'{inp.name}' {inp.type} {_plain_shape(shape)}")
            continue
        specs.append(InputSpec(name=inp.name, kind=kind))  # type: ignore[arg-type]
    if bad:
        raise ModelSignatureError(
            f"The ONNX model '{path.name}' has inputs cohortaudit cannot map to cohort columns: "
            f"{', '.join(bad)}. Expected either one input per column (float, double, int32, int64 "
            "or string, shape [N, 1]) or a single float tensor [N, F] described by a model card."
        )
    return tuple(specs), False, None


def _class_labels(model: Any, output_name: str, zipmap: bool) -> list[Any] | None:
    """Class labels stored in the graph, so a card's positive class can be checked."""
    import onnx

    found: list[list[Any]] = []
    for node in model.graph.node:
        if zipmap and not (node.op_type == "ZipMap" and output_name in node.output):
            continue
        for attr in node.attribute:
            if attr.name in ("classlabels_int64s", "classlabels_ints"):
                found.append([int(v) for v in onnx.helper.get_attribute_value(attr)])
            elif attr.name == "classlabels_strings":
                found.append([v.decode() for v in onnx.helper.get_attribute_value(attr)])
    unique = {tuple(f) for f in found}
    return list(found[0]) if len(unique) == 1 else None


def _match_label(positive: Any, labels: Sequence[Any]) -> int | None:
    for i, label in enumerate(labels):
        if label == positive or str(label) == str(positive):
            return i
    return None


def _map_onnx_output(
    session: Any, model: Any, card: ModelCard | None, path: Path
) -> tuple[str, Any, dict[str, Any]]:
    """Pick the output that carries P(positive) and say how to read the positive class from it."""
    positive = card.positive_class if card is not None else 1
    cands: list[tuple[int, str, str]] = []  # (priority, name, style)
    for out in session.get_outputs():
        if out.type.startswith("seq(map(") and "tensor(float)" in out.type:
            cands.append((0, out.name, "zipmap"))
        elif out.type in _FLOAT_TENSOR_TYPES:
            shape = out.shape or []
            if len(shape) == 2 and (shape[1] == 2 or not isinstance(shape[1], int)):
                cands.append((1, out.name, "tensor2"))
            elif len(shape) == 2 and shape[1] == 1:
                cands.append((2, out.name, "tensor1"))
            elif len(shape) == 1:
                cands.append((3, out.name, "tensor1"))
    described = ", ".join(
        f"'{o.name}' {o.type} {_plain_shape(o.shape)}" for o in session.get_outputs()
    )
    if not cands:
        raise ModelSignatureError(
            f"The ONNX model '{path.name}' has no output cohortaudit can read as a probability. "
            f"Outputs: {described}. Expected a float tensor [N, 2] (class probabilities), [N, 1] "
            "or [N] (P(positive)), or a ZipMap (sequence of maps). Export the classifier's "
            "probabilities (skl2onnx does this by default)."
        )
    best = min(c[0] for c in cands)
    top = [c for c in cands if c[0] == best]
    if len(top) > 1:
        named = [c for c in top if "prob" in c[1].lower()]
        if len(named) != 1:
            raise ModelSignatureError(
                f"The ONNX model '{path.name}' has several outputs that could be probabilities: "
                f"{', '.join(repr(c[1]) for c in top)}. Expected exactly one. Ask the owner to "
                "export a single probability output (named e.g. 'probabilities')."
            )
        top = named
    _, name, style = top[0]
    out_type = next(o.type for o in session.get_outputs() if o.name == name)
    labels = _class_labels(model, name, zipmap=style == "zipmap")
    info: dict[str, Any] = {"probability_output_style": style, "class_labels": labels}
    if labels is not None and len(labels) != 2 and style != "tensor1":
        raise ModelSignatureError(
            f"The ONNX model '{path.name}' predicts {len(labels)} classes; cohortaudit audits "
            "binary risk models only (expected 2 classes)."
        )
    if style == "zipmap":
        if labels is not None:
            idx = _match_label(positive, labels)
            if idx is None:
                raise ModelSignatureError(
                    f"The positive class {positive!r} from the model card is not one of the "
                    f"model's classes {labels}. Fix 'output.positive_class' in the card."
                )
            return name, labels[idx], info
        if "map(int64" in out_type:
            try:
                return name, int(positive), info
            except (TypeError, ValueError):
                raise ModelSignatureError(
                    f"The ONNX model '{path.name}' labels its classes with integers, but the "
                    f"card's positive class is {positive!r}. Fix 'output.positive_class'."
                ) from None
        return name, str(positive), info
    if style == "tensor2":
        if labels is not None:
            idx = _match_label(positive, labels)
            if idx is None:
                raise ModelSignatureError(
                    f"The positive class {positive!r} from the model card is not one of the "
                    f"model's classes {labels}. Fix 'output.positive_class' in the card."
                )
            return name, idx, info
        if str(positive) in ("0", "1") and not isinstance(positive, bool):
            return name, int(positive), info
        raise ModelSignatureError(
            f"The ONNX model '{path.name}' gives class probabilities in a tensor without class "
            f"labels, so the positive class {positive!r} cannot be located. Set "
            "'output.positive_class' in the card to the column index (0 or 1)."
        )
    return name, positive, info


def _load_onnx(path: Path, *, card: ModelCard | None, max_bytes: int) -> LoadedModel:
    data = path.read_bytes()  # read once: the bytes we hash are the bytes we check and run
    sha = hashlib.sha256(data).hexdigest()
    model = _parse_onnx(path, data)
    _check_onnx_domains(model, path)
    external = _check_external_data(model, path)
    total = len(data) + sum(f.stat().st_size for f in set(external.values()))
    if total > max_bytes:
        raise ModelLoadError(
            f"The ONNX model '{path.name}' with its external data is {human_size(total)}, above the "
            f"limit of {human_size(max_bytes)}. " + raise_hint(ENV_MAX_MODEL_MB, total)
        )
    session = _make_session(str(path) if external else data, path)
    inputs, tensor_input, tensor_name = _map_onnx_inputs(session, card, path)
    prob_name, positive, info = _map_onnx_output(session, model, card, path)
    metadata = _onnx_metadata(model, session, len(data))
    metadata.update(info)
    if external:
        metadata["external_data"] = {loc: sha256_file(p) for loc, p in sorted(external.items())}
    return LoadedModel(
        kind="onnx",
        path=path,
        sha256=sha,
        inputs=inputs,
        tensor_input=tensor_input,
        tensor_input_name=tensor_name,
        probability_output=prob_name,
        positive_class=positive,
        metadata=metadata,
        runner=session,
    )


# ---- skops ----------------------------------------------------------------------------------


def _load_skops(path: Path, *, card: ModelCard | None, trusted_types: Sequence[str]) -> LoadedModel:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise ModelLoadError(
            f"The file '{path.name}' is not a valid skops model ({type(exc).__name__}). It may "
            "be truncated or another format. Ask for the file again."
        ) from None
    refused = sorted(set(untrusted) - set(trusted_types))
    if refused:
        flags = " ".join(f"--trust {t}" for t in refused)
        raise UnsafeModelFormatError(
            f"The skops model '{path.name}' contains {len(refused)} type(s) that skops does not "
            f"trust by default: {', '.join(refused)}. Loading them can run code they define. "
            f"Only if you trust the sender and these types, pass {flags} "
            "(trusted_types=[...] in Python)."
        )
    try:
        estimator = sio.load(path, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelLoadError(
            f"skops could not load the model '{path.name}' ({type(exc).__name__}). It may have "
            "been saved with an incompatible scikit-learn or skops version."
        ) from None
    if not hasattr(estimator, "predict_proba"):
        raise ModelSignatureError(
            f"The skops model '{path.name}' is a {type(estimator).__name__}, which has no "
            "predict_proba. Expected a fitted binary classifier that outputs probabilities."
        )
    classes = getattr(estimator, "classes_", None)
    if classes is None or len(classes) != 2:
        n = "unknown" if classes is None else len(classes)
        raise ModelSignatureError(
            f"The skops model '{path.name}' has {n} classes; cohortaudit audits binary "
            "classifiers (expected 2 classes in classes_)."
        )
    labels = [c.item() if hasattr(c, "item") else c for c in classes]
    positive_card = card.positive_class if card is not None else 1
    idx = _match_label(positive_card, labels)
    if idx is None:
        raise ModelSignatureError(
            f"The positive class {positive_card!r} is not one of the model's classes {labels}. "
            "Set 'output.positive_class' in the model card."
        )
    card_types = {i.name: i.type for i in card.inputs} if card is not None else {}
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        cols = [str(n) for n in names]
    elif card is not None and card.inputs:
        cols = _card_columns(card)
    else:
        raise ModelSignatureError(
            f"The skops model '{path.name}' was fitted without column names (no "
            "feature_names_in_), so cohortaudit cannot tell which cohort column is which. Supply "
            "a model card whose 'inputs' list the columns in order, or refit on a DataFrame."
        )
    inputs = tuple(
        InputSpec(
            name=c,
            kind="string" if card_types.get(c) == "categorical" else "float",
            assumed=c not in card_types,
        )
        for c in cols
    )
    return LoadedModel(
        kind="skops",
        path=path,
        sha256=sha256_file(path),
        inputs=inputs,
        positive_class=labels[idx],
        metadata={
            "format": "skops",
            "file_bytes": path.stat().st_size,
            "estimator": type(estimator).__name__,
            "class_labels": labels,
            "feature_names_in": names is not None,
            "trusted_types": sorted(untrusted),
        },
        runner=estimator,
    )

"""Run a loaded model on cohort features: the only code in cohortaudit that executes a model.

Keeping every model call here means there is one place to reason about what runs, with which
types, and what comes back. Feeds are built from the session's *declared* inputs with explicit
casts (onnxruntime rejects float64 for a float input, and a silent cast elsewhere could change
scores), rows are scored in batches to bound memory, and the output is checked to actually be a
probability before any metric trusts it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.errors import ModelSignatureError, SchemaError
from cohortaudit.modelspec import LoadedModel

__all__ = ["onnx_feeds", "score", "skops_frame"]

_ORT_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}
#: Tolerance for probabilities just outside [0, 1] from float32 arithmetic.
_PROB_TOL = 1e-6


#: Rows scored per model call. The chunked engines score in the same batches, because
#: onnxruntime's sums can change in the last float32 bit with the batch layout.
DEFAULT_BATCH_SIZE = 250_000


def score(
    model: LoadedModel, features: pd.DataFrame, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> np.ndarray:
    """Return P(positive class) for every row of ``features`` as float64 in [0, 1].

    Parameters
    ----------
    model:
        From :func:`cohortaudit.intake.model.load_model`.
    features:
        The cohort; must hold every column in ``model.inputs`` (extra columns are ignored).
    batch_size:
        Rows per model call; bounds memory on multi-million-row cohorts.

    Raises
    ------
    SchemaError
        A model input column is missing or cannot be cast to the type the model takes.
    ModelSignatureError
        The model fails at run time or returns something that is not a probability.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"The 'batch_size' parameter must be a positive int. Got {batch_size!r}.")
    missing = [i.name for i in model.inputs if i.name not in features.columns]
    if missing:
        raise SchemaError(
            f"The cohort lacks {len(missing)} column(s) the model needs: {missing}. Add them or "
            "check the column names against the model card."
        )
    n = len(features)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    run = _run_onnx if model.kind == "onnx" else _run_skops
    parts = [run(model, features.iloc[s : s + batch_size]) for s in range(0, n, batch_size)]
    out = np.concatenate(parts).astype(np.float64, copy=False)
    _check_probabilities(out)
    return np.clip(out, 0.0, 1.0)


def _check_probabilities(out: np.ndarray) -> None:
    nonfinite = int(np.count_nonzero(~np.isfinite(out)))
    outside = int(np.count_nonzero(np.isfinite(out) & ((out < -_PROB_TOL) | (out > 1 + _PROB_TOL))))
    if nonfinite or outside:
        raise ModelSignatureError(
            f"The model's output is not a probability for {nonfinite + outside} of {out.size} "
            f"rows ({nonfinite} NaN/infinite, {outside} outside [0, 1]). Expected P(positive) "
            "in [0, 1]. Check that the model outputs probabilities (not logits or labels) and "
            "that the inputs have no missing values the model cannot handle."
        )


def _column(features: pd.DataFrame, name: str, dtype: Any) -> np.ndarray:
    """Cast one cohort column to the model's declared type, naming the column if it fails."""
    col = features[name]
    if dtype is object:
        if col.isna().any():
            raise SchemaError(
                f"Column '{name}' has {int(col.isna().sum())} missing values, but the model "
                "takes it as text and cannot receive missing values. Drop or impute them first."
            )
        return np.asarray(col.astype(str).to_numpy(dtype=object), dtype=object)
    try:
        numeric = pd.to_numeric(col, errors="raise")
    except (ValueError, TypeError):
        raise SchemaError(
            f"Column '{name}' is not numeric, but the model takes it as a number "
            f"({np.dtype(dtype).name}). Check the column against the model card; for a skops "
            "model, declare text columns with 'type: categorical' in the card."
        ) from None
    if np.issubdtype(np.dtype(dtype), np.integer):
        if numeric.isna().any():
            raise SchemaError(
                f"Column '{name}' has {int(numeric.isna().sum())} missing values, but the model "
                "takes it as an integer. Drop or impute them first."
            )
        as_float = numeric.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
            raise SchemaError(
                f"Column '{name}' has non-integer values, but the model takes it as an integer."
            )
        return as_float.astype(dtype)
    return numeric.to_numpy(dtype=np.float64, na_value=np.nan).astype(dtype)


def _ort_failure(model: LoadedModel, exc: Exception) -> ModelSignatureError:
    text = str(exc).strip()
    first = text.splitlines()[0][:300] if text else ""
    return ModelSignatureError(
        f"onnxruntime failed to run the model '{model.path.name}' ({type(exc).__name__}: "
        f"{first}). The cohort's columns probably do not have the types or shapes the model "
        "declares; compare them with 'cohortaudit inspect' output."
    )


def onnx_feeds(model: LoadedModel, session: Any, batch: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ONNX input feeds for ``batch``, cast to the types ``session`` declares.

    Public so that a graph cut from the model (the explainer's tree reader) is fed exactly as
    the model itself is.
    """
    declared = session.get_inputs()
    n = len(batch)
    feeds: dict[str, np.ndarray] = {}
    if model.tensor_input:
        inp = next(i for i in declared if i.name == model.tensor_input_name)
        dtype = _ORT_DTYPES.get(inp.type, np.float32)
        cols = [i.name for i in model.inputs]
        feeds[inp.name] = np.column_stack([_column(batch, c, dtype) for c in cols]).reshape(
            n, len(cols)
        )
    else:
        for inp in declared:
            dtype = object if inp.type == "tensor(string)" else _ORT_DTYPES[inp.type]
            values = _column(batch, inp.name, dtype)
            rank = len(inp.shape) if inp.shape is not None else 2
            feeds[inp.name] = values.reshape(n, 1) if rank == 2 else values
    return feeds


def _run_onnx(model: LoadedModel, batch: pd.DataFrame) -> np.ndarray:
    session = model.runner
    feeds = onnx_feeds(model, session, batch)
    try:
        (out,) = session.run([model.probability_output], feeds)
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise _ort_failure(model, exc) from None
    style = model.metadata.get("probability_output_style")
    if style == "zipmap" or isinstance(out, list):
        key = model.positive_class
        try:
            return np.fromiter((row[key] for row in out), dtype=np.float64, count=len(out))
        except KeyError:
            raise ModelSignatureError(
                f"The model's ZipMap output has no entry for the positive class {key!r}. Set "
                "'output.positive_class' in the model card to one of the model's classes."
            ) from None
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 2:
        return arr[:, int(model.positive_class)]
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0]
    if arr.ndim == 1:
        return arr
    raise ModelSignatureError(
        f"The model's output '{model.probability_output}' has shape {list(arr.shape)}; expected "
        "[N, 2], [N, 1] or [N] probabilities for a binary outcome."
    )


def skops_frame(model: LoadedModel, batch: pd.DataFrame) -> Any:
    """What a skops estimator is given for ``batch``: a typed frame, or an array when the
    estimator was fitted without column names. Public for the explainer's tree reader."""
    cols = {
        i.name: _column(batch, i.name, object if i.kind == "string" else np.float64)
        for i in model.inputs
    }
    if model.metadata.get("feature_names_in", True):
        return pd.DataFrame(cols, index=batch.index)
    return np.column_stack(list(cols.values()))


def _run_skops(model: LoadedModel, batch: pd.DataFrame) -> np.ndarray:
    estimator = model.runner
    labels = list(model.metadata.get("class_labels") or [])
    idx = labels.index(model.positive_class) if model.positive_class in labels else 1
    X = skops_frame(model, batch)
    try:
        proba = estimator.predict_proba(X)
    except Exception as exc:
        raise ModelSignatureError(
            f"The skops model '{model.path.name}' failed to score the cohort "
            f"({type(exc).__name__}). The cohort's columns probably do not have the types the "
            "model was trained on; check them against the model card."
        ) from None
    return np.asarray(proba, dtype=np.float64)[:, idx]

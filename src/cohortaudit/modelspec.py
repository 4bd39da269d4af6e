"""What the rest of the pipeline knows about a loaded model: its inputs, identity and how to run it.

Kept apart from ``io.py`` (which reads files) and ``scoring.py`` (which runs models) so that
cohort validation can depend on a model's declared inputs without importing onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["InputSpec", "LoadedModel"]

InputKind = Literal["float", "int", "string"]


@dataclass(frozen=True)
class InputSpec:
    """One cohort column the model needs, and the type the model expects for it."""

    name: str
    kind: InputKind
    #: True when nothing states the type: a skops model records no input types, so without a
    #: card that declares the column, numeric is assumed (messages then ask for a card).
    assumed: bool = False


@dataclass(frozen=True)
class LoadedModel:
    """A model that passed intake checks and is ready to score.

    ``runner`` is private to :mod:`cohortaudit.scoring`: an ``onnxruntime.InferenceSession``
    for ONNX models or the estimator for skops models. Everything else is plain data.
    """

    kind: Literal["onnx", "skops"]
    path: Path
    sha256: str
    inputs: tuple[InputSpec, ...]
    #: True when the ONNX graph takes one float tensor [N, F]; ``inputs`` then gives column order.
    tensor_input: bool = False
    #: Name of the ONNX input (tensor models) or None.
    tensor_input_name: str | None = None
    #: Name of the ONNX output that carries probabilities.
    probability_output: str | None = None
    #: Index (tensor output) or key (ZipMap output / sklearn classes_) of the positive class.
    positive_class: Any = 1
    #: Facts for ``cohortaudit inspect`` and the report (opset, producer, operator counts...).
    metadata: dict[str, Any] = field(default_factory=dict)
    runner: Any = field(default=None, repr=False, compare=False)

"""Shared pytest fixtures. Each block is owned by the module whose tests introduced it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

# ============================================================================================
# BEGIN cohort factory (owner: tests/intake/test_cohort.py)
# ============================================================================================

#: Fixed seed so that every test sees the same synthetic patients.
COHORT_SEED = 20261123


def build_cohort_frame(n: int = 200, *, seed: int = COHORT_SEED) -> pd.DataFrame:
    """A small synthetic cohort that validates cleanly against the test model and config.

    Columns: ``y`` (0/1 outcome, both classes guaranteed), ``score`` (risk in (0, 1)),
    ``age`` (whole years as float, 18..80), ``sbp`` (mmHg), ``sex`` ("F"/"M" text),
    ``smoker`` (int 0/1), ``site`` ("A"/"B"/"C") and ``note`` (an extra, unused column).
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 81, size=n).astype(np.float64)
    sbp = np.round(np.clip(rng.normal(130, 15, size=n), 80, 200), 1)
    sex = rng.choice(np.array(["F", "M"], dtype=object), size=n)
    smoker = rng.integers(0, 2, size=n).astype(np.int64)
    lp = -4 + 0.04 * age + 0.01 * (sbp - 130) + 0.5 * smoker
    score = 1 / (1 + np.exp(-lp))
    y = (rng.random(n) < score).astype(np.int64)
    y[:2], y[2:4] = 1, 0  # both outcomes, at least twice each, whatever the seed
    return pd.DataFrame(
        {
            "y": y,
            "score": score,
            "age": age,
            "sbp": sbp,
            "sex": pd.Series(sex, dtype=object),
            "smoker": smoker,
            "site": pd.Series(
                rng.choice(np.array(["A", "B", "C"], dtype=object), size=n), dtype=object
            ),
            "note": pd.Series(["free text"] * n, dtype=object),
        }
    )


@pytest.fixture
def make_cohort_frame() -> Callable[..., pd.DataFrame]:
    """Factory fixture: ``make_cohort_frame(n=200, seed=...)`` -> a fresh, seeded cohort frame."""
    return build_cohort_frame


# ============================================================================================
# END cohort factory
# ============================================================================================


# ============================================================================================
# BEGIN model fixtures (owner: tests/intake/test_io.py, tests/test_scoring.py, tests/intake/test_card.py)
# Tiny sklearn models exported to ONNX / skops in session-scoped temp folders. Treat the files
# as read-only: tests that need to alter a model copy it into their own tmp_path first.
# ============================================================================================

from dataclasses import dataclass  # noqa: E402  (imports local to this block)
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

MODEL_SEED = 7
#: Columns of the synthetic development frame; ``y`` is the 0/1 outcome.
MODEL_NUMERIC = ("age", "visits")
MODEL_CATEGORICAL = ("sex", "site")
#: Column order of the single-tensor models.
TENSOR_COLUMNS = ("age", "sbp", "visits")
#: Target opsets pinned so exported graphs do not change with skl2onnx upgrades.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def build_model_frame(n: int = 400, *, seed: int = MODEL_SEED) -> pd.DataFrame:
    """Development data: float ``age``/``sbp``, int64 ``visits``, text ``sex``/``site``, ``y``."""
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 12, n).round(1)
    sbp = rng.normal(130, 15, n).round(1)
    visits = rng.integers(0, 12, n).astype(np.int64)
    sex = rng.choice(np.array(["F", "M"], dtype=object), n)
    site = rng.choice(np.array(["A", "B", "C"], dtype=object), n)
    lp = -7 + 0.1 * age + 0.2 * visits + 0.8 * (sex == "M") + 0.3 * (site == "C")
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(np.int64)
    return pd.DataFrame(
        {
            "age": age,
            "sbp": sbp,
            "visits": visits,
            "sex": pd.Series(sex, dtype=object),
            "site": pd.Series(site, dtype=object),
            "y": y,
        }
    )


def _named_pipeline(frame: pd.DataFrame) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), list(MODEL_NUMERIC)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(MODEL_CATEGORICAL)),
        ]
    )
    pipe = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=1000))])
    return pipe.fit(frame[[*MODEL_NUMERIC, *MODEL_CATEGORICAL]], frame["y"])


def _to_onnx_bytes(estimator: Any, initial_types: list[Any], *, zipmap: bool) -> bytes:
    from skl2onnx import convert_sklearn

    options = None if zipmap else {id(estimator): {"zipmap": False}}
    onx = convert_sklearn(
        estimator, initial_types=initial_types, target_opset=TARGET_OPSET, options=options
    )
    return onx.SerializeToString()


@dataclass(frozen=True)
class BuiltModels:
    """Paths of the exported test models and the fitted estimators they came from."""

    frame: pd.DataFrame
    named_pipeline: Any
    tensor_estimator: Any
    onnx_named: Path
    onnx_named_zipmap: Path
    onnx_tensor: Path
    onnx_tensor_zipmap: Path
    skops_named: Path
    skops_untrusted: Path


@pytest.fixture(scope="session")
def built_models(tmp_path_factory: pytest.TempPathFactory) -> BuiltModels:
    """Build every test model once per session (fitting + export takes ~1 s)."""
    import operator

    import skops.io as sio
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    folder = tmp_path_factory.mktemp("models")
    frame = build_model_frame()
    pipe = _named_pipeline(frame)
    named_types = [
        ("age", FloatTensorType([None, 1])),
        ("visits", Int64TensorType([None, 1])),
        ("sex", StringTensorType([None, 1])),
        ("site", StringTensorType([None, 1])),
    ]
    tensor = LogisticRegression(max_iter=1000).fit(
        frame[list(TENSOR_COLUMNS)].to_numpy(np.float32), frame["y"]
    )
    tensor_types = [("X", FloatTensorType([None, len(TENSOR_COLUMNS)]))]
    paths = {
        "onnx_named": (pipe, named_types, False),
        "onnx_named_zipmap": (pipe, named_types, True),
        "onnx_tensor": (tensor, tensor_types, False),
        "onnx_tensor_zipmap": (tensor, tensor_types, True),
    }
    out: dict[str, Path] = {}
    for key, (est, types, zipmap) in paths.items():
        out[key] = folder / f"{key}.onnx"
        out[key].write_bytes(_to_onnx_bytes(est, types, zipmap=zipmap))
    out["skops_named"] = folder / "named.skops"
    sio.dump(pipe, out["skops_named"])
    untrusted = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression()).fit(
        frame[list(MODEL_NUMERIC)], frame["y"]
    )
    out["skops_untrusted"] = folder / "untrusted.skops"
    sio.dump(untrusted, out["skops_untrusted"])
    return BuiltModels(frame=frame, named_pipeline=pipe, tensor_estimator=tensor, **out)


def tensor_card_dict(*, shuffled: bool = True) -> dict[str, Any]:
    """A minimal valid card for the tensor models; ``shuffled`` lists inputs out of order."""
    inputs = [{"name": c, "type": "numeric", "order": i} for i, c in enumerate(TENSOR_COLUMNS)]
    if shuffled:
        inputs = inputs[::-1]
    return {"schema_version": "1.0", "name": "tensor-test", "version": "1", "inputs": inputs}


@pytest.fixture
def tensor_card(tmp_path: Path) -> Any:
    """A loaded :class:`cohortaudit.card.ModelCard` describing the tensor test models."""
    import yaml

    from cohortaudit.card import load_card

    path = tmp_path / "tensor_card.yaml"
    path.write_text(yaml.safe_dump(tensor_card_dict()), encoding="utf-8")
    return load_card(path)


# ============================================================================================
# END model fixtures
# ============================================================================================

"""Test vectors: input rows with the owner's expected probabilities, carried in the model card.

A shared model can be wrong in ways nobody sees: a conversion that runs but computes something
else (HistGradientBoosting with native categorical splits, exported as one float tensor, is off
by up to 0.66 and raises nothing), a file altered after the card was written, or a runtime that
computes the same graph differently. The SHA-256 in the card catches the second only if the card
was hashed *after* the change; test vectors catch all three by checking behaviour, not bytes.

Two sides:

* the **owner** (``cohortaudit card init --reference-model NATIVE``) calls
  :func:`make_test_vectors`: rows are generated from the card's input specs (synthetic, never
  development rows unless the owner opts in), scored by the owner's native model (skops or
  another ONNX file) and by the model being shared, and the card is refused when they disagree
  beyond ``tolerance``. Without a reference the model's own outputs are recorded;
* the **auditor** (every audit with a card) calls :func:`check_test_vectors` right after the
  hash check: the model in hand must reproduce the card's expected outputs, or the audit stops.

Synthetic rows are drawn within each numeric input's published range, following its published
quantiles (piecewise-linear inverse CDF), with the range ends and every category placed at least
once. They are rounded (4 significant digits; whole numbers stay whole) so the card stays
readable. They never reproduce a development row: a draw that equals one is redrawn, and dropped
if it keeps colliding (tiny discrete input spaces).

Messages name vector numbers and probabilities, never input values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.errors import CardError, SchemaError
from cohortaudit.modelspec import LoadedModel
from cohortaudit.scoring import score

__all__ = [
    "DEFAULT_N",
    "DEFAULT_SEED",
    "DEFAULT_TOLERANCE",
    "TestVectorReport",
    "check_test_vectors",
    "compare_outputs",
    "generate_vectors",
    "make_test_vectors",
    "sample_vectors",
    "vectors_frame",
]

#: Vectors per card by default: enough to hit every tree region that matters, small enough to read.
DEFAULT_N = 32
#: Absolute tolerance on probabilities. float32 ONNX vs float64 sklearn differ by ~1e-7.
DEFAULT_TOLERANCE = 1e-4
DEFAULT_SEED = 20240601
#: Differences named in an error message.
WORST_SHOWN = 5
#: Redraws of a synthetic row that equals a development row before it is dropped.
_MAX_REDRAWS = 50
_SIGNIFICANT = 4


@dataclass(frozen=True)
class TestVectorReport:
    """Outcome of running a model on a card's test vectors (plain types only).

    ``worst`` lists up to :data:`WORST_SHOWN` vectors with the largest differences, as dicts
    ``{"vector": i, "expected": p, "got": q, "abs_diff": d}`` (``i`` counts from 1).
    """

    __test__ = False  # not a pytest test class, despite the name

    count: int
    failed: int
    max_abs_diff: float
    tolerance: float
    worst: list[dict[str, Any]] = field(default_factory=list)
    reference: str | None = None

    @property
    def passed(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        """What the audit result records (``model.test_vectors``)."""
        return {
            "count": self.count,
            "max_abs_diff": float(f"{self.max_abs_diff:.6g}"),
            "tolerance": self.tolerance,
            "reference": self.reference,
        }


# --------------------------------------------------------------------------------------------
# generating rows
# --------------------------------------------------------------------------------------------


def _get(spec: Any, key: str) -> Any:
    return spec.get(key) if isinstance(spec, Mapping) else getattr(spec, key, None)


def _round(x: float, whole: bool) -> float | int:
    if whole:
        return int(round(x))
    return float(f"{x:.{_SIGNIFICANT}g}")


def _numeric_support(spec: Any) -> tuple[list[float], list[float], bool]:
    """Inverse-CDF knots (probabilities, values) and whether the input takes whole numbers."""
    ref = _get(spec, "reference") or {}
    quantiles = sorted(
        (float(q), float(v)) for q, v in (ref.get("quantiles") or {}).items() if v is not None
    )
    known = [v for _, v in quantiles]
    edges = (ref.get("histogram") or {}).get("edges") or []
    lo, hi = _get(spec, "min"), _get(spec, "max")
    mean, sd = ref.get("mean"), ref.get("sd")
    if lo is None:
        lo = min(known) if known else (mean - 2 * sd if mean is not None and sd else None)
        lo = edges[0] if lo is None and edges else lo
    if hi is None:
        hi = max(known) if known else (mean + 2 * sd if mean is not None and sd else None)
        hi = edges[-1] if hi is None and edges else hi
    lo = 0.0 if lo is None else float(lo)
    hi = 1.0 if hi is None else float(hi)
    lo, hi = min(lo, hi), max(lo, hi)
    inner = [(q, min(max(v, lo), hi)) for q, v in quantiles if 0.0 < q < 1.0]
    probs = [0.0] + [q for q, _ in inner] + [1.0]
    values = [lo] + [v for _, v in inner] + [hi]
    whole = all(float(v).is_integer() for v in [lo, hi, *known])
    return probs, values, whole


def _column_plan(spec: Any, kind: str, n: int, rng: np.random.Generator) -> tuple[list, list]:
    """Random values for ``n`` rows and the edge values every card must include once."""
    if _get(spec, "type") == "categorical" and _get(spec, "categories"):
        cats = list(_get(spec, "categories"))
        if kind == "string":
            cats = [str(c) for c in cats]
        draws = [cats[i] for i in rng.integers(0, len(cats), size=n)]
        return draws, cats
    probs, values, whole = _numeric_support(spec)
    whole = whole or kind == "int"
    lo, hi = values[0], values[-1]
    if whole:
        lo, hi = float(np.ceil(lo)), float(np.floor(hi))
        lo, hi = (lo, hi) if lo <= hi else (float(round(values[0])),) * 2
    # rounded for a readable card, then kept inside the range the card publishes
    draws = [
        _round(min(max(float(_round(x, whole)), lo), hi), whole)
        for x in np.interp(rng.uniform(size=n), probs, values)
    ]
    edges: list[Any] = [int(lo), int(hi)] if whole else [lo, hi]
    ref = _get(spec, "reference") or {}
    if kind == "float" and (ref.get("missing_fraction") or 0) > 0:
        edges.append(None)  # the model saw missing values in development: check it handles them
    return draws, edges


def _row_keys(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    def norm(v: Any) -> Any:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ("<missing>",)
        if isinstance(v, str):
            return v
        try:
            return float(v)
        except (TypeError, ValueError):
            return str(v)

    cols = [frame[c].tolist() for c in columns]
    return [tuple(norm(v) for v in row) for row in zip(*cols, strict=True)]


def generate_vectors(
    inputs: Sequence[Any],
    *,
    kinds: Mapping[str, str] | None = None,
    n: int = DEFAULT_N,
    random_state: int = DEFAULT_SEED,
    avoid: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Synthetic test rows from a card's input specs (``CardInput`` or card ``inputs`` dicts).

    Parameters
    ----------
    inputs:
        The inputs to generate, with ``type``, ``min``/``max``, ``categories`` and
        ``reference`` (quantiles) as in the card.
    kinds:
        ``{name: "float" | "int" | "string"}`` from the model, so integer inputs get integers
        and text inputs get text. Defaults to float for numeric and string for categorical.
    n:
        Rows wanted; raised to the largest number of edge values of one input (each category
        appears at least once).
    avoid:
        Development data: no generated row equals one of its rows (on these columns).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"The 'n' parameter must be a positive int. Got {n!r} instead.")
    kinds = dict(kinds or {})
    names = [_get(s, "name") for s in inputs]
    rng = np.random.default_rng(random_state)
    plans = {}
    for spec in inputs:
        name = _get(spec, "name")
        kind = kinds.get(name) or ("string" if _get(spec, "type") == "categorical" else "float")
        plans[name] = (spec, kind)
    edge_lists = {
        name: _column_plan(spec, kind, 1, np.random.default_rng(0))[1]
        for name, (spec, kind) in plans.items()
    }
    rows = max([n, *(len(e) for e in edge_lists.values())])
    columns: dict[str, list[Any]] = {}
    fixed: dict[str, np.ndarray] = {}
    for name, (spec, kind) in plans.items():
        draws, edges = _column_plan(spec, kind, rows, rng)
        mask = np.zeros(rows, dtype=bool)
        for pos, value in zip(rng.permutation(rows)[: len(edges)], edges, strict=False):
            draws[pos] = value
            mask[pos] = True
        columns[name] = draws
        fixed[name] = mask
    frame = pd.DataFrame(columns, columns=names)
    if avoid is None or len(avoid) == 0 or not set(names) <= set(avoid.columns):
        return frame
    taken = set(_row_keys(avoid, names))
    for _ in range(_MAX_REDRAWS):
        clash = [i for i, key in enumerate(_row_keys(frame, names)) if key in taken]
        if not clash:
            return frame
        for name, (spec, kind) in plans.items():
            draws, _ = _column_plan(spec, kind, len(clash), rng)
            for i, value in zip(clash, draws, strict=True):
                if not fixed[name][i]:
                    frame.at[i, name] = value
    clash = {i for i, key in enumerate(_row_keys(frame, names)) if key in taken}
    return frame.drop(index=sorted(clash)).reset_index(drop=True)


def sample_vectors(
    dev: pd.DataFrame,
    *,
    kinds: Mapping[str, str],
    n: int = DEFAULT_N,
    random_state: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Up to ``n`` rows of the development data (owner opt-in only: they are real records)."""
    cols = list(kinds)
    missing = [c for c in cols if c not in dev.columns]
    if missing:
        raise SchemaError(
            f"The development data lacks {len(missing)} model input column(s): {missing}."
        )
    frame = dev[cols].copy()
    strict = [c for c, k in kinds.items() if k in ("string", "int")]
    usable = frame.dropna(subset=strict) if strict else frame
    if usable.empty:
        raise SchemaError(
            "No development row can be scored as a test vector: every row misses a value in a "
            f"text or integer input ({strict}). Use synthetic vectors (drop --vectors-from-data)."
        )
    idx = np.sort(np.random.default_rng(random_state).permutation(len(usable))[:n])
    out = usable.iloc[idx].reset_index(drop=True)
    for c, k in kinds.items():
        if k == "string":
            out[c] = out[c].astype(str).astype(object)
        elif k == "int":
            out[c] = pd.to_numeric(out[c]).astype(np.int64)
    return out


# --------------------------------------------------------------------------------------------
# comparing outputs
# --------------------------------------------------------------------------------------------


def compare_outputs(
    expected: Sequence[float] | np.ndarray,
    got: Sequence[float] | np.ndarray,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    reference: str | None = None,
) -> TestVectorReport:
    """Compare two probability vectors; NaN on either side counts as an infinite difference."""
    e = np.asarray(expected, dtype=np.float64)
    g = np.asarray(got, dtype=np.float64)
    if e.shape != g.shape:
        raise ValueError(f"expected and got differ in length: {e.shape} vs {g.shape}.")
    diff = np.abs(e - g)
    diff[~np.isfinite(diff)] = np.inf
    order = np.argsort(-diff, kind="stable")[:WORST_SHOWN]
    worst = [
        {
            "vector": int(i) + 1,
            "expected": float(e[i]),
            "got": float(g[i]),
            "abs_diff": float(diff[i]),
        }
        for i in order
    ]
    return TestVectorReport(
        count=int(e.size),
        failed=int(np.count_nonzero(diff > tolerance)),
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        tolerance=float(tolerance),
        worst=worst,
        reference=reference,
    )


def _describe_worst(report: TestVectorReport, left: str, right: str) -> str:
    shown = [w for w in report.worst if w["abs_diff"] > report.tolerance]
    return "; ".join(
        f"vector {w['vector']}: {left} {w['expected']:.6f}, {right} {w['got']:.6f} "
        f"(difference {w['abs_diff']:.3g})"
        for w in shown
    )


# --------------------------------------------------------------------------------------------
# the owner's side: building the card section
# --------------------------------------------------------------------------------------------


def _plain_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _probability(p: float) -> float:
    return float(f"{float(p):.12g}")


def make_test_vectors(
    card: Mapping[str, Any],
    model: LoadedModel,
    *,
    reference: LoadedModel | None = None,
    dev: pd.DataFrame | None = None,
    n: int = DEFAULT_N,
    tolerance: float = DEFAULT_TOLERANCE,
    from_data: bool = False,
    random_state: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Build the card's ``test_vectors`` section, proving the conversion when given a reference.

    Parameters
    ----------
    card:
        The card being written (a dict from :func:`cohortaudit.card.init_card`); its ``inputs``
        give ranges, quantiles and categories.
    model:
        The model being shared (usually ONNX).
    reference:
        The owner's native model (skops, or another ONNX file). Its outputs become the expected
        outputs, and the section is refused when ``model`` disagrees beyond ``tolerance``.
        Without it, ``model``'s own outputs are recorded (``reference: self``).
    dev:
        The development data. Synthetic rows never equal one of its rows; with
        ``from_data=True`` (owner opt-in) rows are sampled from it instead.

    Raises
    ------
    CardError
        The model and the reference disagree on some vectors (named, with the differences), or
        the reference takes inputs the model does not.
    """
    if not isinstance(tolerance, int | float) or not 0 < tolerance < 1:
        raise CardError(
            f"The test-vector tolerance must be a number in (0, 1). Got {tolerance!r} instead."
        )
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise CardError(f"The number of test vectors must be a positive int. Got {n!r} instead.")
    kinds = {spec.name: spec.kind for spec in model.inputs}
    if from_data:
        if dev is None:
            raise CardError("Test vectors from the development data need the data (dev=...).")
        frame = sample_vectors(dev, kinds=kinds, n=n, random_state=random_state)
        generator = "development data rows (owner opt-in)"
    else:
        by_name = {i["name"]: i for i in card.get("inputs", [])}
        undeclared = [k for k in kinds if k not in by_name]
        if undeclared:
            raise CardError(
                f"The card does not declare the model input(s) {undeclared}, so no test vectors "
                "can be generated for them. Add them to the card's 'inputs'."
            )
        frame = generate_vectors(
            [by_name[k] for k in kinds], kinds=kinds, n=n, random_state=random_state, avoid=dev
        )
        generator = f"synthetic from the card's input ranges and quantiles (seed {random_state})"
    if frame.empty:
        raise CardError(
            "Every synthetic test vector equals a row of the development data (the inputs take "
            "few distinct values), and rows of the development data are only used with the "
            "owner's consent. Pass --vectors-from-data to use them, or widen the inputs' ranges."
        )
    got = score(model, frame)
    section: dict[str, Any] = {"generator": generator, "n": len(frame), "tolerance": tolerance}
    if reference is None:
        expected = got
        section["reference"] = "self"
    else:
        needs = [i.name for i in reference.inputs if i.name not in frame.columns]
        if needs:
            raise CardError(
                f"The reference model '{reference.path.name}' takes {len(needs)} input(s) the "
                f"model '{model.path.name}' does not: {needs}. Expected the native model the "
                "shared model was converted from, taking the same inputs."
            )
        expected = score(reference, frame)
        tag = f"{reference.kind}:{reference.sha256}"
        report = compare_outputs(expected, got, tolerance=tolerance, reference=tag)
        if not report.passed:
            raise CardError(
                f"The model '{model.path.name}' disagrees with the reference model "
                f"'{reference.path.name}' on {report.failed} of {report.count} test vectors "
                f"(tolerance {tolerance:g}), by up to {report.max_abs_diff:.3g}. Largest "
                f"differences: {_describe_worst(report, 'reference', 'model')}. The conversion "
                "does not "
                "compute what the native model computes, so the card was not written. Check the "
                "conversion (HistGradientBoosting with native categorical features converts "
                "silently wrong to a single tensor; one-hot encode them in a pipeline instead), "
                "or raise --tolerance only if the differences are expected."
            )
        section["reference"] = tag
        section["max_abs_diff"] = float(f"{report.max_abs_diff:.6g}")
    section["inputs"] = {
        c: [_plain_value(v) for v in frame[c].astype(object).tolist()] for c in frame.columns
    }
    section["expected"] = [_probability(p) for p in expected]
    return section


# --------------------------------------------------------------------------------------------
# the auditor's side: checking a model against its card
# --------------------------------------------------------------------------------------------


def vectors_frame(section: Mapping[str, Any]) -> pd.DataFrame:
    """The card's vectors as a DataFrame (``None`` becomes missing)."""
    inputs = section.get("inputs") or {}
    return pd.DataFrame({c: list(v) for c, v in inputs.items()})


def check_test_vectors(card: Any, model: LoadedModel) -> TestVectorReport | None:
    """Run ``model`` on the card's test vectors; None when the card has none.

    Raises
    ------
    CardError
        Some vectors differ from the card's expected outputs by more than its tolerance, or the
        vectors lack an input the model takes.
    """
    raw = getattr(card, "raw", None) or {}
    section = raw.get("test_vectors")
    if not section:
        return None
    frame = vectors_frame(section)
    missing = [i.name for i in model.inputs if i.name not in frame.columns]
    if missing:
        raise CardError(
            f"The test vectors in the model card '{card.name}' lack {len(missing)} input(s) the "
            f"model '{model.path.name}' takes: {missing}. The card was written for a model with "
            "other inputs; get the matching model and card from the owner."
        )
    tolerance = float(section["tolerance"])
    reference = section.get("reference")
    report = compare_outputs(
        section["expected"], score(model, frame), tolerance=tolerance, reference=reference
    )
    if not report.passed:
        runtime = ""
        if model.kind == "onnx":
            import onnxruntime

            runtime = f" (here: onnxruntime {onnxruntime.__version__})"
        raise CardError(
            f"The model '{model.path.name}' fails {report.failed} of {report.count} test vectors "
            f"in the model card '{card.name}': largest difference {report.max_abs_diff:.3g} "
            f"between the card's expected probability and this model's (tolerance "
            f"{tolerance:g}); {_describe_worst(report, 'expected', 'got')}. The model file is "
            "not the model the card was written for, or this runtime computes it "
            f"differently{runtime}. Do not audit it: get the matching model and card from the "
            "owner, and compare runtime versions with theirs."
        )
    return report

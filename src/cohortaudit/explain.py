"""SHAP summaries of a model on an audit cohort: aggregate-only, on the probability scale.

Why this shape:

* **Model-agnostic and on the probability scale.** Every model (ONNX or skops) is explained
  through the same prediction function, P(positive), with an interventional (Independent)
  masker over a background sample drawn from the cohort. ExactExplainer is used up to
  :data:`EXACT_MAX_FEATURES` raw inputs, PermutationExplainer above. sklearn's fast explainers
  (TreeExplainer, LinearExplainer) are *not* used: TreeExplainer's "probability" output differs
  from the exact Shapley values of the probability function (up to 0.03 on this project's sample)
  and LinearExplainer explains the log-odds margin, so either would change the convention
  between an ONNX model and the very same sklearn model. ``settings["explainer"]`` records it.
* **Tree ensembles, exactly and fast** (``method="auto"``). For ONNX TreeEnsemble operators and
  skops HistGradientBoosting / random-forest pipelines, :mod:`cohortaudit.explain_treeshap`
  computes the *same* Shapley values (same game, same background, same raw-input players) from
  the trees, ~40x faster; it falls back to the model-agnostic explainer, saying why in
  ``settings["fast_path"]``, for anything it cannot read exactly. The library default stays
  ``"model-agnostic"`` so that recorded audits keep their settings text byte for byte.
* **Categorical inputs** are ordinal-coded for the masker (shap's Independent masker cannot hold
  strings) and decoded inside the prediction wrapper before scoring.
* **ONNX speed.** SHAP makes many small calls, where a single-threaded onnxruntime session is
  several times faster than the default one; we build one from ``model.path`` and score through
  :func:`cohortaudit.scoring.score` with it, so there is still one code path that runs models.
* **Aggregate-only.** The exported :class:`ExplanationResult` holds no per-patient value: mean
  |SHAP| with bootstrap CIs, histogram counts of SHAP values on fixed bins (counts 1..9 withheld),
  mean SHAP on feature-quantile bins of at least 10 patients (outer quantile edges withheld),
  per-group reliance and its difference to a reference group, and proxy strength of each input
  for each sensitive attribute. :func:`local_explanation` gives one patient's waterfall for the
  app and is never part of the exported result.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.disclosure import close_families
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.explain_proxies import (
    CONFIDENCE,
    MAX_DISCRETE_LEVELS,
    PROXY_CLASSIFIER,
    PROXY_MAX_ROWS,
    PROXY_SINGLE,
    PROXY_STRONG_AUROC,
    percentile_ci,
    proxy_strengths,
)
from cohortaudit.explain_results import (
    ExplanationResult,
    FeatureImportance,
    GroupComparison,
    GroupReliance,
    ProxyStrength,
)
from cohortaudit.explain_treeshap import METHOD as TREE_METHOD
from cohortaudit.modelspec import InputSpec, LoadedModel
from cohortaudit.results import MetricValue
from cohortaudit.sampling import strata_codes as _strata
from cohortaudit.sampling import stratified_sample as _stratified_sample

__all__ = [
    "EXACT_MAX_FEATURES",
    "MIN_CELL",
    "PROXY_STRONG_AUROC",
    "SHAP_BIN_EDGES",
    "ExplanationResult",
    "FeatureImportance",
    "GroupReliance",
    "GroupComparison",
    "ProxyStrength",
    "explain_model",
    "local_explanation",
]

#: ExactExplainer enumerates 2**F coalitions; above this many raw inputs use permutations.
EXACT_MAX_FEATURES = 12
#: Counts below this (and above 0) are withheld; groups with fewer explained rows are skipped.
MIN_CELL = 10
#: Fixed SHAP bins on the probability scale (SHAP values there lie in [-1, 1]); fixed so that
#: distributions are comparable across models and runs and reveal nothing about the data range.
SHAP_BIN_EDGES: tuple[float, ...] = (
    -1.0,
    -0.2,
    -0.1,
    -0.05,
    -0.02,
    -0.01,
    -0.005,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    1.0,
)
#: Quantile bins for dependence summaries of numeric inputs.
_N_DEPENDENCE_BINS = 10
#: Threads explaining chunks at once (each scores through a single-threaded ORT session).
_SHAP_THREADS = 2


# ----------------------------------------------------------------------------------------------
# encoding and the prediction wrapper
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoding:
    """Raw inputs in model order; categorical ones as ordinal codes into ``categories``."""

    names: tuple[str, ...]
    categories: dict[str, np.ndarray]  # name -> labels (object array), only categorical inputs
    kinds: dict[str, str]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        cols = []
        for name in self.names:
            if name in self.categories:
                cats = self.categories[name]
                lookup = {c: i for i, c in enumerate(cats)}
                codes = frame[name].astype(str).map(lookup)
                if codes.isna().any():
                    raise SchemaError(
                        f"Column '{name}' has {int(codes.isna().sum())} value(s) that are not "
                        f"among its {len(cats)} known categories. Explain rows from the same "
                        "cohort as the background."
                    )
                cols.append(codes.to_numpy(dtype=np.float64))
            else:
                cols.append(pd.to_numeric(frame[name], errors="raise").to_numpy(dtype=np.float64))
        return np.column_stack(cols) if cols else np.empty((len(frame), 0))

    def decode(self, X: np.ndarray) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for j, name in enumerate(self.names):
            col = X[:, j]
            if name in self.categories:
                data[name] = self.categories[name][np.rint(col).astype(np.int64)]
            elif self.kinds[name] == "int":
                data[name] = np.rint(col).astype(np.int64)
            else:
                data[name] = col
        return pd.DataFrame(data)


def _is_categorical(spec: InputSpec, series: pd.Series) -> bool:
    if spec.kind == "string":
        return True
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _build_encoding(model: LoadedModel, features: pd.DataFrame) -> _Encoding:
    missing = [s.name for s in model.inputs if s.name not in features.columns]
    if missing:
        raise SchemaError(
            f"The features lack {len(missing)} column(s) the model needs: {missing}. Pass the "
            "cohort's features (Cohort.features)."
        )
    cats: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for spec in model.inputs:
        series = features[spec.name]
        if _is_categorical(spec, series):
            if series.isna().any():
                raise SchemaError(
                    f"Column '{spec.name}' has {int(series.isna().sum())} missing values; "
                    "categorical inputs must be complete to be explained."
                )
            cats[spec.name] = np.array(sorted(series.astype(str).unique()), dtype=object)
            kinds[spec.name] = "string"
        else:
            kinds[spec.name] = spec.kind if spec.kind in ("float", "int") else "float"
    return _Encoding(tuple(s.name for s in model.inputs), cats, kinds)


def _single_thread_model(model: LoadedModel, encoding: _Encoding) -> LoadedModel:
    """A copy of ``model`` for many small calls: 1-thread ORT session; text inputs typed."""
    inputs = tuple(
        dataclasses.replace(s, kind="string") if s.name in encoding.categories else s
        for s in model.inputs
    )
    if model.kind != "onnx":
        return dataclasses.replace(model, inputs=inputs)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(model.path), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    return dataclasses.replace(model, runner=session, inputs=inputs)


def _predict_fn(model: LoadedModel, encoding: _Encoding) -> Callable[[np.ndarray], np.ndarray]:
    from cohortaudit.scoring import score

    def predict(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64).reshape(-1, len(encoding.names))
        return score(model, encoding.decode(X))

    return predict


# ----------------------------------------------------------------------------------------------
# sampling
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# SHAP computation
# ----------------------------------------------------------------------------------------------


def _import_shap() -> Any:
    """Import shap lazily; its import-time plotting setup emits third-party deprecations."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    _cache_shap_jit()
    return shap


#: shap modules whose numba kernels the explainers we use call.
_SHAP_JIT_MODULES = ("shap.explainers._exact", "shap.utils._masked_model", "shap.maskers._tabular")


def _cache_shap_jit() -> None:
    """Let numba cache shap's compiled kernels on disk (shap compiles them on every run).

    shap decorates its kernels with a plain ``@njit``, so each new process spends ~10 s of a
    CLI audit compiling them on the first explained row. Re-wrapping the same Python functions
    with ``njit(cache=True)`` stores the machine code (next to shap's sources, or in numba's
    per-user cache when those are read-only); the functions and their results are unchanged.
    Any surprise (a shap that no longer uses numba) leaves shap as it is.
    """
    import importlib

    try:
        import numba
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover - numba is a shap dependency
        return
    for name in _SHAP_JIT_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover - shap layout changed
            continue
        for attr, obj in list(vars(module).items()):
            if isinstance(obj, CPUDispatcher) and not obj.targetoptions.get("cache"):
                try:
                    setattr(module, attr, numba.njit(cache=True)(obj.py_func))
                except Exception:  # pragma: no cover - keep shap's own kernel
                    continue


def _shap_values(
    predict: Callable[[np.ndarray], np.ndarray],
    X_background: np.ndarray,
    X_explain: np.ndarray,
    names: Sequence[str],
    *,
    seed: int,
    progress: Callable[[int, int], Any] | None = None,
    chunk: int = 100,
) -> tuple[np.ndarray, np.ndarray, str]:
    """(values [n, F], base values [n], explainer name) on the probability scale."""
    shap = _import_shap()

    masker = shap.maskers.Independent(X_background, max_samples=len(X_background))
    n_features = X_explain.shape[1]
    exact = n_features <= EXACT_MAX_FEATURES
    name = "ExactExplainer" if exact else "PermutationExplainer"
    kwargs: dict[str, Any] = {} if exact else {"max_evals": 10 * (2 * n_features + 1)}

    def explain_chunk(start: int) -> tuple[np.ndarray, np.ndarray]:
        # A fresh explainer per chunk: explainers keep per-call state, and a chunk's result
        # must not depend on which chunks ran before it (or on which thread ran it).
        if exact:
            explainer = shap.ExactExplainer(predict, masker, feature_names=list(names))
        else:
            explainer = shap.PermutationExplainer(
                predict, masker, feature_names=list(names), seed=seed
            )
        exp = explainer(X_explain[start : start + chunk], silent=True, **kwargs)
        return (
            np.asarray(exp.values, dtype=np.float64),
            np.asarray(exp.base_values, dtype=np.float64).reshape(-1),
        )

    total = len(X_explain)
    starts = list(range(0, total, chunk))
    if not starts:
        return np.empty((0, n_features)), np.empty(0), name
    # ExactExplainer is deterministic and spends most of its time in onnxruntime, which
    # releases the GIL: two chunks at a time use both cores with single-threaded sessions.
    # PermutationExplainer seeds numpy's *global* RNG per row, so it must run serially.
    workers = min(_SHAP_THREADS, len(starts)) if exact else 1
    results: list[tuple[np.ndarray, np.ndarray]] = []
    if workers == 1:
        for done, start in enumerate(starts, 1):
            results.append(explain_chunk(start))
            if progress is not None:
                progress(min(starts[done - 1] + chunk, total), total)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start, res in zip(starts, pool.map(explain_chunk, starts), strict=True):
                results.append(res)  # map yields in submission order: deterministic
                if progress is not None:
                    progress(min(start + chunk, total), total)
    values = np.concatenate([r[0] for r in results])
    bases = np.concatenate([r[1] for r in results])
    return values, bases, name


# ----------------------------------------------------------------------------------------------
# summaries
# ----------------------------------------------------------------------------------------------


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates [n_boot, F] of column means of ``values`` [n, F]."""
    n = len(values)
    idx = rng.integers(0, n, size=(n_boot, n))
    return values[idx].mean(axis=1)


def _global_importance(
    names: Sequence[str], abs_shap: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[FeatureImportance, ...]:
    point = abs_shap.mean(axis=0)
    lo, hi = percentile_ci(_boot_means(abs_shap, n_boot, rng)) if n_boot else (point, point)
    items = [
        FeatureImportance(
            name, MetricValue(point[j], lo[j] if n_boot else None, hi[j] if n_boot else None)
        )
        for j, name in enumerate(names)
    ]
    return tuple(sorted(items, key=lambda f: (-(f.mean_abs_shap.value or 0.0), f.feature)))


def _suppress(count: int, k: int) -> int | None:
    return None if 0 < count < k else int(count)


def _distribution(names: Sequence[str], shap_values: np.ndarray, k: int) -> dict[str, Any]:
    """Counts of SHAP values per bin; the bins add up to the patients explained (released in
    settings), so they are closed as one family: no withheld bin is n_explain minus the rest."""
    edges = np.asarray(SHAP_BIN_EDGES)
    features = {}
    for j, name in enumerate(names):
        counts, _ = np.histogram(np.clip(shap_values[:, j], edges[0], edges[-1]), bins=edges)
        hide = close_families(len(shap_values), [int(c) for c in counts], k).children
        features[name] = [None if b in hide else int(c) for b, c in enumerate(counts)]
    return {"bin_edges": list(SHAP_BIN_EDGES), "min_cell": k, "counts": features}


def _dependence(
    encoding: _Encoding, X_explain: np.ndarray, shap_values: np.ndarray, k: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for j, name in enumerate(encoding.names):
        if name in encoding.categories:
            continue
        x, phi = X_explain[:, j], shap_values[:, j]
        ok = np.isfinite(x)
        x, phi = x[ok], phi[ok]
        levels = np.unique(x)
        bins = []
        sizes: list[int] = []
        if levels.size <= MAX_DISCRETE_LEVELS:
            for v in levels:
                sel = x == v
                n = int(sel.sum())
                keep = n >= k
                sizes.append(n)
                bins.append(
                    {
                        "value": float(v),
                        "n": n if keep else None,
                        "mean_shap": float(phi[sel].mean()) if keep else None,
                    }
                )
            out[name] = {"kind": "levels", "bins": _close_bins(bins, sizes, len(X_explain), k)}
            continue
        qs = np.linspace(0, 1, _N_DEPENDENCE_BINS + 1)[1:-1]
        inner = np.unique(np.quantile(x, qs))
        which = np.searchsorted(inner, x, side="right")
        for b in range(inner.size + 1):
            sel = which == b
            n = int(sel.sum())
            keep = n >= k
            sizes.append(n)
            bins.append(
                {
                    # outer edges stay open: the extremes would be single patients' values
                    "low": float(inner[b - 1]) if b > 0 else None,
                    "high": float(inner[b]) if b < inner.size else None,
                    "n": n if keep else None,
                    "mean_shap": float(phi[sel].mean()) if keep else None,
                }
            )
        out[name] = {"kind": "quantile_bins", "bins": _close_bins(bins, sizes, len(X_explain), k)}
    return out


def _close_bins(bins: list[dict[str, Any]], sizes: list[int], n_explain: int, k: int) -> list:
    """Dependence bins add up to the explained patients with a value (the rest: missing), so
    a withheld bin must not be ``n_explain - sum(released bins)``: close them as one family."""
    hide = close_families(n_explain, sizes, k, withheld=[b for b, n in enumerate(sizes) if n < k])
    out = []
    for b, row in enumerate(bins):
        if b in hide.children and k > 0:
            row = {**row, "n": None, "mean_shap": None}
        out.append(row)
    return out


def _by_group(
    names: Sequence[str],
    abs_shap: np.ndarray,
    groups: pd.DataFrame | None,
    reference: dict[str, str],
    n_boot: int,
    rng: np.random.Generator,
    k: int,
) -> tuple[GroupComparison, ...]:
    if groups is None:
        return ()
    out: list[GroupComparison] = []
    for attr in groups.columns:
        labels = groups[attr].astype("string")
        ok = labels.notna().to_numpy()
        values = labels.to_numpy(dtype=object)
        uniq, counts = np.unique(values[ok].astype(str), return_counts=True)
        if uniq.size == 0:
            continue
        if attr in reference:
            ref = str(reference[attr])
        else:
            ref = str(uniq[np.lexsort((uniq, -counts))[0]])
        ref_sel = ok & (values == ref)
        n_ref = int(ref_sel.sum())
        if n_ref < k:
            continue
        ref_vals = abs_shap[ref_sel]
        ref_point = ref_vals.mean(axis=0)
        ref_reps = _boot_means(ref_vals, n_boot, rng) if n_boot else None
        if ref_reps is not None:
            ref_lo, ref_hi = percentile_ci(ref_reps)
        start, sizes = len(out), []
        for g, n in zip(uniq, counts, strict=True):
            g = str(g)
            if g == ref:
                continue
            sizes.append(int(n))
            if n < k:
                out.append(GroupComparison(attr, g, ref, None, True))
                continue
            vals = abs_shap[ok & (values == g)]
            point = vals.mean(axis=0)
            diff = point - ref_point
            items = []
            if ref_reps is not None:
                reps = _boot_means(vals, n_boot, rng)
                lo, hi = percentile_ci(reps)
                dlo, dhi = percentile_ci(reps - ref_reps)
            for j, name in enumerate(names):
                if ref_reps is None:
                    items.append(
                        GroupReliance(
                            name,
                            MetricValue(point[j]),
                            MetricValue(ref_point[j]),
                            MetricValue(diff[j]),
                        )
                    )
                else:
                    items.append(
                        GroupReliance(
                            name,
                            MetricValue(point[j], lo[j], hi[j]),
                            MetricValue(ref_point[j], ref_lo[j], ref_hi[j]),
                            MetricValue(diff[j], dlo[j], dhi[j]),
                        )
                    )
            items.sort(key=lambda r: (-abs(r.difference.value or 0.0), r.feature))
            out.append(GroupComparison(attr, g, ref, int(n), False, tuple(items)))
        # the listed sizes, the reference's (not listed) and the withheld ones add up to the
        # explained patients: no withheld size may come back as n_explain minus the rest
        hide = close_families(
            len(abs_shap), sizes, k, withheld=[i for i, n in enumerate(sizes) if n < k]
        )
        for i in hide.children:
            if out[start + i].n is not None:
                out[start + i] = dataclasses.replace(out[start + i], n=None)
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------


_METHODS = ("model-agnostic", "auto")
_NO_FAST_PATH = (
    "none: sklearn TreeExplainer/LinearExplainer would not give exact Shapley values of "
    "the probability function, so every model uses the same model-agnostic explainer"
)
_AGNOSTIC_USED = "the model-agnostic explainer was used"


def _tree_values(
    model: LoadedModel,
    encoding: _Encoding,
    predict: Callable[[np.ndarray], np.ndarray],
    X_bg: np.ndarray,
    X_ex: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, str, str] | str:
    """(values, explainer name, fast-path note) from the trees, or why they were not used."""
    from cohortaudit.explain_treeshap import Unmappable, tree_shap_values

    try:
        phi, _base, source = tree_shap_values(
            model, encoding.names, encoding.decode, predict, X_bg, X_ex, seed=seed
        )
    except Unmappable as exc:
        return str(exc)
    note = (
        f"{source}: the exact interventional Shapley values of the probability over the raw "
        "inputs, computed from the trees (the same values as ExactExplainer with this "
        "background); the tree reading was checked against the model's own outputs"
    )
    return phi, TREE_METHOD, note


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(
            f"The '{name}' parameter must be an int >= {minimum}. Got {value!r} instead."
        )


def explain_model(
    model: LoadedModel,
    features: pd.DataFrame,
    *,
    groups: pd.DataFrame | None = None,
    reference: dict[str, str] | None = None,
    n_explain: int = 1000,
    n_background: int = 100,
    seed: int = 0,
    n_boot: int = 200,
    progress: Callable[[int, int], Any] | None = None,
    min_cell: int = MIN_CELL,
    method: str = "model-agnostic",
) -> ExplanationResult:
    """Explain ``model`` on a cohort with SHAP values on the probability scale, aggregate-only.

    Parameters
    ----------
    model:
        From :func:`cohortaudit.io.load_model` (ONNX or skops).
    features:
        The cohort's model inputs (``Cohort.features``); text columns are categorical.
    groups:
        Sensitive attributes, one column each, aligned with ``features`` (``Cohort.groups``).
        Sampling is stratified by their intersection; ``by_group`` and ``proxies`` use them.
    reference:
        Reference group per attribute for ``by_group``; default the largest explained group.
    n_explain, n_background:
        Explained rows and masker background rows, both seeded stratified samples of the cohort.
    seed, n_boot:
        The same seed gives an identical result; ``n_boot`` bootstrap replicates per CI.
    min_cell:
        Disclosure k: counts 1..k-1 are withheld and groups with fewer explained rows skipped.
    progress:
        Called as ``progress(done, total)`` after each chunk of explained rows.
    method:
        ``"model-agnostic"`` (shap's explainers through the prediction function) or ``"auto"``:
        the exact tree algorithm for tree ensembles it can read (same values to ~1e-7, the
        float32 rounding of the model's own output), the model-agnostic path otherwise.
    """
    if method not in _METHODS:
        raise ConfigError(
            f"The 'method' parameter must be one of {list(_METHODS)}. Got {method!r} instead."
        )
    _check_int("n_explain", n_explain, 1)
    _check_int("n_background", n_background, 1)
    _check_int("n_boot", n_boot, 0)
    _check_int("seed", seed, 0)
    _check_int("min_cell", min_cell, 0)
    if not isinstance(features, pd.DataFrame) or len(features) == 0:
        raise ConfigError(
            f"The 'features' parameter must be a non-empty pandas DataFrame. Got "
            f"{type(features).__name__} instead."
        )
    features = features.reset_index(drop=True)
    if groups is not None:
        if len(groups) != len(features):
            raise ConfigError(
                f"The 'groups' parameter must have one row per feature row ({len(features)}). "
                f"Got {len(groups)} rows instead."
            )
        groups = groups.reset_index(drop=True)
    reference = dict(reference or {})

    encoding = _build_encoding(model, features)
    fast_model = _single_thread_model(model, encoding)
    predict = _predict_fn(fast_model, encoding)

    strata = _strata(groups, len(features))
    rng_bg = np.random.default_rng([seed, 1])
    rng_ex = np.random.default_rng([seed, 2])
    bg_rows = _stratified_sample(strata, n_background, rng_bg)
    ex_rows = _stratified_sample(strata, n_explain, rng_ex)
    X_bg = encoding.encode(features.iloc[bg_rows])
    X_ex = encoding.encode(features.iloc[ex_rows])

    t0 = time.perf_counter()
    tree = _tree_values(fast_model, encoding, predict, X_bg, X_ex, seed) if method == "auto" else None
    if isinstance(tree, tuple):
        phi, explainer_name, fast_path = tree
        if progress is not None:
            progress(len(X_ex), len(X_ex))
    else:
        phi, _base, explainer_name = _shap_values(
            predict, X_bg, X_ex, encoding.names, seed=seed, progress=progress
        )
        fast_path = _NO_FAST_PATH if tree is None else f"none: {tree}; {_AGNOSTIC_USED}"
    seconds = time.perf_counter() - t0
    abs_phi = np.abs(phi)
    ex_groups = groups.iloc[ex_rows].reset_index(drop=True) if groups is not None else None

    settings = {
        "explainer": explainer_name,
        "model_kind": model.kind,
        "model_agnostic": explainer_name != TREE_METHOD,
        "fast_path": fast_path,
        "scale": "probability",
        "masker": "Independent (interventional), background sampled from the cohort",
        "categorical_encoding": "ordinal codes for the masker, decoded before scoring",
        "categorical_inputs": sorted(encoding.categories),
        "n_rows": int(len(features)),
        "n_explain": int(len(ex_rows)),
        "n_background": int(len(bg_rows)),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "seeds": {"background": [seed, 1], "explain": [seed, 2], "bootstrap": [seed, 3]},
        "sampling": (
            "proportional stratified by the intersection of the sensitive attributes"
            if groups is not None and groups.shape[1]
            else "simple random without replacement"
        ),
        "ort_threads": 1 if model.kind == "onnx" else None,
        "confidence": CONFIDENCE,
        "min_cell": int(min_cell),
        "proxy_strong_auroc": PROXY_STRONG_AUROC,
        "proxy_cv": "3-fold stratified, shuffled with the seed",
        "proxy_classifier": {"single input": PROXY_SINGLE, "all inputs": PROXY_CLASSIFIER},
        "proxy_direct_inputs": sorted(
            str(a) for a in (groups.columns if groups is not None else []) if a in encoding.names
        ),
        "proxy_note": (
            "a sensitive attribute that is itself a model input (proxy_direct_inputs) is used "
            "directly; it is left out of its own proxy check and of the all-inputs model"
        ),
        "proxy_max_rows": PROXY_MAX_ROWS,
    }
    rng_boot = np.random.default_rng([seed, 3])
    return ExplanationResult(
        global_importance=_global_importance(encoding.names, abs_phi, n_boot, rng_boot),
        distribution=_distribution(encoding.names, phi, min_cell),
        dependence=_dependence(encoding, X_ex, phi, min_cell),
        by_group=_by_group(
            encoding.names, abs_phi, ex_groups, reference, n_boot, rng_boot, min_cell
        ),
        proxies=proxy_strengths(encoding, features, groups, seed=seed, n_boot=n_boot, k=min_cell),
        settings=settings,
        seconds_shap=seconds,
    )


def local_explanation(
    model: LoadedModel,
    features_row: pd.DataFrame,
    background: pd.DataFrame,
    *,
    n_background: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """One patient's waterfall for the app (never exported): base value, per-input SHAP.

    ``background`` is the cohort (or a sample of it); categories unseen there are an error.
    Returns ``{"base_value", "prediction", "scale", "explainer", "features": [{"feature",
    "value", "shap"}]}`` with features ranked by |SHAP|.
    """
    if not isinstance(features_row, pd.DataFrame) or len(features_row) != 1:
        raise ConfigError(
            "The 'features_row' parameter must be a pandas DataFrame with exactly one row. "
            f"Got {type(features_row).__name__} with {len(getattr(features_row, 'index', []))} "
            "rows instead."
        )
    both = pd.concat([background, features_row], ignore_index=True)
    encoding = _build_encoding(model, both)
    predict = _predict_fn(_single_thread_model(model, encoding), encoding)
    rng = np.random.default_rng([seed, 1])
    bg_rows = _stratified_sample(np.zeros(len(background), dtype=np.int64), n_background, rng)
    X_bg = encoding.encode(background.iloc[bg_rows])
    x = encoding.encode(features_row)
    phi, base, name = _shap_values(predict, X_bg, x, encoding.names, seed=seed)
    row = features_row.iloc[0]
    items = [
        {
            "feature": f,
            "value": row[f].item() if hasattr(row[f], "item") else row[f],
            "shap": float(phi[0, j]),
        }
        for j, f in enumerate(encoding.names)
    ]
    items.sort(key=lambda d: -abs(d["shap"]))
    return {
        "base_value": float(base[0]),
        "prediction": float(predict(x)[0]),
        "scale": "probability",
        "explainer": name,
        "features": items,
    }

"""Proxy checks: does an input stand in for a sensitive attribute?

Split from :mod:`cohortaudit.explain` by job: SHAP says what the model relies on; this module
says which inputs carry a sensitive attribute (cross-validated AUROC of the attribute from each
input, and from all inputs together, with bootstrap CIs), so that reliance on a proxy can be
read beside reliance on the attribute itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from cohortaudit.explain_results import ProxyStrength
from cohortaudit.results import MetricValue
from cohortaudit.sampling import stratified_sample

__all__ = [
    "PROXY_STRONG_AUROC",
    "PROXY_MAX_ROWS",
    "PROXY_CLASSIFIER",
    "PROXY_SINGLE",
    "MAX_DISCRETE_LEVELS",
    "CONFIDENCE",
    "percentile_ci",
    "weighted_auroc",
    "proxy_strengths",
]

#: An input (or all inputs together) whose cross-validated AUROC for a sensitive attribute
#: reaches this is flagged as a strong proxy (a common "excellent discrimination" cut-off).
PROXY_STRONG_AUROC = 0.8
#: Rows used to fit the proxy classifiers (seeded stratified subsample above this).
PROXY_MAX_ROWS = 5000
PROXY_CLASSIFIER = "LogisticRegression on one-hot categories and quantile-binned numbers"
PROXY_SINGLE = "class shares per value bin (levels, or 10 quantile bins), cross-validated"
#: Numeric inputs with at most this many distinct values are summarised per value.
MAX_DISCRETE_LEVELS = 10
#: Confidence level of every explanation interval.
CONFIDENCE = 0.95


class EncodedInputs(Protocol):
    """What the proxy check needs of the explainer's input encoding."""

    names: Sequence[str]
    categories: Mapping[str, Any]

    def encode(self, frame: pd.DataFrame) -> np.ndarray: ...


def percentile_ci(reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval at :data:`CONFIDENCE` over the replicates (axis 0)."""
    alpha = (1 - CONFIDENCE) / 2
    return np.quantile(reps, alpha, axis=0), np.quantile(reps, 1 - alpha, axis=0)


def weighted_auroc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUROC of score ``s`` for binary ``y`` under row weights ``w`` [B, n] (ties count 1/2).

    One sort serves every bootstrap replicate (replicates are multinomial row weights), so the
    CI costs a few array operations instead of B re-rankings.
    """
    order = np.argsort(s, kind="mergesort")
    s_sorted, y_sorted, w = s[order], y[order].astype(np.float64), w[:, order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    pos = np.add.reduceat(w * y_sorted, starts, axis=1)
    neg = np.add.reduceat(w * (1 - y_sorted), starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    num = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _boot_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Row 0 all ones (the point estimate), then ``n_boot`` multinomial bootstrap replicates."""
    return np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1 / n), size=n_boot)])


def _auroc_with_ci(
    y: np.ndarray, proba: np.ndarray, classes: np.ndarray, n_boot: int, weights: np.ndarray
) -> MetricValue:
    if classes.size == 2:
        aucs = weighted_auroc(y == classes[1], proba[:, 1], weights)
    else:
        aucs = np.nanmean(
            np.vstack(
                [weighted_auroc(y == c, proba[:, k], weights) for k, c in enumerate(classes)]
            ),
            axis=0,
        )
    if n_boot:
        lo, hi = percentile_ci(aucs[1:][np.isfinite(aucs[1:])])
        return MetricValue(aucs[0], lo, hi)
    return MetricValue(aucs[0])


def _binned_cv_proba(
    x: np.ndarray,
    y_codes: np.ndarray,
    n_classes: int,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Cross-validated class probabilities from one input: class shares per value bin.

    For a single input this is what a logistic model on its one-hot bins converges to (the
    saturated model), computed with bincounts instead of an optimiser: the proxy check then
    costs milliseconds per input. Bins: the values themselves for inputs with <= 10 levels,
    else 10 quantile bins; missing values form their own bin. Laplace smoothing (+1) keeps
    a bin seen only in the test fold at the training prevalence rather than at 0.
    """
    finite = np.isfinite(x)
    levels = np.unique(x[finite])
    if levels.size <= MAX_DISCRETE_LEVELS:
        codes = np.searchsorted(levels, np.where(finite, x, levels[0] if levels.size else 0))
        n_bins = max(levels.size, 1)
    else:
        inner = np.unique(np.quantile(x[finite], np.linspace(0, 1, 11)[1:-1]))
        codes = np.searchsorted(inner, np.where(finite, x, 0.0), side="right")
        n_bins = inner.size + 1
    codes = np.where(finite, codes, n_bins)  # missing values: one more bin
    n_bins += 1
    proba = np.zeros((x.size, n_classes))
    for train, test in folds:
        counts = np.zeros((n_bins, n_classes))
        np.add.at(counts, (codes[train], y_codes[train]), 1.0)
        prior = np.bincount(y_codes[train], minlength=n_classes) / train.size
        smoothed = counts + prior * 1.0
        proba[test] = smoothed[codes[test]] / smoothed[codes[test]].sum(axis=1, keepdims=True)
    return proba


def proxy_strengths(
    encoding: EncodedInputs,
    features: pd.DataFrame,
    groups: pd.DataFrame | None,
    *,
    seed: int,
    n_boot: int,
    k: int,
) -> tuple[ProxyStrength, ...]:
    """How well each input (and all inputs together) predicts each sensitive attribute:
    cross-validated AUROC with a bootstrap CI; classes with fewer than ``k`` rows are left out."""
    if groups is None:
        return ()
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder

    X_all = encoding.encode(features)
    out: list[ProxyStrength] = []
    for a, attr in enumerate(groups.columns):
        rng = np.random.default_rng([seed, 7, a])
        labels = groups[attr].astype("string")
        ok = labels.notna().to_numpy()
        y_all = labels.to_numpy(dtype=object)
        uniq, counts = np.unique(y_all[ok].astype(str), return_counts=True)
        keep_classes = uniq[counts >= k]
        if keep_classes.size < 2:
            continue
        rows = np.flatnonzero(ok & np.isin(y_all.astype(str), keep_classes))
        y_rows = y_all[rows].astype(str)
        if rows.size > PROXY_MAX_ROWS:
            rows = rows[stratified_sample(pd.factorize(y_rows)[0], PROXY_MAX_ROWS, rng)]
            y_rows = y_all[rows].astype(str)
        classes = np.unique(y_rows)
        if classes.size < 2 or np.unique(y_rows, return_counts=True)[1].min() < 3:
            continue
        weights = _boot_weights(len(rows), n_boot, rng)  # shared: one set per attribute
        cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        folds = list(cv.split(np.zeros(len(rows)), y_rows))
        y_codes = np.searchsorted(classes, y_rows)
        for j, name in enumerate(encoding.names):
            if name == attr:
                continue  # the attribute itself is a model input: direct use, not a proxy
            proba = _binned_cv_proba(X_all[rows, j], y_codes, classes.size, folds)
            auroc = _auroc_with_ci(y_rows, proba, classes, n_boot, weights)
            strong = auroc.value is not None and auroc.value >= PROXY_STRONG_AUROC
            out.append(ProxyStrength(str(attr), name, auroc, PROXY_SINGLE, bool(strong)))
        others = [j for j, name in enumerate(encoding.names) if name != attr]
        for label, cols in [("(all inputs)", others)] if others else []:
            X = X_all[np.ix_(rows, cols)]
            cat_mask = [encoding.names[j] in encoding.categories for j in cols]
            # One-hot categories and quantile-binned numbers feeding a logistic model: catches
            # non-monotone links, costs a fraction of a second; additive (no interactions) for
            # the all-inputs model, which keeps the proxy check fast on big cohorts.
            parts = []
            for c, j in enumerate(cols):
                discrete = cat_mask[c] or np.unique(X[:, c][np.isfinite(X[:, c])]).size <= 10
                if discrete:
                    step: Any = make_pipeline(
                        SimpleImputer(strategy="most_frequent"),
                        OneHotEncoder(handle_unknown="ignore"),
                    )
                else:
                    step = make_pipeline(
                        SimpleImputer(strategy="median"),
                        KBinsDiscretizer(
                            n_bins=10,
                            encode="onehot",
                            strategy="quantile",
                            quantile_method="averaged_inverted_cdf",
                        ),
                    )
                parts.append((encoding.names[j], step, [c]))
            clf = make_pipeline(
                ColumnTransformer(parts), LogisticRegression(max_iter=1000, tol=1e-3)
            )
            clf_name = PROXY_CLASSIFIER
            proba = cross_val_predict(clf, X, y_rows, cv=cv, method="predict_proba")
            auroc = _auroc_with_ci(y_rows, proba, classes, n_boot, weights)
            strong = auroc.value is not None and auroc.value >= PROXY_STRONG_AUROC
            out.append(ProxyStrength(str(attr), label, auroc, clf_name, bool(strong)))
    return tuple(out)

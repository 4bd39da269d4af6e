"""Robustness: how much AUROC and sensitivity change when the inputs are perturbed.

Inputs at a new site are measured with other devices and coded by other people: a model whose
discrimination collapses under a little measurement noise or a few miscoded categories is
fragile there. :func:`robustness` scores the cohort once as it is and once per seeded
perturbation, and reports the paired change for the cohort and each group with enough events.

All numeric inputs get Gaussian noise of SD level * SD(feature) at once (the card's SD when known;
integer columns are rounded back) (:func:`add_noise`), or each categorical input flips to another
observed category at the given rate (:func:`flip_categories`). Delta AUROC uses the paired DeLong
(1988) covariance of the two score vectors on the same patients (:func:`paired_delong`); Delta
sensitivity uses the paired (McNemar-type) Wald interval on the cases:
d = (b - c)/m, SE = sqrt(b + c - (b - c)^2/m)/m.

The module is called ``perturbation`` rather than ``robustness`` so that the package attribute
``cohortaudit.safety.robustness`` stays the function it has always been, not a submodule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.intake.card import ModelCard
from cohortaudit.results import MetricValue
from cohortaudit.safety.common import (
    check_frame,
    check_min_cell,
    closed_subsets,
    cohort_subsets,
    z_value,
)
from cohortaudit.safety.results import MAX_LEVELS, RobustnessResult, RobustnessRow

__all__ = ["add_noise", "flip_categories", "paired_delong", "robustness"]


def _placements(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and the DeLong placement values (v10 per case, v01 per control), any order."""
    ps, ns = np.sort(pos), np.sort(neg)
    m, k = len(ps), len(ns)
    v10 = (np.searchsorted(ns, pos, "left") + np.searchsorted(ns, pos, "right")) / (2.0 * k)
    lo, hi = np.searchsorted(ps, neg, "left"), np.searchsorted(ps, neg, "right")
    v01 = ((m - hi) + (m - lo)) / (2.0 * m)
    return float(v10.mean()), v10, v01


def paired_delong(
    y: np.ndarray, s1: np.ndarray, s2: np.ndarray
) -> tuple[float, float, float, float]:
    """AUC1, AUC2, AUC2 - AUC1 and its paired DeLong SE (DeLong, DeLong & Clarke-Pearson 1988)."""
    case = y == 1
    a1, v10a, v01a = _placements(s1[case], s1[~case])
    a2, v10b, v01b = _placements(s2[case], s2[~case])
    m, k = int(case.sum()), int((~case).sum())
    # var(V_a - V_b) = S_aa + S_bb - 2 S_ab, computed directly: np.cov goes through BLAS, whose
    # CPU-specific kernels would move the last digits between machines (see metrics.portable)
    var = _sample_variance(v10a - v10b) / m + _sample_variance(v01a - v01b) / k
    return a1, a2, a2 - a1, math.sqrt(max(float(var), 0.0))


def _sample_variance(x: np.ndarray) -> float:
    """Unbiased sample variance (ddof = 1), NaN below two values, as np.cov gives."""
    if x.size < 2:
        return math.nan
    d = x - np.add.reduce(x) / x.size
    return float(np.add.reduce(d * d) / (x.size - 1))


def _split_columns(
    features: pd.DataFrame, card: ModelCard | None
) -> tuple[list[str], list[str], dict[str, float]]:
    numeric, categorical, sds = [], [], {}
    types = {s.name: s for s in card.inputs} if card is not None else {}
    for col in features.columns:
        spec = types.get(col)
        s = features[col]
        is_num = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if spec is not None:
            kind = "numeric" if spec.type == "numeric" else "categorical"
        else:
            kind = "numeric" if is_num and s.nunique() > MAX_LEVELS else "categorical"
        if kind == "numeric" and is_num and s.nunique() > 2:
            numeric.append(col)
            ref_sd = (spec.reference or {}).get("sd") if spec is not None else None
            sds[col] = float(ref_sd) if ref_sd else float(np.nanstd(s.to_numpy(float), ddof=1))
        else:
            categorical.append(col)
    return numeric, categorical, sds


def add_noise(
    features: pd.DataFrame, cols: Sequence[str], sds: Mapping[str, float], level: float, rng
) -> pd.DataFrame:
    """A copy of ``features`` with Gaussian noise of SD ``level * sds[col]`` on each of ``cols``."""
    out = features.copy()
    for col in cols:
        x = features[col].to_numpy(dtype=np.float64, na_value=np.nan)
        x = x + rng.normal(0.0, 1.0, size=len(x)) * level * sds[col]
        if pd.api.types.is_integer_dtype(features[col]):
            out[col] = np.round(x).astype(features[col].dtype)
        else:
            out[col] = x.astype(features[col].dtype)
    return out


def flip_categories(features: pd.DataFrame, cols: Sequence[str], rate: float, rng) -> pd.DataFrame:
    """A copy of ``features`` where each non-missing value of ``cols`` flips, with probability
    ``rate``, to another category observed in that column (uniformly)."""
    out = features.copy()
    for col in cols:
        s = features[col]
        codes, uniques = pd.factorize(s, sort=True)
        u = len(uniques)
        flip = (rng.random(len(s)) < rate) & (codes >= 0)
        if u < 2 or not flip.any():
            continue
        shift = rng.integers(1, u, size=len(s))  # a different category, uniformly
        new_codes = np.where(flip, (codes + shift) % u, codes)
        values = s.to_numpy(copy=True)
        values[flip] = np.asarray(uniques)[new_codes[flip]]
        out[col] = pd.Series(values, index=s.index).astype(s.dtype)
    return out


def robustness(
    features: pd.DataFrame,
    y_true: Any,
    score: Callable[[pd.DataFrame], np.ndarray],
    *,
    threshold: float,
    card: ModelCard | None = None,
    groups: pd.DataFrame | None = None,
    noise_levels: Sequence[float] = (0.05, 0.1, 0.2),
    flip_rates: Sequence[float] = (0.05, 0.1),
    random_state: int = 0,
    min_cell: int = 10,
    confidence: float = 0.95,
) -> RobustnessResult:
    """Change in AUROC and sensitivity when the inputs are perturbed (seeded).

    ``score(features) -> risks`` is called once unperturbed and once per perturbation. Groups
    are evaluated only with >= ``min_cell`` events and non-events.
    """
    check_frame(features)
    check_min_cell(min_cell)
    if not (isinstance(threshold, int | float) and 0 < threshold < 1):
        raise ConfigError(
            f"The 'threshold' parameter must be a float in (0, 1). Got {threshold!r} instead."
        )
    y = np.asarray(y_true).astype(np.int64)
    if y.shape != (len(features),):
        raise SchemaError(
            f"The 'y_true' parameter must have one value per patient ({len(features)}). "
            f"Got shape {y.shape}."
        )
    z = z_value(confidence)
    numeric, categorical, sds = _split_columns(features, card)
    base = np.asarray(score(features), dtype=np.float64)
    subsets = [
        (g, m)
        for g, m in cohort_subsets(len(features), groups, min_cell)
        if min(int(y[m].sum() if m is not None else y.sum()),
               int((1 - y[m]).sum() if m is not None else (1 - y).sum())) >= min_cell
    ]  # fmt: skip
    subsets = closed_subsets(subsets, len(features), min_cell)
    root = np.random.SeedSequence(random_state)
    plans = [("gaussian_noise", float(v)) for v in noise_levels] + [
        ("category_flip", float(r)) for r in flip_rates
    ]
    children = root.spawn(len(plans))
    rows: list[RobustnessRow] = []
    for (kind, level), child in zip(plans, children, strict=True):
        rng = np.random.default_rng(child)
        if kind == "gaussian_noise":
            pert = add_noise(features, numeric, sds, level, rng)
        else:
            pert = flip_categories(features, categorical, level, rng)
        new = np.asarray(score(pert), dtype=np.float64)
        for group, mask in subsets:
            yy, s1, s2 = (y, base, new) if mask is None else (y[mask], base[mask], new[mask])
            a1, a2, d, se = paired_delong(yy, s1, s2)
            case = yy == 1
            m = int(case.sum())
            p1, p2 = s1[case] >= threshold, s2[case] >= threshold
            b, c = int((p2 & ~p1).sum()), int((p1 & ~p2).sum())
            ds = (b - c) / m
            se_s = math.sqrt(max(b + c - (b - c) ** 2 / m, 0.0)) / m
            rows.append(
                RobustnessRow(
                    perturbation=kind,
                    level=level,
                    group=group,
                    n=len(yy),
                    auroc=a1,
                    auroc_perturbed=a2,
                    delta_auroc=MetricValue(d, d - z * se, d + z * se),
                    sensitivity=float(p1.mean()),
                    sensitivity_perturbed=float(p2.mean()),
                    delta_sensitivity=MetricValue(ds, ds - z * se_s, ds + z * se_s),
                )
            )
    return RobustnessResult(
        threshold=float(threshold),
        seed=int(random_state),
        rows=tuple(rows),
        perturbed_columns={"gaussian_noise": tuple(numeric), "category_flip": tuple(categorical)},
    )

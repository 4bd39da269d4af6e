"""Robustness to perturbed inputs: paired DeLong and Wald changes (safety.perturbation)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from cohortaudit import safety
from cohortaudit.errors import ConfigError
from cohortaudit.safety.perturbation import flip_categories, paired_delong


def _robust_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(0, 1, n),
            "x2": rng.normal(5, 2, n),
            "cat": rng.choice(["a", "b", "c"], n),
        }
    )

    def score(df):
        lp = -2 + 1.2 * df["x1"].to_numpy() + 0.4 * (df["x2"].to_numpy() - 5)
        return expit(lp + 0.8 * (df["cat"].to_numpy() == "b"))

    y = rng.binomial(1, score(frame))
    groups = pd.DataFrame({"g": rng.choice(["u", "v"], n)})
    return frame, y, score, groups


def test_robustness_zero_noise_is_zero_change():
    frame, y, score, groups = _robust_data()
    res = safety.robustness(
        frame, y, score, threshold=0.2, groups=groups, noise_levels=(0.0,), flip_rates=(0.0,)
    )
    assert len(res.rows) == 2 * 3  # two perturbations x (overall + two groups)
    for row in res.rows:
        assert row.delta_auroc.value == 0.0
        assert row.delta_sensitivity.value == 0.0
        assert row.auroc == pytest.approx(
            roc_auc_score(
                y if not row.group else y[groups.g == row.group["g"]],
                score(frame) if not row.group else score(frame)[groups.g == row.group["g"]],
            )
        )


def test_robustness_more_noise_larger_drop_and_deterministic():
    frame, y, score, _ = _robust_data()
    drops = {0.05: [], 0.5: [], 1.0: []}
    for seed in range(4):
        res = safety.robustness(
            frame,
            y,
            score,
            threshold=0.2,
            noise_levels=tuple(drops),
            flip_rates=(),
            random_state=seed,
        )
        for row in res.rows:
            drops[row.level].append(row.delta_auroc.value)
    means = [np.mean(drops[k]) for k in sorted(drops)]
    assert means[0] > means[1] > means[2]
    assert means[2] < -0.02
    a = safety.robustness(frame, y, score, threshold=0.2, random_state=7).to_dict()
    b = safety.robustness(frame, y, score, threshold=0.2, random_state=7).to_dict()
    assert json.dumps(a) == json.dumps(b)
    assert a["perturbed_columns"] == {"gaussian_noise": ["x1", "x2"], "category_flip": ["cat"]}


def test_paired_delong_matches_separate_aucs_and_flip_changes_categories():
    frame, y, score, _ = _robust_data(n=800, seed=3)
    s1 = score(frame)
    s2 = s1 + np.random.default_rng(1).normal(0, 0.1, len(s1))
    a1, a2, d, se = paired_delong(y, s1, s2)
    assert a1 == pytest.approx(roc_auc_score(y, s1))
    assert a2 == pytest.approx(roc_auc_score(y, s2))
    assert d == pytest.approx(a2 - a1) and se > 0
    flipped = flip_categories(frame, ["cat"], 0.1, np.random.default_rng(0))
    changed = (flipped["cat"] != frame["cat"]).mean()
    assert 0.07 < changed < 0.13
    assert set(flipped["cat"]) <= {"a", "b", "c"}


def test_robustness_rejects_bad_threshold():
    frame, y, score, _ = _robust_data(n=100)
    with pytest.raises(ConfigError, match="'threshold' parameter must be a float in \\(0, 1\\)"):
        safety.robustness(frame, y, score, threshold=1.5)

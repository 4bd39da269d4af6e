"""Weak slices: the search, its statistics and Benjamini-Hochberg (safety.slices)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from cohortaudit import safety
from cohortaudit.safety.slices import midranks_within


def _slice_data(n, seed, *, planted):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    p = expit(-1.6 + 1.1 * x)
    y = rng.binomial(1, p)
    frame = pd.DataFrame(
        {
            "g1": rng.choice(["a", "b", "c", "d"], n),
            "g2": rng.choice(["x", "y", "z"], n),
            "num": rng.uniform(20, 90, n),
        }
    )
    if planted:
        sl = ((frame.g1 == "a") & (frame.g2 == "x")).to_numpy()
        p = p.copy()
        p[sl] = rng.permutation(p[sl])  # same risks, shuffled: no discrimination in the slice
    return y, p, frame


def test_weak_slices_null_reports_nothing_in_most_seeds():
    clean = 0
    for seed in range(20):
        y, p, frame = _slice_data(1500, seed, planted=False)
        if not safety.weak_slices(y, p, frame, threshold=0.2):
            clean += 1
    assert clean >= 18


def test_weak_slices_finds_planted_slice_first():
    y, p, frame = _slice_data(6000, 5, planted=True)
    found = safety.weak_slices(y, p, frame, threshold=0.2)
    assert found
    top = found[0]
    assert top.attributes == {"g1": "a", "g2": "x"}
    metrics = {w.metric for w in found if w.attributes == top.attributes}
    assert "auroc" in metrics
    assert top.description.startswith("g1 = a, g2 = x: ")
    assert " rest " in top.description
    json.dumps([w.to_dict() for w in found])


def test_weak_slice_statistics_match_direct_computation():
    y, p, frame = _slice_data(3000, 6, planted=True)
    found = safety.weak_slices(y, p, frame, threshold=0.2, fdr=0.999)
    auroc = next(w for w in found if w.metric == "auroc" and w.attributes == {"g1": "a", "g2": "x"})
    sl = ((frame.g1 == "a") & (frame.g2 == "x")).to_numpy()
    assert auroc.value.value == pytest.approx(roc_auc_score(y[sl], p[sl]))
    assert auroc.rest_value == pytest.approx(roc_auc_score(y[~sl], p[~sl]))
    from cohortaudit.metrics.performance import auroc_delong

    _, se = auroc_delong(np.sort(p[sl][y[sl] == 1]), np.sort(p[sl][y[sl] == 0]))
    assert auroc.value.ci_high - auroc.value.value == pytest.approx(
        min(1.959964 * se, 1 - auroc.value.value), rel=1e-4
    )
    # numeric columns are cut at quartiles, the outer bins open (no cohort minimum or maximum)
    num = {w.attributes["num"] for w in found if "num" in w.attributes}
    assert num and all(v[0] in "[<≥" for v in num)
    assert not any(v.startswith("[") and v.endswith("]") for v in num)


def test_midrank_within_matches_scipy():
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, 200)
    s = rng.integers(0, 10, 200).astype(float)
    r = midranks_within(codes, s)
    for c in range(3):
        assert np.allclose(r[codes == c], rankdata(s[codes == c]))

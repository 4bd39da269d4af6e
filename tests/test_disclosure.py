"""Disclosure control: nothing below k is released, and nothing withheld can be derived."""

from __future__ import annotations

import json
import re
from itertools import combinations
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.render.json import result_to_json


def _cohort(n, seed):
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "site": rng.choice(["s1", "s2", "s3", "s4"], n, p=[0.5, 0.3, 0.17, 0.03]),
            "eth": rng.choice(["A", "B", "C"], n, p=[0.8, 0.17, 0.03]),
        }
    )
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x - 2)))).astype(np.int8)
    p = 1 / (1 + np.exp(-(0.9 * x - 2)))
    return (
        SimpleNamespace(
            features=None,
            y_true=y,
            y_score=p,
            groups=groups,
            n_input_rows=n,
            n_dropped=0,
            caveats=(),
        ),
        y,
        p,
        groups,
    )


def _audit(n, seed, k, threshold=0.3):
    cohort, y, p, groups = _cohort(n, seed)
    config = AuditConfig(
        label="y",
        sensitive_features=("sex", "site", "eth"),
        score_column="p",
        n_boot=20,
        min_cell=k,
        threshold=threshold,
    )
    return run_audit(cohort, None, config), y, p, groups


def _by_attrs(result):
    out = {(): result.overall}
    for g in result.subgroups:
        out[tuple(sorted(g.attributes.items()))] = g
    return out


@pytest.mark.parametrize(
    "n, seed, k", [(800, 0, 10), (1500, 1, 10), (3000, 2, 25), (600, 3, 5), (5000, 4, 50)]
)
def test_no_withheld_group_can_be_derived_by_subtraction(n, seed, k):
    result, *_ = _audit(n, seed, k)
    groups = _by_attrs(result)
    for key, _child in groups.items():
        for drop in range(len(key)):
            parent_key = key[:drop] + key[drop + 1 :]
            parent = groups[parent_key]
            if parent.suppressed:
                continue
            # siblings: same attributes as `key` except the dropped one
            attr = key[drop][0]
            siblings = [
                g
                for kk, g in groups.items()
                if len(kk) == len(key)
                and kk[:drop] + kk[drop + 1 :] == parent_key
                and kk[drop][0] == attr
            ]
            hidden = [g for g in siblings if g.suppressed]
            assert len(hidden) != 1, (parent_key, attr)
            hidden_conf = [g for g in siblings if g.suppressed or g.withheld]
            if not parent.withheld:
                assert len(hidden_conf) != 1, (parent_key, attr)


@pytest.mark.parametrize("k", [5, 10, 40])
def test_every_released_count_is_at_least_k(k):
    result, *_ = _audit(2000, 5, k)
    for g in (result.overall, *result.subgroups):
        if g.suppressed:
            assert g.n is None and g.events is None and g.metrics == {} and g.confusion == {}
            continue
        assert g.events >= k and g.n - g.events >= k
        cells = [v for v in g.confusion.values() if v is not None]
        assert all(c >= k for c in cells)
        if g.withheld:
            assert all(g.metrics[m].value is None for m in g.withheld)


def test_suppressed_groups_are_logged_without_counts_and_marked():
    result, y, p, groups = _audit(1500, 1, 10)
    suppressed = [g for g in result.subgroups if g.suppressed]
    assert suppressed, "this cohort has groups smaller than k"
    logged = [e.where for e in result.disclosure_log if e.action == "group suppressed"]
    for g in suppressed:
        assert g.attributes in logged
        assert g.suppression_reason
    for entry in result.disclosure_log:  # reasons name k, never a count
        assert set(re.findall(r"\d+", entry.reason)) <= {"10"}


def test_suppressed_groups_contribute_no_disparities_or_fairness_numbers():
    result, *_ = _audit(1500, 1, 10)
    hidden = [g.attributes for g in result.subgroups if g.suppressed]
    for d in result.disparities:
        assert d.group not in hidden and d.reference not in hidden
    released = {tuple(g.attributes) for g in result.subgroups}
    for f in result.fairness:
        assert f.groups_compared >= 2 and tuple(f.attributes) in {tuple(k) for k in released}


def test_tiny_group_suppression_is_visible_in_the_json():
    cohort, y, p, groups = _cohort(3000, 9)
    groups.loc[:4, "eth"] = "Z"  # five patients: always below k
    config = AuditConfig(label="y", sensitive_features=("eth",), score_column="p", n_boot=10)
    d = json.loads(result_to_json(run_audit(cohort, None, config)))
    z = next(g for g in d["subgroups"] if g["attributes"] == {"eth": "Z"})
    assert z["suppressed"] is True and z["n"] is None and z["events"] is None and z["metrics"] == {}
    assert any(e["where"] == {"eth": "Z"} for e in d["disclosure_log"])


def test_every_partition_combination_is_reported():
    result, *_ = _audit(3000, 2, 10)
    attrs = {tuple(g.attributes) for g in result.subgroups}
    for order in (1, 2, 3):
        for combo in combinations(("sex", "site", "eth"), order):
            assert combo in attrs

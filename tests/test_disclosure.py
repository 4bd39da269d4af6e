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


# ------------------------------------------------------------------------------------------
# the one disclosure pass (issue 14, point 3): close_families, protect_counts, protect_table,
# thin_thresholds, protect_caveats
# ------------------------------------------------------------------------------------------

from cohortaudit.disclosure import (  # noqa: E402
    CountFamily,
    CutOffCounts,
    close_families,
    cut_off_counts,
    protect_caveats,
    protect_counts,
    protect_table,
    thin_thresholds,
)
from cohortaudit.results import Caveat  # noqa: E402


def _gap(parent, children, hidden):
    return parent - sum(c for i, c in enumerate(children) if i not in hidden)


def test_a_small_child_takes_the_next_smallest_sibling_with_it():
    # the intended-use case of the issue: one patient aged 80 next to the age bands
    children = [132, 140, 6849, 7745, 6689, 3444, 1]
    closure = close_families(25000, children, 10)
    assert closure.children == {6, 0} and not closure.parent
    assert _gap(25000, children, closure.children) == 133


def test_withheld_children_adding_up_to_less_than_k_take_another():
    closure = close_families(100, [3, 4, 40, 53], 10)  # 3 + 4 = 7 would come back
    assert closure.children == {0, 1, 2}
    assert _gap(100, [3, 4, 40, 53], closure.children) == 47


def test_an_unlisted_remainder_counts_as_withheld():
    # children that do not cover the parent (groups too small to be listed): 5 patients
    closure = close_families(600, [300, 295], 10)
    assert closure.children == {1}


def test_a_lone_withheld_child_is_never_left_derivable():
    # withheld for another reason (secondary elsewhere) with counts >= k: still derivable
    closure = close_families(100, [30, 70], 10, withheld=[0])
    assert closure.children == {0, 1}


def test_the_parent_goes_when_no_sibling_is_left():
    prot = protect_counts({"p": 5, "a": 5}, [CountFamily(("a",), parent="p")], 10)
    assert prot.withheld == {"p", "a"}


def test_zero_cells_withheld_sum_of_zero_is_a_leak():
    fam = [CountFamily(("a", "b", "c"), parent="p")]
    counts = {"p": 60, "a": 0, "b": 0, "c": 60}
    assert protect_counts(counts, fam, 10, withheld=["a", "b"]).withheld == {"a", "b"}
    z = protect_counts(counts, fam, 10, withheld=["a", "b"], zero_cells=True)
    assert z.withheld == {"a", "b", "c"}  # "a and b have no patient" would come back


def test_k0_releases_everything():
    assert close_families(10, [1, 9], 0).children == frozenset()
    assert protect_counts({"a": 1}, [], 0, withheld=["a"]).withheld == frozenset()
    parent, children, withheld = protect_table({"n": 10, "x": 1}, [{"n": 10, "x": 1}], 0)
    assert children == [{"n": 10, "x": 1}] and withheld == [[]]
    c = Caveat("x", "info", "3 rows are odd.", {"n_rows": 3})
    assert protect_caveats([c], 0) == (c,)


def test_protect_table_protects_a_count_and_its_complement_in_the_row():
    parent = {"n": 100, "missing": 45}
    children = [{"n": 50, "missing": 47}, {"n": 50, "missing": 0}]  # 50 - 47 = 3 in range
    p, rows, withheld = protect_table(parent, children, 10, size="n")
    assert rows[0]["missing"] is None and withheld[0] == ["missing"]
    # the parent's 45 and the sibling's 0 would give 45 back: a lone withheld child
    assert rows[1]["missing"] is None or p["missing"] is None


def test_thinned_thresholds_differ_by_0_or_at_least_k():
    # tp, fp at or above each threshold: cumulative, non-increasing
    tp = [50, 48, 40, 39, 30, 22, 21, 12]
    fp = [90, 80, 70, 69, 60, 45, 44, 30]
    keep = thin_thresholds(
        [0.1 * (i + 1) for i in range(8)],
        list(zip(tp, fp, strict=True)),
        [True] * 8,
        5,
        total=(60, 100),
    )
    chain = [(60, 100)] + [(t, f) for t, f, k in zip(tp, fp, keep, strict=True) if k] + [(0, 0)]
    for a, b in zip(chain, chain[1:], strict=False):
        assert all(x - y == 0 or x - y >= 5 for x, y in zip(a, b, strict=True)), chain
    assert sum(keep) >= 3


def test_a_forced_operating_threshold_is_kept_and_its_neighbours_thinned():
    keep = thin_thresholds(
        [0.1, 0.2, 0.3],
        [(40, 80), (38, 78), (20, 50)],
        [True, True, True],
        5,
        total=(50, 100),
        forced=[(0.15, (39, 79))],
    )
    assert keep == [False, False, True]


def test_caveats_say_fewer_than_k_and_no_part_of_a_total():
    caveats = [
        Caveat(
            "out_of_range",
            "warning",
            "The model input 'x' has 78 of 600 rows (13.0%) outside the range (1 below, 77 above).",
            {"column": "x", "n_rows": 78, "n_below": 1, "n_above": 77},
        ),
        Caveat(
            "outside_bins",
            "warning",
            "The sensitive feature 'age' has values outside its bins: 132 rows are below the "
            "first edge and form the group '< 40'; 140 rows are above the last edge and form "
            "the group '> 80'.",
            {"column": "age", "n_below": 132, "n_above": 140},
        ),
        Caveat("missing", "info", "('bmi': 3 rows (0.5%)).", {"columns": {"bmi": 3}}),
    ]
    a, b, c = protect_caveats(caveats, 10, suppressed_groups=[{"age": "> 80"}])
    assert a.message.endswith("(fewer than 10 below, the rest above).")
    assert a.where == {"column": "x", "n_rows": 78}
    assert "132 rows are below" in b.message and "some rows are above" in b.message
    assert b.where == {"column": "age", "n_below": 132}
    assert c.message == "('bmi': fewer than 10 rows)." and c.where == {"columns": {"bmi": None}}


def test_a_small_number_of_excluded_rows_is_withheld_with_the_rows_read():
    from cohortaudit.audit import _released_exclusions

    assert _released_exclusions(25003, 3, 10) == (None, None)  # 25003 - 25000 would give 3
    assert _released_exclusions(25012, 12, 10) == (25012, 12)
    assert _released_exclusions(25000, 0, 10) == (25000, 0)
    assert _released_exclusions(25003, 3, 0) == (25003, 3)  # k = 0: disclosure control off


def test_cut_off_counts_are_every_run_of_released_neighbours():
    # groups of one ordered column, lowest first; a withheld group (None) breaks the runs
    tails = cut_off_counts([132, 6849, None, 140])
    assert tails.below == {132, 132 + 6849} and tails.above == {140}
    assert cut_off_counts([]) == CutOffCounts(below=frozenset(), above=frozenset())


def test_a_caveat_count_next_to_a_released_group_size_is_withheld_with_its_total():
    """141 rows above the card's maximum of 79.9 beside 140 patients in '> 80' give back the
    one patient aged exactly 80: the caveat says "some" and keeps no count in ``where``."""
    caveat = Caveat(
        code="out_of_range",
        severity="warning",
        message="'age' has 273 of 25000 rows (1.1%) outside [40, 79.9] (132 below, 141 above).",
        where={"column": "age", "n_rows": 273, "n_below": 132, "n_above": 141, "max": 79.9},
    )
    (out,) = protect_caveats([caveat], 10, column_counts={"age": cut_off_counts([132, 140])})
    assert out.where == {"column": "age", "max": 79.9}
    assert "141" not in out.message and "273" not in out.message and "132" not in out.message
    assert "some of 25000 rows" in out.message and "(some below, some above)" in out.message
    assert "Counts withheld" in out.message
    # far enough from every released size (0 or >= k apart): stated as it was
    # (a count between two cut-offs that do not nest, 141 above vs 132 below, is no leak)
    far = CutOffCounts(below=frozenset({132}), above=frozenset({141, 3586}))
    (same,) = protect_caveats([caveat], 10, column_counts={"age": far})
    assert same == caveat
    # disclosure control off: unchanged whatever the neighbours
    near = cut_off_counts([132, 140])
    assert protect_caveats([caveat], 0, column_counts={"age": near}) == (caveat,)


def test_a_withheld_cell_the_reader_knows_anyway_is_not_counted_as_protection():
    """Children 132 (known: equal to its row's size), 140 and 1 under a total of 273: the
    small cell is withheld, and the next-smallest sibling would be 132 -- but a reader knows
    it, so 140 goes instead (or the total, when no unknown sibling is left)."""
    fam = CountFamily(children=("lt40", "gt80", "70-80"), total=273)
    counts = {"lt40": 132, "gt80": 140, "70-80": 1}
    plain = protect_counts(counts, [fam], 10)
    assert plain.withheld == {"70-80", "lt40"}
    aware = protect_counts(counts, [fam], 10, known={"lt40"})
    assert aware.withheld == {"70-80", "gt80"}
    # both big siblings known: nothing withheld among the children can close the family
    stuck = protect_counts(counts, [fam], 10, known={"lt40", "gt80"})
    assert stuck.withheld == {"70-80"} and stuck.unclosable == (0,)

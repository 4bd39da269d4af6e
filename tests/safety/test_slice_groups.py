"""Weak-slice groups: one weakness, one line (safety.slice_groups, issue 19 point 4).

Hand-built slices on a small frame whose memberships are known row by row check the grouping,
the lead and the score against numbers worked out here; a simulated cohort with one planted
weak subgroup checks the whole path from the slice search; the disclosure tests check that the
number of patients of a group never gives back a count of 1 to k-1.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from cohortaudit import safety
from cohortaudit.errors import SchemaError
from cohortaudit.results import MetricValue
from cohortaudit.safety import WeakSlice, group_weak_slices
from cohortaudit.safety.slice_groups import slice_delta

K = 10
N = 400


def _frame(d_rows: list[int] | None = None) -> pd.DataFrame:
    """400 patients. a=1: rows 0-99. b alternates x/y. c=z: rows 300-399 (apart from a=1).
    d=u: ``d_rows`` (default: rows 0-89 and 100-109, Jaccard 90/110 with a=1)."""
    rows = np.arange(N)
    d_rows = list(range(90)) + list(range(100, 110)) if d_rows is None else d_rows
    d = np.full(N, "v", dtype=object)
    d[d_rows] = "u"
    return pd.DataFrame(
        {
            "a": np.where(rows < 100, "1", "0"),
            "b": np.where(rows % 2 == 0, "x", "y"),
            "c": np.where(rows >= 300, "z", "w"),
            "d": d,
        }
    )


def _mask(frame: pd.DataFrame, attrs: dict[str, str]) -> np.ndarray:
    m = np.ones(len(frame), dtype=bool)
    for col, v in attrs.items():
        m &= (frame[col] == v).to_numpy()
    return m


def _ws(frame, attrs, value, rest, *, metric="sensitivity", q=1e-3, p=None):
    n = int(_mask(frame, attrs).sum())
    return WeakSlice(
        attributes=attrs,
        metric=metric,
        n=n,
        events=n // 4,
        value=MetricValue(value, value - 0.05, value + 0.05),
        rest_value=rest,
        effect=abs(rest - value),
        p_value=q / 10 if p is None else p,
        q_value=q,
        description=f"{attrs}",
    )


def _by_lead(groups, slices):
    return {json.dumps(slices[g.lead].attributes): g for g in groups}


# -- grouping ------------------------------------------------------------------------------


def test_a_slice_and_its_sub_slices_form_one_group_and_a_separate_slice_its_own():
    frame = _frame()
    slices = (
        _ws(frame, {"a": "1"}, 0.40, 0.80),
        _ws(frame, {"a": "1", "b": "x"}, 0.38, 0.79),
        _ws(frame, {"a": "1", "b": "y"}, 0.42, 0.78),
        _ws(frame, {"c": "z"}, 0.60, 0.75),
    )
    groups = group_weak_slices(slices, frame, min_cell=K)
    assert [(g.lead, g.members) for g in groups] == [(0, (0, 1, 2)), (3, (3,))]
    assert [g.metric for g in groups] == ["sensitivity", "sensitivity"]
    # the union of a=1 and its sub-slices is a=1 itself: 100 patients
    assert [g.patients for g in groups] == [100, 100]


def test_slices_of_largely_the_same_patients_group_and_merely_overlapping_ones_do_not():
    frame = _frame()  # d=u shares 90 of 110 patients with a=1: Jaccard 0.82 >= 0.7
    slices = (_ws(frame, {"a": "1"}, 0.40, 0.80), _ws(frame, {"d": "u"}, 0.45, 0.80))
    (group,) = group_weak_slices(slices, frame, min_cell=K)
    assert group.members == (0, 1)
    assert group.patients == int((_mask(frame, {"a": "1"}) | _mask(frame, {"d": "u"})).sum())
    assert group.patients == 110
    # d=u now shares 60 of 140 patients with a=1: Jaccard 0.43, two findings
    frame = _frame(list(range(60)) + list(range(100, 140)))
    slices = (_ws(frame, {"a": "1"}, 0.40, 0.80), _ws(frame, {"d": "u"}, 0.45, 0.80))
    assert [g.members for g in group_weak_slices(slices, frame, min_cell=K)] == [(0,), (1,)]


def test_a_sub_slice_of_two_flagged_parents_joins_the_one_whose_value_it_is_closest_to():
    frame = _frame()
    slices = (
        _ws(frame, {"a": "1"}, 0.40, 0.80),
        _ws(frame, {"b": "x"}, 0.60, 0.75),
        _ws(frame, {"a": "1", "b": "x"}, 0.58, 0.76),  # like b=x, not like a=1
    )
    groups = group_weak_slices(slices, frame, min_cell=K)
    assert {g.lead: g.members for g in groups} == {0: (0,), 1: (1, 2)}


def test_metrics_are_grouped_apart():
    frame = _frame()
    slices = (
        _ws(frame, {"a": "1"}, 0.40, 0.80),
        _ws(frame, {"a": "1", "b": "x"}, 0.60, 0.75, metric="auroc"),
    )
    groups = group_weak_slices(slices, frame, min_cell=K)
    assert sorted((g.metric, g.members) for g in groups) == [
        ("auroc", (1,)),
        ("sensitivity", (0,)),
    ]


def test_a_near_universal_slice_does_not_absorb_the_slices_inside_it():
    """e=most: 350 of 400 patients. a=1 (100) lies inside it, Jaccard 100/350."""
    frame = _frame()
    frame["e"] = np.where(np.arange(N) < 350, "most", "few")
    slices = (_ws(frame, {"e": "most"}, 0.55, 0.90), _ws(frame, {"a": "1"}, 0.40, 0.80))
    assert len(group_weak_slices(slices, frame, min_cell=K)) == 2


def test_siblings_of_which_one_lies_almost_inside_the_other_group():
    """a=1,b=x (50) lies inside a=1,d=u (90 of 100 rows 0-89: 45 of the 50): 0.9 >= 0.8."""
    frame = _frame()
    slices = (
        _ws(frame, {"a": "1", "d": "u"}, 0.30, 0.80),
        _ws(frame, {"a": "1", "b": "x"}, 0.35, 0.80),
        _ws(frame, {"b": "y", "c": "z"}, 0.35, 0.80),  # no shared condition: apart
    )
    groups = group_weak_slices(slices, frame, min_cell=K)
    assert sorted(g.members for g in groups) == [(0, 1), (2,)]


# -- lead and score ------------------------------------------------------------------------


def test_the_parent_leads_when_its_gap_times_patients_is_within_20_percent_of_the_best():
    frame = _frame()
    # parent: 0.40 x 100 = 40; sub-slice a=1,b=x (50 patients): 0.70 x 50 = 35
    slices = (_ws(frame, {"a": "1"}, 0.40, 0.80), _ws(frame, {"a": "1", "b": "x"}, 0.10, 0.80))
    (group,) = group_weak_slices(slices, frame, min_cell=K)
    assert group.lead == 0
    # parent 0.30 x 100 = 30, sub-slice 0.70 x 50 = 35: 30 >= 0.8 x 35, the simpler one leads
    slices = (_ws(frame, {"a": "1"}, 0.50, 0.80), _ws(frame, {"a": "1", "b": "x"}, 0.10, 0.80))
    (group,) = group_weak_slices(slices, frame, min_cell=K)
    assert group.lead == 0
    assert group.score == pytest.approx(0.30 * 100)


def test_a_sub_slice_leads_when_it_accounts_for_clearly_more_than_its_parent():
    frame = _frame()
    # parent: 0.10 x 100 = 10; sub-slice: 0.70 x 50 = 35 (10 < 0.8 x 35)
    slices = (_ws(frame, {"a": "1"}, 0.70, 0.80), _ws(frame, {"a": "1", "b": "x"}, 0.10, 0.80))
    (group,) = group_weak_slices(slices, frame, min_cell=K)
    assert group.lead == 1
    assert group.score == pytest.approx(0.70 * 50)


def test_equal_members_lead_by_the_smaller_q():
    frame = _frame(list(range(100)))  # d=u is exactly a=1
    slices = (
        _ws(frame, {"a": "1"}, 0.40, 0.80, q=1e-2),
        _ws(frame, {"d": "u"}, 0.40, 0.80, q=1e-4),
    )
    (group,) = group_weak_slices(slices, frame, min_cell=K)
    assert group.lead == 1


def test_deltas_share_one_scale_across_metrics():
    frame = _frame()
    sens = _ws(frame, {"a": "1"}, 0.40, 0.70)
    auc = _ws(frame, {"a": "1"}, 0.60, 0.75, metric="auroc")
    oe = _ws(frame, {"a": "1"}, 1.50, 0.75, metric="oe")
    assert slice_delta(sens) == pytest.approx(0.30)
    assert slice_delta(auc) == pytest.approx(2 * 0.15)  # Somers' D = 2 AUROC - 1
    assert slice_delta(oe) == pytest.approx(math.log(2.0))


def test_groups_are_ranked_by_gap_times_patients_worked_out_by_hand():
    frame = _frame()
    slices = (
        _ws(frame, {"a": "1"}, 0.50, 0.70),  # sensitivity 0.20 x 100 = 20
        _ws(frame, {"c": "z"}, 0.60, 0.75, metric="auroc"),  # 2 x 0.15 x 100 = 30
        _ws(frame, {"b": "x"}, 1.20, 0.96, metric="oe"),  # |ln 1.25| x 200 = 44.6
        _ws(frame, {"b": "y", "c": "w"}, 0.45, 0.70),  # 0.25 x 100 = 25 (rows 1..299 odd: 150)
    )
    groups = group_weak_slices(slices, frame, min_cell=K)
    n_by = [s.n for s in slices]
    assert n_by == [100, 100, 200, 150]
    expected = {
        0: 0.20 * 100,
        1: 2 * 0.15 * 100,
        2: math.log(1.25) * 200,
        3: 0.25 * 150,
    }
    assert [g.lead for g in groups] == sorted(expected, key=lambda i: -expected[i])
    assert [g.score for g in groups] == pytest.approx(sorted(expected.values(), reverse=True))


# -- from the search, on a cohort with one planted weak subgroup -------------------------------


def _planted(seed: int, n: int = 6000):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    p = expit(-1.4 + 1.2 * x)
    y = rng.binomial(1, p)
    frame = pd.DataFrame(
        {
            "A": rng.choice(["0", "1"], n, p=[0.75, 0.25]),
            "B": rng.choice(["x", "y", "z"], n),
            "C": rng.choice(["u", "v"], n),
        }
    )
    weak = (frame["A"] == "1").to_numpy()
    # for A=1 the scores are squeezed towards their mean (0.24, below the threshold 0.3): the
    # same order (AUROC) and the same sum (O/E), but far fewer cases reach the threshold; more
    # so for C=v than for C=u, so that the search flags sub-slices of A=1 beside A=1 itself
    m = p[weak].mean()
    squeeze = np.where(frame["C"] == "v", 0.1, 0.4)
    p = np.where(weak, m + squeeze * (p - m), p)
    return y, p, frame


def test_the_planted_subgroup_is_the_top_group_and_its_sub_slices_are_its_members():
    y, p, frame = _planted(3)
    slices = safety.weak_slices(y, p, frame, threshold=0.3, min_size=K, max_order=2)
    groups = group_weak_slices(slices, frame, min_cell=K)
    top = groups[0]
    assert top.metric == "sensitivity"
    assert slices[top.lead].attributes == {"A": "1"}
    subs = [
        i
        for i, s in enumerate(slices)
        if s.metric == "sensitivity" and s.attributes.get("A") == "1"
    ]
    assert len(subs) >= 2  # the search flagged sub-slices of A=1, not only A=1
    assert set(subs) <= set(top.members)
    others = [g for g in groups[1:] if g.metric == "sensitivity"]
    assert not any(slices[g.lead].attributes.get("A") == "1" for g in others)
    assert top.patients == int((frame["A"] == "1").sum())


def test_the_same_slices_give_the_same_json():
    y, p, frame = _planted(4)
    slices = safety.weak_slices(y, p, frame, threshold=0.3, min_size=K, max_order=2)
    first = json.dumps([g.to_dict() for g in group_weak_slices(slices, frame, min_cell=K)])
    again = json.dumps([g.to_dict() for g in group_weak_slices(slices, frame, min_cell=K)])
    assert first == again
    result = safety.SafetyResult(
        shift=(),
        intended_use=None,
        robustness=None,
        weak_slices=slices,
        weak_slice_groups=group_weak_slices(slices, frame, min_cell=K),
    ).to_dict()
    # every slice is in exactly one group; lead among members; members ascending
    members = [i for g in result["weak_slice_groups"] for i in g["members"]]
    assert sorted(members) == list(range(len(slices)))
    for g in result["weak_slice_groups"]:
        assert g["lead"] in g["members"] and g["members"] == sorted(g["members"])
        assert result["weak_slices"][g["lead"]]["metric"] == g["metric"]


def test_no_slices_no_groups_and_slices_from_another_frame_are_refused():
    frame = _frame()
    assert group_weak_slices((), frame, min_cell=K) == ()
    stray = _ws(frame, {"a": "1"}, 0.4, 0.8)
    with pytest.raises(SchemaError, match="attribute 'a'"):
        group_weak_slices((stray,), frame.drop(columns="a"), min_cell=K)


# -- disclosure --------------------------------------------------------------------------------


def test_a_union_that_would_give_back_fewer_than_k_patients_is_withheld():
    """a=1 (100) and d=u (rows 0-94 and 100-104: 100) are one group (Jaccard 95/105). Their
    union, 105, minus a=1's released 100 is the 5 patients with d=u and a=0: withheld."""
    frame = _frame(list(range(95)) + list(range(100, 105)))
    slices = (_ws(frame, {"a": "1"}, 0.40, 0.80), _ws(frame, {"d": "u"}, 0.45, 0.80))
    (group,) = group_weak_slices(slices, frame, min_cell=K)
    assert group.members == (0, 1)
    assert group.patients is None
    # the score uses the lead's released numbers, never the union
    assert group.score == pytest.approx(slice_delta(slices[group.lead]) * slices[group.lead].n)
    # with k = 5 the same union may be released: 105 - 100 = 5 >= k
    (group,) = group_weak_slices(slices, frame, min_cell=5)
    assert group.patients == 105


def test_a_union_whose_differences_are_all_zero_or_at_least_k_is_released():
    """d=u = rows 0-84 and 100-114: union 115; 115 - 100 = 15, overlap 85, cohort - 115 = 285,
    and every one- or two-attribute level nested with them differs by 0 or >= 10."""
    frame = _frame(list(range(85)) + list(range(100, 115)))
    slices = (_ws(frame, {"a": "1"}, 0.40, 0.80), _ws(frame, {"d": "u"}, 0.45, 0.80))
    (group,) = group_weak_slices(slices, frame, min_cell=K)
    union = _mask(frame, {"a": "1"}) | _mask(frame, {"d": "u"})
    assert group.patients == int(union.sum()) == 115


def test_no_released_union_gives_back_a_small_count_on_simulated_cohorts():
    """The check a reader would do: a group's patients minus any member's n (the member lies
    inside the union), and the cohort minus the patients, are 0 or >= k."""
    for seed in range(3):
        y, p, frame = _planted(seed, n=3000)
        slices = safety.weak_slices(y, p, frame, threshold=0.3, min_size=K, max_order=2)
        for g in group_weak_slices(slices, frame, min_cell=K):
            if g.patients is None:
                continue
            gaps = [g.patients - slices[i].n for i in g.members] + [len(frame) - g.patients]
            assert all(d == 0 or d >= K for d in gaps), (seed, g)


def test_the_result_view_pairs_each_group_with_its_lead_and_members():
    from cohortaudit.result_views import SafetyView

    frame = _frame()
    slices = (
        _ws(frame, {"c": "z"}, 0.60, 0.75),
        _ws(frame, {"a": "1"}, 0.40, 0.80),
        _ws(frame, {"a": "1", "b": "x"}, 0.38, 0.79),
    )
    block = safety.SafetyResult(
        shift=(),
        intended_use=None,
        robustness=None,
        weak_slices=slices,
        weak_slice_groups=group_weak_slices(slices, frame, min_cell=K),
    ).to_dict()
    view = SafetyView.from_dict(block, audit_min_cell=K)
    (g1, lead1, members1), (g2, lead2, members2) = view.slice_groups()
    assert lead1["attributes"] == {"a": "1"} and g1["members"] == [1, 2]
    assert [m["attributes"] for m in members1] == [{"a": "1"}, {"a": "1", "b": "x"}]
    assert lead2["attributes"] == {"c": "z"} and len(members2) == 1
    # a result written before the groups existed: no groups, the slices as they were
    del block["weak_slice_groups"]
    old = SafetyView.from_dict(block, audit_min_cell=K)
    assert old.slice_groups() == () and len(old.weak_slices) == 3

"""The time-to-event group table and its disclosure control, as specifications.

Every group's numbers are the estimators' (``survival.summary.summarize``, itself checked
against statsmodels, scikit-survival and lifelines in this folder) on exactly that group's
patients; groups follow the binary audit's cells and partitions; nothing that leaves breaks the
survival threshold (k patients at risk, k events per Kaplan-Meier step).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cohortaudit.assemble_survival import survival_group_result
from cohortaudit.disclosure_survival import (
    SURVIVAL_THRESHOLD,
    apply_survival_disclosure,
    released_decision_curve,
    released_km,
)
from cohortaudit.metrics.subgroups import build_cells, build_partitions
from cohortaudit.survival.summary import METRIC_KEYS, summarize
from cohortaudit.survival.table import FOLLOW_UP_ENDS, survival_point_table

HORIZON = 5.0
THRESHOLD = 0.3


def _cohort(n: int = 3000, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {"sex": rng.choice(["F", "M"], n), "site": rng.choice(["A", "B", "C"], n)}
    )
    hazard = 0.06 * np.exp(0.5 * (groups["sex"] == "M").to_numpy())
    t_event = rng.exponential(1 / hazard)
    censor = rng.uniform(2.0, 9.0, n)
    time = np.round(np.minimum(t_event, censor), 2)  # ties on purpose
    time = np.maximum(time, 0.01)
    event = (t_event <= censor).astype(np.int8)
    risk = np.clip(1 - np.exp(-hazard * HORIZON) * np.exp(rng.normal(0, 0.2, n)), 0.01, 0.99)
    return time, event, risk, groups


def _table(k: int = 10, **kw):
    time, event, risk, groups = _cohort(**kw)
    table = survival_point_table(
        time, event, risk, groups, horizon=HORIZON, threshold=THRESHOLD, max_order=2, min_cell=k
    )
    return table, (time, event, risk, groups)


def test_groups_are_the_binary_audits_cells_and_partitions():
    table, (_, _, _, groups) = _table()
    _, keys, orders = build_cells(groups)
    parts = build_partitions(keys, tuple(groups.columns), max_order=2, orders=orders)
    assert [p.attributes for p in table.partitions] == [p.attributes for p in parts]
    assert [p.keys for p in table.partitions] == [p.keys for p in parts]


def test_every_groups_metrics_are_the_estimators_on_that_groups_patients():
    table, (time, event, risk, groups) = _table()
    for rows in table.rows:
        for row in rows:
            mask = np.ones(len(groups), dtype=bool)
            for attr, value in row.attributes.items():
                mask &= groups[attr].to_numpy() == value
            expected = summarize(time[mask], event[mask], risk[mask], HORIZON, THRESHOLD)
            assert row.n == expected.n == int(mask.sum())
            assert row.events == expected.events
            for key in METRIC_KEYS:
                want = expected.metrics[key].value
                got = row.values[key]
                assert (want is None and math.isnan(got)) or got == pytest.approx(want, abs=0)
            assert row.values["selection_rate"] == pytest.approx(np.mean(risk[mask] >= THRESHOLD))


def test_confusion_counts_are_cases_and_controls_at_the_horizon():
    table, (time, event, risk, _) = _table()
    c = table.rows[0][0].confusion
    case = (event == 1) & (time <= HORIZON)
    control = time > HORIZON
    control |= (time == HORIZON) & (event == 0)
    pos = risk >= THRESHOLD
    assert (c.tp, c.fn) == ((case & pos).sum(), (case & ~pos).sum())
    assert (c.fp, c.tn) == ((control & pos).sum(), (control & ~pos).sum())
    # patients censored before the horizon are in neither
    assert c.tp + c.fn + c.fp + c.tn == case.sum() + control.sum() < len(time)


def test_a_group_whose_follow_up_ends_before_the_horizon_arrives_withheld():
    time, event, risk, groups = _cohort()
    short = groups["site"].to_numpy() == "C"
    time = np.where(short, np.minimum(time, HORIZON - 1.0), time)
    table = survival_point_table(
        time, event, risk, groups, horizon=HORIZON, threshold=THRESHOLD, max_order=1, min_cell=10
    )
    p = table.partition_index(["site"])
    row = [r for r in table.rows[p] if r.attributes["site"] == "C"][0]
    assert row.withheld_by_source == FOLLOW_UP_ENDS
    decision = apply_survival_disclosure(table, 10).decision
    g = row.index
    assert decision.hidden[p][g]


def test_survival_threshold_withholds_groups_with_fewer_than_k_at_risk():
    table, _ = _table(n=600)
    k = 60
    controlled = apply_survival_disclosure(table, k)
    for p, g in table.cells():
        row = table.rows[p][g]
        if row.survival is not None and row.survival.at_risk < k:
            assert controlled.decision.hidden[p][g]
            assert controlled.table.rows[p][g].withheld_by_source in (
                SURVIVAL_THRESHOLD,
                FOLLOW_UP_ENDS,
            ) or controlled.decision.reasons.get((p, g))


def _released_counts(table, decision) -> dict:
    out = {}
    for p, g in table.cells():
        if decision.hidden[p][g]:
            continue
        row = table.rows[p][g]
        out[(p, g)] = (row.n, row.events, row.survival.at_risk, row.survival.censored_before)
    return out


@pytest.mark.parametrize("k", [5, 10, 25])
def test_no_released_survival_count_is_in_1_to_k_minus_1_nor_derivable(k):
    table, _ = _table(n=1500, seed=k)
    controlled = apply_survival_disclosure(table, k)
    decision = controlled.decision
    released = _released_counts(table, decision)
    for counts in released.values():
        assert all(c == 0 or c >= k for c in counts[1:]), counts
    # a withheld sibling's counts are never parent - sum(released siblings) in 1..k-1
    from cohortaudit.disclosure import sibling_families

    for p, pp, pg, members in sibling_families(table.partitions):
        if (pp, pg) not in released:
            continue
        withheld = [g for g in members if (p, g) not in released]
        if not withheld:
            continue
        assert len(withheld) != 1, "a lone withheld sibling is parent - sum(released)"
        for j in range(4):
            rest = released[(pp, pg)][j] - sum(
                released[(p, g)][j] for g in members if (p, g) in released
            )
            assert rest == 0 or rest >= k


def test_km_curve_steps_have_k_events_and_k_at_risk():
    table, _ = _table()
    k = 10
    row = table.rows[0][0]
    km = released_km(row, k)
    assert km["time"][0] == 0.0 and km["observed_risk"][0] == 0.0
    curve = row.survival.km
    times = curve.times
    for i in range(1, len(km["time"])):
        lo, hi = km["time"][i - 1], km["time"][i]
        between = (times > lo) & (times <= hi)
        assert curve.events[between].sum() >= k
        assert km["at_risk"][i] >= k
    # the shown steps are the Kaplan-Meier itself at those times
    for t, r in zip(km["time"][1:], km["observed_risk"][1:], strict=True):
        idx = np.searchsorted(times, t, side="right") - 1
        assert r == pytest.approx(1 - curve.survival[idx], abs=1e-11)


def test_km_curve_without_disclosure_control_has_every_event_time():
    table, _ = _table()
    row = table.rows[0][0]
    km = released_km(row, 0)
    assert len(km["time"]) - 1 == int(np.count_nonzero(row.survival.km.events))


def test_decision_curve_points_keep_k_patients_and_k_events_above_the_threshold():
    table, _ = _table()
    k = 10
    row = table.rows[0][0]
    points = released_decision_curve(row, k)
    assert points, "the whole cohort releases some decision-curve points"
    previous = None
    for point in points:
        treated = round(point["treated"] * row.n)
        assert treated == 0 or (treated >= k and row.n - treated >= k)
        if previous is not None:
            assert previous == treated or abs(previous - treated) >= k
        previous = treated


def test_released_group_result_reads_the_row_and_hides_withheld_groups():
    table, _ = _table()
    controlled = apply_survival_disclosure(table, 10)
    decision = controlled.decision
    for p, g in controlled.table.cells():
        est = controlled.table.rows[p][g]
        res = survival_group_result(est, decision, p, g, z=1.96, k=10)
        if decision.hidden[p][g]:
            assert res.suppressed and res.n is None and not res.metrics and not res.survival
            continue
        assert res.n == est.n and res.events == est.events
        assert res.survival["at_risk"] == est.survival.at_risk
        assert res.metrics["observed_risk"].value == pytest.approx(est.values["observed_risk"])
        if len(est.attributes) <= 1:
            assert "km_curve" in res.survival
        else:
            assert "km_curve" not in res.survival

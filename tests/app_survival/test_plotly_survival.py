"""The plotly builders of time-to-event charts (``render.plotly_charts.survival``): every trace
holds the result's numbers (risks in percent, times in the result's unit), groups that have
nothing to draw get a legend entry that says so, and cohort labels are escaped."""

from __future__ import annotations

import pytest

from cohortaudit.render.plotly_charts.survival import (
    survival_calibration_plot,
    survival_decile_plot,
    survival_decision_curve_plot,
    survival_estimates_plot,
    survival_km_plot,
)
from cohortaudit.results import GroupResult, MetricValue


def _group(name: str, *, scale: float = 1.0, suppressed: bool = False) -> GroupResult:
    return GroupResult(
        attributes={"sex": name},
        n=200,
        events=60,
        suppressed=suppressed,
        metrics={
            "expected_risk": MetricValue(0.25 * scale),
            "oe_ratio": MetricValue(1.2 * scale, 1.0 * scale, 1.4 * scale),
        },
        survival={
            "horizon": 5.0,
            "at_risk": 80,
            "censored_before": 60,
            "km_curve": {
                "time": [0.0, 1.5, 3.0, 4.5],
                "observed_risk": [0.0, 0.1 * scale, 0.2 * scale, 0.3 * scale],
                "ci_low": [0.0, 0.05, 0.15, 0.24],
                "ci_high": [0.0, 0.15, 0.25, 0.36],
                "at_risk": [200, 150, 110, 85],
            },
        },
        calibration_curve={
            "predicted": [0.1, 0.2, 0.3],
            "observed": [0.12, 0.21, 0.33],
            "ci_low": [0.08, 0.17, 0.28],
            "ci_high": [0.16, 0.25, 0.38],
        },
        calibration_table=(
            {
                "n": 100,
                "events": 20,
                "at_risk": 40,
                "expected_risk": 0.15,
                "observed_risk": 0.2,
                "ci_low": 0.13,
                "ci_high": 0.29,
            },
            {
                "n": 100,
                "events": 40,
                "at_risk": 40,
                "expected_risk": 0.35,
                "observed_risk": 0.4,
                "ci_low": 0.3,
                "ci_high": 0.5,
            },
        ),  # fmt: skip
        decision_curve=(
            {"threshold": 0.1, "net_benefit": 0.2, "net_benefit_treat_all": 0.18, "treated": 0.9},
            {"threshold": 0.2, "net_benefit": 0.1, "net_benefit_treat_all": 0.05, "treated": 0.5},
            {"threshold": 0.9, "net_benefit": 0.0, "net_benefit_treat_all": -5.0, "treated": 0.0},
        ),
    )


def _named(fig) -> dict:
    return {t.name: t for t in fig.data if t.name}


def test_km_plot_draws_observed_risk_steps_and_the_predicted_risk_at_the_horizon():
    fig = survival_km_plot(
        [("F", _group("F")), ("M", _group("M", scale=1.5))], horizon=5.0, time_unit="years"
    )
    traces = _named(fig)
    f = traces["F: observed (KM)"]
    assert list(f.x) == [0.0, 1.5, 3.0, 4.5]
    assert list(f.y) == pytest.approx([0.0, 10.0, 20.0, 30.0])
    assert f.line.shape == "hv"  # a Kaplan–Meier curve is a step function
    assert list(f.customdata) == [200, 150, 110, 85]
    assert list(traces["M: observed (KM)"].y) == pytest.approx([0.0, 15.0, 30.0, 45.0])
    diamond = traces["M: predicted at 5 years"]
    assert list(diamond.x) == [5.0] and list(diamond.y) == pytest.approx([37.5])
    assert diamond.marker.symbol == "diamond"
    # the band: lower then upper bound (fill to the previous trace), in percent
    bands = [t for t in fig.data if t.fill == "tonexty"]
    assert len(bands) == 2 and list(bands[0].y) == pytest.approx([0.0, 15.0, 25.0, 36.0])
    assert fig.layout.xaxis.title.text == "Time since start of follow-up (years)"
    assert fig.layout.yaxis.title.text == "Observed risk of the event (%)"
    assert fig.layout.shapes[0].x0 == 5.0  # the horizon line
    assert traces["F: observed (KM)"].line.color != traces["M: observed (KM)"].line.color


def test_km_plot_without_bands_and_with_a_withheld_group():
    fig = survival_km_plot(
        [("F", _group("F")), ("<b>M</b>", _group("M", suppressed=True))],
        horizon=5.0,
        time_unit="years",
        bands=False,
    )
    assert not [t for t in fig.data if t.fill == "tonexty"]
    names = [t.name for t in fig.data if t.name]
    assert "&lt;b&gt;M&lt;/b&gt;: no curve released" in names  # escaped, and explained
    assert not any(n.startswith("&lt;b&gt;M&lt;/b&gt;: observed") for n in names)


def test_calibration_plot_holds_the_flexible_curve_in_percent_with_the_diagonal():
    fig = survival_calibration_plot([("F", _group("F"))], horizon=10, time_unit="years")
    curve = _named(fig)["F"]
    assert list(curve.x) == pytest.approx([10.0, 20.0, 30.0])
    assert list(curve.y) == pytest.approx([12.0, 21.0, 33.0])
    diagonal = _named(fig)["Perfect calibration"]
    assert list(diagonal.x) == list(diagonal.y)
    assert fig.layout.xaxis.title.text == "Predicted risk by 10 years (%)"
    assert fig.layout.yaxis.title.text == "Observed risk by 10 years (%)"


def test_decile_plot_has_km_intervals_as_error_bars():
    fig = survival_decile_plot([("All", _group("F"))], horizon=10, time_unit="years")
    points = _named(fig)["All"]
    assert list(points.x) == pytest.approx([15.0, 35.0])
    assert list(points.y) == pytest.approx([20.0, 40.0])
    assert list(points.error_y.array) == pytest.approx([9.0, 10.0])
    assert list(points.error_y.arrayminus) == pytest.approx([7.0, 10.0])
    assert [list(c) for c in points.customdata] == [[100, 20, 40], [100, 40, 40]]


def test_decision_curve_plot_holds_model_treat_all_and_treat_none():
    fig = survival_decision_curve_plot(
        [("F", _group("F"))], horizon=10, time_unit="years", operating_threshold=0.2
    )
    traces = _named(fig)
    assert list(traces["F: model"].x) == pytest.approx([10.0, 20.0, 90.0])
    assert list(traces["F: model"].y) == [0.2, 0.1, 0.0]
    assert list(traces["F: treat all"].y) == [0.18, 0.05, -5.0]
    assert list(traces["Treat none"].y) == [0, 0]
    # the axis is cut to the visible net benefits, not stretched to treat-all's -5
    assert fig.layout.yaxis.range[0] == pytest.approx(-0.03)
    assert fig.layout.shapes[0].x0 == pytest.approx(20.0)  # the operating threshold
    assert fig.layout.xaxis.title.text == "Threshold risk by 10 years (%)"


def test_estimates_plot_draws_each_group_with_its_interval_and_the_null_line():
    rows = [("F", MetricValue(1.2, 1.0, 1.5)), ("M", MetricValue(0.9)), ("X", None)]
    fig = survival_estimates_plot(rows, metric="oe_ratio", null_value=1.0, reference_value=1.05)
    (points,) = fig.data
    assert list(points.y) == ["F", "M"]
    assert list(points.x) == [1.2, 0.9]
    assert list(points.error_x.array) == pytest.approx([0.3, 0.0])
    assert list(points.error_x.arrayminus) == pytest.approx([0.2, 0.0])
    assert sorted(s.x0 for s in fig.layout.shapes) == [1.0, 1.05]
    assert fig.layout.xaxis.title.text == "O/E ratio with 95% CI"

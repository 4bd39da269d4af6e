"""The model card's claimed metrics against the audit's overall estimates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cohortaudit.claims import CLAIMS_RULE, check_claims, normalize_claim
from cohortaudit.config import AuditConfig
from cohortaudit.errors import CardError
from cohortaudit.pipeline import audit_files
from cohortaudit.results import AuditResult, ClaimCheck, GroupResult, MetricValue

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def _overall(**metrics) -> GroupResult:
    return GroupResult(
        attributes={},
        n=1000,
        events=100,
        suppressed=False,
        metrics={k: MetricValue(*v) for k, v in metrics.items()},
    )


OVERALL = _overall(
    auroc=(0.75, 0.72, 0.78),
    brier=(0.09, 0.085, 0.095),
    spiegelhalter_p=(0.3, None, None),
    sensitivity=(None, None, None),
)


@pytest.mark.parametrize(
    ("claim", "verdict"),
    [
        (0.75, "consistent"),
        (0.72, "consistent"),  # the CI is closed
        (0.78, "consistent"),
        (0.7801, "lower"),  # measured lower than claimed
        (0.80, "lower"),
        (0.7199, "higher"),
        ({"value": 0.70, "ci_low": 0.69, "ci_high": 0.73}, "higher"),  # CIs overlap: still higher
        ({"value": 0.77, "ci_low": 0.75, "ci_high": 0.79}, "consistent"),
    ],
)
def test_claimed_value_inside_the_measured_ci_is_consistent(claim, verdict):
    (c,) = check_claims({"auroc": claim}, OVERALL)
    assert c.verdict == verdict
    assert c.metric == "auroc"
    assert c.measured == MetricValue(0.75, 0.72, 0.78)


def test_reasons_state_the_numbers_and_the_direction():
    lower, higher, same = (
        check_claims({"auroc": v}, OVERALL)[0] for v in (0.80, {"value": 0.7}, 0.76)
    )
    assert lower.reason == (
        "measured 0.75 (95% CI 0.72 to 0.78): the whole 95% CI lies below the claimed 0.8."
    )
    assert higher.reason == (
        "measured 0.75 (95% CI 0.72 to 0.78): the whole 95% CI lies above the claimed 0.7."
    )
    assert (
        same.reason == "measured 0.75 (95% CI 0.72 to 0.78): claimed 0.76 lies inside the 95% CI."
    )
    (c,) = check_claims({"auroc": 0.8}, OVERALL, confidence=0.9)
    assert "90% CI" in c.reason


def test_claims_keep_the_cards_form_and_order():
    checks = check_claims({"brier": 0.08, "auroc": {"value": 0.77, "ci_low": 0.75}}, OVERALL)
    assert [c.metric for c in checks] == ["brier", "auroc"]
    assert checks[0].claimed == {"value": 0.08, "ci_low": None, "ci_high": None}
    assert checks[0].verdict == "higher"  # Brier 0.085-0.095 > 0.08 (worse, but 'higher')
    assert checks[1].claimed == {"value": 0.77, "ci_low": 0.75, "ci_high": None}


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        ("c_statistic", "cohortaudit does not compute a metric named 'c_statistic'."),
        (
            "spiegelhalter_p",
            "The claim cannot be tested: the audit reports it without a confidence interval.",
        ),
        ("sensitivity", "The claim cannot be tested: it is undefined or withheld on this cohort."),
    ],
)
def test_not_measured(metric, reason):
    (c,) = check_claims({metric: 0.5}, OVERALL)
    assert c.verdict == "not measured"
    assert c.reason == reason


def test_a_suppressed_cohort_measures_nothing():
    suppressed = GroupResult(attributes={}, n=None, events=None, suppressed=True, metrics={})
    (c,) = check_claims({"auroc": 0.7}, suppressed)
    assert (c.verdict, c.reason) == ("not measured", "the whole cohort is suppressed.")
    assert c.measured == MetricValue(None)


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        (
            "0.77",
            "The model card's claimed_metrics.auroc must be a number or a mapping with a numeric "
            "'value' (and optional ci_low, ci_high). Got str instead.",
        ),
        (
            {"ci_low": 0.7},
            "The model card's claimed_metrics.auroc must be a number or a mapping with a numeric "
            "'value' (and optional ci_low, ci_high). Got dict instead.",
        ),
        (True, "The model card's claimed_metrics.auroc must be a number or a mapping"),
        (
            {"value": 0.7, "ci_low": "0.6"},
            "The model card's claimed_metrics.auroc.ci_low must be a number. Got str instead.",
        ),
    ],
)
def test_a_malformed_claim_is_a_card_error(claim, message):
    with pytest.raises(CardError, match="^" + re.escape(message)):
        normalize_claim("auroc", claim)


def test_round_trip_and_absence():
    checks = check_claims({"auroc": 0.8, "x": 1}, OVERALL)
    assert all(isinstance(c, ClaimCheck) for c in checks)
    assert [ClaimCheck.from_dict(c.to_dict()) for c in checks] == list(checks)


def test_the_sample_cards_claims_on_the_sample_cohort():
    """The card claims the development hold-out's numbers; the audit cohort has planted problems,
    so discrimination falls short while overall calibration-in-the-large holds."""
    config = AuditConfig(label="cvd_10y", sensitive_features=("sex",), n_boot=50)
    result = audit_files(
        cohort_path=SAMPLE / "cohort.csv",
        config=config,
        model_path=SAMPLE / "model.onnx",
        card_path=SAMPLE / "model.card.yaml",
    )
    verdicts = {c.metric: c.verdict for c in result.claims}
    assert list(verdicts) == [
        "auroc",
        "brier",
        "scaled_brier",
        "oe_ratio",
        "citl",
        "calibration_slope",
        "sensitivity",
        "specificity",
    ]
    assert verdicts["auroc"] == "lower"  # claimed 0.772; measured 0.732 (0.723-0.742)
    assert verdicts["brier"] == "higher"
    assert verdicts["oe_ratio"] == "consistent"
    assert verdicts["citl"] == "consistent"
    assert result.settings["claims_rule"] == CLAIMS_RULE
    assert AuditResult.from_dict(result.to_dict()).claims == result.claims

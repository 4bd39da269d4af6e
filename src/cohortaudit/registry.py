"""The metric registry: one place that says what each metric key of the result means.

Every metric the audit reports has one :class:`MetricSpec` here: its display label, what its
number means, its family, which end is better, how its confidence interval is computed in a
single-site audit, and whether that interval comes from the bootstrap. Renderers, the policy,
the app and the engine read these specs instead of keeping their own tables, so a new metric is
added in one place and a label is spelled one way.

This module is a leaf: it imports nothing from cohortaudit, so every layer (metrics, render,
app) may import it without closing a circle.

Families:

- ``discrimination``: rank-based (AUROC, AUPRC): unchanged by any strictly increasing
  transform of the scores.
- ``threshold``: computed from the confusion matrix at the operating threshold.
- ``prevalence``: a property of the cohort, not of the model.
- ``calibration``: agreement of predicted risk with observed outcomes (Van Calster hierarchy).
- ``utility``: overall performance on the probability scale (Brier, scaled Brier,
  discrimination slope): needs calibrated probabilities, not only their ranking.
- ``expected``: the error rates a perfectly calibrated model with the group's predicted risks
  would have at the threshold (:mod:`cohortaudit.metrics.expected`): what the group's risk
  distribution (case mix) alone implies, the yardstick for the observed threshold metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = ["MetricSpec", "METRICS", "FAMILIES", "label", "keys", "spec"]

Family = Literal[
    "discrimination", "threshold", "prevalence", "calibration", "utility", "expected"
]
Better = Literal["higher", "lower", "closer to 1", "closer to 0"]

#: The families, in the order their metrics first appear in :data:`METRICS`.
FAMILIES: tuple[Family, ...] = (
    "discrimination",
    "threshold",
    "prevalence",
    "utility",
    "calibration",
    "expected",
)

_BOOT = "stratified bootstrap, percentile"
_WILSON = "Wilson score"


@dataclass(frozen=True)
class MetricSpec:
    """What one metric key means.

    ``better`` is ``None`` where neither end is better for patients (a selection rate, a
    prevalence, a p-value). ``unit`` is the short scale an axis states. ``ci_method`` is the
    wording the single-site settings record in ``settings.ci_methods``; a pooled audit states
    its own methods where its intervals differ (``sites.pool.CI_METHODS``).
    """

    key: str
    label: str
    meaning: str
    family: Family
    better: Better | None
    ci_method: str
    bootstrapped: bool = False
    threshold_dependent: bool = False
    #: the unit an axis or a table column states (short; ``meaning`` says more)
    unit: str = "proportion, 0–1"


def _threshold(key: str, label: str, meaning: str, better: Better | None, ci: str = _WILSON):
    return MetricSpec(
        key,
        label,
        meaning,
        "threshold",
        better,
        ci,
        bootstrapped=ci == _BOOT,
        threshold_dependent=True,
    )


def _boot(
    key: str,
    label: str,
    meaning: str,
    family: Family,
    better: Better | None,
    unit: str,
    ci: str = _BOOT,
) -> MetricSpec:
    return MetricSpec(key, label, meaning, family, better, ci, bootstrapped=True, unit=unit)


_SPECS = (
    MetricSpec(
        "auroc",
        "AUROC",
        "P(case risk > control risk), ties one half; 0.5 = chance",
        "discrimination",
        "higher",
        "DeLong (mid-rank form, Sun & Xu 2014), clipped to [0, 1]",
        unit="0–1",
    ),
    _boot(
        "auprc",
        "AUPRC",
        "average precision (sklearn definition)",
        "discrimination",
        "higher",
        "0–1",
    ),
    _threshold("sensitivity", "Sensitivity", "TP / (TP + FN)", "higher"),
    _threshold("specificity", "Specificity", "TN / (TN + FP)", "higher"),
    _threshold("ppv", "PPV", "TP / (TP + FP)", "higher"),
    _threshold("npv", "NPV", "TN / (TN + FN)", "higher"),
    _threshold("fpr", "False positive rate", "FP / (FP + TN)", "lower"),
    _threshold("fnr", "False negative rate", "FN / (FN + TP)", "lower"),
    _threshold("accuracy", "Accuracy", "(TP + TN) / n", "higher"),
    _threshold(
        "balanced_accuracy", "Balanced accuracy", "(sensitivity + specificity) / 2", "higher", _BOOT
    ),
    _threshold("f1", "F1", "2 TP / (2 TP + FP + FN)", "higher", _BOOT),
    _threshold("selection_rate", "Selection rate", "(TP + FP) / n", None),
    MetricSpec("prevalence", "Prevalence", "events / n", "prevalence", None, _WILSON),
    _boot(
        "brier",
        "Brier score",
        "mean squared error, 0–1; lower is better",
        "utility",
        "lower",
        "mean squared error, 0–1",
    ),
    MetricSpec(
        "oe_ratio",
        "O/E ratio",
        "observed / expected events; 1 = perfect",
        "calibration",
        "closer to 1",
        "Poisson: O/E x exp(+-z sqrt(1/O))",
        unit="ratio; 1 = perfect",
    ),
    MetricSpec(
        "citl",
        "Calibration-in-the-large (CITL)",
        "log-odds; 0 = perfect, > 0 under-prediction",
        "calibration",
        "closer to 0",
        "Wald, from the logistic fit with offset logit(p)",
        unit="log-odds; 0 = perfect",
    ),
    MetricSpec(
        "calibration_slope",
        "Calibration slope",
        "1 = perfect; < 1 predictions too extreme",
        "calibration",
        "closer to 1",
        "Wald, from the logistic fit on logit(p)",
        unit="slope; 1 = perfect",
    ),
    MetricSpec(
        "recalibration_intercept",
        "Recalibration intercept",
        "log-odds, with the slope",
        "calibration",
        "closer to 0",
        "Wald, from the logistic fit on logit(p)",
        unit="log-odds",
    ),
    *(
        _boot(
            key,
            lab,
            meaning,
            "calibration",
            "lower",
            "risk, 0–1",
            ci="stratified bootstrap, percentile (smoother refitted per replicate)",
        )
        for key, lab, meaning in (
            ("ici", "ICI", "mean |observed − predicted| risk, 0–1"),
            ("e50", "E50", "median |observed − predicted| risk, 0–1"),
            ("e90", "E90", "90th percentile |observed − predicted| risk"),
            ("emax", "Emax", "largest |observed − predicted| risk"),
        )
    ),
    _boot("ece", "ECE", "expected calibration error, 10 bins", "calibration", "lower", "risk, 0–1"),
    MetricSpec(
        "spiegelhalter_z",
        "Spiegelhalter z",
        "test statistic",
        "calibration",
        "closer to 0",
        "none (a test statistic; its p-value is spiegelhalter_p)",
        unit="z",
    ),
    MetricSpec(
        "spiegelhalter_p",
        "Spiegelhalter p",
        "p-value",
        "calibration",
        None,
        "none (a p-value)",
        unit="p-value",
    ),
    MetricSpec(
        "hosmer_lemeshow_p",
        "Hosmer–Lemeshow p",
        "p-value (legacy, grouping-dependent)",
        "calibration",
        None,
        "none (a p-value; legacy, grouping-dependent)",
        unit="p-value",
    ),
    _boot(
        "scaled_brier",
        "Scaled Brier score",
        "1 − Brier / Brier of the prevalence",
        "utility",
        "higher",
        "1 − Brier/Brier of the prevalence",
    ),
    _boot(
        "discrimination_slope",
        "Discrimination slope",
        "mean risk of events − of non-events",
        "utility",
        "higher",
        "difference of mean risks, 0–1",
    ),
    *(
        MetricSpec(
            f"expected_{key}",
            f"Expected {lab} (if calibrated)",
            f"{lab} a perfectly calibrated model with the group's risks would have: {meaning}",
            "expected",
            None,
            _BOOT,
            bootstrapped=True,
            threshold_dependent=True,
        )
        for key, lab, meaning in (
            ("sensitivity", "sensitivity", "sum of p over p >= t / sum of p"),
            ("specificity", "specificity", "sum of 1 - p over p < t / sum of 1 - p"),
            ("ppv", "PPV", "mean of p over p >= t"),
            ("npv", "NPV", "mean of 1 - p over p < t"),
        )
    ),
)

#: Every metric key of the result, in the JSON schema's (and the report's) order.
METRICS: Mapping[str, MetricSpec] = MappingProxyType({s.key: s for s in _SPECS})


def spec(key: str) -> MetricSpec:
    """The spec of ``key``; a ``KeyError`` names the key and the known keys."""
    try:
        return METRICS[key]
    except KeyError:
        raise KeyError(
            f"'{key}' is not a metric key of the audit result. Expected one of {list(METRICS)}."
        ) from None


def label(key: str) -> str:
    """The display label of ``key`` (``"oe_ratio"`` -> ``"O/E ratio"``)."""
    return spec(key).label


def keys(*families: Family) -> tuple[str, ...]:
    """Metric keys in registry order, of the given families (all keys when none are given)."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"Unknown metric family {unknown}. Expected some of {list(FAMILIES)}.")
    return tuple(k for k, s in METRICS.items() if not families or s.family in families)

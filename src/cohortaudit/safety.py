"""Safety checks: cohort shift vs the card's reference, intended-use fit, robustness, weak slices.

Everything here is aggregate-only and deterministic for a given seed. Each check returns frozen
dataclasses of plain types with ``to_dict()`` (NaN -> None); :class:`SafetyResult` bundles them
with a ``settings`` dict that names every threshold and method used (:data:`SAFETY_SETTINGS`).

Methods (the named, recorded choices)
-------------------------------------
Shift, numeric input (cohort or group vs the card's ``reference`` summary):

* ``smd``: standardised mean difference (mean_c - mean_ref) / sqrt((sd_c^2 + sd_ref^2) / 2)
  (Austin 2009, pooled SD). Flags: |SMD| > 0.1 notable, > 0.25 serious.
* ``ks_at_quantiles``: a Kolmogorov-Smirnov-like distance evaluated only where the card has
  information, at its stored quantile points: D = max_q |F_cohort(x_q) - q|. Flags: D > 0.1
  notable, > 0.2 serious.
* Both are *noise-aware*: a flag is raised only when the statistic also exceeds its sampling
  noise (|SMD| > z * sqrt(1/n + 1/n_ref); D > 1.36 * sqrt(1/n + 1/n_ref), the two-sample KS
  5 % critical value), so a small group drawn from the development distribution is not flagged.
* ``median_ratio``: a likely unit change. The ratio of the cohort's median to the card's median
  and the ratio of IQRs both lie within 10 % (log scale) of one known conversion factor (or its
  reciprocal), see :data:`UNIT_FACTORS`. Always "serious": such a model input is meaningless.

Shift, categorical input: ``tvd`` = total variation distance between the cohort's and the card's
frequencies (0.1 notable, 0.2 serious; noise-aware through an approximate two-sample chi-square
test, p < 0.05), and ``unseen_categories`` = share of patients in categories the card never saw
(any: notable; > 5 %: serious). Card frequencies withheld for disclosure (null) count as 0.

Prevalence: cohort prevalence vs the card's development prevalence. Wilson CI for the cohort,
the development figure treated as fixed. Flags: ratio outside [0.8, 1.25] and CI excluding the
development value -> notable; outside [0.5, 2] -> serious.

Intended use: age outside the card's population is ``age < age_min or age >= age_max + 1``
(ages in completed years, so 79.9 is 79). Out-of-range means outside the card's input
``min``/``max``. Counts 0 < c < k are withheld (None) and listed in ``suppressed``.

Robustness: all numeric inputs get Gaussian noise of SD level * SD(feature) at once (integer
columns are rounded back), or each categorical input flips to another observed category at the
given rate. Delta AUROC uses the paired DeLong (1988) covariance of the two score vectors on the
same patients; Delta sensitivity uses the paired (McNemar-type) Wald interval on the cases:
d = (b - c)/m, SE = sqrt(b + c - (b - c)^2/m)/m.

Weak slices: single attributes and pairs (optionally triples); numeric columns with more than
``_MAX_LEVELS`` distinct values are cut at their quartiles. Each slice is compared with its
complement: AUROC by a one-sided z-test, slice variance DeLong, complement variance
Hanley-McNeil (the complement is large, and its exact DeLong placement values would need a
search per slice); sensitivity by a one-sided pooled two-proportion z-test; O/E by a two-sided
z-test of ln(O/E_slice / O/E_rest) with SE sqrt(1/O_s + 1/O_r), kept only when the slice is the
more miscalibrated. Benjamini-Hochberg across every test; a combined slice whose CI contains the
value of a flagged sub-slice (same metric) is not reported, as the sub-slice explains it; ranked
by the effect (the gap).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import false_discovery_control

from cohortaudit.card import ModelCard
from cohortaudit.disclosure import close_families, protect_table
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.metrics.performance import wilson_interval
from cohortaudit.results import MetricValue, clean_float
from cohortaudit.vocabulary import UNIT_FACTORS, slice_words

__all__ = [
    "SAFETY_SETTINGS",
    "UNIT_FACTORS",
    "ShiftFinding",
    "IntendedUseCounts",
    "IntendedUseResult",
    "RobustnessRow",
    "RobustnessResult",
    "WeakSlice",
    "SafetyResult",
    "compute_shift",
    "intended_use_fit",
    "robustness",
    "weak_slices",
    "slice_words",
]

Flag = Literal["none", "notable", "serious"]

SAFETY_SETTINGS: dict[str, Any] = {
    "min_cell": 10,
    "confidence": 0.95,
    "smd": {
        "method": "pooled SD, sqrt((sd_c^2 + sd_ref^2)/2)",
        "notable": 0.1,
        "serious": 0.25,
        "noise_floor": "z*sqrt(1/n + 1/n_ref)",
    },
    "ks_at_quantiles": {
        "method": "max |F_cohort(card quantile) - q| over the card's stored quantiles",
        "notable": 0.1,
        "serious": 0.2,
        "noise_floor": "1.36*sqrt(1/n + 1/n_ref)",
    },
    "unit_change": {
        "method": "median ratio and IQR ratio both within tolerance of a known factor",
        "tolerance_log": math.log(1.10),
        "factors": [f for f, _ in UNIT_FACTORS],
    },
    "tvd": {
        "notable": 0.1,
        "serious": 0.2,
        "noise_test": "two-sample chi-square approximation, p < 0.05",
    },
    "unseen_categories": {"notable": 0.0, "serious": 0.05},
    "group_flags": (
        "groups are compared with the whole development population (the card has no per-group "
        "summary), so per group only unit changes and unseen categories are flagged; SMD, "
        "distance, category and prevalence differences are reported unflagged as possible "
        "case mix"
    ),
    "prevalence": {
        "ci": "Wilson (development prevalence fixed)",
        "notable_ratio": [0.8, 1.25],
        "serious_ratio": [0.5, 2.0],
    },
    "intended_use": {
        "age_rule": "age < age_min or age >= age_max + 1",
        "range_rule": "value < card min or value > card max",
        "suppression": "0 < count < k withheld",
    },
    "robustness": {
        "noise": "Gaussian, SD = level * SD(feature) (card SD when known), all numeric at once",
        "flip": "each categorical value flips to another observed category with the rate",
        "delta_auroc_ci": "paired DeLong (1988)",
        "delta_sensitivity_ci": "paired Wald on cases (McNemar-type)",
    },
    "weak_slices": {
        "numeric_binning": "quartiles (numeric columns with > 10 distinct values)",
        "auroc_test": "one-sided z; slice DeLong, complement Hanley-McNeil variance",
        "sensitivity_test": "one-sided pooled two-proportion z",
        "oe_test": "two-sided z on ln(OE_slice/OE_rest), SE sqrt(1/O_s + 1/O_r)",
        "multiplicity": "Benjamini-Hochberg across all tests",
        "pruning": (
            "a combined slice is not reported when its CI contains the value of a flagged "
            "sub-slice on the same metric (after BH; removes reports, not tests)"
        ),
        "ranking": "effect (gap to the rest), largest first",
    },
}

_MAX_LEVELS = 10


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _plain(x: Any) -> Any:
    """Plain JSON types; NaN/inf -> None."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return clean_float(x)
    if isinstance(x, MetricValue):
        return x.to_dict()
    return x


def _check_k(min_cell: int) -> None:
    if not isinstance(min_cell, int | np.integer) or min_cell < 0:
        raise ConfigError(f"The 'min_cell' parameter must be an integer >= 0. Got {min_cell!r}.")


# --------------------------------------------------------------------------------------------
# result types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftFinding:
    """One shift statistic for one input (or the outcome) in the cohort or one group."""

    feature: str
    group: dict[str, str]
    statistic: str
    value: float | None
    flag: Flag
    message: str
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    unit_factor: float | None = None

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high", "unit_factor"):
            object.__setattr__(self, name, clean_float(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "group": dict(self.group),
            "statistic": self.statistic,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "flag": self.flag,
            "message": self.message,
            "n": int(self.n),
            "unit_factor": self.unit_factor,
        }


@dataclass(frozen=True)
class IntendedUseCounts:
    """Counts for the whole cohort (``group == {}``) or one group; None = withheld (< k)."""

    group: dict[str, str]
    n: int | None
    outside_population: int | None
    out_of_range: dict[str, int | None]
    missing: dict[str, int | None]
    suppressed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": dict(self.group),
            "n": self.n,
            "outside_population": self.outside_population,
            "out_of_range": dict(self.out_of_range),
            "missing": dict(self.missing),
            "suppressed": list(self.suppressed),
        }


@dataclass(frozen=True)
class IntendedUseResult:
    population_rule: str | None
    rows: tuple[IntendedUseCounts, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"population_rule": self.population_rule, "rows": [r.to_dict() for r in self.rows]}


@dataclass(frozen=True)
class RobustnessRow:
    """Performance change under one perturbation, for the cohort or one group."""

    perturbation: str  # "gaussian_noise" | "category_flip"
    level: float
    group: dict[str, str]
    n: int
    auroc: float | None
    auroc_perturbed: float | None
    delta_auroc: MetricValue
    sensitivity: float | None
    sensitivity_perturbed: float | None
    delta_sensitivity: MetricValue

    def __post_init__(self) -> None:
        for name in ("level", "auroc", "auroc_perturbed", "sensitivity", "sensitivity_perturbed"):
            object.__setattr__(self, name, clean_float(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "perturbation": self.perturbation,
            "level": self.level,
            "group": dict(self.group),
            "n": int(self.n),
            "auroc": self.auroc,
            "auroc_perturbed": self.auroc_perturbed,
            "delta_auroc": self.delta_auroc.to_dict(),
            "sensitivity": self.sensitivity,
            "sensitivity_perturbed": self.sensitivity_perturbed,
            "delta_sensitivity": self.delta_sensitivity.to_dict(),
        }


@dataclass(frozen=True)
class RobustnessResult:
    threshold: float
    seed: int
    rows: tuple[RobustnessRow, ...]
    perturbed_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": clean_float(self.threshold),
            "seed": int(self.seed),
            "perturbed_columns": {k: list(v) for k, v in self.perturbed_columns.items()},
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class WeakSlice:
    """A slice significantly worse than the rest of the cohort on one metric (after BH)."""

    attributes: dict[str, str]
    metric: str  # "auroc" | "sensitivity" | "oe"
    n: int
    events: int
    value: MetricValue
    rest_value: float | None
    effect: float | None
    p_value: float | None
    q_value: float | None
    description: str

    def __post_init__(self) -> None:
        for name in ("rest_value", "effect", "p_value", "q_value"):
            object.__setattr__(self, name, clean_float(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "metric": self.metric,
            "n": int(self.n),
            "events": int(self.events),
            "value": self.value.to_dict(),
            "rest_value": self.rest_value,
            "effect": self.effect,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "description": self.description,
        }


@dataclass(frozen=True)
class SafetyResult:
    shift: tuple[ShiftFinding, ...]
    intended_use: IntendedUseResult | None
    robustness: RobustnessResult | None
    weak_slices: tuple[WeakSlice, ...]
    settings: dict[str, Any] = field(default_factory=lambda: dict(SAFETY_SETTINGS))

    def to_dict(self) -> dict[str, Any]:
        return {
            "shift": [f.to_dict() for f in self.shift],
            "intended_use": None if self.intended_use is None else self.intended_use.to_dict(),
            "robustness": None if self.robustness is None else self.robustness.to_dict(),
            "weak_slices": [w.to_dict() for w in self.weak_slices],
            "settings": _plain(self.settings),
        }


# --------------------------------------------------------------------------------------------
# helpers shared by the checks
# --------------------------------------------------------------------------------------------


def _check_frame(features: Any, name: str = "features") -> None:
    if not isinstance(features, pd.DataFrame):
        raise SchemaError(
            f"The '{name}' parameter must be a pandas DataFrame. Got {type(features).__name__} "
            "instead."
        )


def _subsets(
    n: int, groups: pd.DataFrame | None, min_cell: int
) -> list[tuple[dict[str, str], np.ndarray | None]]:
    """The whole cohort (mask None) and every single-attribute group with >= k patients."""
    out: list[tuple[dict[str, str], np.ndarray | None]] = [({}, None)]
    if groups is None:
        return out
    _check_frame(groups, "groups")
    if len(groups) != n:
        raise SchemaError(
            f"The 'groups' frame has {len(groups)} rows but the features have {n}. "
            "Pass groups for the same patients, in the same order."
        )
    for col in groups.columns:
        labels = groups[col].astype(object).where(groups[col].notna(), "missing").astype(str)
        values = labels.to_numpy()
        for level in sorted(set(values.tolist())):
            mask = values == level
            if int(mask.sum()) >= min_cell:
                out.append(({str(col): level}, mask))
    return _closed_subsets(out, n, min_cell)


def _closed_subsets(
    subsets: list[tuple[dict[str, str], np.ndarray | None]], n: int, k: int
) -> list[tuple[dict[str, str], np.ndarray | None]]:
    """The subsets whose sizes may be released: per attribute, the groups left out (too small)
    must not be recoverable as ``n - sum(listed sizes)`` (disclosure rule 3), so the smallest
    listed group may have to be left out too (:func:`cohortaudit.disclosure.close_families`)."""
    by_attribute: dict[str, list[int]] = {}
    for i, (group, _mask) in enumerate(subsets):
        if group:
            by_attribute.setdefault(next(iter(group)), []).append(i)
    drop: set[int] = set()
    for members in by_attribute.values():
        sizes = [int(subsets[i][1].sum()) for i in members]
        closure = close_families(n, sizes, k)
        drop |= {members[j] for j in closure.children}
    return [s for i, s in enumerate(subsets) if i not in drop]


def _where(group: Mapping[str, str]) -> str:
    if not group:
        return "in the whole cohort"
    return "in " + " & ".join(f"{k}={v}" for k, v in group.items())


def _flag(value: float, notable: float, serious: float, *, noise: float) -> Flag:
    v = abs(value)
    if not math.isfinite(v) or v <= noise:
        return "none"
    if v > serious:
        return "serious"
    if v > notable:
        return "notable"
    return "none"


def _numeric_values(series: pd.Series) -> np.ndarray:
    x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return x


def _card_quantiles(ref: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    qs = ref.get("quantiles") or {}
    pairs = sorted((float(q), float(v)) for q, v in qs.items() if v is not None)
    if not pairs:
        return np.empty(0), np.empty(0)
    q, v = zip(*pairs, strict=True)
    return np.asarray(q), np.asarray(v)


def _match_unit_factor(median_ratio: float, iqr_ratio: float, tol: float) -> tuple[float, str]:
    """The known factor (or its reciprocal) both ratios sit near, else (nan, '')."""
    if not (median_ratio > 0 and iqr_ratio > 0):
        return math.nan, ""
    lm, li = math.log(median_ratio), math.log(iqr_ratio)
    for factor, meaning in UNIT_FACTORS:
        for f in (factor, 1.0 / factor):
            lf = math.log(f)
            if abs(lm - lf) <= tol and abs(li - lf) <= tol:
                return f, meaning
    return math.nan, ""


# --------------------------------------------------------------------------------------------
# 1. shift
# --------------------------------------------------------------------------------------------


def compute_shift(
    features: pd.DataFrame,
    card: ModelCard,
    *,
    groups: pd.DataFrame | None = None,
    y_true: Any = None,
    min_cell: int = 10,
    confidence: float = 0.95,
) -> tuple[ShiftFinding, ...]:
    """Shift of every card input (and the outcome, when given) vs the card's reference summary.

    The cohort and each single-attribute group with at least ``min_cell`` patients are compared
    with the development summary stored in the card; see the module docstring for the
    statistics and flag thresholds. Inputs the card has no reference for are skipped.
    """
    _check_frame(features)
    _check_k(min_cell)
    z = _z(confidence)
    subsets = _subsets(len(features), groups, min_cell)
    findings: list[ShiftFinding] = []
    for spec in card.inputs:
        if spec.name not in features.columns or not spec.reference:
            continue
        ref = spec.reference
        if spec.type == "numeric":
            x_all = _numeric_values(features[spec.name])
            for group, mask in subsets:
                if spec.name in group:
                    continue  # a group defined by this input differs from it by construction
                x = x_all if mask is None else x_all[mask]
                findings.extend(_numeric_shift(spec.name, group, x, ref, z=z, min_cell=min_cell))
        else:
            col = features[spec.name]
            labels_all = col.astype(object).where(col.notna(), None).to_numpy()
            for group, mask in subsets:
                if spec.name in group:
                    continue
                labels = labels_all if mask is None else labels_all[mask]
                findings.extend(_categorical_shift(spec.name, group, labels, ref, min_cell))
    if y_true is not None:
        y_all = np.asarray(y_true, dtype=np.float64)
        if y_all.shape != (len(features),):
            raise SchemaError(
                f"The 'y_true' parameter must have one value per patient ({len(features)}). "
                f"Got shape {y_all.shape}."
            )
        prevalence = (card.development_data or {}).get("prevalence")
        if prevalence is not None:
            for group, mask in subsets:
                y = y_all if mask is None else y_all[mask]
                findings.append(_prevalence_shift(group, y, float(prevalence), z, min_cell))
    units = {(f.feature, tuple(sorted(f.group.items()))) for f in findings if f.unit_factor}
    return tuple(
        f if (f.feature, tuple(sorted(f.group.items()))) in units else _case_mix(f)
        for f in findings
    )


#: Statistics a group may differ on because of who is in it, not because the data shifted.
_CASE_MIX_STATISTICS = frozenset({"smd", "ks_at_quantiles", "tvd", "prevalence_difference"})


def _case_mix(finding: ShiftFinding) -> ShiftFinding:
    """Unflag a group's distribution difference: the card only describes the whole population.

    Older patients have higher blood pressure and women higher HDL in any population, so a
    group compared with the *whole* development population differs by construction. Per group,
    only what case mix cannot explain stays flagged: a likely unit change (and the other
    statistics of that input in that group), unseen categories.
    """
    if not finding.group or finding.statistic not in _CASE_MIX_STATISTICS:
        return finding
    if finding.flag == "none":
        return finding
    return dataclasses.replace(
        finding,
        flag="none",
        message=finding.message.rstrip(".").rsplit(" (", 1)[0]
        + " (compared with the whole development population: may be case mix, not flagged).",
    )


def _numeric_shift(
    name: str,
    group: dict[str, str],
    x: np.ndarray,
    ref: Mapping[str, Any],
    *,
    z: float,
    min_cell: int,
) -> list[ShiftFinding]:
    x = x[np.isfinite(x)]
    n = int(x.size)
    n_ref = int(ref.get("n") or 0)
    if n < min_cell or n_ref < min_cell:
        return []
    out: list[ShiftFinding] = []
    where = _where(group)
    noise_se = math.sqrt(1.0 / n + 1.0 / n_ref)
    mean_ref, sd_ref = ref.get("mean"), ref.get("sd")
    if mean_ref is not None and sd_ref is not None:
        sd_c = float(x.std(ddof=1)) if n > 1 else 0.0
        pooled = math.sqrt((sd_c**2 + float(sd_ref) ** 2) / 2)
        smd = (float(x.mean()) - float(mean_ref)) / pooled if pooled > 0 else math.nan
        s = SAFETY_SETTINGS["smd"]
        flag = _flag(smd, s["notable"], s["serious"], noise=z * noise_se)
        direction = "higher" if smd > 0 else "lower"
        msg = (
            f"'{name}' {where}: mean is {abs(smd):.2f} standard deviations {direction} than in "
            "the development data" + ("." if flag == "none" else f" ({flag} shift).")
        )
        out.append(
            ShiftFinding(
                name, group, "smd", smd, flag, msg, n, smd - z * noise_se, smd + z * noise_se
            )
        )
    q, xq = _card_quantiles(ref)
    if q.size:
        xs = np.sort(x)
        # F_ref(x_q-) <= q <= F_ref(x_q) for the card's quantile x_q; the gap is how far q
        # lies outside [F_c(x_q-), F_c(x_q)] (equal to |F_c(x_q) - q| for continuous data,
        # and right for discrete inputs such as 0/1 flags, where quantiles sit on ties)
        left = np.searchsorted(xs, xq, side="left") / n
        right = np.searchsorted(xs, xq, side="right") / n
        d = float(np.max(np.maximum(0.0, np.maximum(left - q, q - right))))
        s = SAFETY_SETTINGS["ks_at_quantiles"]
        flag = _flag(d, s["notable"], s["serious"], noise=1.36 * noise_se)
        msg = (
            f"'{name}' {where}: the share of patients below the development quantiles differs "
            f"by up to {d:.2f}" + ("." if flag == "none" else f" ({flag} shift in distribution).")
        )
        out.append(ShiftFinding(name, group, "ks_at_quantiles", d, flag, msg, n))
        qd = dict(zip(q.tolist(), xq.tolist(), strict=True))
        if all(k in qd for k in (0.25, 0.5, 0.75)) and n >= 2 * min_cell:
            med_ref, iqr_ref = qd[0.5], qd[0.75] - qd[0.25]
            c25, c50, c75 = np.quantile(x, [0.25, 0.5, 0.75])
            if med_ref > 0 and iqr_ref > 0 and c50 > 0 and c75 - c25 > 0:
                ratio, iqr_ratio = float(c50 / med_ref), float((c75 - c25) / iqr_ref)
                tol = SAFETY_SETTINGS["unit_change"]["tolerance_log"]
                factor, meaning = _match_unit_factor(ratio, iqr_ratio, tol)
                if math.isfinite(factor):
                    shown = factor if factor >= 1 else 1 / factor
                    verb = "multiplied" if factor >= 1 else "divided"
                    msg = (
                        f"'{name}' {where}: values look {verb} by ~{shown:.3g} ({meaning}?); "
                        f"the median is {ratio:.3g} times and the spread {iqr_ratio:.3g} times "
                        "the development value. Likely a unit change: check the unit before "
                        "trusting any prediction."
                    )
                    out.append(
                        ShiftFinding(
                            name, group, "median_ratio", ratio, "serious", msg, n,
                            unit_factor=factor,
                        )
                    )  # fmt: skip
    return out


def _categorical_shift(
    name: str,
    group: dict[str, str],
    labels: np.ndarray,
    ref: Mapping[str, Any],
    min_cell: int,
) -> list[ShiftFinding]:
    present = pd.Series(labels[pd.notna(labels)]).astype(str)
    n = int(present.size)
    n_ref = int(ref.get("n") or 0)
    freqs = ref.get("frequencies") or {}
    if n < min_cell or n_ref < min_cell or not freqs:
        return []
    where = _where(group)
    counts = present.value_counts()
    cats = sorted(set(counts.index.tolist()) | {str(c) for c in freqs})
    p_c = np.array([counts.get(c, 0) / n for c in cats])
    p_r = np.array([float(freqs.get(c) or 0.0) for c in cats])
    known = np.array([c in {str(k) for k in freqs} for c in cats])
    tvd = 0.5 * float(np.abs(p_c - p_r).sum())
    use = p_r > 0
    chi2 = float(np.sum((p_c[use] - p_r[use]) ** 2 / p_r[use])) / (1.0 / n + 1.0 / n_ref)
    p_value = float(stats.chi2.sf(chi2, max(int(use.sum()) - 1, 1)))
    s = SAFETY_SETTINGS["tvd"]
    flag: Flag = _flag(tvd, s["notable"], s["serious"], noise=0.0) if p_value < 0.05 else "none"
    msg = (
        f"'{name}' {where}: the category mix differs from the development data by a total "
        f"variation distance of {tvd:.2f}" + ("." if flag == "none" else f" ({flag} shift).")
    )
    out = [ShiftFinding(name, group, "tvd", tvd, flag, msg, n)]
    unseen_n = int(sum(counts.get(c, 0) for c, k in zip(cats, known, strict=True) if not k))
    n_unseen_cats = int(sum(1 for c, k in zip(cats, known, strict=True) if not k))
    share = unseen_n / n
    if unseen_n:
        s = SAFETY_SETTINGS["unseen_categories"]
        flag = "serious" if share > s["serious"] else "notable"
        msg = (
            f"'{name}' {where}: {n_unseen_cats} categor{'y' if n_unseen_cats == 1 else 'ies'} "
            f"not seen in the development data ({share:.1%} of patients); the model's output "
            "for them is undefined by its card."
        )
        out.append(ShiftFinding(name, group, "unseen_categories", share, flag, msg, n))
    return out


def _prevalence_shift(
    group: dict[str, str], y: np.ndarray, prevalence: float, z: float, min_cell: int
) -> ShiftFinding:
    y = y[np.isfinite(y)]
    n, events = int(y.size), int(y.sum())
    where = _where(group)
    if n < min_cell or min(events, n - events) < min_cell:
        return ShiftFinding(
            "outcome", group, "prevalence_difference", None, "none",
            f"Outcome prevalence {where}: not evaluable (fewer than {min_cell} events or "
            "non-events).", n,
        )  # fmt: skip
    p = events / n
    lo, hi = wilson_interval(events, n, z)
    s = SAFETY_SETTINGS["prevalence"]
    ratio = p / prevalence if prevalence > 0 else math.inf
    excludes = not (lo <= prevalence <= hi)
    flag: Flag = "none"
    if excludes and not (s["serious_ratio"][0] <= ratio <= s["serious_ratio"][1]):
        flag = "serious"
    elif excludes and not (s["notable_ratio"][0] <= ratio <= s["notable_ratio"][1]):
        flag = "notable"
    msg = (
        f"Outcome prevalence {where} is {p:.3f} ({lo:.3f}-{hi:.3f}) vs {prevalence:.3f} in the "
        "development data" + ("." if flag == "none" else f" ({flag} difference).")
    )
    return ShiftFinding(
        "outcome", group, "prevalence_difference", p - prevalence, flag, msg, n,
        lo - prevalence, hi - prevalence,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# 2. intended use
# --------------------------------------------------------------------------------------------


def intended_use_fit(
    features: pd.DataFrame,
    card: ModelCard,
    *,
    groups: pd.DataFrame | None = None,
    min_cell: int = 10,
) -> IntendedUseResult:
    """Patients outside the card's population, out of the card's input ranges, or missing.

    ``features`` may carry an ``age`` column even when the model does not take age. Counts
    with 0 < count < ``min_cell`` are withheld (None) and named in ``suppressed``; a group with
    fewer than ``min_cell`` patients is not listed at all.
    """
    _check_frame(features)
    _check_k(min_cell)
    pop = card.intended_population or {}
    age_min, age_max = pop.get("age_min"), pop.get("age_max")
    outside: np.ndarray | None = None
    rule = None
    if "age" in features.columns and (age_min is not None or age_max is not None):
        age = _numeric_values(features["age"])
        outside = np.zeros(len(age), dtype=bool)
        parts = []
        if age_min is not None:
            outside |= age < float(age_min)
            parts.append(f"age < {age_min}")
        if age_max is not None:
            outside |= age >= float(age_max) + 1
            parts.append(f"age >= {float(age_max) + 1:g}")
        rule = " or ".join(parts)
    range_masks: dict[str, np.ndarray] = {}
    missing_masks: dict[str, np.ndarray] = {}
    for spec in card.inputs:
        if spec.name not in features.columns:
            continue
        col = features[spec.name]
        missing_masks[spec.name] = col.isna().to_numpy()
        if spec.type == "numeric" and (spec.min is not None or spec.max is not None):
            x = _numeric_values(col)
            m = np.zeros(len(x), dtype=bool)
            if spec.min is not None:
                m |= x < float(spec.min)
            if spec.max is not None:
                m |= x > float(spec.max)
            range_masks[spec.name] = m

    def count(mask: np.ndarray, sel: np.ndarray | None) -> int:
        return int(mask.sum() if sel is None else mask[sel].sum())

    subsets = _subsets(len(features), groups, min_cell)
    table = []
    for _group, sel in subsets:
        row: dict[str, int | None] = {"n": len(features) if sel is None else int(sel.sum())}
        if outside is not None:
            row["outside_population"] = count(outside, sel)
        row.update({f"out_of_range.{k}": count(m, sel) for k, m in range_masks.items()})
        row.update({f"missing.{k}": count(m, sel) for k, m in missing_masks.items()})
        table.append(row)
    # one disclosure pass: every count 0 or >= k, and no withheld count (a group's, or the
    # groups too small to be listed) recoverable as the whole cohort minus released groups
    by_attribute: dict[str, list[int]] = {}
    for i, (group, _sel) in enumerate(subsets[1:]):
        by_attribute.setdefault(next(iter(group)), []).append(i)
    parent, children, withheld = protect_table(
        table[0], table[1:], min_cell, size="n", families=list(by_attribute.values())
    )
    released = [parent, *children]
    hidden = [[c for c in parent if parent[c] is None and table[0][c] is not None], *withheld]

    rows = []
    for (group, _sel), row, sup in zip(subsets, released, hidden, strict=True):
        rows.append(
            IntendedUseCounts(
                group=group,
                n=row["n"],
                outside_population=row.get("outside_population") if outside is not None else None,
                out_of_range={k: row[f"out_of_range.{k}"] for k in range_masks},
                missing={k: row[f"missing.{k}"] for k in missing_masks},
                suppressed=tuple(sup),
            )
        )
    return IntendedUseResult(population_rule=rule, rows=tuple(rows))


# --------------------------------------------------------------------------------------------
# 3. robustness
# --------------------------------------------------------------------------------------------


def _placements(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and the DeLong placement values (v10 per case, v01 per control), any order."""
    ps, ns = np.sort(pos), np.sort(neg)
    m, k = len(ps), len(ns)
    v10 = (np.searchsorted(ns, pos, "left") + np.searchsorted(ns, pos, "right")) / (2.0 * k)
    lo, hi = np.searchsorted(ps, neg, "left"), np.searchsorted(ps, neg, "right")
    v01 = ((m - hi) + (m - lo)) / (2.0 * m)
    return float(v10.mean()), v10, v01


def _paired_delong(
    y: np.ndarray, s1: np.ndarray, s2: np.ndarray
) -> tuple[float, float, float, float]:
    """AUC1, AUC2, AUC2 - AUC1 and its paired DeLong SE (DeLong, DeLong & Clarke-Pearson 1988)."""
    case = y == 1
    a1, v10a, v01a = _placements(s1[case], s1[~case])
    a2, v10b, v01b = _placements(s2[case], s2[~case])
    m, k = int(case.sum()), int((~case).sum())
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / k
    return a1, a2, a2 - a1, math.sqrt(max(float(var), 0.0))


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
            kind = "numeric" if is_num and s.nunique() > _MAX_LEVELS else "categorical"
        if kind == "numeric" and is_num and s.nunique() > 2:
            numeric.append(col)
            ref_sd = (spec.reference or {}).get("sd") if spec is not None else None
            sds[col] = float(ref_sd) if ref_sd else float(np.nanstd(s.to_numpy(float), ddof=1))
        else:
            categorical.append(col)
    return numeric, categorical, sds


def _perturb_noise(
    features: pd.DataFrame, cols: Sequence[str], sds: Mapping[str, float], level: float, rng
) -> pd.DataFrame:
    out = features.copy()
    for col in cols:
        x = features[col].to_numpy(dtype=np.float64, na_value=np.nan)
        x = x + rng.normal(0.0, 1.0, size=len(x)) * level * sds[col]
        if pd.api.types.is_integer_dtype(features[col]):
            out[col] = np.round(x).astype(features[col].dtype)
        else:
            out[col] = x.astype(features[col].dtype)
    return out


def _perturb_flip(features: pd.DataFrame, cols: Sequence[str], rate: float, rng) -> pd.DataFrame:
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
    _check_frame(features)
    _check_k(min_cell)
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
    z = _z(confidence)
    numeric, categorical, sds = _split_columns(features, card)
    base = np.asarray(score(features), dtype=np.float64)
    subsets = [
        (g, m)
        for g, m in _subsets(len(features), groups, min_cell)
        if min(int(y[m].sum() if m is not None else y.sum()),
               int((1 - y[m]).sum() if m is not None else (1 - y).sum())) >= min_cell
    ]  # fmt: skip
    subsets = _closed_subsets(subsets, len(features), min_cell)
    root = np.random.SeedSequence(random_state)
    plans = [("gaussian_noise", float(v)) for v in noise_levels] + [
        ("category_flip", float(r)) for r in flip_rates
    ]
    children = root.spawn(len(plans))
    rows: list[RobustnessRow] = []
    for (kind, level), child in zip(plans, children, strict=True):
        rng = np.random.default_rng(child)
        if kind == "gaussian_noise":
            pert = _perturb_noise(features, numeric, sds, level, rng)
        else:
            pert = _perturb_flip(features, categorical, level, rng)
        new = np.asarray(score(pert), dtype=np.float64)
        for group, mask in subsets:
            yy, s1, s2 = (y, base, new) if mask is None else (y[mask], base[mask], new[mask])
            a1, a2, d, se = _paired_delong(yy, s1, s2)
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


# --------------------------------------------------------------------------------------------
# 4. weak slices
# --------------------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _encode(frame: pd.DataFrame) -> list[tuple[str, np.ndarray, list[str], list[str]]]:
    """Per column: integer codes 0..L-1, the value labels, and the plain-words labels.

    Numeric columns with more than ``_MAX_LEVELS`` distinct values are cut at their quartiles
    (value label ``"[49.2, 56.9)"``, words ``"age [49.2, 56.9)"``); other columns keep their
    values (``"F"``, words ``"sex=F"``). Missing values form their own level, ``"missing"``.
    """
    out = []
    for col in frame.columns:
        s = frame[col]
        is_num = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if is_num and s.nunique() > _MAX_LEVELS:
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            edges = np.unique(np.nanquantile(x, [0.0, 0.25, 0.5, 0.75, 1.0]))
            codes = np.searchsorted(edges[1:-1], x, side="right")
            values = []
            last = len(edges) - 2
            for i in range(last + 1):
                # the outer edges are the cohort's minimum and maximum, i.e. single patients'
                # values: the outer bins are open-ended instead
                if last == 0:
                    values.append("any value")
                elif i == 0:
                    values.append(f"< {_fmt(edges[1])}")
                elif i == last:
                    values.append(f"≥ {_fmt(edges[i])}")
                else:
                    values.append(f"[{_fmt(edges[i])}, {_fmt(edges[i + 1])})")
            words = [slice_words({col: v}) for v in values]
            nan = np.isnan(x)
            if nan.any():
                codes = np.where(nan, len(values), codes)
                values.append("missing")
                words.append(slice_words({col: "missing"}))
        else:
            labels = s.astype(object).where(s.notna(), "missing").astype(str)
            codes, uniques = pd.factorize(labels, sort=True)
            values = [str(u) for u in uniques]
            words = [slice_words({col: u}) for u in values]
        out.append((str(col), np.asarray(codes, dtype=np.int64), values, words))
    return out


def _midrank_within(
    codes: np.ndarray, score: np.ndarray, score_order: np.ndarray | None = None
) -> np.ndarray:
    """Mid-rank (1-based, ties averaged) of each score within its code group.

    ``score_order`` (a stable argsort of ``score``) is shared across calls: a stable sort of
    the small integer codes on top of it (radix sort for int16) orders by (code, score) far
    faster than a lexsort of floats.
    """
    if score_order is None:
        score_order = np.argsort(score, kind="stable")
    c0 = codes[score_order]
    if len(c0) and c0.min() >= 0 and c0.max() < np.iinfo(np.int16).max:
        c0 = c0.astype(np.int16)
    order = score_order[np.argsort(c0, kind="stable")]
    c, s = codes[order], score[order]
    n = len(c)
    new_group = np.r_[True, c[1:] != c[:-1]]
    new_tie = new_group | np.r_[True, s[1:] != s[:-1]]
    pos = np.arange(n)
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0))
    tie_id = np.cumsum(new_tie) - 1
    tie_start = pos[new_tie]
    tie_end = np.r_[tie_start[1:], n] - 1
    mid = (tie_start + tie_end) / 2.0 - group_start[tie_start] + 1.0
    ranks = np.empty(n)
    ranks[order] = mid[tie_id]
    return ranks


def _hanley_mcneil_var(a: np.ndarray, m: np.ndarray, k: np.ndarray) -> np.ndarray:
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return (a * (1 - a) + (m - 1) * (q1 - a * a) + (k - 1) * (q2 - a * a)) / (m * k)


@dataclass(frozen=True, eq=False)
class _Overall:
    """Whole-cohort arrays and sums every slice is compared against (see weak_slices)."""

    y: np.ndarray
    p: np.ndarray
    case: np.ndarray
    pred: np.ndarray
    below: np.ndarray  # per case: controls below it (ties 1/2)
    above: np.ndarray  # per control: cases above it (ties 1/2)
    score_order: np.ndarray
    u_total: float
    m: int
    k: int
    tp: int
    o: float
    e: float


def weak_slices(
    y_true: Any,
    y_score: Any,
    frame: pd.DataFrame,
    *,
    threshold: float,
    min_size: int = 10,
    max_order: int = 2,
    fdr: float = 0.05,
    confidence: float = 0.95,
) -> tuple[WeakSlice, ...]:
    """Slices (single attributes, pairs, optionally triples) worse than the rest of the cohort.

    Only slices with at least ``min_size`` events and non-events, whose complement also has
    ``min_size`` of each, are tested. Returns the slices significant after Benjamini-Hochberg
    at ``fdr``, largest effect first. Vectorised per attribute combination: one sort each.
    """
    _check_frame(frame, "frame")
    if max_order not in (1, 2, 3):
        raise ConfigError(f"The 'max_order' parameter must be 1, 2 or 3. Got {max_order!r}.")
    if not (0 < fdr < 1):
        raise ConfigError(f"The 'fdr' parameter must be a float in (0, 1). Got {fdr!r}.")
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(y_score, dtype=np.float64)
    n = len(frame)
    if y.shape != (n,) or p.shape != (n,):
        raise SchemaError(
            f"'y_true' and 'y_score' must have one value per row of 'frame' ({n}). "
            f"Got shapes {y.shape} and {p.shape}."
        )
    z = _z(confidence)
    case = y == 1
    m_all, k_all = int(case.sum()), int((~case).sum())
    # overall placement sums: for a case, controls below (ties 1/2); for a control, cases above
    score_order = np.argsort(p, kind="stable")
    r_all = _midrank_within(np.zeros(n, dtype=np.int64), p, score_order)
    r_cls = _midrank_within(y, p, score_order)
    below = r_all - r_cls  # cases: controls below (ties 1/2); controls: cases below
    pred = p >= threshold
    overall = _Overall(
        y=y,
        p=p,
        case=case,
        pred=pred,
        below=below,
        above=m_all - below,
        score_order=score_order,
        u_total=float(below[case].sum()),
        m=m_all,
        k=k_all,
        tp=int((pred & case).sum()),
        o=float(y.sum()),
        e=float(p.sum()),
    )
    enc = _encode(frame)
    tests: list[dict[str, Any]] = []
    for order in range(1, max_order + 1):
        for combo in combinations(range(len(enc)), order):
            codes = np.zeros(n, dtype=np.int64)
            for j in combo:
                codes = codes * len(enc[j][2]) + enc[j][1]
            levels = [enc[j] for j in combo]
            tests.extend(_slice_tests(codes, levels, overall, min_size=min_size, z=z))
    if not tests:
        return ()
    pv = np.array([t["p"] for t in tests])
    # Benjamini-Hochberg adjusted p-values (q-values), scipy's implementation
    q = false_discovery_control(pv)
    found = []
    for t, qv in zip(tests, q, strict=True):
        if qv <= fdr and t["worse"]:
            found.append((t, float(qv)))
    found = _prune_explained(found)
    found.sort(key=lambda tq: (-tq[0]["effect"], tq[1]))
    out = []
    names = {"auroc": "AUROC", "sensitivity": "sensitivity", "oe": "O/E"}
    for t, qv in found:
        lo, hi = t["ci"]
        desc = (
            f"{t['label']}: {names[t['metric']]} {t['value']:.2f} ({lo:.2f}-{hi:.2f}) vs "
            f"{t['rest']:.2f} rest (n={t['n']}, events={t['events']}, q={qv:.3g})"
        )
        out.append(
            WeakSlice(
                attributes=t["attributes"],
                metric=t["metric"],
                n=t["n"],
                events=t["events"],
                value=MetricValue(t["value"], lo, hi),
                rest_value=t["rest"],
                effect=t["effect"],
                p_value=t["p"],
                q_value=qv,
                description=desc,
            )
        )
    return tuple(out)


def _prune_explained(
    found: list[tuple[dict[str, Any], float]],
) -> list[tuple[dict[str, Any], float]]:
    """Drop a combined slice that a significant sub-slice already explains.

    "Women aged 40-49 who never smoked" adds nothing when "women aged 40-49" is flagged on the
    same metric and the combined slice's CI contains that sub-slice's value: the extra
    attribute does not make it measurably worse. Pruning happens after Benjamini-Hochberg, so
    it removes reports, never tests, and cannot raise the false discovery rate.
    """
    value = {(frozenset(t["attributes"].items()), t["metric"]): t["value"] for t, _ in found}
    kept = []
    for t, qv in found:
        items = list(t["attributes"].items())
        lo, hi = t["ci"]
        explained = False
        if len(items) > 1:
            for drop in range(len(items)):
                parent = frozenset(items[:drop] + items[drop + 1 :])
                v = value.get((parent, t["metric"]))
                if v is not None and lo <= v <= hi:
                    explained = True
                    break
        if not explained:
            kept.append((t, qv))
    return kept


def _slice_tests(
    codes: np.ndarray,
    levels: Sequence[tuple[str, np.ndarray, list[str], list[str]]],
    o: _Overall,
    *,
    min_size: int,
    z: float,
) -> list[dict[str, Any]]:
    """Every slice of one attribute combination vs its complement, all at once (bincounts).

    Complement AUROC without a per-slice search: U_rest = U_all + U_s - A_s - B_s, where A_s
    sums the slice cases' controls-below over the whole cohort and B_s the slice controls'
    cases-above (both include the slice's own pairs once, hence + U_s).
    """
    sizes = [len(lv[2]) for lv in levels]
    nslices = int(np.prod(sizes))

    def bc(w: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(codes, weights=w, minlength=nslices)

    y, p, case, pred = o.y, o.p, o.case, o.pred
    m_all, k_all, tp_all = o.m, o.k, o.tp
    n_s = bc()
    m_s = bc(case.astype(np.float64))
    k_s = n_s - m_s
    m_c, k_c = m_all - m_s, k_all - k_s
    ok = (m_s >= min_size) & (k_s >= min_size) & (m_c >= min_size) & (k_c >= min_size)
    if not ok.any():
        return []
    # AUROC inside each slice from mid-ranks within the slice and within (slice, class)
    r_slice = _midrank_within(codes, p, o.score_order)
    r_class = _midrank_within(codes * 2 + y, p, o.score_order)
    cw = case.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        u_s = bc(r_slice * cw) - m_s * (m_s + 1) / 2
        auc_s = u_s / (m_s * k_s)
        v10 = np.where(case, (r_slice - r_class) / k_s[codes], 0.0)
        v01 = np.where(~case, (m_s[codes] - (r_slice - r_class)) / m_s[codes], 0.0)
        s10 = (bc(v10**2 * cw) - m_s * auc_s**2) / (m_s - 1)
        s01 = (bc(v01**2 * (1 - cw)) - k_s * auc_s**2) / (k_s - 1)
        var_s = s10 / m_s + s01 / k_s
        a_sum = bc(o.below * cw)  # case-vs-all-controls pairs of slice cases
        b_sum = bc(o.above * (1 - cw))  # all-cases-vs-control pairs of slice controls
        u_c = o.u_total + u_s - a_sum - b_sum
        auc_c = u_c / (m_c * k_c)
        var_c = _hanley_mcneil_var(auc_c, m_c, k_c)
        se_auc = np.sqrt(np.maximum(var_s, 0) + np.maximum(var_c, 0))
        z_auc = (auc_c - auc_s) / se_auc
        # sensitivity, pooled two-proportion
        tp_s = bc((pred & case).astype(np.float64))
        tp_c = tp_all - tp_s
        sens_s, sens_c = tp_s / m_s, tp_c / m_c
        pool = tp_all / m_all
        se_sens = np.sqrt(pool * (1 - pool) * (1 / m_s + 1 / m_c))
        z_sens = (sens_c - sens_s) / se_sens
        # O/E
        o_s, e_s = m_s, bc(p)
        o_c, e_c = o.o - o_s, o.e - e_s
        oe_s, oe_c = o_s / e_s, o_c / e_c
        z_oe = np.log(oe_s / oe_c) / np.sqrt(1 / o_s + 1 / o_c)
    out: list[dict[str, Any]] = []
    for s in np.flatnonzero(ok):
        digits, rem = [], int(s)
        for L in reversed(sizes):
            digits.append(rem % L)
            rem //= L
        digits.reverse()
        attrs, words = {}, []
        for (col, _, values, labels), d in zip(levels, digits, strict=True):
            attrs[col] = values[d]
            words.append(labels[d])
        base = {"attributes": attrs, "label": ", ".join(words), "n": int(n_s[s])}
        base["events"] = int(m_s[s])
        if np.isfinite(z_auc[s]):
            se = math.sqrt(max(var_s[s], 0.0))
            out.append(
                base | {
                    "metric": "auroc", "value": auc_s[s], "rest": auc_c[s],
                    "ci": (max(auc_s[s] - z * se, 0.0), min(auc_s[s] + z * se, 1.0)),
                    "effect": auc_c[s] - auc_s[s], "p": float(stats.norm.sf(z_auc[s])),
                    "worse": auc_s[s] < auc_c[s],
                }
            )  # fmt: skip
        if np.isfinite(z_sens[s]):
            lo, hi = wilson_interval(int(tp_s[s]), int(m_s[s]), z)
            out.append(
                base | {
                    "metric": "sensitivity", "value": sens_s[s], "rest": sens_c[s],
                    "ci": (lo, hi), "effect": sens_c[s] - sens_s[s],
                    "p": float(stats.norm.sf(z_sens[s])), "worse": sens_s[s] < sens_c[s],
                }
            )  # fmt: skip
        if np.isfinite(z_oe[s]):
            half = z / math.sqrt(o_s[s])
            out.append(
                base | {
                    "metric": "oe", "value": oe_s[s], "rest": oe_c[s],
                    "ci": (oe_s[s] * math.exp(-half), oe_s[s] * math.exp(half)),
                    "effect": abs(oe_s[s] - oe_c[s]),
                    "p": float(2 * stats.norm.sf(abs(z_oe[s]))),
                    "worse": abs(math.log(oe_s[s])) > abs(math.log(oe_c[s])),
                }
            )  # fmt: skip
    return out

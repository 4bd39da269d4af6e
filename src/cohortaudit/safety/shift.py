"""Cohort shift: does the audit cohort still look like the data the model was developed on?

A model's card stores a summary of its development data (per input: n, mean, SD, quantiles or
category frequencies; the outcome prevalence). When the audit cohort, or a site or group in it,
differs from that summary, the model is being used on patients it has not seen, and a recorded
unit change (cholesterol in mg/dL where the model expects mmol/L) makes every prediction
meaningless. :func:`compute_shift` compares each input with the card's summary:

Numeric input (cohort or group vs the card's ``reference`` summary):

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
  reciprocal), see :data:`cohortaudit.vocabulary.UNIT_FACTORS`. Always "serious": such a model
  input is meaningless.

Categorical input: ``tvd`` = total variation distance between the cohort's and the card's
frequencies (0.1 notable, 0.2 serious; noise-aware through an approximate two-sample chi-square
test, p < 0.05), and ``unseen_categories`` = share of patients in categories the card never saw
(any: notable; > 5 %: serious). Card frequencies withheld for disclosure (null) count as 0.

Prevalence: cohort prevalence vs the card's development prevalence. Wilson CI for the cohort,
the development figure treated as fixed. Flags: ratio outside [0.8, 1.25] and CI excluding the
development value -> notable; outside [0.5, 2] -> serious.

Groups are compared with the whole development population (the card has no per-group summary),
so per group only unit changes and unseen categories are flagged; the other differences are
reported unflagged as possible case mix.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortaudit.errors import SchemaError
from cohortaudit.intake.card import ModelCard
from cohortaudit.metrics.performance import wilson_interval
from cohortaudit.safety.common import (
    check_frame,
    check_min_cell,
    cohort_subsets,
    numeric_values,
    z_value,
)
from cohortaudit.safety.results import SAFETY_SETTINGS, Flag, ShiftFinding
from cohortaudit.vocabulary import UNIT_FACTORS

__all__ = ["compute_shift", "numeric_shift"]


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
    check_frame(features)
    check_min_cell(min_cell)
    z = z_value(confidence)
    subsets = cohort_subsets(len(features), groups, min_cell)
    findings: list[ShiftFinding] = []
    for spec in card.inputs:
        if spec.name not in features.columns or not spec.reference:
            continue
        ref = spec.reference
        if spec.type == "numeric":
            x_all = numeric_values(features[spec.name])
            for group, mask in subsets:
                if spec.name in group:
                    continue  # a group defined by this input differs from it by construction
                x = x_all if mask is None else x_all[mask]
                findings.extend(numeric_shift(spec.name, group, x, ref, z=z, min_cell=min_cell))
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


def numeric_shift(
    name: str,
    group: dict[str, str],
    x: np.ndarray,
    ref: Mapping[str, Any],
    *,
    z: float,
    min_cell: int,
) -> list[ShiftFinding]:
    """SMD, KS at the card's quantiles and a likely unit change of one numeric input's values.

    ``x`` holds the values of the cohort or of one group (non-finite ones are ignored) and ``ref``
    the card's reference summary of that input. Nothing is returned when either side has fewer
    than ``min_cell`` values.
    """
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

"""Weak slices: groups nobody named in advance on which the model does worse than on the rest.

The sensitive features an audit is configured with are the groups someone thought of; a model
can also fail women aged 40-49 who smoke, or one site's diabetics. :func:`weak_slices` searches
single attributes and pairs (optionally triples) of the cohort's inputs and groups for slices
significantly worse than their complement, and keeps the false discovery rate across the whole
search under control.

Numeric columns with more than :data:`~cohortaudit.safety.results.MAX_LEVELS` distinct values are
cut at their quartiles (:func:`encode_levels`). Each slice is compared with its complement:
AUROC by a one-sided z-test, slice variance DeLong, complement variance Hanley-McNeil (the
complement is large, and its exact DeLong placement values would need a search per slice);
sensitivity by a one-sided pooled two-proportion z-test; O/E by a two-sided z-test of
ln(O/E_slice / O/E_rest) with SE sqrt(1/O_s + 1/O_r), kept only when the slice is the more
miscalibrated. Benjamini-Hochberg across every test (``scipy.stats.false_discovery_control``); a
combined slice whose CI contains the value of a flagged sub-slice (same metric) is not reported,
as the sub-slice explains it; ranked by the effect (the gap).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import false_discovery_control

from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.metrics.calibration import log_oe_se
from cohortaudit.metrics.performance import wilson_interval
from cohortaudit.results import MetricValue
from cohortaudit.safety.common import check_frame, z_value
from cohortaudit.safety.results import MAX_LEVELS, WeakSlice
from cohortaudit.safety.slice_case_mix import CaseMixWeights, case_mix_weights, slice_case_mix
from cohortaudit.vocabulary import slice_words

__all__ = ["encode_levels", "midranks_within", "weak_slices"]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def encode_levels(frame: pd.DataFrame) -> list[tuple[str, np.ndarray, list[str], list[str]]]:
    """Per column: integer codes 0..L-1, the value labels, and the plain-words labels.

    Numeric columns with more than ``MAX_LEVELS`` distinct values are cut at their quartiles
    (value label ``"[49.2, 56.9)"``, words ``"age [49.2, 56.9)"``); other columns keep their
    values (``"F"``, words ``"sex=F"``). Missing values form their own level, ``"missing"``.
    """
    out = []
    for col in frame.columns:
        s = frame[col]
        is_num = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if is_num and s.nunique() > MAX_LEVELS:
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


def midranks_within(
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
    mix: CaseMixWeights  # weights of the case-mix split of sensitivity gaps


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
    check_frame(frame, "frame")
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
    z = z_value(confidence)
    case = y == 1
    m_all, k_all = int(case.sum()), int((~case).sum())
    # overall placement sums: for a case, controls below (ties 1/2); for a control, cases above
    score_order = np.argsort(p, kind="stable")
    r_all = midranks_within(np.zeros(n, dtype=np.int64), p, score_order)
    r_cls = midranks_within(y, p, score_order)
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
        mix=case_mix_weights(y, p, pred),
    )
    enc = encode_levels(frame)
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
        beyond = None
        if "beyond" in t:
            beyond = MetricValue(*(float(x) for x in t["beyond"]))
            desc += (
                f"; case mix alone implies {t['expected']:.2f} vs {t['expected_rest']:.2f}, "
                f"gap beyond case mix {beyond.value:.2f} ({beyond.ci_low:.2f} to "
                f"{beyond.ci_high:.2f})"
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
                expected_value=t.get("expected"),
                expected_rest_value=t.get("expected_rest"),
                beyond_case_mix=beyond,
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
    r_slice = midranks_within(codes, p, o.score_order)
    r_class = midranks_within(codes * 2 + y, p, o.score_order)
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
        e_s = bc(p)
        mix = slice_case_mix(
            bc, o.mix, tp_s=tp_s, m_s=m_s, e_s=e_s, tp_all=tp_all, m_all=m_all, e_all=o.e
        )
        # O/E
        o_s = m_s
        o_c, e_c = o.o - o_s, o.e - e_s
        oe_s, oe_c = o_s / e_s, o_c / e_c
        z_oe = np.log(oe_s / oe_c) / np.hypot(log_oe_se(o_s, n_s), log_oe_se(o_c, m_c + k_c))
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
                    "expected": mix.expected[s], "expected_rest": mix.expected_rest[s],
                    "beyond": (
                        mix.beyond[s], mix.beyond[s] - z * mix.se[s], mix.beyond[s] + z * mix.se[s]
                    ),
                }
            )  # fmt: skip
        if np.isfinite(z_oe[s]):
            half = z * float(log_oe_se(o_s[s], n_s[s]))
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

"""Report sections 9 (explanations) and 10 (safety), built from the result's blocks.

Kept apart from :mod:`cohortaudit.render.report` (which calls these from ``build_report``)
so each module stays readable; the blocks and formatting helpers are the report's own, so the
PDF and the HTML lay these sections out exactly like the others. Findings in plain words come
first, the tables behind them after.
"""

from __future__ import annotations

from typing import Any

from cohortaudit.registry import label
from cohortaudit.render.check_charts import top_reliance_rows, top_slices
from cohortaudit.render.document import Bullets, Chart, Para, Section, Table
from cohortaudit.render.findings import fmt_value
from cohortaudit.results import WITHHELD_COUNT, WITHHELD_COUNT_NOTE, AuditResult, MetricValue
from cohortaudit.vocabulary import slice_words

__all__ = ["explanations_section", "safety_sections"]

#: Slice metrics ("oe" is the slices' key for the O/E ratio); mid-sentence, so lower-case.
_METRIC_WORDS = {
    "auroc": label("auroc"),
    "sensitivity": label("sensitivity").lower(),
    "oe": label("oe_ratio"),
}


def _mv(d: dict[str, Any] | None) -> MetricValue:
    d = d or {}
    return MetricValue(d.get("value"), d.get("ci_low"), d.get("ci_high"))


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{digits}f}".replace("-", "−")


def _signed(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}".replace("-", "−")


def _group_words(group: dict[str, str]) -> str:
    return "the whole cohort" if not group else ", ".join(f"{a} {v}" for a, v in group.items())


def _count(x: Any, k: Any) -> str:
    """A released count, or the word for a withheld one (below k, or secondary suppression)."""
    return WITHHELD_COUNT if x is None else f"{int(x):,}"


# ---------------------------------------------------------------------------- 9 explanations


def explanations_section(result: AuditResult) -> Section:
    s = Section("9", "Explanations", 0, new_page=True)
    e = result.explanations
    if not e:
        reason = (
            "this audit scored predictions from a column (scores mode), and SHAP values need "
            "the model itself"
            if result.model.kind in (None, "scores")
            else "they were not requested (the CLI computes them unless --no-explain; the "
            "dashboard computes them on its Explanations page)"
        )
        s.blocks.append(
            Para(
                f"Explanations were not computed for this audit: {reason}. Which inputs drive "
                "the predictions, and whether the model relies on different inputs for "
                "different groups, is therefore not assessed here.",
                "limitation",
            )
        )
        return s
    st = e.get("settings", {})
    k = st.get("min_cell")
    s.blocks.append(
        Para(
            "SHAP values split each prediction into one contribution per model input; here on "
            "the probability scale, so a value of 0.05 means the input moved that patient's "
            f"predicted risk by 5 percentage points. {st.get('explainer', 'SHAP')} "
            f"(exact Shapley values) explained {st.get('n_explain', '?'):,} of "
            f"{st.get('n_rows', 0):,} patients, a seeded sample "
            f"{st.get('sampling', '')}, against {st.get('n_background', '?')} background "
            f"patients; intervals are percentile bootstraps ({st.get('n_boot', '?')} "
            "replicates). Only aggregates are reported: no patient's own values or "
            f"explanation appear in this report or in audit.json (counts below {k} withheld)."
        )
    )
    findings: list[str] = []
    glob = e.get("global", [])
    if glob:
        top = ", then ".join(
            f"{g['feature']} {fmt_value(_mv(g['mean_abs_shap']))}" for g in glob[:3]
        )
        findings.append(f"The model relies most on {top} (mean |SHAP|).")
    reliance = top_reliance_rows(e, 10)
    for r in reliance[:3]:
        more = "more" if r["difference"]["value"] > 0 else "less"
        findings.append(
            f"For {r['attribute']} {r['group']} the model relies {more} on {r['feature']} "
            f"than for {r['reference']} (reference): mean |SHAP| "
            f"{_f(r['mean_abs_shap'].get('value'))} vs "
            f"{_f(r['reference_mean_abs_shap'].get('value'))}, difference "
            f"{fmt_value(_mv(r['difference']))}."
        )
    if not reliance:
        findings.append(
            "No group relies on any input measurably more or less than its reference group "
            "(every difference's interval includes 0)."
        )
    proxies = e.get("proxies", [])
    strong = [p for p in proxies if p.get("strong")]
    cut = st.get("proxy_strong_auroc", 0.8)
    if strong:
        for p in strong[:4]:
            what = "all inputs together" if p["feature"] == "(all inputs)" else p["feature"]
            findings.append(
                f"{what} predicts {p['attribute']} with AUROC {fmt_value(_mv(p['auroc']))}: a "
                f"strong proxy (≥ {cut}); the model can use {p['attribute']} through it."
            )
    elif proxies:
        findings.append(
            f"No input, alone or together, predicts a sensitive attribute with AUROC ≥ {cut}: "
            "no strong proxy."
        )
    direct = st.get("proxy_direct_inputs") or []
    if direct:
        findings.append(
            (
                f"{direct[0]} is itself a model input: the model uses it directly"
                if len(direct) == 1
                else f"{', '.join(direct[:-1])} and {direct[-1]} are themselves model inputs: "
                "the model uses them directly"
            )
            + " (a question of direct use, not of proxies)."
        )
    s.blocks.append(Para("Findings", "finding"))
    s.blocks.append(Bullets(findings))

    s.blocks.append(
        Table(
            ["Input", "Mean |SHAP| (95% CI)", "Rank"],
            [
                [g["feature"], fmt_value(_mv(g["mean_abs_shap"]), 4), str(i)]
                for i, g in enumerate(glob, 1)
            ],
            [0.4, 0.4, 0.2],
            ["L", "L", "R"],
            caption="Table 9.1 Global importance: mean |SHAP| per model input, probability scale.",
        )
    )
    s.blocks.append(
        Chart(
            "shap_global",
            "Figure 9.1 Mean |SHAP| per input with 95% bootstrap intervals.",
            height_mm=70,
        )
    )
    if reliance:
        s.blocks.append(
            Table(
                ["Group", "Input", "Mean |SHAP|", "Reference", "Difference (95% CI)"],
                [
                    [
                        f"{r['attribute']} {r['group']}",
                        r["feature"],
                        _f(r["mean_abs_shap"].get("value"), 4),
                        f"{r['reference']}: {_f(r['reference_mean_abs_shap'].get('value'), 4)}",
                        fmt_value(_mv(r["difference"]), 4),
                    ]
                    for r in reliance
                ],
                [0.24, 0.15, 0.14, 0.22, 0.25],
                ["L", "L", "R", "L", "L"],
                font_size=7.5,
                caption=(
                    "Table 9.2 Largest differences in reliance between a group and its reference "
                    "(intervals excluding 0; the input that defines a group, e.g. age for age "
                    "bands, is left out as different by construction)."
                ),
            )
        )
        s.blocks.append(
            Chart(
                "shap_groups",
                "Figure 9.2 Difference in mean |SHAP| vs the reference group, 95% CI; "
                "vermillion: relies more, blue: relies less.",
                height_mm=80,
            )
        )
    if proxies:
        rows = []
        for attr in dict.fromkeys(p["attribute"] for p in proxies):
            mine = [p for p in proxies if p["attribute"] == attr]
            together = next((p for p in mine if p["feature"] == "(all inputs)"), None)
            singles = [p for p in mine if p["feature"] != "(all inputs)"]
            best = max(singles, key=lambda p: p["auroc"].get("value") or 0, default=None)
            rows.append(
                [
                    attr,
                    fmt_value(_mv(together["auroc"])) if together else "n/a",
                    f"{best['feature']}: {fmt_value(_mv(best['auroc']))}" if best else "n/a",
                    "yes" if any(p.get("strong") for p in mine) else "no",
                ]
            )
        s.blocks.append(
            Table(
                ["Sensitive attribute", "All inputs: AUROC", "Strongest single input", "Strong?"],
                rows,
                [0.22, 0.24, 0.4, 0.14],
                ["L", "L", "L", "L"],
                font_size=7.5,
                caption=(
                    f"Table 9.3 Proxy check: cross-validated AUROC of predicting each attribute "
                    f"from the inputs (one-vs-rest, averaged, for attributes with more than two "
                    f"groups); strong at ≥ {cut}."
                ),
            )
        )
    s.blocks.append(
        Para(
            "The distribution of SHAP values per input (counts on fixed bins) and dependence "
            "summaries (mean SHAP per input-value bin) are in audit.json and on the "
            "dashboard's Explanations page.",
            "note",
        )
    )
    return s


# ---------------------------------------------------------------------------- 10 safety


def safety_sections(result: AuditResult) -> list[Section]:
    s = Section("10", "Safety", 0, new_page=True)
    sf = result.safety
    if not sf:
        s.blocks.append(
            Para(
                "Safety checks (cohort shift against the model card, intended-use fit, "
                "robustness, weak-slice search) were turned off for this audit (--no-safety).",
                "limitation",
            )
        )
        return [s]
    st = sf.get("settings", {})
    k = st.get("min_cell")
    skipped = st.get("skipped") or {}
    s.blocks.append(
        Para(
            "Is this cohort inside the model's intended use, does the model stay stable when "
            "inputs are slightly off, and where does it fail that nobody thought to look? "
            "(EU AI Act Art. 15 accuracy and robustness; TRIPOD+AI items 7 and 16.) Every "
            "threshold used is listed in audit.json (safety.settings)."
        )
    )
    findings = _safety_findings(result, sf)
    s.blocks.append(Para("Findings", "finding"))
    s.blocks.append(Bullets(findings))
    for check, reason in skipped.items():
        s.blocks.append(Para(f"Not assessed — {check.replace('_', ' ')}: {reason}.", "limitation"))
    out = [s, _shift_section(sf), _use_section(sf, k), _robust_section(sf), _slices_section(sf)]
    return out


def _safety_findings(result: AuditResult, sf: dict[str, Any]) -> list[str]:
    out: list[str] = []
    shift = sf.get("shift", [])
    for f in shift:
        if f["statistic"] == "median_ratio":
            out.append(f"Likely unit change — {f['message']}")
    whole = [f for f in shift if not f["group"] and f["flag"] != "none"]
    serious = sorted({f["feature"] for f in whole if f["flag"] == "serious"})
    notable = sorted({f["feature"] for f in whole if f["flag"] == "notable"} - set(serious))
    if serious or notable:
        parts = []
        if serious:
            parts.append(f"serious for {', '.join(serious)}")
        if notable:
            parts.append(f"notable for {', '.join(notable)}")
        out.append(
            "The cohort differs from the development data described in the model card: "
            + "; ".join(parts)
            + " (section 10.1)."
        )
    elif shift:
        out.append("No input of the whole cohort is flagged as shifted from the development data.")
    use = sf.get("intended_use") or {}
    rows = use.get("rows") or []
    if rows:
        r0 = rows[0]
        bits = []
        withheld = set(r0.get("suppressed") or [])
        if r0.get("outside_population") not in (None, 0):
            bits.append(
                f"{r0['outside_population']:,} patients outside the intended population "
                f"({use.get('population_rule')})"
            )
        elif "outside_population" in withheld and use.get("population_rule"):
            bits.append(
                f"some patients outside the intended population ({use['population_rule']}; "
                "count withheld)"
            )
        oor = {f: c for f, c in (r0.get("out_of_range") or {}).items() if c}
        oor_withheld = [f for f in r0.get("out_of_range") or {} if f"out_of_range.{f}" in withheld]
        if oor or oor_withheld:
            bits.append(
                "out-of-range values in "
                + ", ".join(
                    [f"{f} ({c:,})" for f, c in oor.items()]
                    + [f"{f} (count withheld)" for f in oor_withheld]
                )
            )
        miss = {f: c for f, c in (r0.get("missing") or {}).items() if c}
        if miss:
            bits.append("missing " + ", ".join(f"{f} ({c:,})" for f, c in miss.items()))
        if bits:
            out.append("Intended use: " + "; ".join(bits) + " (section 10.2).")
    rob = sf.get("robustness") or {}
    whole_rob = [r for r in rob.get("rows", []) if not r["group"]]
    if whole_rob:
        worst = min(whole_rob, key=lambda r: r["delta_auroc"].get("value") or 0)
        d = worst["delta_auroc"]
        what = (
            f"Gaussian noise of {worst['level']:g} SD"
            if worst["perturbation"] == "gaussian_noise"
            else f"{worst['level']:.0%} category flips"
        )
        out.append(
            f"Robustness: the largest AUROC change, under {what}, is "
            f"{_signed(d.get('value'))} ({_signed(d.get('ci_low'))} to "
            f"{_signed(d.get('ci_high'))}) (section 10.3)."
        )
    slices = sf.get("weak_slices", [])
    if slices:
        counts = {m: sum(w["metric"] == m for w in slices) for m in ("auroc", "sensitivity", "oe")}
        out.append(
            f"The weak-slice search found {len(slices)} slices significantly worse than the "
            f"rest (false discovery rate {st_fdr(sf)}): "
            + ", ".join(f"{n} on {_METRIC_WORDS[m]}" for m, n in counts.items() if n)
            + ". The worst by each metric:"
        )
        for m in ("auroc", "sensitivity", "oe"):
            top = top_slices(sf, m, 1)
            if top:
                out.append(f"  {top[0]['description']}")
    else:
        out.append(
            f"The weak-slice search found no slice significantly worse than the rest "
            f"(false discovery rate {st_fdr(sf)})."
        )
    return out


def st_fdr(sf: dict[str, Any]) -> str:
    fdr = (sf.get("settings") or {}).get("slice_fdr", 0.05)
    return f"{fdr:.0%}"


def _shift_section(sf: dict[str, Any]) -> Section:
    s = Section("10.1", "Cohort shift against the development data", 1)
    shift = sf.get("shift", [])
    if not shift:
        s.blocks.append(Para("Not assessed (no model card with a development summary).", "note"))
        return s
    s.blocks.append(
        Para(
            "Each input of the whole cohort compared with the development-data summary stored "
            "in the model card: standardised mean difference (SMD; notable > 0.1, serious > "
            "0.25), the largest gap between the cohort's and the development quantiles (KS-like "
            "distance; notable > 0.1, serious > 0.2), category frequency distance (TVD) and "
            "unseen categories, and the outcome rate. A flag needs both the threshold and a "
            "difference larger than sampling noise. Groups are compared with the whole "
            "development population, so per group only likely unit changes and unseen "
            "categories are flagged; other group differences can be case mix."
        )
    )
    whole = [f for f in shift if not f["group"]]
    rows = []
    for f in whole:
        ci = ""
        if f.get("ci_low") is not None and f.get("ci_high") is not None:
            ci = f" ({_f(f['ci_low'])} to {_f(f['ci_high'])})"
        rows.append(
            [f["feature"], f["statistic"].replace("_", " "), _f(f["value"]) + ci, f["flag"]]
        )
    s.blocks.append(
        Table(
            ["Input", "Statistic", "Value", "Flag"],
            rows,
            [0.22, 0.3, 0.33, 0.15],
            ["L", "L", "L", "L"],
            font_size=7.5,
            caption="Table 10.1 Shift of the whole cohort against the model card.",
        )
    )
    s.blocks.append(
        Chart(
            "shift_smd",
            "Figure 10.1 |SMD| of each numeric input vs the development data; orange notable, "
            "vermillion serious.",
            height_mm=70,
        )
    )
    flagged = [f for f in shift if f["group"] and f["flag"] != "none"]
    if flagged:
        s.blocks.append(
            Table(
                ["Group", "Input", "Statistic", "Flag", "What it means"],
                [
                    [
                        _group_words(f["group"]),
                        f["feature"],
                        f["statistic"].replace("_", " "),
                        f["flag"],
                        f["message"],
                    ]
                    for f in flagged
                ],
                [0.16, 0.12, 0.13, 0.09, 0.5],
                ["L", "L", "L", "L", "L"],
                font_size=7,
                caption="Table 10.2 Flagged findings in groups.",
            )
        )
    return s


def _use_section(sf: dict[str, Any], k: Any) -> Section:
    s = Section("10.2", "Intended-use fit and data quality by group", 1)
    use = sf.get("intended_use")
    if not use or not use.get("rows"):
        s.blocks.append(Para("Not assessed (no model card).", "note"))
        return s
    rows_in = use["rows"]
    feats = list(dict.fromkeys(f for r in rows_in for f in (r.get("missing") or {})))
    with_range = list(dict.fromkeys(f for r in rows_in for f in (r.get("out_of_range") or {})))
    interesting_missing = [
        f for f in feats if any((r.get("missing") or {}).get(f) not in (0,) for r in rows_in)
    ]
    interesting_range = [
        f
        for f in with_range
        if any((r.get("out_of_range") or {}).get(f) not in (0,) for r in rows_in)
    ]
    header = ["Group", "n", "Outside population"]
    header += [f"{f} out of range" for f in interesting_range]
    header += [f"{f} missing" for f in interesting_missing]
    rows = []
    for r in rows_in:
        row = [
            _group_words(r["group"]),
            _count(r["n"], k),
            _count(r["outside_population"], k) if use.get("population_rule") else "n/a",
        ]
        row += [_count((r.get("out_of_range") or {}).get(f), k) for f in interesting_range]
        row += [_count((r.get("missing") or {}).get(f), k) for f in interesting_missing]
        rows.append(row)
    n_extra = len(interesting_range) + len(interesting_missing)
    widths = [0.28, 0.1, 0.14] + [0.48 / max(n_extra, 1)] * n_extra
    s.blocks.append(
        Para(
            f"Patients outside the card's intended population ({use.get('population_rule') or 'no rule in the card'}), "
            "with model inputs outside the card's documented range, or with missing inputs — "
            "for the whole cohort and each group (TRIPOD+AI item 7: was data quality similar "
            f"across groups?). {WITHHELD_COUNT_NOTE} (k = {k})"
        )
    )
    s.blocks.append(
        Table(
            header,
            rows,
            widths,
            ["L"] + ["R"] * (len(header) - 1),
            font_size=7,
            caption="Table 10.3 Intended-use fit and data quality, whole cohort then each group.",
        )
    )
    return s


def _robust_section(sf: dict[str, Any]) -> Section:
    s = Section("10.3", "Robustness to perturbed inputs", 1)
    rob = sf.get("robustness")
    if not rob:
        reason = (sf.get("settings") or {}).get("skipped", {}).get("robustness", "not run")
        s.blocks.append(Para(f"Not assessed: {reason}.", "note"))
        return s
    st = sf.get("settings", {})
    cols = rob.get("perturbed_columns") or {}
    s.blocks.append(
        Para(
            "The model re-scored with controlled errors in its inputs: Gaussian noise on every "
            f"numeric input at once ({', '.join(cols.get('numeric', [])) or 'none'}; SD = level "
            "× the input's SD) and random category flips "
            f"({', '.join(cols.get('category_flip', [])) or 'none'}). Changes are paired "
            "(same patients): ΔAUROC with DeLong's paired interval, Δsensitivity at the "
            f"operating threshold {rob.get('threshold')} with a paired Wald interval. Seed "
            f"{rob.get('seed')}; {st.get('robustness_sample') or 'whole cohort'}."
        )
    )
    rows = []
    for r in rob.get("rows", []):
        if r["group"]:
            continue
        what = (
            f"noise {r['level']:g} SD"
            if r["perturbation"] == "gaussian_noise"
            else f"flip {r['level']:.0%}"
        )
        rows.append(
            [
                what,
                _f(r["auroc"]),
                _f(r["auroc_perturbed"]),
                fmt_value(_mv(r["delta_auroc"]), 4),
                fmt_value(_mv(r["delta_sensitivity"]), 3),
            ]
        )
    s.blocks.append(
        Table(
            [
                "Perturbation",
                "AUROC",
                "AUROC perturbed",
                "ΔAUROC (95% CI)",
                "Δsensitivity (95% CI)",
            ],
            rows,
            [0.18, 0.12, 0.16, 0.27, 0.27],
            ["L", "R", "R", "L", "L"],
            font_size=7.5,
            caption="Table 10.4 Performance change under perturbation, whole cohort.",
        )
    )
    worst: dict[tuple, dict] = {}
    for r in rob.get("rows", []):
        if len(r["group"]) != 1 or r["delta_auroc"].get("value") is None:
            continue
        key = tuple(r["group"].items())
        if key not in worst or r["delta_auroc"]["value"] < worst[key]["delta_auroc"]["value"]:
            worst[key] = r
    if worst:
        grows = sorted(worst.values(), key=lambda r: r["delta_auroc"]["value"])[:10]
        s.blocks.append(
            Table(
                ["Group", "Perturbation", "ΔAUROC (95% CI)", "Δsensitivity (95% CI)"],
                [
                    [
                        _group_words(r["group"]),
                        (
                            f"noise {r['level']:g} SD"
                            if r["perturbation"] == "gaussian_noise"
                            else f"flip {r['level']:.0%}"
                        ),
                        fmt_value(_mv(r["delta_auroc"]), 4),
                        fmt_value(_mv(r["delta_sensitivity"]), 3),
                    ]
                    for r in grows
                ],
                [0.3, 0.16, 0.27, 0.27],
                ["L", "L", "L", "L"],
                font_size=7.5,
                caption="Table 10.5 Groups with the largest AUROC drop (worst perturbation each).",
            )
        )
    return s


def _slices_section(sf: dict[str, Any]) -> Section:
    s = Section("10.4", "Weak slices found by search", 1)
    st = sf.get("settings", {})
    slices = sf.get("weak_slices", [])
    s.blocks.append(
        Para(
            "Every single attribute and every pair (up to "
            f"{st.get('slice_max_order', 2)} attributes) of the sensitive attributes and the "
            "model inputs (numeric inputs cut at their quartiles) was compared with the rest "
            "of the cohort on AUROC, sensitivity and O/E. Only slices with at least "
            f"{st.get('min_cell')} events and non-events were tested; Benjamini–Hochberg "
            f"controls the false discovery rate at {st_fdr(sf)} across all tests. A combined "
            "slice is not listed when a flagged part of it already explains it. Sensitivity at "
            "a fixed threshold is naturally lower in low-risk slices (e.g. younger patients); "
            "read such slices as a property of the threshold as much as of the model."
        )
    )
    if not slices:
        s.blocks.append(Para("No slice was significantly worse than the rest.", "finding"))
        return s
    number = 6
    for m in ("auroc", "sensitivity", "oe"):
        top = top_slices(sf, m, 8)
        if not top:
            continue
        s.blocks.append(
            Table(
                ["Slice", "n", "Events", f"{_METRIC_WORDS[m]} (95% CI)", "Rest", "q"],
                [
                    [
                        slice_words(w["attributes"]),
                        f"{w['n']:,}",
                        f"{w['events']:,}",
                        fmt_value(_mv(w["value"]), 2),
                        _f(w["rest_value"], 2),
                        f"{w['q_value']:.2g}",
                    ]
                    for w in top
                ],
                [0.38, 0.09, 0.09, 0.22, 0.1, 0.12],
                ["L", "R", "R", "L", "R", "R"],
                font_size=7,
                caption=(
                    f"Table 10.{number} Weakest slices by {_METRIC_WORDS[m]} (largest gap to "
                    "the rest first; "
                    f"{sum(w['metric'] == m for w in slices)} found in all, every one in "
                    "audit.json)."
                ),
            )
        )
        number += 1
    s.blocks.append(
        Chart(
            "weak_slices",
            "Figure 10.2 The weakest slices per metric: slice estimate with 95% CI (●) and the "
            "rest of the cohort (|).",
            height_mm=150,
        )
    )
    return s

"""Chapter "Safety" and its four sections: shift, intended-use fit, robustness, weak slices.

Built from the result's safety block; findings in plain words first, tables after.
"""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    SLICE_METRIC_WORDS,
    count_text,
    fixed,
    group_words,
    mv_of,
    signed,
)
from cohortaudit.render.document import Bullets, Chart, Para, Section, Table, ref
from cohortaudit.render.findings import (
    fmt_value,
    top_slices,
)
from cohortaudit.results import (
    WITHHELD_COUNT_NOTE,
    AuditResult,
)
from cohortaudit.vocabulary import slice_words


def chapter(result: AuditResult) -> list[Section]:
    s = Section("Safety", new_page=True, anchor="safety")
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
    out = [
        s,
        _shift_section(sf),
        _use_section(sf, k),
        _robust_section(sf),
        _slices_section(sf, _slice_groups(result)),
    ]
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
            + f" (section {ref('safety.shift')})."
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
            out.append("Intended use: " + "; ".join(bits) + f" (section {ref('safety.use')}).")
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
            f"{signed(d.get('value'))} ({signed(d.get('ci_low'))} to "
            f"{signed(d.get('ci_high'))}) (section {ref('safety.robustness')})."
        )
    slices = sf.get("weak_slices", [])
    groups = _slice_groups(result)
    if slices and groups:
        counts = {m: sum(w["metric"] == m for w in slices) for m in ("auroc", "sensitivity", "oe")}
        out.append(
            f"The weak-slice search found {len(slices)} slices significantly worse than the "
            f"rest (false discovery rate {st_fdr(sf)}: "
            + ", ".join(f"{n} on {SLICE_METRIC_WORDS[m]}" for m, n in counts.items() if n)
            + f"); overlapping ones form {len(groups)} group"
            + ("s" if len(groups) != 1 else "")
            + f" (section {ref('safety.slices')}). The largest by gap × patients:"
        )
        for _g, lead, members in groups[:3]:
            more = f" [stands for {len(members)} slices]" if len(members) > 1 else ""
            out.append(f"  {lead['description']}{more}")
    elif slices:
        counts = {m: sum(w["metric"] == m for w in slices) for m in ("auroc", "sensitivity", "oe")}
        out.append(
            f"The weak-slice search found {len(slices)} slices significantly worse than the "
            f"rest (false discovery rate {st_fdr(sf)}): "
            + ", ".join(f"{n} on {SLICE_METRIC_WORDS[m]}" for m, n in counts.items() if n)
            + ". The worst by each metric:"
        )
        for m in ("auroc", "sensitivity", "oe"):
            top = top_slices(sf, m, 1)
            if top:
                out.append(f"  {top[0]['description']}")
    elif "weak_slices" not in ((sf.get("settings") or {}).get("skipped") or {}):
        out.append(
            f"The weak-slice search found no slice significantly worse than the rest "
            f"(false discovery rate {st_fdr(sf)})."
        )
    return out


def st_fdr(sf: dict[str, Any]) -> str:
    fdr = (sf.get("settings") or {}).get("slice_fdr", 0.05)
    return f"{fdr:.0%}"


def _shift_section(sf: dict[str, Any]) -> Section:
    s = Section("Cohort shift against the development data", 1, anchor="safety.shift")
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
            ci = f" ({fixed(f['ci_low'])} to {fixed(f['ci_high'])})"
        rows.append(
            [f["feature"], f["statistic"].replace("_", " "), fixed(f["value"]) + ci, f["flag"]]
        )
    s.blocks.append(
        Table(
            ["Input", "Statistic", "Value", "Flag"],
            rows,
            [0.22, 0.3, 0.33, 0.15],
            ["L", "L", "L", "L"],
            font_size=7.5,
            caption="Shift of the whole cohort against the model card.",
        )
    )
    s.blocks.append(
        Chart(
            "shift_smd",
            "|SMD| of each numeric input vs the development data; orange notable, "
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
                        group_words(f["group"]),
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
                caption="Flagged findings in groups.",
            )
        )
    return s


def _use_section(sf: dict[str, Any], k: Any) -> Section:
    s = Section("Intended-use fit and data quality by group", 1, anchor="safety.use")
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
            group_words(r["group"]),
            count_text(r["n"], k),
            count_text(r["outside_population"], k) if use.get("population_rule") else "n/a",
        ]
        row += [count_text((r.get("out_of_range") or {}).get(f), k) for f in interesting_range]
        row += [count_text((r.get("missing") or {}).get(f), k) for f in interesting_missing]
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
            caption="Intended-use fit and data quality, whole cohort then each group.",
        )
    )
    return s


def _robust_section(sf: dict[str, Any]) -> Section:
    s = Section("Robustness to perturbed inputs", 1, anchor="safety.robustness")
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
                fixed(r["auroc"]),
                fixed(r["auroc_perturbed"]),
                fmt_value(mv_of(r["delta_auroc"]), 4),
                fmt_value(mv_of(r["delta_sensitivity"]), 3),
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
            caption="Performance change under perturbation, whole cohort.",
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
                        group_words(r["group"]),
                        (
                            f"noise {r['level']:g} SD"
                            if r["perturbation"] == "gaussian_noise"
                            else f"flip {r['level']:.0%}"
                        ),
                        fmt_value(mv_of(r["delta_auroc"]), 4),
                        fmt_value(mv_of(r["delta_sensitivity"]), 3),
                    ]
                    for r in grows
                ],
                [0.3, 0.16, 0.27, 0.27],
                ["L", "L", "L", "L"],
                font_size=7.5,
                caption="Groups with the largest AUROC drop (worst perturbation each).",
            )
        )
    return s


def _slices_section(sf: dict[str, Any], groups: _Groups) -> Section:
    s = Section("Weak slices found by search", 1, anchor="safety.slices")
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
            "a fixed threshold is naturally lower in low-risk slices (e.g. younger patients): "
            "for every sensitivity slice the gap beyond case mix is the part of its gap that "
            "the slice's own predicted risks do not explain under a calibrated model (observed "
            "minus expected sensitivity, rest minus slice, delta-method 95% CI); a slice whose "
            "gap beyond case mix has an interval including 0 is marked 'case mix'."
        )
    )
    if not slices:
        s.blocks.append(Para("No slice was significantly worse than the rest.", "finding"))
        return s
    if groups:
        g = sf.get("settings", {}).get("slice_grouping") or {}
        shown = groups[:TOP_GROUPS]
        s.blocks.append(
            Para(
                f"The {len(slices)} slices overlap: a slice and its sub-slices, or slices of "
                "largely the same patients (Jaccard index ≥ "
                f"{g.get('jaccard_min', 0.7):g}), are one weakness. They form {len(groups)} "
                "group" + ("s" if len(groups) != 1 else "") + ", each shown once by its most "
                "informative member (the simplest one that accounts for nearly the largest gap "
                "× patients) and ranked by that member's gap to the rest × its patients, groups "
                "whose lead is explained by case mix last; the gap "
                "is on one scale for all metrics (sensitivity difference, twice the AUROC "
                "difference, |ln| of the O/E ratio). Patients counts everyone in any slice of "
                "the group; the rules are in audit.json (safety.settings.slice_grouping)."
            )
        )
        s.blocks.append(
            _groups_table(
                shown,
                1,
                f"The {len(shown)} largest weak-slice groups"
                + (
                    f" of {len(groups)}; all of them in annex {ref('annex.slices')}."
                    if len(groups) > len(shown)
                    else "."
                ),
            )
        )
    else:
        for m in ("auroc", "sensitivity", "oe"):
            top = top_slices(sf, m, 8)
            if not top:
                continue
            s.blocks.append(_metric_table(sf, m, top))
    s.blocks.append(
        Chart(
            "weak_slices",
            "The weakest slices per metric: slice estimate with 95% CI (●) and the "
            "rest of the cohort (|).",
            height_mm=150,
        )
    )
    return s


#: Weak-slice groups listed in the body of the report; the rest go to the annex.
TOP_GROUPS = 10

_Groups = tuple[tuple[dict[str, Any], dict[str, Any], tuple[dict[str, Any], ...]], ...]


def _slice_groups(result: AuditResult) -> _Groups:
    view = result.safety_view
    return () if view is None else view.slice_groups()


def _metric_table(sf: dict[str, Any], m: str, top: list[dict[str, Any]]) -> Table:
    """The weakest slices on one metric (results written before weak-slice groups)."""
    slices = sf.get("weak_slices", [])
    return Table(
        ["Slice", "n", "Events", f"{SLICE_METRIC_WORDS[m]} (95% CI)", "Rest", "q"],
        [
            [
                slice_words(w["attributes"]),
                f"{w['n']:,}",
                f"{w['events']:,}",
                fmt_value(mv_of(w["value"]), 2),
                fixed(w["rest_value"], 2),
                f"{w['q_value']:.2g}",
            ]
            for w in top
        ],
        [0.38, 0.09, 0.09, 0.22, 0.1, 0.12],
        ["L", "R", "R", "L", "R", "R"],
        font_size=7,
        caption=(
            f"Weakest slices by {SLICE_METRIC_WORDS[m]} (largest gap to the rest first; "
            f"{sum(w['metric'] == m for w in slices)} found in all, every one in audit.json)."
        ),
    )


def _groups_table(groups: _Groups, first: int, caption: str) -> Table:
    """One row per weak-slice group: its lead, the lead's value against the rest, the group's
    patients and how many overlapping slices it stands for."""
    rows = []
    for rank, (g, lead, members) in enumerate(groups, start=first):
        m = lead["metric"]
        beyond = lead.get("beyond_case_mix")
        rows.append(
            [
                str(rank),
                slice_words(lead["attributes"]),
                SLICE_METRIC_WORDS.get(m, m),
                fmt_value(mv_of(lead["value"]), 2),
                fixed(lead["rest_value"], 2),
                "—"
                if beyond is None
                else fmt_value(mv_of(beyond), 2) + ("; case mix" if lead.get("case_mix") else ""),
                count_text(g.get("patients"), None),
                str(len(members)),
                fixed(g.get("score"), 0),
            ]
        )
    return Table(
        [
            "#", "Slice", "Metric", "Value (95% CI)", "Rest", "Beyond case mix (95% CI)",
            "Patients", "Slices", "Score",
        ],
        rows,
        [0.04, 0.25, 0.1, 0.15, 0.06, 0.18, 0.08, 0.06, 0.08],
        ["R", "L", "L", "L", "R", "L", "R", "R", "R"],
        font_size=7,
        caption=caption,
    )


def slice_annex(result: AuditResult) -> list[Section]:
    """Annex: every weak-slice group, when there are more than the report's body lists."""
    groups = _slice_groups(result)
    if len(groups) <= TOP_GROUPS:
        return []
    s = Section(
        f"Annex {ref('annex.slices')}: all weak-slice groups",
        new_page=True,
        anchor="annex.slices",
        appendix=True,
    )
    s.blocks.append(
        Para(
            f"Every group of overlapping weak slices (section {ref('safety.slices')}), ranked by "
            "the lead slice's gap to the rest × its patients. Each group's member slices, with "
            "their statistics, are in audit.json (safety.weak_slice_groups[].members index "
            "safety.weak_slices)."
        )
    )
    s.blocks.append(_groups_table(groups, 1, f"All {len(groups)} weak-slice groups."))
    return [s]

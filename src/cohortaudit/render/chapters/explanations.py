"""Chapter "Explanations": what the model relies on, and whether groups differ in it.

Built from the result's explanations block; findings in plain words first, tables after.
"""

from __future__ import annotations

from cohortaudit.render.chapters.common import (
    fixed,
    mv_of,
)
from cohortaudit.render.document import Bullets, Chart, Para, Section, Table
from cohortaudit.render.findings import (
    fmt_value,
    top_reliance_rows,
)
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    s = Section("Explanations", new_page=True, anchor="explanations")
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
        return [s]
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
            f"{g['feature']} {fmt_value(mv_of(g['mean_abs_shap']))}" for g in glob[:3]
        )
        findings.append(f"The model relies most on {top} (mean |SHAP|).")
    reliance = top_reliance_rows(e, 10)
    for r in reliance[:3]:
        more = "more" if r["difference"]["value"] > 0 else "less"
        findings.append(
            f"For {r['attribute']} {r['group']} the model relies {more} on {r['feature']} "
            f"than for {r['reference']} (reference): mean |SHAP| "
            f"{fixed(r['mean_abs_shap'].get('value'))} vs "
            f"{fixed(r['reference_mean_abs_shap'].get('value'))}, difference "
            f"{fmt_value(mv_of(r['difference']))}."
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
                f"{what} predicts {p['attribute']} with AUROC {fmt_value(mv_of(p['auroc']))}: a "
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
                [g["feature"], fmt_value(mv_of(g["mean_abs_shap"]), 4), str(i)]
                for i, g in enumerate(glob, 1)
            ],
            [0.4, 0.4, 0.2],
            ["L", "L", "R"],
            caption="Global importance: mean |SHAP| per model input, probability scale.",
        )
    )
    s.blocks.append(
        Chart(
            "shap_global",
            "Mean |SHAP| per input with 95% bootstrap intervals.",
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
                        fixed(r["mean_abs_shap"].get("value"), 4),
                        f"{r['reference']}: {fixed(r['reference_mean_abs_shap'].get('value'), 4)}",
                        fmt_value(mv_of(r["difference"]), 4),
                    ]
                    for r in reliance
                ],
                [0.24, 0.15, 0.14, 0.22, 0.25],
                ["L", "L", "R", "L", "L"],
                font_size=7.5,
                caption=(
                    "Largest differences in reliance between a group and its reference "
                    "(intervals excluding 0; the input that defines a group, e.g. age for age "
                    "bands, is left out as different by construction)."
                ),
            )
        )
        s.blocks.append(
            Chart(
                "shap_groups",
                "Difference in mean |SHAP| vs the reference group, 95% CI; "
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
                    fmt_value(mv_of(together["auroc"])) if together else "n/a",
                    f"{best['feature']}: {fmt_value(mv_of(best['auroc']))}" if best else "n/a",
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
                    f"Proxy check: cross-validated AUROC of predicting each attribute "
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
    return [s]

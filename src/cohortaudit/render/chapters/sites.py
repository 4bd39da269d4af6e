"""Chapter "Sites and heterogeneity" of a pooled (multi-site) audit; nothing for one site.

It is an ordinary numbered chapter (after Safety), so later chapters' numbers follow it.
"""

from __future__ import annotations

from cohortaudit.registry import label
from cohortaudit.render.document import Bullets, Chart, Para, Section, Table
from cohortaudit.results import (
    AuditResult,
)

#: The meta-analysed metrics, named by their registry labels in the meta-analysis table.
_META_METRICS = ("auroc", "oe_ratio", "calibration_slope")


def _fmt(mv: dict | None, digits: int = 3) -> str:
    if not mv or mv.get("value") is None:
        return "n/a"
    if mv.get("ci_low") is None or mv.get("ci_high") is None:
        return f"{mv['value']:.{digits}f}"
    return f"{mv['value']:.{digits}f} ({mv['ci_low']:.{digits}f}–{mv['ci_high']:.{digits}f})"


def _n(x) -> str:
    return "—" if x is None else f"{int(x):,}"


def chapter(result: AuditResult) -> list[Section]:
    """The "Sites and heterogeneity" chapter, or nothing when the audit is single-site."""
    s = result.sites
    if not s:
        return []
    sec = Section("Sites and heterogeneity", new_page=True, anchor="sites")
    names = ", ".join(e["name"] for e in s.get("sites", []))
    pooled = s.get("pooled") or {}
    bound = pooled.get("auroc_bin_error_bound")
    sec.blocks.append(
        Para(
            f"This audit pools {s.get('n_sites')} sites ({names}). Each site ran cohortaudit "
            "inside its own secure environment and exported only aggregates (counts, score "
            "histograms whose every count is 0 or at least k, and sums); no patient-level value "
            "left any site. Counts, O/E, Brier, Spiegelhalter and threshold metrics pool "
            "exactly; the AUROC comes from binned scores"
            + (f" (error at most {bound:.4f} for all patients)" if bound is not None else "")
            + "; CITL and the calibration slope come from a federated Newton fit on the sites' "
            "binned logits."
        )
    )
    rows = []
    for e in s.get("sites", []):
        m = e.get("metrics") or {}
        if e.get("suppressed"):
            rows.append([e["name"], "—", "—", "not evaluable (fewer than k)", "", "", ""])
            continue
        rows.append(
            [
                e["name"],
                _n(e.get("n")),
                _n(e.get("events")),
                _fmt(m.get("auroc")),
                _fmt(m.get("oe_ratio"), 2),
                _fmt(m.get("calibration_slope"), 2),
                _fmt(m.get("sensitivity")),
            ]
        )
    sec.blocks.append(
        Table(
            ["Site", "Patients", "Events", "AUROC (95% CI)", "O/E (95% CI)", "Slope (95% CI)",
             "Sensitivity (95% CI)"],
            rows,
            [0.14, 0.1, 0.08, 0.18, 0.16, 0.16, 0.18],
            ["L", "R", "R", "L", "L", "L", "L"],
            font_size=7.5,
            caption="Each site's whole cohort (AUROC from binned scores).",
        )
    )  # fmt: skip
    meta_rows = []
    for m in s.get("meta_analysis", []):
        pi = m.get("prediction_interval") or {}
        pi_text = (
            f"{pi['low']:.3f}–{pi['high']:.3f}" if pi.get("low") is not None else "needs ≥ 3 sites"
        )
        meta_rows.append(
            [
                label(m["metric"]) if m["metric"] in _META_METRICS else m["metric"],
                m.get("scale", ""),
                str(m.get("n_sites", "")),
                _fmt(m.get("estimate")),
                "n/a" if m.get("tau2") is None else f"{m['tau2']:.3g}",
                "n/a" if m.get("i2") is None else f"{100 * m['i2']:.0f}%",
                pi_text,
            ]
        )
    sec.blocks.append(
        Table(
            ["Metric", "Scale", "Sites", "Pooled (95% CI)", "τ²", "I²", "95% prediction interval"],
            meta_rows,
            [0.18, 0.1, 0.07, 0.22, 0.1, 0.08, 0.25],
            ["L", "L", "R", "L", "R", "R", "L"],
            font_size=7.5,
            caption=(
                "Random-effects meta-analysis (DerSimonian–Laird) across "
                "sites; estimates back-transformed from the analysis scale."
            ),
        )
    )
    high = [
        m["metric"]
        for m in s.get("meta_analysis", [])
        if m.get("i2") is not None and m["i2"] >= 0.5
    ]
    notes = [
        "τ² is the between-site variance on the analysis scale; I² the share of the spread "
        "between sites not explained by chance; the prediction interval is where the metric "
        "of a new, similar site is expected to fall (Higgins 2009).",
        "Pooled values are for the pooled cohort; the random-effects estimate is the average "
        "site. They differ when sites differ in size and performance.",
    ]
    if high:
        notes.insert(
            0,
            "Substantial heterogeneity between sites (I² ≥ 50%) for: "
            + ", ".join(high)
            + ". A single pooled number hides site differences here: read the per-site rows.",
        )
    sec.blocks.append(Bullets(notes))
    sec.blocks.append(
        Chart(
            "site_forest",
            "Per-site AUROC, O/E and calibration slope with 95% CIs "
            "(squares), the random-effects estimate (diamond) and its 95% prediction "
            "interval (bar).",
            height_mm=110,
        )
    )
    return [sec]

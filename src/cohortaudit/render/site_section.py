"""The report section of a pooled (multi-site) audit, and its chart for the PDF.

``sites_section(result, number)`` builds a :class:`~cohortaudit.render.report.Section` from the
result's ``sites`` block (None for a single-site audit). Its chart is a :class:`Chart` of kind
``"site_forest"``, drawn by :func:`site_chart_svg` (matplotlib, the conventions of
``render/charts.py``) for the PDF and by :func:`site_chart_figures` (plotly) for the HTML; the
renderers dispatch kinds in :data:`SITE_CHART_KINDS` to these two functions.
"""

from __future__ import annotations

from cohortaudit.registry import label
from cohortaudit.render.document import Bullets, Chart, Para, Section, Table
from cohortaudit.results import AuditResult
from cohortaudit.textsafe import for_matplotlib

__all__ = ["SITE_CHART_KINDS", "sites_section", "site_chart_svg", "site_chart_figures"]

SITE_CHART_KINDS = ("site_forest",)
_METRICS = (
    ("auroc", label("auroc"), "logit"),
    ("oe_ratio", label("oe_ratio"), "log"),
    ("calibration_slope", label("calibration_slope"), "identity"),
)
_NULL = {"auroc": 0.5, "oe_ratio": 1.0, "calibration_slope": 1.0}


def _fmt(mv: dict | None, digits: int = 3) -> str:
    if not mv or mv.get("value") is None:
        return "n/a"
    if mv.get("ci_low") is None or mv.get("ci_high") is None:
        return f"{mv['value']:.{digits}f}"
    return f"{mv['value']:.{digits}f} ({mv['ci_low']:.{digits}f}–{mv['ci_high']:.{digits}f})"


def _n(x) -> str:
    return "—" if x is None else f"{int(x):,}"


def sites_section(result: AuditResult, number: str, *, charts: bool = True) -> Section | None:
    """The "Sites and heterogeneity" section, or None when the audit is single-site.

    ``charts=False`` leaves out the forest-plot chart (for a renderer that does not dispatch
    :data:`SITE_CHART_KINDS` yet).
    """
    s = result.sites
    if not s:
        return None
    sec = Section(number, "Sites and heterogeneity", 0, new_page=True)
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
            caption=f"Table {number}.1 Each site's whole cohort (AUROC from binned scores).",
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
                dict((k, lab) for k, lab, _ in _METRICS).get(m["metric"], m["metric"]),
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
                f"Table {number}.2 Random-effects meta-analysis (DerSimonian–Laird) across "
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
    if charts:
        sec.blocks.append(
            Chart(
                "site_forest",
                f"Figure {number}.1 Per-site AUROC, O/E and calibration slope with 95% CIs "
                "(squares), the random-effects estimate (diamond) and its 95% prediction "
                "interval (bar).",
                height_mm=110,
            )
        )
    return sec


def site_chart_svg(result: AuditResult, kind: str, **params) -> bytes:
    """The site forest plot as SVG (matplotlib), for the PDF."""
    from cohortaudit.render.mpl import pyplot as _plt
    from cohortaudit.render.mpl import svg_bytes as _svg
    from cohortaudit.render.theme import LINE_ORDER as _LINES

    if kind not in SITE_CHART_KINDS:
        raise KeyError(kind)
    plt = _plt()
    s = result.sites or {}
    sites = s.get("sites", [])
    fig, axes = plt.subplots(1, 3, figsize=(7.2, 0.45 * (len(sites) + 2) + 1.0))
    labels = [for_matplotlib(e["name"]) for e in sites] + ["pooled (RE)"]
    meta = {m["metric"]: m for m in s.get("meta_analysis", [])}
    for ax, (key, title, _) in zip(axes, _METRICS, strict=True):
        for i, e in enumerate(sites):
            mv = (e.get("metrics") or {}).get(key) or {}
            if mv.get("value") is None:
                continue
            lo = mv.get("ci_low", mv["value"]) or mv["value"]
            hi = mv.get("ci_high", mv["value"]) or mv["value"]
            ax.plot([lo, hi], [i, i], color="#6b6b6b", lw=1.2)
            ax.plot([mv["value"]], [i], marker="s", color=_LINES[0], ms=5)
        m = meta.get(key)
        y = len(sites)
        if m and m["estimate"]["value"] is not None:
            est, pi = m["estimate"], m.get("prediction_interval") or {}
            if pi.get("low") is not None:
                ax.plot([pi["low"], pi["high"]], [y, y], color=_LINES[1], lw=5, alpha=0.45)
            ax.fill(
                [est["ci_low"], est["value"], est["ci_high"], est["value"]],
                [y, y - 0.3, y, y + 0.3],
                color=_LINES[3],
            )
        ax.axvline(_NULL[key], color="#000000", lw=0.8, ls=":")
        ax.set_title(title)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels if key == "auroc" else [""] * len(labels))
        ax.set_ylim(len(labels) - 0.5, -0.5)
    axes[0].set_ylabel("Site")
    fig.subplots_adjust(left=0.17, right=0.98, bottom=0.12, top=0.88, wspace=0.12)
    return _svg(fig)


def site_chart_figures(result: AuditResult, kind: str, **params) -> list:
    """The same chart as plotly figures, for the HTML report."""
    from cohortaudit.render.site_figures import SITE_FOREST_METRICS, site_forest_plot

    if kind not in SITE_CHART_KINDS:
        raise KeyError(kind)
    return [site_forest_plot(result, metric=m) for m in SITE_FOREST_METRICS]

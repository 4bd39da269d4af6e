"""The static (SVG) forest plot of a pooled audit's sites, for the PDF (matplotlib).

Per-site AUROC, O/E and calibration slope with their intervals, the random-effects estimate and
its prediction interval; read from ``result.sites`` only.
"""

from __future__ import annotations

from cohortaudit.registry import label
from cohortaudit.render.mpl import pyplot as _plt
from cohortaudit.render.mpl import svg_bytes as _svg
from cohortaudit.render.theme import LINE_ORDER as _LINES
from cohortaudit.results import AuditResult
from cohortaudit.textsafe import for_matplotlib

__all__ = ["site_forest_svg", "SITE_METRICS"]

#: The meta-analysed metrics: key, registry label, analysis scale.
SITE_METRICS = (
    ("auroc", label("auroc"), "logit"),
    ("oe_ratio", label("oe_ratio"), "log"),
    ("calibration_slope", label("calibration_slope"), "identity"),
)
_NULL = {"auroc": 0.5, "oe_ratio": 1.0, "calibration_slope": 1.0}


def site_forest_svg(result: AuditResult) -> bytes:
    """The site forest plot as SVG (matplotlib), for the PDF."""
    plt = _plt()
    s = result.sites or {}
    sites = s.get("sites", [])
    fig, axes = plt.subplots(1, 3, figsize=(7.2, 0.45 * (len(sites) + 2) + 1.0))
    labels = [for_matplotlib(e["name"]) for e in sites] + ["pooled (RE)"]
    meta = {m["metric"]: m for m in s.get("meta_analysis", [])}
    for ax, (key, title, _) in zip(axes, SITE_METRICS, strict=True):
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

"""Static vector charts of the explanations and safety blocks for the PDF (matplotlib -> SVG).

Same conventions as :mod:`cohortaudit.render.svg_charts.performance` (the SVG writer of
:mod:`cohortaudit.render.mpl`): Okabe-Ito colours, every axis titled with its unit, withheld values never drawn as
zero. Each function reads only the result's ``explanations`` / ``safety`` dicts.
"""

from __future__ import annotations

from cohortaudit.registry import label
from cohortaudit.render.findings import top_reliance_rows, top_slices
from cohortaudit.render.mpl import pyplot as _plt
from cohortaudit.render.mpl import svg_bytes as _svg
from cohortaudit.render.theme import GREY as _GREY
from cohortaudit.render.theme import OKABE_ITO
from cohortaudit.results import AuditResult
from cohortaudit.textsafe import for_matplotlib
from cohortaudit.vocabulary import slice_words

__all__ = [
    "shap_global_svg",
    "shap_groups_svg",
    "shift_smd_svg",
    "weak_slices_svg",
    "SLICE_METRIC_LABELS",
]

_BLUE, _ORANGE, _VERMILLION, _GREEN = (
    OKABE_ITO[c] for c in ("blue", "orange", "vermillion", "bluish_green")
)
#: Slice metrics ("oe" is the slices' key for the O/E ratio) and their registry labels.
SLICE_METRIC_LABELS = {
    "auroc": label("auroc"),
    "sensitivity": label("sensitivity"),
    "oe": label("oe_ratio"),
}


# --------------------------------------------------------------------------------------------


def shap_global_svg(result: AuditResult) -> bytes:
    plt = _plt()
    rows = list((result.explanations or {}).get("global", []))[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.3 * len(rows) + 0.9))
    h = fig.get_figheight()
    fig.subplots_adjust(left=0.2, right=0.97, top=1 - 0.15 / h, bottom=0.62 / h)
    for i, r in enumerate(rows):
        v = r["mean_abs_shap"]
        ax.barh(i, v["value"], color=_BLUE, height=0.6)
        if v.get("ci_low") is not None and v.get("ci_high") is not None:
            ax.plot([v["ci_low"], v["ci_high"]], [i, i], color="#000000", lw=0.9)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([for_matplotlib(r["feature"]) for r in rows])
    ax.set_xlabel("mean |SHAP| (change in predicted risk, probability 0–1), with 95% CI")
    ax.grid(axis="y", visible=False)
    return _svg(fig)


def shap_groups_svg(result: AuditResult, limit: int = 10) -> bytes:
    plt = _plt()
    rows = top_reliance_rows(result.explanations or {}, limit)[::-1]
    fig, ax = plt.subplots(figsize=(6.8, 0.32 * max(len(rows), 1) + 0.95))
    h = fig.get_figheight()
    fig.subplots_adjust(left=0.42, right=0.97, top=1 - 0.15 / h, bottom=0.62 / h)
    if not rows:
        ax.text(
            0.5, 0.5, "no difference with a CI excluding 0", ha="center", transform=ax.transAxes
        )
    for i, r in enumerate(rows):
        d = r["difference"]
        col = _VERMILLION if d["value"] > 0 else _BLUE
        ax.plot([d["ci_low"], d["ci_high"]], [i, i], color=col, lw=1.2)
        ax.plot([d["value"]], [i], "o", color=col, ms=4)
    ax.axvline(0, color=_GREY, lw=0.7)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(
        [
            for_matplotlib(f"{r['feature']} · {slice_words({r['attribute']: r['group']})}")
            for r in rows
        ]
    )
    ax.set_xlabel(
        "difference in mean |SHAP| vs the reference group (probability 0–1), 95% CI\n"
        "> 0: the group relies more on the input; < 0: less"
    )
    ax.grid(axis="y", visible=False)
    return _svg(fig)


def shift_smd_svg(result: AuditResult) -> bytes:
    plt = _plt()
    shift = [
        f
        for f in (result.safety or {}).get("shift", [])
        if not f["group"] and f["statistic"] == "smd" and f["value"] is not None
    ]
    shift.sort(key=lambda f: abs(f["value"]))
    fig, ax = plt.subplots(figsize=(6.4, 0.3 * max(len(shift), 1) + 0.95))
    h = fig.get_figheight()
    fig.subplots_adjust(left=0.2, right=0.97, top=1 - 0.15 / h, bottom=0.62 / h)
    colours = {"serious": _VERMILLION, "notable": _ORANGE, "none": _BLUE}
    for i, f in enumerate(shift):
        ax.barh(i, abs(f["value"]), color=colours.get(f["flag"], _BLUE), height=0.6)
    for x, lab in ((0.1, "notable 0.1"), (0.25, "serious 0.25")):
        ax.axvline(x, color=_GREY, lw=0.7, ls="--")
        ax.text(x, len(shift) - 0.4, f" {lab}", fontsize=6, color=_GREY, va="bottom")
    ax.set_yticks(range(len(shift)))
    ax.set_yticklabels([for_matplotlib(f["feature"]) for f in shift])
    from matplotlib.ticker import FuncFormatter

    largest = max((abs(f["value"]) for f in shift), default=0.0)
    if largest > 3:  # a unit change makes one bar 10-1000x the others: log scale above 1
        ax.set_xscale("symlog", linthresh=1.0)
        unit = "SD units; log scale above 1"
    else:
        ax.set_xlim(0, max(0.3, largest * 1.1))
        unit = "SD units"
    # plain tick labels: the default symlog labels are mathtext, which the PDF cannot embed
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_xlabel(f"|standardised mean difference| vs the development data ({unit})")
    ax.grid(axis="y", visible=False)
    return _svg(fig)


def weak_slices_svg(result: AuditResult, limit: int = 6) -> bytes:
    plt = _plt()
    safety = result.safety or {}
    metrics = [m for m in ("auroc", "sensitivity", "oe") if top_slices(safety, m, 1)]
    n = max(len(metrics), 1)
    fig, axes = plt.subplots(n, 1, figsize=(6.8, n * (0.3 * limit + 0.75) + 0.3), squeeze=False)
    h = fig.get_figheight()
    fig.subplots_adjust(left=0.45, right=0.97, top=1 - 0.2 / h, bottom=0.45 / h, hspace=0.75)
    for ax, m in zip([a[0] for a in axes], metrics, strict=False):
        rows = top_slices(safety, m, limit)[::-1]
        for i, w in enumerate(rows):
            v = w["value"]
            ax.plot([v["ci_low"], v["ci_high"]], [i, i], color=_VERMILLION, lw=1.2)
            ax.plot([v["value"]], [i], "o", color=_VERMILLION, ms=4)
            if w.get("rest_value") is not None:
                ax.plot([w["rest_value"]], [i], "|", color=_BLUE, ms=8, mew=1.5)
        if m == "oe":
            ax.axvline(1.0, color=_GREY, lw=0.7, ls=":")
        labels = [for_matplotlib(slice_words(w["attributes"])) for w in rows]
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(labels, fontsize=6.5)
        unit = "O/E, 1 = calibrated" if m == "oe" else "0–1"
        ax.set_xlabel(f"{SLICE_METRIC_LABELS[m]} ({unit}): slice ● with 95% CI, rest of cohort |")
        ax.set_title(f"Weakest slices by {SLICE_METRIC_LABELS[m]}", loc="left")
        ax.grid(axis="y", visible=False)
    return _svg(fig)

"""Static (SVG) charts of performance, calibration, utility and disparities, for the PDF.

Why matplotlib and not plotly + kaleido: a static export needs no browser (~0.15 s per chart
instead of ~3.5 s to start chromium), and SVG keeps the charts vector in the PDF. Text stays
text (``svg.fonttype = "none"``) in DejaVu Sans, which the PDF embeds anyway: glyphs drawn as
paths made fpdf2's SVG import ~8x slower. ``svg.hashsalt`` plus a fixed metadata block make the
SVG byte-identical across runs.

The PDF renderer must register the family "DejaVu Sans" (regular and bold) with fpdf2.

Colours are the Okabe–Ito palette; every axis says what it measures and in which unit. Groups
that are not evaluable are not drawn (and say so), never drawn as zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cohortaudit.render.mpl import pyplot as _plt
from cohortaudit.render.mpl import svg_bytes as _svg
from cohortaudit.render.text import metric_name
from cohortaudit.render.theme import GREY, LINE_ORDER
from cohortaudit.results import AuditResult, GroupResult
from cohortaudit.textsafe import for_matplotlib

__all__ = [
    "roc_svg",
    "calibration_svg",
    "calibration_groups_svg",
    "decision_curve_svg",
    "forest_svg",
]

_LINES = LINE_ORDER
_GREY = GREY


# --------------------------------------------------------------------------------------------


def _single(result: AuditResult, attr: str) -> list[GroupResult]:
    return [g for g in result.subgroups if tuple(g.attributes) == (attr,)]


def _k(result: AuditResult):
    return (result.settings.get("disclosure") or {}).get("min_cell")


def _panels(n: int, plt, *, width: float = 7.2, row_h: float = 2.3):
    """Small multiples, 3 per row; returns (fig, axes, cols)."""
    cols = 3 if n > 4 else 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    h = row_h * rows + 0.55
    fig, axes = plt.subplots(rows, cols, figsize=(width, h), squeeze=False)
    fig.subplots_adjust(
        left=0.075,
        right=0.99,
        top=1 - 0.22 / h,
        bottom=0.5 / h,
        wspace=0.22,
        hspace=0.32 * 2.3 / row_h,
    )
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n], cols


def _outer_labels(axes, cols: int, xlabel: str, ylabel: str) -> None:
    """One axis title per figure (the same on every panel; fewer glyphs, no collisions)."""
    fig = axes[0].figure
    h = fig.get_figheight()
    fig.supxlabel(xlabel, y=0.04 / h, va="bottom", fontsize=8)
    fig.supylabel(ylabel, x=0.005, ha="left", fontsize=8)


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _clean(xs, ys):
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if x is not None and y is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def _roc_xy(g: GroupResult):
    rc = g.roc_curve or {}
    x, y = _clean(rc.get("fpr", []), rc.get("tpr", []))
    pts = sorted({(1.0, 1.0), *zip(x, y, strict=False), (0.0, 0.0)})
    return [p[0] for p in pts], [p[1] for p in pts]


def _operating(g: GroupResult, curve: dict, threshold: float | None, xk: str, yk: str):
    if threshold is None:
        return None
    ts = curve.get("threshold") or []
    for i, t in enumerate(ts):
        if t is not None and abs(t - threshold) < 1e-9:
            x, y = curve.get(xk, [None])[i], curve.get(yk, [None])[i]
            if x is not None and y is not None:
                return x, y
    return None


def roc_svg(result: AuditResult) -> bytes:
    plt = _plt()
    attrs = list(result.cohort.sensitive_features)
    fig, axes, cols = _panels(1 + len(attrs), plt)
    t = result.settings.get("threshold")
    panels = [("All patients", [("all patients", result.overall)])]
    for a in attrs:
        panels.append(
            (
                for_matplotlib(a),
                [
                    (for_matplotlib(next(iter(g.attributes.values()))), g)
                    for g in _single(result, a)
                ],
            )
        )
    for ax, (title, groups) in zip(axes, panels, strict=False):
        ax.plot([0, 1], [0, 1], color=_GREY, lw=0.6, ls=":")
        hidden = []
        i = 0
        for name, g in groups:
            if g.suppressed or not g.roc_curve:
                hidden.append(name)
                continue
            col = _LINES[i % len(_LINES)] if len(groups) > 1 else "#0072B2"
            x, y = _roc_xy(g)
            auc = g.metrics.get("auroc")
            lab = f"{name} ({auc.value:.2f})" if auc is not None and auc.value is not None else name
            ax.plot(x, y, color=col, label=lab, ls=["-", "--", "-.", ":"][(i // 8) % 4])
            op = _operating(g, g.roc_curve, t, "fpr", "tpr")
            if op:
                ax.plot([op[0]], [op[1]], "o", color=col, ms=3.5)
            i += 1
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_aspect("equal")
        ax.set_title(title if title == "All patients" else f"by {title}", loc="left")
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1])
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
        ax.legend(loc="lower right", frameon=False, title="group (AUROC)", title_fontsize=6)
        if hidden:
            ax.text(
                0.02,
                0.97,
                "not drawn (not evaluable): " + ", ".join(hidden),
                transform=ax.transAxes,
                va="top",
                fontsize=5.5,
                color=_GREY,
            )
    _outer_labels(
        axes,
        cols,
        "False positive rate (1 − specificity), 0–1",
        "True positive rate (sensitivity), 0–1",
    )
    return _svg(fig)


def _curve_xmax(groups: Sequence[GroupResult]) -> float:
    top = 0.0
    for g in groups:
        cc = g.calibration_curve or {}
        x, _ = _clean(cc.get("predicted", []), cc.get("observed", []))
        if x:
            top = max(top, max(x))
    return min(1.0, max(0.1, math.ceil((top + 0.02) * 10) / 10))


def calibration_svg(result: AuditResult) -> bytes:
    plt = _plt()
    o = result.overall
    fig, (ax, hx) = plt.subplots(
        2, 1, figsize=(6.4, 4.9), sharex=True, gridspec_kw={"height_ratios": [3, 1.1]}
    )
    xmax = _curve_xmax([o])
    cc = o.calibration_curve or {}
    pred = cc.get("predicted", [])
    band = [
        (p, lo, hi)
        for p, lo, hi in zip(pred, cc.get("ci_low", []), cc.get("ci_high", []), strict=False)
        if p is not None and lo is not None and hi is not None
    ]
    if band:
        ax.fill_between(
            [b[0] * 100 for b in band],
            [b[1] * 100 for b in band],
            [b[2] * 100 for b in band],
            color="#0072B2",
            alpha=0.18,
            lw=0,
            label="95% band",
        )
    x, y = _clean(pred, cc.get("observed", []))
    ax.plot([0, xmax * 100], [0, xmax * 100], color=_GREY, ls=":", lw=0.8, label="perfect")
    ax.plot([v * 100 for v in x], [v * 100 for v in y], color="#0072B2", label="smoothed")
    bx, by = [], []
    for r in o.calibration_table:
        n, ev, sp = r.get("n"), r.get("events"), r.get("sum_p")
        if n and ev is not None and sp is not None and n >= (_k(result) or 1):
            bx.append(100 * sp / n)
            by.append(100 * ev / n)
    if bx:
        ax.plot(bx, by, "o", color="#D55E00", ms=3.5, label="observed, 10 bins")
    ax.set_xlim(0, xmax * 100)
    ax.set_ylim(0, xmax * 100)
    ax.set_ylabel("Observed risk (%)")
    ax.legend(loc="upper left", frameon=False)
    oe, slope = o.metrics.get("oe_ratio"), o.metrics.get("calibration_slope")
    bits = []
    if oe is not None and oe.value is not None:
        bits.append(f"O/E {oe.value:.2f}")
    if slope is not None and slope.value is not None:
        bits.append(f"slope {slope.value:.2f}")
    ax.set_title("All patients" + (f" ({', '.join(bits)})" if bits else ""), loc="left")
    rh = o.risk_histogram or {}
    edges = rh.get("edges") or []
    if edges:
        lefts = [100 * e for e in edges[:-1]]
        width = [100 * (b - a) for a, b in zip(edges[:-1], edges[1:], strict=False)]
        ne = [v if v is not None else 0 for v in rh.get("non_events", [])]
        ev = [v if v is not None else 0 for v in rh.get("events", [])]
        hx.bar(
            lefts,
            ne,
            width=width,
            align="edge",
            color="#56B4E9",
            label="without outcome",
            edgecolor="white",
            lw=0.3,
        )
        hx.bar(
            lefts,
            ev,
            width=width,
            align="edge",
            bottom=ne,
            color="#E69F00",
            label="with outcome",
            edgecolor="white",
            lw=0.3,
        )
        withheld = [
            100 * (a + b) / 2
            for a, b, e1, e2 in zip(
                edges[:-1], edges[1:], rh.get("events", []), rh.get("non_events", []), strict=False
            )
            if e1 is None or e2 is None
        ]
        for w in withheld:
            if w <= xmax * 100:
                hx.text(w, 0, "*", ha="center", va="bottom", fontsize=6, color=_GREY)
        hx.legend(loc="upper right", frameon=False, ncol=2)
    hx.set_xlabel("Predicted risk (%)")
    hx.set_ylabel("Patients (count)")
    fig.subplots_adjust(left=0.09, right=0.98, top=0.94, bottom=0.09, hspace=0.08)
    return _svg(fig)


def calibration_groups_svg(result: AuditResult) -> bytes:
    plt = _plt()
    attrs = list(result.cohort.sensitive_features)
    fig, axes, cols = _panels(max(1, len(attrs)), plt)
    o = result.overall
    xmax = _curve_xmax([o, *[g for a in attrs for g in _single(result, a)]])
    ox, oy = _clean(
        (o.calibration_curve or {}).get("predicted", []),
        (o.calibration_curve or {}).get("observed", []),
    )
    for ax, a in zip(axes, attrs, strict=False):
        ax.plot([0, xmax * 100], [0, xmax * 100], color=_GREY, ls=":", lw=0.7)
        ax.plot(
            [v * 100 for v in ox],
            [v * 100 for v in oy],
            color="#bbbbbb",
            lw=2.2,
            label="all patients",
        )
        hidden = []
        i = 0
        for g in _single(result, a):
            name = for_matplotlib(next(iter(g.attributes.values())))
            cc = g.calibration_curve or {}
            x, y = _clean(cc.get("predicted", []), cc.get("observed", []))
            if g.suppressed or not x:
                hidden.append(name)
                continue
            ax.plot(
                [v * 100 for v in x],
                [v * 100 for v in y],
                color=_LINES[i % 8],
                ls=["-", "--", "-.", ":"][(i // 8) % 4],
                label=name,
            )
            i += 1
        ax.set_xlim(0, xmax * 100)
        ax.set_ylim(0, xmax * 100)
        ax.set_aspect("equal")
        ax.set_title(f"by {for_matplotlib(a)}", loc="left")
        ax.legend(loc="upper left", frameon=False)
        if hidden:
            ax.text(
                0.98,
                0.02,
                "not drawn (not evaluable):\n" + ", ".join(hidden),
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=5.5,
                color=_GREY,
            )
    _outer_labels(axes, cols, "Predicted risk (%)", "Observed risk (%)")
    return _svg(fig)


def decision_curve_svg(result: AuditResult) -> bytes:
    plt = _plt()
    o = result.overall
    card = result.model.card or {}
    rng = card.get("clinically_relevant_range")
    t = result.settings.get("threshold")
    fig, ax = plt.subplots(figsize=(6.4, 3.3))
    rows = [r for r in o.decision_curve if r.get("threshold") is not None]
    hi = max(0.5, (rng[1] * 2) if rng else 0.5, (t or 0) * 2)
    hi = min(hi, 0.99)
    rows = [r for r in rows if r["threshold"] <= hi + 1e-9]
    x = [r["threshold"] * 100 for r in rows]
    nb = [r.get("net_benefit") for r in rows]
    ta = [r.get("net_benefit_treat_all") for r in rows]
    if rng:
        ax.axvspan(
            rng[0] * 100,
            rng[1] * 100,
            color="#F0E442",
            alpha=0.25,
            lw=0,
            label="clinically relevant range (card)",
        )
    ax.axhline(0, color="#000000", lw=0.9, label="treat none")
    xa, ya = _clean(x, ta)
    ax.plot(xa, ya, color=_GREY, ls=":", lw=1.2, label="treat all")
    # the model's 95% bootstrap band; NaN where withheld, so a gap stays a gap
    lo = [_nan(r.get("net_benefit_ci_low")) for r in rows]
    up = [_nan(r.get("net_benefit_ci_high")) for r in rows]
    if any(v == v for v in lo):
        ax.fill_between(
            x, lo, up, color="#0072B2", alpha=0.2, lw=0, label="model, 95% CI (bootstrap)"
        )
    xm, ym = _clean(x, nb)
    ax.plot(xm, ym, color="#0072B2", lw=1.6, label="model")
    if t is not None:
        ax.axvline(
            t * 100, color="#D55E00", ls="--", lw=0.9, label=f"operating threshold {t * 100:g}%"
        )
    prev = (o.metrics.get("prevalence").value if o.metrics.get("prevalence") else None) or (
        max(ym) if ym else 0.1
    )
    ax.set_ylim(-0.02 if prev < 0.2 else -0.05, prev * 1.1)
    ax.set_xlim(0, hi * 100)
    ax.set_xlabel("Threshold probability (%)")
    ax.set_ylabel("Net benefit (true positives per patient)")
    ax.legend(loc="upper right", frameon=False)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.97, bottom=0.14)
    return _svg(fig)


def forest_svg(result: AuditResult, metrics: Sequence[str] = ("auroc", "sensitivity")) -> bytes:
    plt = _plt()
    attrs = list(result.cohort.sensitive_features)
    disp = {
        (d.metric, tuple(sorted(d.group.items()))): d
        for d in result.disparities
        if d.reference_kind == "group" and len(d.group) == 1
    }
    refs = {
        tuple(e["attributes"]): e.get("reference") or {}
        for e in result.settings.get("references", [])
    }
    rows: list[tuple[str, GroupResult | None, str]] = []  # label, group, kind
    for a in attrs:
        rows.append((for_matplotlib(a), None, "header"))
        for g in _single(result, a):
            kind = (
                "suppressed"
                if g.suppressed
                else ("reference" if refs.get((a,)) == g.attributes else "group")
            )
            rows.append((for_matplotlib(next(iter(g.attributes.values()))), g, kind))
    n = len(rows)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(7.2, 0.17 * n + 0.9), sharey=True, squeeze=False
    )
    axes = axes[0]
    ys = list(range(n))[::-1]
    for j, (ax, m) in enumerate(zip(axes, metrics, strict=False)):
        ax.axvline(0, color=_GREY, lw=0.7)
        for y, (_, g, kind) in zip(ys, rows, strict=False):
            if kind == "header":
                continue
            if kind == "reference":
                ax.plot([0], [y], "D", color="#000000", ms=3)
                continue
            if kind == "suppressed":
                if j == 0:
                    ax.text(0, y, " not evaluable", va="center", fontsize=5.5, color=_GREY)
                continue
            d = disp.get((m, tuple(sorted(g.attributes.items()))))
            if d is None or d.difference.value is None:
                continue
            v, lo, hi = d.difference.value, d.difference.ci_low, d.difference.ci_high
            sig = lo is not None and hi is not None and (lo > 0 or hi < 0)
            col = "#D55E00" if sig else "#0072B2"
            if lo is not None and hi is not None:
                ax.plot([lo, hi], [y, y], color=col, lw=1.2)
            ax.plot([v], [y], "o", color=col, ms=3)
        ax.set_title(metric_name(m), loc="center")
        ax.grid(axis="y", visible=False)
        for y, (_, _, kind) in zip(ys, rows, strict=False):
            if kind == "header":
                ax.axhspan(y - 0.5, y + 0.5, color="#f2f2f2", lw=0, zorder=0)
    labels = [
        f"{lab}" if kind == "header" else f"  {lab}" + (" (ref.)" if kind == "reference" else "")
        for lab, _, kind in rows
    ]
    axes[0].set_yticks(ys)
    axes[0].set_yticklabels(labels, fontsize=6.5)
    for tick, (_, _, kind) in zip(axes[0].get_yticklabels(), rows, strict=False):
        if kind == "header":
            tick.set_fontweight("bold")
    axes[0].set_ylim(-0.7, n - 0.3)
    h = 0.17 * n + 0.9
    fig.supxlabel(
        "Difference from the reference group (group − reference), same unit as the metric (0–1)",
        y=0.04 / h,
        va="bottom",
        fontsize=8,
    )
    fig.subplots_adjust(left=0.19, right=0.99, top=1 - 0.25 / h, bottom=0.55 / h, wspace=0.08)
    return _svg(fig)

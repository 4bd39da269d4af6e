"""Static (SVG) charts of a time-to-event audit, for the PDF: Kaplan–Meier observed risk over
time, calibration at the horizon, and the decision curve at the horizon.

They read what the result released (the Kaplan–Meier steps that passed the survival threshold,
the flexible calibration curve, the risk deciles, the decision curve) and recompute nothing.
Colours are the Okabe–Ito palette of :mod:`cohortaudit.render.theme`; time is in the audit's
time unit and risk in %. A binary result has none of these parts: each chart then says so on
an empty panel instead of failing, so the registry can draw every kind for any result.
"""

from __future__ import annotations

import math
from typing import Any

from cohortaudit.render.mpl import pyplot as _plt
from cohortaudit.render.mpl import svg_bytes as _svg
from cohortaudit.render.outcome import horizon, time_unit
from cohortaudit.render.theme import GREY, LINE_ORDER, OKABE_ITO
from cohortaudit.results import AuditResult, GroupResult
from cohortaudit.textsafe import for_matplotlib

__all__ = ["km_risk_svg", "survival_calibration_svg", "survival_decision_curve_svg"]

_BLUE = OKABE_ITO["blue"]
_VERMILLION = OKABE_ITO["vermillion"]
_DASHES = ["-", "--", "-.", ":"]


def km_points(g: GroupResult) -> list[tuple[float, float, float | None, float | None]]:
    """The released Kaplan–Meier steps of ``g``: (time, risk, ci_low, ci_high), risks 0–1."""
    km = (g.survival or {}).get("km_curve") or {}
    t, r = km.get("time") or [], km.get("observed_risk") or []
    lo, hi = km.get("ci_low") or [None] * len(t), km.get("ci_high") or [None] * len(t)
    return [
        (a, b, c, d)
        for a, b, c, d in zip(t, r, lo, hi, strict=False)
        if a is not None and b is not None
    ]


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def _panels(n: int, plt):
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    h = 2.55 * rows + 0.6
    fig, axes = plt.subplots(rows, cols, figsize=(7.2, h), squeeze=False)
    fig.subplots_adjust(
        left=0.08, right=0.99, top=1 - 0.25 / h, bottom=0.55 / h, wspace=0.18, hspace=0.38
    )
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def _single(result: AuditResult, attr: str) -> list[GroupResult]:
    return [g for g in result.subgroups if tuple(g.attributes) == (attr,)]


def _km_panel(ax, groups: list[tuple[str, GroupResult]], tau: float | None, *, band: bool):
    """One panel: each group's observed risk over time, its mean predicted risk at tau."""
    hidden: list[str] = []
    top = 0.0
    i = 0
    for name, g in groups:
        pts = km_points(g)
        if g.suppressed or not pts:
            hidden.append(name)
            continue
        col = LINE_ORDER[i % len(LINE_ORDER)] if len(groups) > 1 else _BLUE
        ls = _DASHES[(i // len(LINE_ORDER)) % 4]
        xs = [p[0] for p in pts]
        ys = [100 * p[1] for p in pts]
        if tau is not None and xs[-1] < tau:  # the curve holds its last value to the horizon
            xs, ys = [*xs, tau], [*ys, ys[-1]]
        ax.step(xs, ys, where="post", color=col, ls=ls, lw=1.3, label=name)
        if band:
            cis = [(p[0], p[2], p[3]) for p in pts if p[2] is not None and p[3] is not None]
            if cis:
                if tau is not None and cis[-1][0] < tau:
                    cis.append((tau, cis[-1][1], cis[-1][2]))
                bx = [c[0] for c in cis]
                blo = [100 * c[1] for c in cis]
                bhi = [100 * c[2] for c in cis]
                ax.fill_between(bx, blo, bhi, step="post", color=col, alpha=0.18, lw=0)
                top = max(top, max(bhi))
        exp = g.metrics.get("expected_risk")
        if tau is not None and exp is not None and exp.value is not None:
            ax.plot([tau], [100 * exp.value], "D", color=col, ms=4, mec="white", mew=0.5)
            top = max(top, 100 * exp.value)
        top = max(top, max(ys))
        i += 1
    if tau is not None:
        ax.axvline(tau, color=GREY, ls=":", lw=0.8)
        if i:  # a legend key for the diamonds
            ax.plot([], [], "D", color=GREY, ms=4, label="mean predicted risk at the horizon")
    if hidden:
        ax.text(
            0.02,
            0.97,
            "not drawn (not evaluable or no released step): " + ", ".join(hidden),
            transform=ax.transAxes,
            va="top",
            fontsize=5.5,
            color=GREY,
        )
    ax.set_ylim(0, max(5.0, math.ceil(top * 1.08 / 5) * 5))
    if tau is not None:
        ax.set_xlim(0, tau * 1.04)
    if i:
        ax.legend(loc="upper left", frameon=False, fontsize=6, bbox_to_anchor=(0, 0.9))


def km_risk_svg(result: AuditResult) -> bytes:
    """Observed risk (1 − Kaplan–Meier) over time, all patients and by each attribute; ◆ the
    group's mean predicted risk at the horizon."""
    plt = _plt()
    attrs = list(result.cohort.sensitive_features)
    tau = horizon(result)
    fig, axes = _panels(1 + len(attrs), plt)
    if not km_points(result.overall):
        _empty(axes[0], "no Kaplan–Meier curve in this result (not a time-to-event audit)")
        for ax in axes[1:]:
            ax.set_visible(False)
        return _svg(fig)
    _km_panel(axes[0], [("all patients", result.overall)], tau, band=True)
    axes[0].set_title("All patients (band: 95% CI)", loc="left")
    for ax, a in zip(axes[1:], attrs, strict=False):
        groups = [(for_matplotlib(next(iter(g.attributes.values()))), g) for g in _single(result, a)]
        _km_panel(ax, groups, tau, band=False)
        ax.set_title(f"by {for_matplotlib(a)}", loc="left")
    h = fig.get_figheight()
    unit = for_matplotlib(time_unit(result))
    fig.supxlabel(
        f"Time since the start of follow-up ({unit}); dotted line: the horizon",
        y=0.04 / h,
        va="bottom",
        fontsize=8,
    )
    fig.supylabel("Observed risk of the event, 1 − Kaplan–Meier (%)", x=0.005, ha="left", fontsize=8)
    return _svg(fig)


def _clean_pairs(xs: list[Any], ys: list[Any]) -> tuple[list[float], list[float]]:
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if x is not None and y is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def survival_calibration_svg(result: AuditResult) -> bytes:
    """The flexible calibration curve at the horizon and the risk deciles (KM, 95% CI)."""
    plt = _plt()
    o = result.overall
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    cc = o.calibration_curve or {}
    x, y = _clean_pairs(cc.get("predicted", []), cc.get("observed", []))
    deciles = [
        r
        for r in o.calibration_table
        if r.get("expected_risk") is not None and r.get("observed_risk") is not None
    ]
    if not x and not deciles:
        _empty(ax, "no calibration at the horizon in this result (not a time-to-event audit)")
        return _svg(fig)
    values = [*x, *y] + [v for r in deciles for v in (r["expected_risk"], r.get("ci_high") or 0)]
    top = min(100.0, max(10.0, math.ceil((max(values) * 100 + 2) / 10) * 10))
    ax.plot([0, top], [0, top], color=GREY, ls=":", lw=0.8, label="perfect calibration")
    band = [
        (p, lo, hi)
        for p, lo, hi in zip(
            cc.get("predicted", []), cc.get("ci_low", []), cc.get("ci_high", []), strict=False
        )
        if p is not None and lo is not None and hi is not None
    ]
    if band:
        ax.fill_between(
            [100 * b[0] for b in band],
            [100 * b[1] for b in band],
            [100 * b[2] for b in band],
            color=_BLUE,
            alpha=0.18,
            lw=0,
            label="95% band",
        )
    if x:
        ax.plot(
            [100 * v for v in x],
            [100 * v for v in y],
            color=_BLUE,
            label="flexible calibration curve (Cox, spline of cloglog risk)",
        )
    if deciles:
        dx = [100 * r["expected_risk"] for r in deciles]
        dy = [100 * r["observed_risk"] for r in deciles]
        lo = [
            100 * (r["observed_risk"] - r["ci_low"]) if r.get("ci_low") is not None else 0
            for r in deciles
        ]
        hi = [
            100 * (r["ci_high"] - r["observed_risk"]) if r.get("ci_high") is not None else 0
            for r in deciles
        ]
        ax.errorbar(
            dx,
            dy,
            yerr=[lo, hi],
            fmt="o",
            color=_VERMILLION,
            ms=3.5,
            lw=0.9,
            capsize=2,
            label="risk deciles: observed (Kaplan–Meier, 95% CI)",
        )
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("Predicted risk by the horizon (%)")
    ax.set_ylabel("Observed risk by the horizon (%)")
    ax.legend(loc="upper left", frameon=False)
    oe, slope = o.metrics.get("oe_ratio"), o.metrics.get("calibration_slope")
    bits = [
        f"{lab} {v.value:.2f}"
        for lab, v in (("O/E", oe), ("slope", slope))
        if v is not None and v.value is not None
    ]
    ax.set_title("All patients" + (f" ({', '.join(bits)})" if bits else ""), loc="left")
    fig.subplots_adjust(left=0.1, right=0.98, top=0.93, bottom=0.11)
    return _svg(fig)


def survival_decision_curve_svg(result: AuditResult) -> bytes:
    """Net benefit at the horizon: the model, treating everyone, treating no one."""
    plt = _plt()
    o = result.overall
    rng = (result.model.card or {}).get("clinically_relevant_range")
    t = result.settings.get("threshold")
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    rows = [r for r in o.decision_curve if r.get("threshold") is not None]
    if not rows:
        _empty(ax, "no decision curve at the horizon in this result")
        return _svg(fig)
    hi = min(0.99, max(0.5, (rng[1] * 2) if rng else 0.5, (t or 0) * 1.2))
    rows = [r for r in rows if r["threshold"] <= hi + 1e-9]
    x = [100 * r["threshold"] for r in rows]
    if rng:
        ax.axvspan(
            100 * rng[0], 100 * rng[1], color=OKABE_ITO["yellow"], alpha=0.25, lw=0,
            label="clinically relevant range (card)",
        )  # fmt: skip
    ax.axhline(0, color=OKABE_ITO["black"], lw=0.9, label="treat none")
    xa, ya = _clean_pairs(x, [r.get("net_benefit_treat_all") for r in rows])
    ax.plot(xa, ya, color=GREY, ls=":", lw=1.2, label="treat all")
    # the model's 95% bootstrap band; NaN where there is none, so a gap stays a gap
    lo = [math.nan if r.get("net_benefit_ci_low") is None else r["net_benefit_ci_low"] for r in rows]
    up = [math.nan if r.get("net_benefit_ci_high") is None else r["net_benefit_ci_high"] for r in rows]
    if any(v == v for v in lo):
        ax.fill_between(x, lo, up, color=_BLUE, alpha=0.2, lw=0, label="model, 95% CI (bootstrap)")
    xm, ym = _clean_pairs(x, [r.get("net_benefit") for r in rows])
    ax.plot(xm, ym, color=_BLUE, lw=1.6, label="model")
    if t is not None:
        ax.axvline(
            100 * t, color=_VERMILLION, ls="--", lw=0.9, label=f"operating threshold {100 * t:g}%"
        )
    obs = o.metrics.get("observed_risk")
    top = obs.value if obs is not None and obs.value is not None else max(ym or [0.1])
    top = max(top, max(ym or [0.0]), 0.01)
    ax.set_ylim(-0.1 * top, top * 1.1)
    ax.set_xlim(0, 100 * hi)
    ax.set_xlabel("Threshold risk by the horizon (%)")
    ax.set_ylabel("Net benefit at the horizon\n(true positives per patient)")
    ax.legend(loc="upper right", frameon=False)
    fig.subplots_adjust(left=0.12, right=0.98, top=0.97, bottom=0.14)
    return _svg(fig)

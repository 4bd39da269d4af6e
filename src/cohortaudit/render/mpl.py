"""The matplotlib toolkit of the static (PDF) charts: figures without pyplot's global state,
one rc style, and SVG output that is the same bytes for the same chart.

A leaf of render/: the static chart modules (``svg_charts/performance``, ``checks``, ``sites``)
draw with it and never import each other for it.
"""

from __future__ import annotations

import io
import re

from cohortaudit.render.theme import GRID

__all__ = ["pyplot", "svg_bytes"]


class _Figures:
    """The bit of the pyplot API used here, on bare ``Figure`` objects (no global state)."""

    @staticmethod
    def subplots(rows=1, cols=1, *, figsize, squeeze=True, **kw):
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        axes = fig.subplots(rows, cols, squeeze=squeeze, **kw)
        return fig, axes


def pyplot():
    import matplotlib

    matplotlib.rcParams.update(
        {
            "svg.hashsalt": "cohortaudit",
            "svg.fonttype": "none",
            "font.family": "DejaVu Sans",
            "font.size": 8,
            "axes.titlesize": 8.5,
            "axes.labelsize": 8,
            "legend.fontsize": 6.5,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": GRID,
            "grid.linewidth": 0.5,
            "lines.linewidth": 1.3,
        }
    )
    return _Figures


def svg_bytes(fig) -> bytes:
    buf = io.StringIO()
    # no bbox_inches="tight" and no tight_layout: both measure every glyph and double the time
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "cohortaudit"})
    text = re.sub(r"<metadata>.*?</metadata>", "", buf.getvalue(), flags=re.S)
    # matplotlib writes SVG at 72 dpi, so its "px" are points; fpdf2 reads px as 0.75 pt
    text = re.sub(r"font-size: ?([0-9.]+)px", r"font-size: \1pt", text)
    return text.encode("utf-8")

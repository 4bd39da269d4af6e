"""One theme for every chart: the colour-blind-safe palette, the greys, the line order.

The Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design") is distinguishable under
the common colour-vision deficiencies; plotly figures (dashboard, HTML) and matplotlib figures
(PDF) both take their colours from here, so a group has one colour wherever it is drawn.
"""

from __future__ import annotations

__all__ = ["OKABE_ITO", "PALETTE", "LINE_ORDER", "GREY", "GRID"]

OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
#: The palette in Okabe and Ito's order.
PALETTE = list(OKABE_ITO.values())
#: Line colours, most distinct first (yellow, faint on white, last).
LINE_ORDER = [
    OKABE_ITO[c]
    for c in (
        "blue",
        "orange",
        "bluish_green",
        "vermillion",
        "reddish_purple",
        "sky_blue",
        "black",
        "yellow",
    )
]
#: Secondary text and marks (captions in charts, "not drawn" notes).
GREY = "#6b6b6b"
#: Grid lines of static charts.
GRID = "#e5e5e5"

"""The report's document model: paragraphs, bullets, tables, charts, sections, the report.

A leaf: it imports nothing of cohortaudit, so the section builders (``report``,
``check_sections``, ``site_section``) and the renderers (``pdf``, ``html``) can all import it
without importing each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RUN_RECORD_START",
    "RUN_RECORD_END",
    "Para",
    "Bullets",
    "Span",
    "Table",
    "Chart",
    "Section",
    "Report",
    "map_text",
]

#: Markers around the only text that may differ between reruns (tests strip what lies between).
RUN_RECORD_START = "RUN RECORD (the only part of this report that differs between reruns)"
RUN_RECORD_END = "END OF RUN RECORD"


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------


@dataclass
class Para:
    """A paragraph. ``style``: body | small | note | limitation | finding | mono."""

    text: str
    style: str = "body"


@dataclass
class Bullets:
    items: list[str]
    style: str = "body"


@dataclass
class Span:
    """A cell spanning ``cols`` columns (e.g. "not evaluable (fewer than 10)")."""

    text: str
    cols: int


@dataclass
class Table:
    """Header, rows of str (or :class:`Span`), relative column widths, alignment per column."""

    header: list[str]
    rows: list[list[Any]]
    widths: list[float]
    align: list[str] | None = None  # "L" | "R" | "C" per column
    caption: str | None = None
    font_size: float = 8.0
    mono: tuple[int, ...] = ()  # columns set in monospace


@dataclass
class Chart:
    """A chart by name, drawn by ``charts.py`` (PDF, SVG) or ``figures.py`` (HTML, plotly)."""

    kind: str
    caption: str
    params: dict[str, Any] = field(default_factory=dict)
    height_mm: float = 120.0


@dataclass
class Section:
    number: str
    title: str
    level: int
    blocks: list[Any] = field(default_factory=list)
    new_page: bool = False

    @property
    def heading(self) -> str:
        return f"{self.number} {self.title}" if self.number else self.title


@dataclass
class Report:
    title: str
    model_line: str
    cover_rows: list[tuple[str, str, bool]]  # label, value, monospace
    test_vectors: str
    auditor: str
    run_record: list[tuple[str, str]]
    sections: list[Section]
    audit_id: str
    footer: str
    #: Set when disclosure control was off (k = 0): shown on the cover, the summary page and
    #: in every page footer, so no page of the report can leave without it.
    banner: str | None = None


def map_text(x: Any, fn: Callable[[str], str]) -> Any:
    """``x`` (a report, section, block, or a list or tuple of them) with ``fn`` applied to every
    text in it; dataclasses are rebuilt, not changed in place.

    One walker for the passes that must reach every sentence and table cell of a built report
    (shortening long names here, stripping control characters in the PDF renderer). A chart's
    ``params`` are keys for the chart code, not text, and are left as they are.
    """
    if isinstance(x, str):
        return fn(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        changes = {
            f.name: map_text(getattr(x, f.name), fn)
            for f in dataclasses.fields(x)
            if f.init and f.name != "params"
        }
        return dataclasses.replace(x, **changes)
    if isinstance(x, list):
        return [map_text(v, fn) for v in x]
    if isinstance(x, tuple):
        return tuple(map_text(v, fn) for v in x)
    return x

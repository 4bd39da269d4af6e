"""The report's document model: paragraphs, bullets, tables, charts, sections, the report.

A leaf: it imports nothing of cohortaudit, so the chapter builders (``render/chapters/``), the
numbering pass (``numbering``) and the renderers (``pdf``, ``html``) can all import it without
importing each other.

Nothing a chapter builder writes carries a number. A :class:`Section` gets its number, a
captioned :class:`Table` its "Table 3.2" and a :class:`Chart` its "Figure 5.1" from
:func:`cohortaudit.render.numbering.number_sections`, which walks the chapters in report order;
a sentence that points at another part of the report says so with :func:`ref` ("see
section " + ``ref("disclosure")``), and the same pass replaces the reference with the number its
anchor received. So adding, dropping or moving a chapter, table or figure renumbers everything
after it and every sentence that points at it, and no number can go stale.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RUN_RECORD_START",
    "RUN_RECORD_END",
    "SUMMARY_ANCHOR",
    "Para",
    "Bullets",
    "Span",
    "Table",
    "Chart",
    "Section",
    "Report",
    "map_text",
    "ref",
    "ref_number",
    "ref_nearest",
    "REF_PATTERN",
]

#: Markers around the only text that may differ between reruns (tests strip what lies between).
RUN_RECORD_START = "RUN RECORD (the only part of this report that differs between reruns)"
RUN_RECORD_END = "END OF RUN RECORD"
#: The executive summary's anchor: the renderers put that chapter before the contents.
SUMMARY_ANCHOR = "summary"

#: The mark of a cross reference in a built text. It holds a random part drawn once per process,
#: so no text from the cohort (a group or column name) can spell one and have it resolved.
_REF_MARK = "\ue000" + secrets.token_hex(6)
#: A cross reference as :func:`ref` writes it; group 1 is the anchor, group 2 "n" when only the
#: number is wanted (:func:`ref_number`), "p" when the nearest existing parent will do
#: (:func:`ref_nearest`).
REF_PATTERN = re.compile(re.escape(_REF_MARK) + r"\{([^{}|]+)(?:\|([np]))?\}")


def ref(anchor: str) -> str:
    """A reference to the section, table or figure with ``anchor``, for use inside a text.

    It becomes the section's number ("14", "10.2") or the table's or figure's label
    ("Table 3.2", "Figure 5.1") when the report is numbered; an anchor that names nothing is a
    ReportError then, so a reference cannot silently point nowhere.
    """
    return f"{_REF_MARK}{{{anchor}}}"


def ref_number(anchor: str) -> str:
    """Like :func:`ref`, but a table or figure becomes its bare number ("5.2", not
    "Table 5.2"), for lists of places such as a checklist column."""
    return f"{_REF_MARK}{{{anchor}|n}}"


def ref_nearest(anchor: str) -> str:
    """Like :func:`ref`, but when this report has no ``"safety.robustness"`` the reference goes
    to ``"safety"``: for pointers stored in the result (a finding's ``section``), which name
    the most precise place while the report decides which sections it has."""
    return f"{_REF_MARK}{{{anchor}|p}}"


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
    #: Caption text without a number ("Key numbers for all patients."); numbering prefixes
    #: "Table 1.1". A table without a caption is not numbered.
    caption: str | None = None
    font_size: float = 8.0
    mono: tuple[int, ...] = ()  # columns set in monospace
    anchor: str | None = None  # for ref()


@dataclass
class Chart:
    """A chart by kind, drawn through ``chart_registry`` (SVG for the PDF, plotly for the HTML).

    ``caption`` has no number; numbering prefixes "Figure 5.1"."""

    kind: str
    caption: str
    params: dict[str, Any] = field(default_factory=dict)
    height_mm: float = 120.0
    anchor: str | None = None  # for ref()


@dataclass
class Section:
    """A chapter (``level`` 0) or a section within one (1). ``number`` is left empty by the
    chapter builders and set by the numbering pass; ``appendix`` chapters get letters (A, B)."""

    title: str
    level: int = 0
    blocks: list[Any] = field(default_factory=list)
    new_page: bool = False
    anchor: str | None = None  # for ref()
    appendix: bool = False
    number: str = ""

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

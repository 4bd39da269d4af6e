"""The numbering pass: sections, tables and figures get their numbers here, and only here.

Why a pass and not hand-typed numbers: the report's chapters depend on the audit (a pooled
audit has a sites chapter, an audit without explanations has fewer tables), and a hand-typed
"Table 8.1" or "section 14" goes stale the moment a chapter or a table is added before it. The
chapter builders write captions and headings without numbers and point at each other with
:func:`cohortaudit.render.document.ref`; :func:`number_sections` walks the chapters in report
order and

- numbers chapters 1, 2, … (appendix chapters A, B, …) and the sections inside a chapter
  3.1, 3.2, … (a section may be a block of its chapter or follow it in the list);
- prefixes each captioned table's caption with "Table c.n" and each chart's with
  "Figure c.n", counted per chapter in the order they appear;
- replaces every reference with the number (a section) or label (a table, a figure) its
  anchor received; an anchor that names nothing, or two things, is a ReportError.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Sequence
from typing import Any

from cohortaudit.errors import ReportError
from cohortaudit.render.document import REF_PATTERN, Chart, Section, Table, map_text

__all__ = ["number_sections"]


class _Counter:
    """Numbers as the walk meets them; ``labels`` maps each anchor to its number or label."""

    def __init__(self) -> None:
        self.chapters = 0
        self.appendices = 0
        self.chapter = ""
        self.sections = 0
        self.tables = 0
        self.figures = 0
        self.labels: dict[str, str] = {}

    def anchor(self, anchor: str | None, label: str) -> None:
        if anchor is None:
            return
        if anchor in self.labels:
            raise ReportError(
                f"Two parts of the report have the anchor {anchor!r}; each anchor must name one "
                "section, table or figure."
            )
        self.labels[anchor] = label

    def section(self, s: Section) -> Section:
        if s.level == 0:
            if s.appendix:
                self.appendices += 1
                number = string.ascii_uppercase[self.appendices - 1]
            else:
                self.chapters += 1
                number = str(self.chapters)
            self.chapter, self.sections, self.tables, self.figures = number, 0, 0, 0
        else:
            if not self.chapter:
                raise ReportError(f"The section {s.title!r} comes before any chapter.")
            self.sections += 1
            number = f"{self.chapter}.{self.sections}"
        self.anchor(s.anchor, number)
        blocks = [self.block(b) for b in s.blocks]
        return dataclasses.replace(s, number=number, blocks=blocks)

    def block(self, b: Any) -> Any:
        if isinstance(b, Section):
            return self.section(b)
        if isinstance(b, Table) and b.caption is not None:
            self.tables += 1
            label = f"Table {self.chapter}.{self.tables}"
            self.anchor(b.anchor, label)
            return dataclasses.replace(b, caption=f"{label} {b.caption}")
        if isinstance(b, Chart):
            self.figures += 1
            label = f"Figure {self.chapter}.{self.figures}"
            self.anchor(b.anchor, label)
            return dataclasses.replace(b, caption=f"{label} {b.caption}")
        return b


def number_sections(sections: Sequence[Section]) -> list[Section]:
    """``sections`` (chapters in report order, each followed by any of its sections) with
    every number set and every reference resolved; the input is not changed."""
    counter = _Counter()
    numbered = [counter.section(s) for s in sections]
    labels = counter.labels

    def resolve(text: str) -> str:
        def label(match: Any) -> str:
            anchor = match.group(1)
            if match.group(2) == "p":  # the nearest existing parent: "a.b.c", "a.b", "a"
                while anchor not in labels and "." in anchor:
                    anchor = anchor.rsplit(".", 1)[0]
            if anchor not in labels:
                raise ReportError(
                    f"A sentence of the report refers to {anchor!r}, which no section, table or "
                    "figure of this report has as its anchor."
                )
            found = labels[anchor]
            return found.split(" ", 1)[-1] if match.group(2) == "n" else found

        return REF_PATTERN.sub(label, text)

    return map_text(numbered, resolve)

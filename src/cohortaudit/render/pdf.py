"""The PDF audit report: a document a regulator can read, file and check on its own.

Layout only -- the content is :func:`cohortaudit.render.report.build_report`, shared with the
HTML report. The PDF embeds its fonts (DejaVu Sans / Mono), draws charts as vectors
(matplotlib SVG through :mod:`cohortaudit.render.chart_registry`), shows the section, table
and figure numbers the numbering pass gave, numbers its pages
("Page x of y"), carries a contents page and PDF bookmarks, and attaches the exported
``audit.json`` byte for byte as an embedded file.

Deterministic: the same result gives the same text. The creation date is the audit's own start
time (``result.run["started_at"]``), file ids are content hashes, and every volatile fact sits in
the cover's run record box.
"""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cohortaudit.errors import ReportError
from cohortaudit.outputs import write_output
from cohortaudit.render.chart_registry import chart_svg
from cohortaudit.render.document import (
    RUN_RECORD_END,
    RUN_RECORD_START,
    SUMMARY_ANCHOR,
    Bullets,
    Chart,
    Para,
    Report,
    Section,
    Span,
    Table,
    map_text,
)
from cohortaudit.render.json import result_to_json
from cohortaudit.render.report import build_report
from cohortaudit.results import AuditResult
from cohortaudit.textsafe import shorten, strip_controls

__all__ = ["render_pdf", "pdf_bytes", "FONT_DIR"]

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONTS = {
    ("DejaVu", ""): "DejaVuSans.ttf",
    ("DejaVu", "B"): "DejaVuSans-Bold.ttf",
    ("DejaVu", "I"): "DejaVuSans-Oblique.ttf",
    ("DejaVu", "BI"): "DejaVuSans-BoldOblique.ttf",
    ("DejaVuMono", ""): "DejaVuSansMono.ttf",
}
_BLUE = (0, 114, 178)
_GREY = (90, 90, 90)
_LIGHT = (242, 242, 242)
_MARGIN = 18.0
_FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)
#: A cell that must not wrap: a number, an estimate with its CI, a count, "n/a" or "—".
_NUMERIC = re.compile(r"^(?:[\u2212\-]?[0-9][0-9,.]*(?:%| \(.*\))?|n/a|—)$")


def _font_dir() -> Path:
    """DejaVu from the system (Debian fonts-dejavu-core) or, failing that, matplotlib's copy."""
    if (FONT_DIR / "DejaVuSans.ttf").exists() and (FONT_DIR / "DejaVuSansMono.ttf").exists():
        return FONT_DIR
    try:
        import matplotlib

        d = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        if (d / "DejaVuSans.ttf").exists():
            return d
    except ImportError:  # pragma: no cover
        pass
    raise ReportError(
        f"The PDF report needs the DejaVu fonts, not found in '{FONT_DIR}'. Install them "
        "(Debian: apt-get install fonts-dejavu-core) and render again."
    )


def _run_date(result: AuditResult) -> datetime:
    raw = (result.run or {}).get("started_at")
    if raw:
        try:
            d = datetime.fromisoformat(str(raw))
            return d if d.tzinfo else d.replace(tzinfo=UTC)
        except ValueError:
            pass
    return _FIXED_DATE


def _make_pdf_class():
    from fpdf import FPDF

    class _PDF(FPDF):
        footer_text = ""

        def footer(self) -> None:  # noqa: D401 - fpdf2 hook
            self.set_y(-12)
            self.set_font("DejaVu", "", 7)
            self.set_text_color(*_GREY)
            self.set_draw_color(200, 200, 200)
            self.line(_MARGIN, self.h - 14, self.w - _MARGIN, self.h - 14)
            self.cell(0, 5, self.footer_text, align="L")
            self.set_x(_MARGIN)
            self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
            self.set_text_color(0, 0, 0)

    return _PDF


def pdf_bytes(
    result: AuditResult, *, auditor: str | None = None, audit_json: bytes | None = None
) -> bytes:
    """The PDF report as bytes (for a download button); see :func:`render_pdf`."""
    if audit_json is None:
        audit_json = result_to_json(result).encode("utf-8")
    report = _printable(build_report(result, auditor=auditor, audit_json=audit_json))
    return bytes(_Writer(result, report, audit_json).build())


def _printable(x: Any) -> Any:
    """The report with control, bidi-override and zero-width characters removed from every
    text (names come from the cohort). fpdf2 draws text literally (no markup is parsed), but
    such characters have no glyph and could reorder a line."""
    return map_text(x, lambda s: strip_controls(s, keep_newlines=True))


def render_pdf(
    result: AuditResult,
    path: str | Path,
    *,
    auditor: str | None = None,
    audit_json: bytes | None = None,
) -> Path:
    """Write the PDF report to ``path`` and return it.

    ``audit_json`` is the exported ``audit.json`` (bytes); it is embedded unchanged so that the
    reader can check it against the file they were sent. Without it the JSON is rendered here.
    """
    data = pdf_bytes(result, auditor=auditor, audit_json=audit_json)
    path = Path(path)
    write_output(path.parent, path.name, data)
    return path


class _Writer:
    def __init__(self, result: AuditResult, report: Report, audit_json: bytes) -> None:
        self.result = result
        self.report = report
        self.audit_json = audit_json
        pdf = _make_pdf_class()(orientation="P", unit="mm", format="A4")
        pdf.footer_text = report.footer
        fonts = _font_dir()
        for (family, style), fname in _FONTS.items():
            pdf.add_font(family, style, str(fonts / fname))
        pdf.set_margins(_MARGIN, 16, _MARGIN)
        pdf.set_auto_page_break(True, margin=18)
        date = _run_date(result)
        pdf.set_creation_date(date)
        pdf.set_title(f"Audit report: {report.model_line}")
        pdf.set_author(report.auditor)
        pdf.set_subject("Bias and safety audit of a medical AI model (cohortaudit)")
        pdf.set_creator(f"cohortaudit {result.tool.get('version', '')}")
        pdf.set_producer(f"cohortaudit {result.tool.get('version', '')} with fpdf2")
        pdf.set_lang("en")
        self.pdf = pdf
        self.date = date
        self.ew = pdf.w - 2 * _MARGIN - 0.01

    # ------------------------------------------------------------------ document

    def build(self) -> bytearray:
        pdf = self.pdf
        self._cover()
        sections = list(self.report.sections)
        pdf.add_page()
        # The one-page summary that judges comes straight after the cover, before the contents:
        # a reader who turns one page has the verdict and what to do.
        if sections and sections[0].anchor == SUMMARY_ANCHOR:
            self._section(sections.pop(0), first=True)
            pdf.add_page()
        pdf.insert_toc_placeholder(self._toc, pages=1)
        # the placeholder has already broken to a fresh page: the next section starts there
        first = True
        for s in sections:
            self._section(s, first=first)
            first = False
        pdf.embed_file(
            bytes=self.audit_json,
            basename="audit.json",
            desc="The complete audit result (cohortaudit JSON), byte for byte as exported",
            mime_type="application/json",
            creation_date=self.date,
            modification_date=self.date,
            compress=True,
        )
        return pdf.output()

    # ------------------------------------------------------------------ cover

    def _cover(self) -> None:
        pdf, r = self.pdf, self.report
        pdf.add_page()
        pdf.set_fill_color(*_BLUE)
        pdf.rect(0, 0, pdf.w, 6, style="F")
        pdf.set_y(16)
        pdf.set_font("DejaVu", "", 9)
        pdf.set_text_color(*_GREY)
        pdf.cell(
            0,
            5,
            "cohortaudit · bias and safety audit of a shared medical AI model",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0, 0, 0)
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 26)
        pdf.cell(0, 12, r.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 15)
        pdf.multi_cell(0, 7.5, r.model_line, new_x="LMARGIN", new_y="NEXT")
        if r.banner:
            self._banner(r.banner)
        dev = (self.result.model.card or {}).get("developer")
        if dev:
            pdf.set_font("DejaVu", "", 9.5)
            pdf.set_text_color(*_GREY)
            pdf.multi_cell(0, 5, f"Model developer: {dev}", new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0, 0, 0)
        pdf.ln(5)
        self._h("What was audited", size=11)
        label_w = 34
        for label, value, mono in r.cover_rows:
            y0 = pdf.get_y()
            pdf.set_font("DejaVu", "B", 8.5)
            pdf.multi_cell(label_w, 4.6, label, new_x="RIGHT", new_y="TOP")
            if mono:
                pdf.set_font("DejaVuMono", "", 8)
            else:
                pdf.set_font("DejaVu", "", 8.5)
            pdf.multi_cell(self.ew - label_w, 4.6, value, new_x="LMARGIN", new_y="NEXT")
            pdf.set_y(max(pdf.get_y(), y0 + 4.6) + 0.8)
        pdf.ln(3)
        self._h("Sign-off", size=11)
        pdf.set_font("DejaVu", "", 8)
        pdf.set_text_color(*_GREY)
        pdf.multi_cell(
            0,
            4,
            "The responsible person signs and dates this report to confirm "
            "that it is the report of the audit identified in the run record below.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)
        name = r.auditor if r.auditor != "not stated" else ""
        col = (self.ew - 8) / 2
        for (l1, v1), (l2, v2) in (
            ((" Name", name), (" Role", "")),
            ((" Date", ""), (" Signature", "")),
        ):
            y = pdf.get_y() + 8
            for i, (lab, val) in enumerate(((l1, v1), (l2, v2))):
                x = _MARGIN + i * (col + 8)
                pdf.set_font("DejaVu", "", 9)
                pdf.set_xy(x, y - 5)
                pdf.cell(col, 5, val)
                pdf.set_draw_color(120, 120, 120)
                pdf.line(x, y, x + col, y)
                pdf.set_font("DejaVu", "", 7)
                pdf.set_text_color(*_GREY)
                pdf.set_xy(x, y + 0.5)
                pdf.cell(col, 3.5, lab.strip())
                pdf.set_text_color(0, 0, 0)
            pdf.set_y(y + 5)
        pdf.ln(4)
        # the run record: the one place with facts that change between reruns
        y0 = pdf.get_y()
        pdf.set_fill_color(*_LIGHT)
        pdf.set_draw_color(*_GREY)
        rows = r.run_record
        h = 9 + 4.4 * len(rows) + 9
        pdf.rect(_MARGIN, y0, self.ew, h, style="DF")
        pdf.set_xy(_MARGIN + 3, y0 + 2)
        pdf.set_font("DejaVu", "B", 8.5)
        pdf.cell(self.ew - 6, 5, RUN_RECORD_START, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        for label, value in rows:
            pdf.set_x(_MARGIN + 3)
            pdf.set_font("DejaVu", "B", 7.5)
            pdf.cell(34, 4.4, label)
            mono = label in ("Audit id", "audit.json SHA-256")
            pdf.set_font("DejaVuMono" if mono else "DejaVu", "", 7.5)
            pdf.cell(self.ew - 40, 4.4, value, new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(_MARGIN + 3)
        pdf.set_font("DejaVu", "I", 7)
        pdf.set_text_color(*_GREY)
        pdf.cell(
            self.ew - 6,
            5,
            RUN_RECORD_END + ": everything else in this report is "
            "identical for the same inputs, settings and seed.",
        )
        pdf.set_text_color(0, 0, 0)

    def _banner(self, text: str) -> None:
        """The k = 0 banner: a full-width orange box, bold, on the cover."""
        pdf = self.pdf
        pdf.ln(3)
        y0 = pdf.get_y()
        pdf.set_fill_color(213, 94, 0)
        pdf.rect(_MARGIN, y0, self.ew, 11, style="F")
        pdf.set_xy(_MARGIN + 3, y0 + 3)
        pdf.set_font("DejaVu", "B", 10)
        pdf.set_text_color(255, 255, 255)
        pdf.cell(self.ew - 6, 5, text.upper(), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_y(y0 + 13)

    # ------------------------------------------------------------------ contents

    def _toc(self, pdf, outline) -> None:
        pdf.set_y(20)
        pdf.set_font("DejaVu", "B", 16)
        pdf.cell(0, 10, "Contents", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        for sec in outline:
            if sec.level > 1:
                continue
            top = sec.level == 0
            pdf.set_font("DejaVu", "B" if top else "", 9.5 if top else 8.5)
            if top:
                pdf.ln(1.2)
            indent = 0 if top else 8
            link = pdf.add_link(page=sec.page_number)
            num = str(sec.page_number)
            name_w = pdf.get_string_width(sec.name)
            avail = self.ew - indent - 12
            dots_w = max(0.0, avail - name_w - 2)
            dot = pdf.get_string_width(" .")
            leader = " ." * int(dots_w / dot) if dot else ""
            pdf.set_x(_MARGIN + indent)
            pdf.cell(name_w + 1, 5.2, sec.name, link=link)
            style = pdf.font_style
            pdf.set_font("DejaVu", "", 8)
            pdf.set_text_color(160, 160, 160)
            pdf.cell(avail - name_w - 1, 5.2, leader, link=link)
            pdf.set_text_color(0, 0, 0)
            pdf.set_font("DejaVu", style, 9.5 if top else 8.5)
            pdf.cell(12, 5.2, num, align="R", link=link, new_x="LMARGIN", new_y="NEXT")

    # ------------------------------------------------------------------ blocks

    def _h(self, text: str, *, size: float) -> None:
        pdf = self.pdf
        pdf.set_font("DejaVu", "B", size)
        pdf.set_text_color(*_BLUE)
        pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(1.5)

    def _room(self, mm: float) -> None:
        pdf = self.pdf
        if pdf.get_y() + mm > pdf.page_break_trigger:
            pdf.add_page()

    def _section(self, s: Section, *, first: bool = False, follow: Any = None) -> None:
        """A numbered section; ``follow`` is the block after a sub-heading without blocks."""
        pdf = self.pdf
        if s.level == 0:
            if first:
                pass
            elif s.new_page:
                pdf.add_page()
            else:
                pdf.ln(4)
                self._room(45)
            pdf.start_section(s.heading, level=0)
            self._h(s.heading, size=15)
        else:
            pdf.ln(2)
            self._room(12 + self._min_height(s.blocks[0] if s.blocks else follow))
            pdf.start_section(s.heading, level=1)
            self._h(s.heading, size=11)
        for i, b in enumerate(s.blocks):
            if isinstance(b, Section):
                self._section(b, follow=s.blocks[i + 1] if i + 1 < len(s.blocks) else None)
            else:
                self._block(b)

    def _min_height(self, b: Any) -> float:
        """Room the start of a block needs, so that a heading is never left alone."""
        if isinstance(b, Chart):
            return min(b.height_mm, 150.0)
        if isinstance(b, Table):
            return 30.0
        return 20.0

    def _block(self, b: Any) -> None:
        if isinstance(b, Section):
            self._section(b)
        elif isinstance(b, Para):
            self._para(b)
        elif isinstance(b, Bullets):
            self._bullets(b)
        elif isinstance(b, Table):
            self._table(b)
        elif isinstance(b, Chart):
            self._chart(b)
        else:  # pragma: no cover
            raise ReportError(f"Unknown report block {type(b).__name__}.")

    def _para(self, p: Para) -> None:
        pdf = self.pdf
        size = {"small": 8.0, "note": 8.5, "limitation": 9.0}.get(p.style, 9.5)
        lh = size * 0.5
        if p.style in ("note", "limitation"):
            fill = (253, 235, 208) if p.style == "limitation" else (234, 243, 250)
            bar = (213, 94, 0) if p.style == "limitation" else _BLUE
            pdf.set_font("DejaVu", "B" if p.style == "limitation" else "", size)
            lines = pdf.multi_cell(self.ew - 6, lh, p.text, dry_run=True, output="LINES")
            h = len(lines) * lh + 4
            self._room(h + 2)
            y0 = pdf.get_y()
            pdf.set_fill_color(*fill)
            pdf.rect(_MARGIN, y0, self.ew, h, style="F")
            pdf.set_fill_color(*bar)
            pdf.rect(_MARGIN, y0, 1.2, h, style="F")
            pdf.set_xy(_MARGIN + 4, y0 + 2)
            pdf.multi_cell(self.ew - 6, lh, p.text, new_x="LMARGIN", new_y="NEXT", align="L")
            pdf.set_fill_color(255, 255, 255)
            pdf.set_y(y0 + h + 2.5)
            return
        pdf.set_font("DejaVu", "B" if p.style == "finding" else "", size)
        pdf.multi_cell(0, lh, p.text, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(2)

    def _bullets(self, b: Bullets) -> None:
        pdf = self.pdf
        size = 8.0 if b.style == "small" else 9.0
        lh = size * 0.5
        for item in b.items:
            pdf.set_font("DejaVu", "", size)
            lines = pdf.multi_cell(self.ew - 6, lh, item, dry_run=True, output="LINES")
            self._room(len(lines) * lh + 1)
            pdf.set_x(_MARGIN + 1.5)
            if b.style == "limitation":
                pdf.set_text_color(213, 94, 0)
            pdf.cell(4.5, lh, "•")
            pdf.set_text_color(0, 0, 0)
            pdf.multi_cell(self.ew - 6, lh, item, new_x="LMARGIN", new_y="NEXT", align="L")
            pdf.ln(0.8)
        pdf.ln(1.5)

    def _fit(self, t: Table) -> tuple[float, tuple[float, ...]]:
        """Font size and column widths (mm) so that numbers never wrap and the table fits.

        A column whose cells are mostly numbers ("0.733 (0.723–0.742)", "12,924") gets the
        width of its longest cell; the text columns share the rest in the given proportions
        and wrap. If that leaves a text column narrower than its longest word, the font
        shrinks by half a point (down to 5.5 pt) and the fit is tried again.
        """
        pdf = self.pdf
        n = len(t.header)
        pad = 2 * 1.2 + 0.6
        cols = [
            [
                c
                for c in (row[i] if i < len(row) else "" for row in t.rows)
                if not isinstance(c, Span)
            ]
            for i in range(n)
        ]
        numeric = []
        for cells in cols:
            filled = [str(c) for c in cells if str(c).strip()]
            nums = [c for c in filled if _NUMERIC.match(c)]
            numeric.append(bool(filled) and len(nums) >= 0.8 * len(filled))
        size = t.font_size
        while True:
            pdf.set_font("DejaVu", "", size)
            need = [0.0] * n
            minw = [0.0] * n
            for i in range(n):
                words = [w for c in cols[i] for w in str(c).split()] + t.header[i].split()
                pdf.set_font("DejaVu", "B", size)
                head_word = max((pdf.get_string_width(w) for w in t.header[i].split()), default=0)
                pdf.set_font("DejaVuMono" if i in t.mono else "DejaVu", "", size)
                minw[i] = max([head_word] + [pdf.get_string_width(w) for w in words]) + pad
                if numeric[i]:
                    need[i] = max([minw[i]] + [pdf.get_string_width(str(c)) + pad for c in cols[i]])
            nat = []
            nat_head = []
            for i in range(n):
                pdf.set_font("DejaVu", "B", size)
                hw = pdf.get_string_width(t.header[i]) + pad
                nat_head.append(hw)
                pdf.set_font("DejaVuMono" if i in t.mono else "DejaVu", "", size)
                cw = max([pdf.get_string_width(str(c)) + pad for c in cols[i]] or [0.0])
                nat.append(max(hw, cw, minw[i]))
            if sum(nat) <= self.ew:  # everything fits on one line: share out the slack
                total = sum(nat)
                return size, tuple(w * self.ew / total for w in nat)
            # numeric columns as wide as their heading when the text columns can spare it
            text_min = sum(minw[i] for i in range(n) if not numeric[i])
            wide = [max(need[i], nat_head[i]) if numeric[i] else 0.0 for i in range(n)]
            if self.ew - sum(wide) >= 1.5 * text_min:
                need = [wide[i] if numeric[i] else need[i] for i in range(n)]
            fixed = sum(need[i] for i in range(n) if numeric[i])
            text_cols = [i for i in range(n) if not numeric[i]]
            rest = self.ew - fixed
            share = sum(t.widths[i] for i in text_cols) or 1.0
            widths = list(need)
            ok = rest > 0
            for i in text_cols:
                widths[i] = rest * t.widths[i] / share
                ok = ok and widths[i] >= minw[i]
            if not text_cols and rest > 0:  # all numeric: spread the slack
                total = sum(widths)
                widths = [w * self.ew / total for w in widths]
            if ok or size <= 5.5:
                if not ok:  # last resort: the given proportions
                    total = sum(t.widths)
                    widths = [self.ew * w / total for w in t.widths]
                return size, tuple(widths)
            size -= 0.5

    def _table(self, t: Table) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        t = _short_cells(t)
        size, widths = self._fit(t)
        self._room(6 + 4 * (2 * size * 0.46 + 1.8))  # caption, header and the first rows
        if t.caption:
            pdf.set_font("DejaVu", "B", 8)
            pdf.multi_cell(0, 4.2, t.caption, new_x="LMARGIN", new_y="NEXT", align="L")
            pdf.ln(0.8)
        pdf.set_font("DejaVu", "", size)
        align = tuple(t.align or ["L"] * len(t.header))
        heading = FontFace(emphasis="BOLD", fill_color=(230, 236, 242), color=(0, 0, 0))
        pdf.set_draw_color(190, 190, 190)
        pdf.set_fill_color(255, 255, 255)
        pdf.set_line_width(0.15)
        try:
            self._draw_table(t, size, widths, heading, align)
        except ValueError as e:  # fpdf2: a row taller than a page
            name = t.caption or ", ".join(t.header)
            raise ReportError(
                f"The PDF report could not lay out the table '{name}': {e}. No output was "
                "written; the other formats (--format json,html,csv) do not have this limit."
            ) from None
        pdf.set_line_width(0.2)
        pdf.ln(3)

    def _draw_table(self, t: Table, size: float, widths, heading, align) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        with pdf.table(
            cell_fill_color=(247, 247, 247),
            cell_fill_mode="ROWS",
            col_widths=widths,
            text_align=align,
            headings_style=heading,
            line_height=size * 0.46,
            padding=(0.9, 1.2),
            borders_layout="HORIZONTAL_LINES",
            width=min(sum(widths), pdf.epw - 1e-6),
            align="LEFT",
            repeat_headings=1,
            v_align="TOP",
        ) as table:
            row = table.row()
            for h in t.header:
                row.cell(h)
            for cells in t.rows:
                row = table.row()
                for i, c in enumerate(cells):
                    if isinstance(c, Span):
                        row.cell(
                            c.text,
                            colspan=c.cols,
                            align="L",
                            style=FontFace(emphasis="ITALICS", color=_GREY),
                        )
                    elif i in t.mono:
                        row.cell(str(c), style=FontFace(family="DejaVuMono"))
                    else:
                        row.cell(str(c))

    def _chart(self, c: Chart) -> None:
        pdf = self.pdf
        # the charts' text is DejaVu Sans: point it at the family already embedded
        svg = chart_svg(self.result, c.kind, **c.params).replace(b"'DejaVu Sans'", b"DejaVu")
        w_pt, h_pt = _svg_size(svg)
        w = self.ew
        h = w * h_pt / w_pt if w_pt else c.height_mm
        max_h = pdf.page_break_trigger - pdf.t_margin - 14
        if h > max_h:
            w, h = w * max_h / h, max_h
        pdf.set_font("DejaVu", "I", 7.5)
        cap_lines = pdf.multi_cell(self.ew, 3.8, c.caption, dry_run=True, output="LINES")
        self._room(h + len(cap_lines) * 3.8 + 3)
        y = pdf.get_y()
        # SVG text without an explicit fill takes the current fill colour: make it black
        pdf.set_fill_color(0, 0, 0)
        pdf.set_text_color(0, 0, 0)
        pdf.image(io.BytesIO(svg), x=_MARGIN + (self.ew - w) / 2, y=y, w=w, h=h)
        pdf.set_fill_color(255, 255, 255)
        pdf.set_y(y + h + 1.5)
        pdf.set_font("DejaVu", "I", 7.5)
        pdf.set_text_color(*_GREY)
        pdf.multi_cell(self.ew, 3.8, c.caption, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(3)


#: A table cell longer than this is cut (group names come from the cohort; a 3,000-character
#: one would make a row taller than a page). audit.json keeps every name in full.
TABLE_CELL_CHARS = 200


def _short_cells(t: Table) -> Table:
    """``t`` with every text cell cut to :data:`TABLE_CELL_CHARS`, and a caption that says so
    when anything was cut (a reader must not mistake a shortened name for the real one)."""
    cut = False

    def short(c: Any) -> Any:
        nonlocal cut
        if isinstance(c, Span):
            return c
        text = str(c)
        if len(text) <= TABLE_CELL_CHARS:
            return c
        cut = True
        return shorten(text, TABLE_CELL_CHARS)

    rows = [[short(c) for c in row] for row in t.rows]
    if not cut:
        return t
    note = (
        f"Entries longer than {TABLE_CELL_CHARS} characters are shortened (…); "
        "audit.json holds them in full."
    )
    caption = f"{t.caption} {note}" if t.caption else note
    return dataclasses.replace(t, rows=rows, caption=caption)


def _svg_size(svg: bytes) -> tuple[float, float]:
    head = svg[:600].decode("utf-8", "replace")
    w = re.search(r'width="([0-9.]+)pt"', head)
    h = re.search(r'height="([0-9.]+)pt"', head)
    return (float(w.group(1)) if w else 0.0, float(h.group(1)) if h else 0.0)

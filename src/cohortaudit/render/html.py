"""The HTML audit report: one self-contained file that works offline.

Same content and order as the PDF (both lay out :func:`cohortaudit.render.report.build_report`),
with an interactive plotly chart for every chart kind, drawn through
:mod:`cohortaudit.render.chart_registry` (the PDF draws the same kinds as static SVG). plotly.js
is inlined once; nothing is fetched from a network (no CDN, no MathJax, no web fonts). A chart
that cannot be drawn is an error, not a silent fallback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cohortaudit.errors import ReportError
from cohortaudit.outputs import write_output
from cohortaudit.render.chart_registry import chart_figures
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
)
from cohortaudit.render.report import build_report
from cohortaudit.results import AuditResult
from cohortaudit.textsafe import for_markup

__all__ = ["render_html", "html_text"]

_CSS = """
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;color:#111;max-width:1050px;
margin:0 auto;padding:0 24px 60px;line-height:1.45;font-size:15px}
header.cover{border-top:8px solid #0072B2;padding-top:18px}
h1{font-size:34px;margin:8px 0 0}h2{color:#0072B2;margin-top:42px;border-bottom:1px solid #ddd}
h3{color:#0072B2;margin-top:26px}.sub{color:#555}.mono{font-family:"DejaVu Sans Mono",monospace;
font-size:13px;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:6px 0 18px;font-size:13px}
caption{text-align:left;font-weight:bold;padding:4px 0;font-size:13px}
th{background:#e6ecf2;text-align:left;padding:4px 6px}td{padding:3px 6px;border-bottom:1px solid
#ddd;vertical-align:top}tbody tr:nth-child(even){background:#f7f7f7}td.r,th.r{text-align:right}
td.span{font-style:italic;color:#666}.note{background:#eaf3fa;border-left:4px solid #0072B2;
padding:8px 12px}.limitation{background:#fdebd0;border-left:4px solid #D55E00;padding:8px 12px;
font-weight:bold}.finding{font-weight:bold}.small{font-size:13px}
.run{background:#f2f2f2;border:1px solid #888;padding:8px 14px;margin-top:18px}
.sign{display:grid;grid-template-columns:1fr 1fr;gap:22px 40px;margin:12px 0}
.sign div{border-bottom:1px solid #777;height:34px;position:relative}
.sign span{position:absolute;bottom:-18px;font-size:12px;color:#666}
figure{margin:10px 0 22px}figcaption{font-style:italic;color:#555;font-size:13px}
nav ol{columns:2}nav li{margin:2px 0}
@media print{h2{page-break-before:always}.plotly-graph-div{page-break-inside:avoid}}
"""


def html_text(
    result: AuditResult, *, auditor: str | None = None, audit_json: bytes | None = None
) -> str:
    """The HTML report as a string (see :func:`render_html`)."""
    report = build_report(result, auditor=auditor, audit_json=audit_json)
    return _Html(result, report).build()


def render_html(
    result: AuditResult,
    path: str | Path,
    *,
    auditor: str | None = None,
    audit_json: bytes | None = None,
) -> Path:
    """Write the self-contained HTML report to ``path`` and return it."""
    text = html_text(result, auditor=auditor, audit_json=audit_json)
    path = Path(path)
    write_output(path.parent, path.name, text)
    return path


def _e(x: Any) -> str:
    return for_markup(x)


def _anchor(s: Section) -> str:
    return "sec-" + s.number.replace(".", "-") if s.number else "sec-x"


class _Html:
    def __init__(self, result: AuditResult, report: Report) -> None:
        self.result = result
        self.report = report
        self.n_fig = 0

    def build(self) -> str:
        from plotly.offline import get_plotlyjs

        r = self.report
        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(r.title)}: {_e(r.model_line)}</title>",
            f"<style>{_CSS}</style>",
            # plotly.js inlined once: the file works offline and fetches nothing
            f"<script>{get_plotlyjs()}</script>",
            "</head><body>",
            self._cover(),
        ]
        sections = list(r.sections)
        # as in the PDF: the one-page summary that judges comes before the contents
        if sections and sections[0].anchor == SUMMARY_ANCHOR:
            out.append(self._section(sections.pop(0)))
        out.append(self._contents())
        for s in sections:
            out.append(self._section(s))
        out.append(f'<footer class="small sub"><p>{_e(r.footer)}</p></footer>')
        out.append("</body></html>")
        return "\n".join(out) + "\n"

    def _cover(self) -> str:
        r = self.report
        mono_cls = ' class="mono"'
        rows = "".join(
            f"<tr><th>{_e(label)}</th><td{mono_cls if mono else ''}>{_e(value)}</td></tr>"
            for label, value, mono in r.cover_rows
        )
        run = "".join(
            f'<tr><th>{_e(k)}</th><td class="mono">{_e(v)}</td></tr>' for k, v in r.run_record
        )
        name = r.auditor if r.auditor != "not stated" else ""
        dev = (self.result.model.card or {}).get("developer")
        return (
            '<header class="cover">'
            '<div class="sub">cohortaudit · bias and safety audit of a shared medical AI model'
            f'</div><h1>{_e(r.title)}</h1><div style="font-size:22px">{_e(r.model_line)}</div>'
            + (
                f'<p class="limitation banner" role="alert">{_e(r.banner.upper())}</p>'
                if r.banner
                else ""
            )
            + (f'<div class="sub">Model developer: {_e(dev)}</div>' if dev else "")
            + f"<h3>What was audited</h3><table>{rows}</table>"
            '<h3>Sign-off</h3><p class="small sub">The responsible person signs and dates this '
            "report to confirm that it is the report of the audit identified in the run record "
            "below.</p>"
            f'<div class="sign"><div>{_e(name)}<span>Name</span></div><div><span>Role</span>'
            "</div><div><span>Date</span></div><div><span>Signature</span></div></div>"
            f'<div class="run"><p><b>{_e(RUN_RECORD_START)}</b></p><table>{run}</table>'
            f'<p class="small sub"><i>{_e(RUN_RECORD_END)}: everything else in this report is '
            "identical for the same inputs, settings and seed.</i></p></div></header>"
        )

    def _contents(self) -> str:
        items = []
        for s in self.report.sections:
            subs = [b for b in s.blocks if isinstance(b, Section)]
            sub = "".join(f'<li><a href="#{_anchor(b)}">{_e(b.heading)}</a></li>' for b in subs)
            items.append(
                f'<li><a href="#{_anchor(s)}">{_e(s.heading)}</a>'
                + (f"<ul>{sub}</ul>" if sub else "")
                + "</li>"
            )
        return f'<nav><h2>Contents</h2><ol style="list-style:none">{"".join(items)}</ol></nav>'

    def _section(self, s: Section) -> str:
        tag = "h2" if s.level == 0 else "h3"
        parts = [f'<{tag} id="{_anchor(s)}">{_e(s.heading)}</{tag}>']
        for b in s.blocks:
            parts.append(self._block(b))
        if s.level == 0:
            return "<section>" + "\n".join(parts) + "</section>"
        return "\n".join(parts)

    def _block(self, b: Any) -> str:
        if isinstance(b, Section):
            return self._section(b)
        if isinstance(b, Para):
            return f'<p class="{_e(b.style)}">{_e(b.text)}</p>'
        if isinstance(b, Bullets):
            cls = f' class="{_e(b.style)}"' if b.style != "body" else ""
            return f"<ul{cls}>" + "".join(f"<li>{_e(i)}</li>" for i in b.items) + "</ul>"
        if isinstance(b, Table):
            return self._table(b)
        if isinstance(b, Chart):
            return self._chart(b)
        raise ReportError(f"Unknown report block {type(b).__name__}.")  # pragma: no cover

    def _table(self, t: Table) -> str:
        align = t.align or ["L"] * len(t.header)
        head = "".join(
            f"<th{' class=r' if a == 'R' else ''}>{_e(h)}</th>"
            for h, a in zip(t.header, align, strict=False)
        )
        body = []
        for row in t.rows:
            cells = []
            for i, c in enumerate(row):
                if isinstance(c, Span):
                    cells.append(f'<td class="span" colspan="{c.cols}">{_e(c.text)}</td>')
                else:
                    cls = ' class="r"' if i < len(align) and align[i] == "R" else ""
                    if i in t.mono:
                        cls = ' class="mono"'
                    cells.append(f"<td{cls}>{_e(c)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{_e(t.caption)}</caption>" if t.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"

    # ------------------------------------------------------------------ charts

    def _chart(self, c: Chart) -> str:
        figs = chart_figures(self.result, c.kind, **c.params)
        inner = "".join(self._fig_html(f) for f in figs)
        return f"<figure>{inner}<figcaption>{_e(c.caption)}</figcaption></figure>"

    def _fig_html(self, fig) -> str:
        self.n_fig += 1
        return fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=f"figure-{self.n_fig}",
            config={"displaylogo": False, "responsive": True},
        )

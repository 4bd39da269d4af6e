"""The report numbers itself, and every chart kind is drawn by both families (issue 15, point 4).

Specifications:

- the numbering pass numbers chapters, sections, tables and figures in order and resolves
  cross references; a reference to nothing, or two parts with one anchor, is a ReportError;
- no text under ``render/`` hand-types a table, figure or section number;
- a pooled audit's sites chapter is an ordinary numbered chapter, and the chapters after it
  (and every sentence that points at them) follow;
- every chart kind has a plotly and an SVG builder, and both draw for the sample results;
- the HTML report has an interactive (plotly) chart, and no static fallback, for every chart
  of the report.

The sample results are the recorded goldens' audit.json (no audit is run here).
"""

from __future__ import annotations

import ast
import gzip
import json
import re
from pathlib import Path

import pytest
from survival_result import make_tte_result

from cohortaudit.errors import ReportError
from cohortaudit.render.chart_registry import CHARTS, chart_figures, chart_svg
from cohortaudit.render.document import Chart, Para, Section, Table, ref, ref_number
from cohortaudit.render.html import html_text
from cohortaudit.render.numbering import number_sections
from cohortaudit.render.report import CHAPTERS, build_report
from cohortaudit.results import AuditResult

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "src" / "cohortaudit" / "render"
GOLDEN = ROOT / "tests" / "golden"


def _golden_result(case: str) -> AuditResult:
    data = json.loads(gzip.decompress((GOLDEN / f"{case}.audit.json.gz").read_bytes()))
    return AuditResult.from_dict(data)


@pytest.fixture(scope="module")
def sample() -> AuditResult:
    """The in-memory sample audit: explanations and safety on, one site."""
    return _golden_result("memory")


@pytest.fixture(scope="module")
def pooled() -> AuditResult:
    """The pooled audit of the four bundled sites."""
    return _golden_result("pool")


@pytest.fixture(scope="module")
def tte() -> AuditResult:
    """A small time-to-event audit (synthetic censored cohort, no bootstrap)."""
    return make_tte_result(n=3000)


#: Chart kinds only a time-to-event report uses.
_SURVIVAL_KINDS = {"km_risk", "survival_calibration", "survival_decision_curve"}


def _table(caption: str, anchor: str | None = None) -> Table:
    return Table(["a"], [["1"]], [1.0], caption=caption, anchor=anchor)


def _walk(sections):
    for s in sections:
        yield s
        for b in s.blocks:
            if isinstance(b, Section):
                yield from _walk([b])
            else:
                yield b


# ------------------------------------------------------------------------ the numbering pass


def test_the_numbering_pass_numbers_tables_and_figures_in_order_and_resolves_references():
    chapters = [
        Section(
            "First",
            anchor="first",
            blocks=[
                Para(f"{ref('second.groups')} lists the groups; see section {ref('second.sub')}."),
                _table("Counts."),
                Chart("roc", "ROC curves."),
            ],
        ),
        Section(
            "Second",
            anchor="second",
            blocks=[
                _table("Unnumbered no more.", anchor="second.table"),
                Section("A section", 1, anchor="second.sub"),
                _table("Groups.", anchor="second.groups"),
                Table(["a"], [["1"]], [1.0]),  # no caption: not numbered
                Chart("calibration", f"As {ref('second.table')}, drawn.", anchor="second.fig"),
            ],
        ),
        Section("A later section of the second chapter", 1),
        Section(f"Annex {ref('annex')}: data", anchor="annex", appendix=True, blocks=[Para("x")]),
    ]
    numbered = number_sections(chapters)

    assert [s.number for s in numbered] == ["1", "2", "2.2", "A"]
    assert numbered[1].blocks[1].number == "2.1"
    assert numbered[3].heading == "A Annex A: data"
    first, second = numbered[0].blocks, numbered[1].blocks
    assert first[0].text == "Table 2.2 lists the groups; see section 2.1."
    assert first[1].caption == "Table 1.1 Counts."
    assert first[2].caption == "Figure 1.1 ROC curves."
    assert second[0].caption == "Table 2.1 Unnumbered no more."
    assert second[2].caption == "Table 2.2 Groups."
    assert second[3].caption is None
    assert second[4].caption == "Figure 2.1 As Table 2.1, drawn."
    # the builders' sections are left as they were
    assert chapters[0].number == "" and chapters[0].blocks[1].caption == "Counts."


def test_a_bare_number_reference_drops_the_word_table():
    numbered = number_sections(
        [Section("C", blocks=[_table("T.", anchor="t"), Para(f"items {ref_number('t')}")])]
    )
    assert numbered[0].blocks[1].text == "items 1.1"


def test_a_reference_to_no_anchor_and_a_repeated_anchor_are_report_errors():
    with pytest.raises(ReportError, match="refers to 'nowhere', which no section, table or"):
        number_sections([Section("C", blocks=[Para(f"see {ref('nowhere')}")])])
    with pytest.raises(ReportError, match="Two parts of the report have the anchor 'x'"):
        number_sections([Section("C", anchor="x"), Section("D", anchor="x")])


def test_text_from_the_cohort_cannot_spell_a_reference():
    """A group named like a reference token stays text: the mark holds a per-process secret."""
    fake = "\ue000deadbeef{summary}"
    numbered = number_sections([Section("C", anchor="summary", blocks=[Para(fake)])])
    assert numbered[0].blocks[0].text == fake


def test_no_text_under_render_hand_types_a_table_figure_or_section_number():
    typed = re.compile(r"\b(Table|Figure|[Ss]ections?) \d|\b10A\b")
    found = []
    for path in sorted(RENDER.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and typed.search(node.value)
            ):
                found.append(f"{path.relative_to(RENDER)}:{node.lineno}: {node.value[:60]!r}")
    assert found == []


# ------------------------------------------------------------------------ the report's chapters


def test_the_sample_report_numbers_its_chapters_as_the_chapter_list_orders_them(sample):
    report = build_report(sample)
    top = [(s.number, s.title) for s in report.sections if s.level == 0]
    assert [n for n, _ in top] == [str(i) for i in range(1, 17)] + ["A", "B", "C"]
    assert top[:2] == [("1", "Executive summary"), ("2", "Key numbers")]
    assert top[9:11] == [("10", "Explanations"), ("11", "Safety")]
    assert top[-3:] == [
        ("A", "Annex A: all findings"),
        ("B", "Annex B: all weak-slice groups"),
        ("C", "Annex C: the audit result (audit.json)"),
    ]
    # the sites chapter is there only for pooled audits, "Your metrics" only with --metric,
    # the four time-to-event chapters only for time-to-event audits, the weak-slice annex only
    # when there are more slice groups than the safety chapter lists
    assert len(CHAPTERS) == 24
    captions = [b.caption for b in _walk(report.sections) if isinstance(b, Table) and b.caption]
    assert captions[0].startswith("Table 2.1 Key numbers")
    assert any(c.startswith("Table 4.2 Characteristics of the evaluation cohort") for c in captions)


def test_a_pooled_audit_numbers_its_sites_chapter_like_any_other(pooled):
    report = build_report(pooled)
    top = {s.title: s.number for s in report.sections if s.level == 0}
    assert top["Safety"] == "11"
    assert top["Sites and heterogeneity"] == "12"
    assert top["Claimed vs measured"] == "13"
    assert top["Disclosure log"] == "16"
    assert top["Checklist: TRIPOD+AI and EU AI Act Annex IV"] == "17"
    texts = [getattr(b, "text", "") for b in _walk(report.sections)]
    sites = next(s for s in report.sections if s.title == "Sites and heterogeneity")
    assert [b.caption.split(" ", 2)[1] for b in sites.blocks if isinstance(b, Table)] == [
        "12.1",
        "12.2",
    ]
    assert any("(disclosure control, section 16)" in t for t in texts)
    assert not any("11A" in t for t in texts)


# ------------------------------------------------------------------------ the chart registry


def test_every_chart_kind_has_a_plotly_and_an_svg_builder_and_both_draw_the_sample(
    sample, pooled, tte
):
    for kind, builders in CHARTS.items():
        assert callable(builders.plotly) and callable(builders.svg), kind
        result = (
            pooled if kind == "site_forest" else tte if kind in _SURVIVAL_KINDS else sample
        )
        svg = chart_svg(result, kind)
        assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg, kind
        figures = chart_figures(result, kind)
        assert figures, kind
        for fig in figures:
            assert fig.data, f"{kind}: a plotly figure without traces"


def test_every_chart_the_report_uses_is_in_the_registry(sample, pooled, tte):
    used = {
        b.kind
        for r in (sample, pooled, tte)
        for b in _walk(build_report(r).sections)
        if isinstance(b, Chart)
    }
    assert used == set(CHARTS)


def test_survival_charts_of_a_binary_result_say_they_have_nothing_to_draw(sample):
    for kind in _SURVIVAL_KINDS:
        assert b"<svg" in chart_svg(sample, kind), kind
        figures = chart_figures(sample, kind)
        assert figures and all(f.data for f in figures), kind


def test_an_unknown_chart_kind_is_a_report_error(sample):
    with pytest.raises(ReportError, match="chart of kind 'pie', which the chart registry"):
        chart_svg(sample, "pie")
    with pytest.raises(ReportError, match="chart of kind 'pie'"):
        chart_figures(sample, "pie")


@pytest.mark.parametrize("case", ["memory", "pool"])
def test_the_html_report_has_an_interactive_chart_for_every_chart_of_the_report(case):
    result = _golden_result(case)
    report = build_report(result)
    html = html_text(result)
    figures = re.findall(r"<figure>(.*?)</figure>", html, flags=re.S)
    charts = [b for b in _walk(report.sections) if isinstance(b, Chart)]
    assert len(figures) == len(charts)
    for chart, figure in zip(charts, figures, strict=True):
        n = len(chart_figures(result, chart.kind, **chart.params))
        assert figure.count('class="plotly-graph-div"') == n, chart.kind
        assert "<svg" not in figure, f"{chart.kind}: a static chart in the HTML"
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()[:300]) == 1  # plotly.js is inlined once, not per chart


# ------------------------------------------------------------------------ layers inside render

#: render/ in layers, lowest first: a module may import only modules of a lower layer, so no
#: import inside render points up or sideways (and no circle can form).
_LAYERS = (
    ("document", "theme", "outcome", "case_mix"),
    ("mpl", "text"),
    ("findings", "json", "numbering"),
    ("plotly_charts.base", "svg_charts.", "chapters.common"),
    ("plotly_charts.checks_base",),
    ("plotly_charts.groups", "plotly_charts.curves", "plotly_charts.explanations",
     "plotly_charts.safety", "plotly_charts.sites", "plotly_charts.survival",
     "plotly_charts.survival_report", "plotly_charts.trend", "chapters."),
    ("plotly_charts.report",),
    ("chart_registry", "report"),
    ("pdf", "html", "csv"),
    ("bundle", "figures", "check_figures", "site_figures"),
)  # fmt: skip


def _layer(module: str) -> int:
    name = module.removeprefix("cohortaudit.render.")
    exact = [i for i, layer in enumerate(_LAYERS) if name in layer]
    prefix = [
        i
        for i, layer in enumerate(_LAYERS)
        for entry in layer
        if entry.endswith(".") and name.startswith(entry)
    ]
    assert exact or prefix, f"{module} is in no layer of render/"
    return (exact or prefix)[0]


def test_imports_inside_render_point_down():
    import architecture as arch

    tree = arch.analyse()
    up = []
    for imp in tree.imports:
        src, dst = imp.importer, imp.target
        if not (src.startswith("cohortaudit.render.") and dst.startswith("cohortaudit.render.")):
            continue
        if tree.modules[dst].is_package or tree.modules[src].is_package:
            continue
        if _layer(dst) >= _layer(src):
            up.append(f"{src} imports {dst} (line {imp.line})")
    assert up == []
    assert not [
        i.target for i in tree.imports if i.importer == "cohortaudit.render.document" and i.internal
    ], "the document model is a leaf"

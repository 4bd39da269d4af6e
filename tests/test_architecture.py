"""The import contracts of issue 15, point 9, and the ratchet the re-layering pays them off by.

The first half checks the instrument (``tests/architecture.py``) on tiny synthetic packages, so
that a green run on the real tree means something. The second half holds the real tree to the
contracts: the ones that hold today hold absolutely; the rest may only shrink, as recorded in
``tests/architecture_baseline.txt``.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

import architecture as arch

BASELINE_NAME = arch.BASELINE.relative_to(arch.ROOT)


def _analyse(tmp_path: Path, files: dict[str, str]) -> arch.Analysis:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
    return arch.analyse(tmp_path)


def _targets(analysis: arch.Analysis, importer: str) -> set[tuple[str, str | None, str]]:
    return {(i.target, i.name, i.scope) for i in analysis.imports if i.importer == importer}


# -- the instrument ------------------------------------------------------------------------


def test_a_cycle_closed_by_an_import_inside_a_function_is_found(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "src/cohortaudit/__init__.py": "",
            "src/cohortaudit/a.py": "from cohortaudit.b import helper\n",
            "src/cohortaudit/b.py": """
                def helper():
                    from cohortaudit import a
                    return a
            """,
            "src/cohortaudit/c.py": "import cohortaudit.a\n",
        },
    )
    assert analysis.cycles() == [["cohortaudit.a", "cohortaudit.b"]]
    assert "cycle: cohortaudit.a cohortaudit.b" in arch.violations(analysis)


def test_an_import_under_type_checking_closes_no_cycle(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "src/cohortaudit/__init__.py": "",
            "src/cohortaudit/a.py": "import cohortaudit.b\n",
            "src/cohortaudit/b.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from cohortaudit.a import Thing
            """,
        },
    )
    assert ("cohortaudit.a", "Thing", "type-checking") in _targets(analysis, "cohortaudit.b")
    assert analysis.cycles() == []


def test_a_private_name_imported_from_another_module_is_found(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "src/cohortaudit/__init__.py": "",
            "src/cohortaudit/cohort.py": "def _parse_label(): ...\n_own = _parse_label\n",
            "src/cohortaudit/streaming.py": """
                def f():
                    from cohortaudit.cohort import _parse_label, validate
            """,
        },
    )
    assert [(p[0], p[1], p[2]) for p in analysis.private_imports()] == [
        ("cohortaudit.streaming", "cohortaudit.cohort", "_parse_label")
    ]
    assert "private: cohortaudit.streaming uses cohortaudit.cohort._parse_label" in (
        arch.violations(analysis)
    )


def test_a_private_name_read_through_a_module_alias_is_found(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "src/cohortaudit/__init__.py": "",
            "src/cohortaudit/cohort.py": "",
            "src/cohortaudit/render/__init__.py": "",
            "src/cohortaudit/render/charts.py": "",
            "src/cohortaudit/streaming.py": """
                from cohortaudit import cohort as _cv
                import cohortaudit.render.charts as ch
                import cohortaudit.cohort

                def f(frame):
                    _cv._parse_label(frame)
                    ch._svg()
                    return cohortaudit.cohort._pct
            """,
        },
    )
    found = {(p[1], p[2]) for p in analysis.private_imports()}
    assert found == {
        ("cohortaudit.cohort", "_parse_label"),
        ("cohortaudit.render.charts", "_svg"),
        ("cohortaudit.cohort", "_pct"),
    }


def test_private_attributes_of_objects_dunders_and_own_names_are_not_counted(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "src/cohortaudit/__init__.py": "__version__ = '1'\n",
            "src/cohortaudit/a.py": """
                from cohortaudit import __version__
                import cohortaudit.a as me

                class Thing:
                    def f(self, other):
                        return self._x, other._grid, me._local, __version__.__class__
            """,
        },
    )
    assert analysis.private_imports() == []


def test_relative_imports_resolve_against_the_importer(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "src/cohortaudit/__init__.py": "",
            "src/cohortaudit/results.py": "",
            "src/cohortaudit/render/__init__.py": "from .pdf import render_pdf\n",
            "src/cohortaudit/render/pdf.py": """
                from . import charts
                from .charts import draw
                from ..results import AuditResult
                from .. import results
            """,
            "src/cohortaudit/render/charts.py": "",
        },
    )
    assert _targets(analysis, "cohortaudit.render") == {
        ("cohortaudit.render.pdf", "render_pdf", "module")
    }
    assert _targets(analysis, "cohortaudit.render.pdf") == {
        ("cohortaudit.render.charts", None, "module"),
        ("cohortaudit.render.charts", "draw", "module"),
        ("cohortaudit.results", "AuditResult", "module"),
        ("cohortaudit.results", None, "module"),
    }


def test_from_a_package_import_tells_a_submodule_from_a_name(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "src/cohortaudit/__init__.py": "",
            "src/cohortaudit/render/__init__.py": "def render_all(): ...\n",
            "src/cohortaudit/render/pdf.py": "",
            "src/cohortaudit/cli.py": "from cohortaudit.render import pdf, render_all\n",
        },
    )
    assert _targets(analysis, "cohortaudit.cli") == {
        ("cohortaudit.render.pdf", None, "module"),
        ("cohortaudit.render", "render_all", "module"),
    }


def test_under_app_the_app_directory_is_on_the_path(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "app/state.py": "",
            "app/views/overview.py": "import state\nimport streamlit as st\n",
        },
    )
    targets = {
        (i.target, i.internal) for i in analysis.imports if i.importer == "app.views.overview"
    }
    assert targets == {("app.state", True), ("streamlit", False)}


def test_each_contract_becomes_one_line_per_violation(tmp_path):
    analysis = _analyse(
        tmp_path,
        {
            "src/cohortaudit/__init__.py": "",
            "src/cohortaudit/safety.py": "import streamlit\n",
            "src/cohortaudit/results.py": "",
            "src/cohortaudit/render/__init__.py": "",
            "src/cohortaudit/render/pdf.py": """
                from cohortaudit.results import AuditResult
                from cohortaudit import render
                import matplotlib

                def f():
                    from cohortaudit.safety import shift
            """,
            "app/views/overview.py": """
                def show():
                    from sklearn.metrics import roc_auc_score
                    import cohortaudit.metrics.calibration
                    from cohortaudit.render import pdf
            """,
        },
    )
    assert arch.violations(analysis) == [
        "streamlit: cohortaudit.safety imports streamlit",
        "views: app.views.overview imports cohortaudit.metrics.calibration",
        "views: app.views.overview imports sklearn.metrics",
        "render: cohortaudit.render.pdf imports cohortaudit.safety",
    ]


def test_the_ratchet_names_new_debt_and_paid_off_lines_separately():
    new, paid = arch.ratchet(
        current=["cycle: a b", "private: c uses d._e"], baseline=["cycle: a b", "cycle: x y"]
    )
    assert new == ["private: c uses d._e"]
    assert paid == ["cycle: x y"]


def test_the_report_prints_the_figures_issue_15_closes_on(capsys):
    assert arch.main(["--report"]) == 0
    out = capsys.readouterr().out
    for heading in (
        "Import cycles (function-level imports included):",
        "Cross-module private names:",
        "Import statements inside functions:",
        "What cohortaudit.render imports from the rest of the package",
        "Lines per package",
        f"Modules over {arch.LONG_MODULE_LINES} lines:",
    ):
        assert heading in out


# -- the real tree -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree() -> arch.Analysis:
    return arch.analyse()


@pytest.fixture(scope="module")
def current(tree) -> list[str]:
    return arch.violations(tree)


def test_every_module_of_the_library_and_the_app_is_read(tree):
    files = list((arch.ROOT / "src" / "cohortaudit").rglob("*.py"))
    files += list((arch.ROOT / "app").rglob("*.py"))
    assert len(tree.modules) == len(files)
    assert {
        "cohortaudit.audit",
        "cohortaudit.render.pdf",
        "app.state",
        "app.views.overview",
    } <= set(tree.modules)


def test_the_library_never_imports_streamlit(current):
    assert [v for v in current if v.startswith("streamlit:")] == []


def test_views_never_import_statistics_libraries_or_the_metrics(current):
    assert [v for v in current if v.startswith("views:")] == []


def test_the_contracts_that_hold_take_no_debt_in_the_baseline():
    held = [v for v in arch.read_baseline() if v.startswith(("streamlit:", "views:"))]
    assert held == [], f"{BASELINE_NAME} must not excuse these contracts: {held}"


def test_no_new_import_contract_violations(current):
    new, _ = arch.ratchet(current, arch.read_baseline())
    assert not new, (
        "New import-contract violations (point imports down, make shared helpers public; "
        "see the contracts in tests/architecture.py):\n  " + "\n  ".join(new)
    )


def test_the_baseline_lists_only_debt_that_still_exists(current):
    _, paid = arch.ratchet(current, arch.read_baseline())
    assert not paid, (
        f"These lines of {BASELINE_NAME} match no violation any more (the debt is paid "
        "off, or the line is misspelt). Delete them in this same commit:\n  " + "\n  ".join(paid)
    )


def test_the_baseline_lists_each_violation_once():
    lines = arch.read_baseline()
    assert len(lines) == len(set(lines))

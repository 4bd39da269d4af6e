"""Names from the cohort are text, never markup or terminal commands (issue 14, point 5).

A real audit of a sample cohort whose group values and one column name are hostile: HTML and
plotly markup, mathtext, terminal escape sequences, a bidi override, line breaks. The real CLI
writes JSON, HTML and PDF and prints its summary and policy failures; the test reads what a
person (or a browser, a PDF reader, a CI log) would see.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from cohortaudit.textsafe import (
    for_markdown,
    for_markup,
    for_matplotlib,
    for_plotly,
    for_terminal,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

LINK = '<a href="https://evil">x</a>'
BOLD = "<b>bold</b>"
SCRIPT = "<script>alert(1)</script>"
MATH = "$\\alpha$ 50%{x}"  # mathtext, and a plotly hover-template placeholder
CLEAR = "\x1b[2J\x1b[HPolicy: all 0 fail"  # clears the screen, forges a policy line
BIDI = "\u202eevil"  # right-to-left override
BREAKS = "line\nbreak\rcr"
COLUMN = "<b>eth</b>\x1b[31m\u202e"  # a hostile column name (the sensitive attribute)
SITES = {"DE-Berlin": LINK, "FR-Lyon": BOLD, "ES-Valencia": SCRIPT, "FI-Tampere": MATH}
ETHNICITY = {
    "White European": CLEAR,
    "Other": BIDI,
    "Black African/Caribbean": BREAKS,
    "South Asian": "South Asian",
}
# what must never reach a terminal: ESC / CSI, CR, C1 controls, bidi controls, zero-width
TERMINAL_BAD = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

POLICY = """\
name: hostile names
version: "1"
rules:
  - id: auroc-site
    description: every site needs a near-perfect AUROC (fails, so group names reach stderr)
    metric: auroc
    scope: attribute:site
    bound: ci_low
    op: ">="
    threshold: 0.99
"""


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    """Run the real CLI once (a subprocess, as in a CI job) on the hostile cohort."""
    tmp = tmp_path_factory.mktemp("names")
    cohort = pd.read_csv(SAMPLE / "cohort.csv").sample(4000, random_state=1)
    cohort["site"] = cohort["site"].map(SITES)
    cohort["ethnicity"] = cohort["ethnicity"].map(ETHNICITY)
    cohort = cohort.rename(columns={"ethnicity": COLUMN})
    cohort.to_csv(tmp / "hostile.csv", index=False)
    (tmp / "policy.yaml").write_text(POLICY)
    argv = [
        sys.executable,
        "-c",
        "import sys; from cohortaudit.cli import main; sys.exit(main(sys.argv[1:]))",
        "audit",
        "--model",
        str(SAMPLE / "model.onnx"),
        "--card",
        str(SAMPLE / "model.card.yaml"),
        "--cohort",
        str(tmp / "hostile.csv"),
        "--label",
        "cvd_10y",
        "--sensitive",
        "site",
        COLUMN,
        "sex",
        "--n-boot",
        "10",
        "--explain-rows",
        "30",
        "--format",
        "json,pdf,html",
        "--policy",
        str(tmp / "policy.yaml"),
        "--out",
        str(tmp / "out"),
    ]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=300, check=False)
    return proc, tmp / "out"


def test_the_audit_runs_and_fails_its_policy_as_planned(audit):
    proc, out = audit
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 1, stderr  # the policy fails on every site: exit 1, outputs written
    assert "PolicyFailed: rule 'auroc-site' for site=<b>bold</b>" in stderr
    assert (out / "audit.json").exists() and (out / "audit.html").exists()


def test_the_terminal_gets_no_control_sequences_and_no_forged_lines(audit):
    proc, _ = audit
    for stream in (proc.stdout, proc.stderr):
        text = stream.decode("utf-8")
        assert not TERMINAL_BAD.search(text), repr(TERMINAL_BAD.search(text))
        # the forged line never starts a line of its own: it stays inside the group name
        assert not any(line.startswith("Policy: all 0 fail") for line in text.splitlines())
    stdout = proc.stdout.decode("utf-8")
    assert "<b>eth</b>=Policy: all 0 fail" in stdout  # the name, shown as text, control-free
    assert "site=$\\alpha$ 50%{x}" in stdout


def test_json_keeps_names_exactly(audit):
    _, out = audit
    data = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    values = {g["attributes"].get(COLUMN) for g in data["subgroups"]}
    assert {CLEAR, BIDI, BREAKS} <= values
    assert {SCRIPT, LINK, BOLD, MATH} <= {g["attributes"].get("site") for g in data["subgroups"]}


class _Tags(HTMLParser):
    """Every start tag with its attributes, the text inside <b> and <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text_in: dict[str, list[str]] = {"b": [], "script": []}
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass

    def handle_data(self, data):
        if self.open and self.open[-1] in self.text_in:
            self.text_in[self.open[-1]].append(data)
        if not self.open or self.open[-1] != "script":
            self.text.append(data)


def test_the_html_report_shows_names_as_text_not_markup(audit):
    _, out = audit
    page = (out / "audit.html").read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    links = [a.get("href", "") for tag, a in parser.tags if tag == "a"]
    assert links and all(h.startswith("#") for h in links), links  # only the contents' anchors
    assert not any(t.strip() in ("bold", "eth") for t in parser.text_in["b"])
    assert not any("alert(1)" in s and "Plotly" not in s for s in parser.text_in["script"])
    # the names are there, literally, in the rendered text (tables, headings, findings)
    text = "".join(parser.text)
    assert SCRIPT in text and LINK in text and BOLD in text and "<b>eth</b>" in text
    assert "\x1b" not in page and "\u202e" not in page


def _plotly_strings(page: str) -> list[str]:
    """Every string in the figures' JSON (the arguments of Plotly.newPlot)."""
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    figures = [s for s in scripts if "Plotly.newPlot" in s]
    assert figures, "the report has interactive figures"
    out = []
    for s in figures:
        for literal in re.findall(r'"(?:[^"\\]|\\.)*"', s):
            out.append(json.loads(literal))
    return out


def test_plotly_labels_and_hover_text_are_escaped(audit):
    _, out = audit
    strings = _plotly_strings((out / "audit.html").read_text(encoding="utf-8"))
    joined = "\n".join(strings)
    # plotly renders <a href>, <b>, <br>... inside labels: no name may carry a tag
    for raw in (LINK, BOLD, SCRIPT, "<b>eth</b>", "50%{x}"):
        assert raw not in joined, raw
    assert "&lt;b&gt;bold&lt;/b&gt;" in joined  # the group is drawn, as text
    assert "&lt;a href=&#34;https://evil&#34;&gt;x&lt;/a&gt;" in joined
    assert "50&#37;{x}" in joined
    assert "&lt;b&gt;eth&lt;/b&gt;" in joined  # the column name in titles and hover text
    assert not any("\x1b" in s or "\u202e" in s for s in strings)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler's pdftotext")
def test_the_pdf_builds_and_shows_names_literally(audit):
    _, out = audit
    text = subprocess.run(
        ["pdftotext", "-layout", str(out / "audit.pdf"), "-"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode("utf-8")
    assert "site=<b>bold</b>" in text and "site=<script>alert(1)</script>" in text
    assert "$\\alpha$ 50%{x}" in text
    assert "\x1b" not in text and "\u202e" not in text


# ------------------------------------------------------------------ the escaping functions


@pytest.mark.parametrize("name", [LINK, BOLD, SCRIPT, MATH, CLEAR, BIDI, BREAKS, COLUMN])
def test_every_escape_removes_control_and_bidi_characters(name):
    for escape in (for_terminal, for_markup, for_plotly, for_matplotlib, for_markdown):
        assert not TERMINAL_BAD.search(escape(name).replace("\n", "")), escape.__name__
        assert "\n" not in escape(name)


def test_terminal_text_drops_whole_escape_sequences_and_keeps_unicode():
    assert for_terminal(CLEAR) == "Policy: all 0 fail"  # not "[2J[HPolicy..."
    assert for_terminal("\x1b]8;;https://evil\x07click\x1b]8;;\x07") == "click"  # OSC 8 link
    assert for_terminal("Zoë 日本 ≥ 65\u200b") == "Zoë 日本 ≥ 65"
    assert for_terminal(BREAKS) == "line break cr"


def test_markup_escapes_quotes_numerically_for_plotly():
    assert for_markup(LINK) == "&lt;a href=&#34;https://evil&#34;&gt;x&lt;/a&gt;"
    assert for_markup("O'Brien & co") == "O&#x27;Brien &amp; co"
    assert for_plotly("50%{y}") == "50&#37;{y}"


def test_matplotlib_draws_dollar_names_literally():
    from matplotlib.text import Text

    text, is_math = Text(text=for_matplotlib(MATH))._preprocess_math(for_matplotlib(MATH))
    assert is_math is False
    _, raw_is_math = Text(text=MATH)._preprocess_math(MATH)
    assert raw_is_math is True  # without the escape it would be typeset as math


def test_markdown_makes_links_and_emphasis_literal():
    assert for_markdown("[x](https://evil) **b**") == r"\[x\](https://evil) \*\*b\*\*"


# ------------------------------------------------------------------ the dashboard


def test_the_dashboard_shows_hostile_names_as_text(audit):
    """Every page of the Streamlit app on the hostile audit: names never become markdown
    (links, emphasis, $ math) and the charts use the same escaped plotly builders."""
    from streamlit.testing.v1 import AppTest

    from cohortaudit.results import AuditResult

    sys.path.insert(0, str(ROOT / "app"))
    import defaults  # app/defaults.py: the sample and environment switches
    import state

    _, out = audit
    result = AuditResult.from_dict(json.loads((out / "audit.json").read_text(encoding="utf-8")))
    os.environ[defaults.ENV_N_BOOT] = "5"
    os.environ[defaults.ENV_MAX_ORDER] = "1"
    at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=180)
    at.run()
    texts: list[str] = []
    n_charts = 0
    pages = ("overview", "subgroups", "calibration", "utility", "explanations", "safety", "report")
    for page in pages:
        at.session_state[state._RESULT] = result
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        texts += [e.value for kind in ("markdown", "caption", "subheader", "title", "info")
                  for e in getattr(at, kind)]  # fmt: skip
        for chart in at.get("plotly_chart"):
            n_charts += 1
            spec = json.dumps(json.loads(chart.proto.spec))  # every string, decoded
            for raw in (BOLD, SCRIPT, LINK, "<b>eth</b>"):
                assert raw.replace('"', '\\"') not in spec, (page, raw)
    assert n_charts > 5  # the pages' charts were checked
    shown = "\n".join(texts)
    assert "bold" in shown and "evil" in shown  # the hostile groups are on the pages
    for t in texts:
        assert not re.search(r"(?<!\\)\$", t), t  # every $ escaped: no math from a name
        assert not re.search(r"(?<!\\)\[x(?<!\\)\]", t), t  # no [x](...) link from a name
        assert not re.search(r"(?<!\\)<b>", t), t
        assert "\x1b" not in t and "\u202e" not in t, repr(t)


def test_markdown_escapes_line_start_markers_only_where_they_would_act():
    assert for_markdown("- a") == r"\- a" and for_markdown("1. x") == r"1\. x"
    assert for_markdown("0.05 to 0.2") == "0.05 to 0.2"  # a number is not a list item
    assert for_markdown("total_chol at FI-Tampere") == "total_chol at FI-Tampere"

"""Disclosure profiles (issue 14, point 8), through the real CLI on the bundled sample.

- ``--min-cell 0`` turns disclosure control off: nothing is withheld, and every output says so
  (JSON ``settings.disclosure``, the CLI summary, the HTML and PDF reports, the CSV disclosure
  log, the dashboard).
- At ``--min-cell 1`` zero cells are still withheld, and ``settings.disclosure`` says why.
- Policy rules' ``on_insufficient`` (fail | warn | pass) decides what insufficient data counts
  as, and insufficient data says why: suppressed, withheld, no CI (``--n-boot 0``), or a CI too
  wide to decide.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cohortaudit.cli import main
from cohortaudit.disclosure import ZERO_CELL_RULE
from cohortaudit.resultio import read_json
from cohortaudit.results import NOT_CONTROLLED_BANNER

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
BANNER = NOT_CONTROLLED_BANNER
BANNER_UPPER = BANNER.upper()

# age bands below 40 and above 80 are small: suppressed (< 40) and withheld by secondary
# suppression (> 80) at the default k = 10, released at k = 0
#: The bundled sample's model, card, cohort and outcome: what audit and site-export both read.
SAMPLE_INPUTS = [
    "--model",
    str(SAMPLE / "model.onnx"),
    "--card",
    str(SAMPLE / "model.card.yaml"),
    "--cohort",
    str(SAMPLE / "cohort.csv"),
    "--label",
    "cvd_10y",
]
BASE = [
    "audit",
    "--no-explain",
    *SAMPLE_INPUTS,
    "--sensitive",
    "sex",
    "age",
    "--bins",
    "age=40,50,60,70,80",
    "--max-order",
    "1",
    "--n-boot",
    "20",
]


def _run(*args: str) -> tuple[int, str, str]:
    """The CLI as a user runs it: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _walk(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _walk(v, f"{path}/{i}")
    else:
        yield path, x


def _pdf_text(path: Path) -> str:
    if shutil.which("pdftotext"):
        done = subprocess.run(
            ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
        )
        return done.stdout
    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(str(path)).pages)


# --------------------------------------------------------------------------------------------
# k = 0: disclosure control off
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k0(tmp_path_factory):
    out = tmp_path_factory.mktemp("k0") / "out"
    code, stdout, stderr = _run(
        *BASE, "--min-cell", "0", "--format", "json,html,pdf,csv", "--out", str(out)
    )
    assert code == 0, stderr
    return out, stdout


@pytest.fixture(scope="module")
def k10(tmp_path_factory):
    out = tmp_path_factory.mktemp("k10") / "out"
    code, stdout, stderr = _run(*BASE, "--out", str(out))
    assert code == 0, stderr
    return out, stdout


def test_k0_withholds_nothing_and_the_json_says_disclosure_control_is_off(k0, k10):
    data = json.loads((k0[0] / "audit.json").read_text())
    d = data["settings"]["disclosure"]
    assert d["min_cell"] == 0 and d["controlled"] is False and d["banner"] == BANNER
    assert "nothing is withheld" in d["zero_cells"]
    assert data["disclosure_log"] == []
    assert not any(g["suppressed"] for g in data["subgroups"])
    assert all(g["withheld"] == [] for g in [data["overall"], *data["subgroups"]])
    small = next(g for g in data["subgroups"] if g["attributes"] == {"age": "< 40"})
    assert small["n"] == 132 and small["events"] is not None  # the 132 patients below 40
    # every released count is a count: no grid cell, histogram bin or table row is null
    for path, value in _walk(data):
        if any(
            s in path
            for s in (
                "/threshold_grid/",
                "/risk_histogram/",
                "/calibration_table/",
                "/intended_use/",
            )
        ):
            assert value is not None, path
    read_json(k0[0] / "audit.json")  # valid against the shipped result schema

    # the same audit at the default k withholds the small bands, and has no profile fields
    dflt = json.loads((k10[0] / "audit.json").read_text())
    assert set(dflt["settings"]["disclosure"]) == {"min_cell", "rules"}
    assert {tuple(g["attributes"].values()) for g in dflt["subgroups"] if g["suppressed"]} == {
        ("< 40",),
        ("> 80",),
    }
    assert dflt["disclosure_log"]


def test_k0_banner_on_the_cli_summary_html_pdf_and_csv(k0, k10):
    out, stdout = k0
    assert stdout.splitlines()[1] == f"  !! {BANNER_UPPER} !!"
    assert "disclosure control off (k = 0), nothing withheld" in stdout
    html = (out / "audit.html").read_text()
    cover, _, rest = html.partition("</header>")
    assert BANNER_UPPER in cover  # first page
    assert BANNER_UPPER in rest.split('id="sec-1"', 1)[1][:3000]  # the summary section
    text = _pdf_text(out / "audit.pdf")
    pages = text.split("\f")
    assert BANNER_UPPER in pages[0]  # the cover
    summary = next(p for p in pages if "Executive summary" in p and "Contents" not in p)
    assert f"{BANNER_UPPER}. This audit ran with disclosure control off" in " ".join(
        summary.split()
    )
    assert all(BANNER_UPPER in p for p in pages if p.strip())  # in every page footer
    log = (out / "tables" / "disclosure_log.csv").read_text().splitlines()
    assert log[1] == f"all,k = 0,nothing withheld,{BANNER}"
    # and nothing of it at the default k
    assert "DISCLOSURE-CONTROLLED" not in k10[1]


def test_k0_on_site_export_and_pool_keeps_the_banner(tmp_path):
    site = tmp_path / "site.json"
    code, _, err = _run(
        "site-export",
        *SAMPLE_INPUTS,
        "--sensitive",
        "sex",
        "--site",
        "A",
        "--min-cell",
        "0",
        "--out",
        str(site),
    )
    assert code == 0, err
    assert json.loads(site.read_text())["settings"]["min_cell"] == 0
    code, stdout, err = _run("pool", str(site), "--min-cell", "0", "--out", str(tmp_path / "p"))
    assert code == 0, err
    pooled = json.loads((tmp_path / "p" / "audit.json").read_text())
    assert pooled["settings"]["disclosure"]["controlled"] is False
    assert BANNER_UPPER in stdout
    # a coordinator pooling at k = 10 refuses a file exported with control off
    code, stdout, err = _run("pool", str(site), "--min-cell", "10", "--out", str(tmp_path / "q"))
    assert code == 2
    assert "below this pool's --min-cell 10 (the site exported with min_cell = 0)" in err
    code, _, err = _run("pool", str(site), "--min-cell", "-1", "--out", str(tmp_path / "r"))
    assert code == 2
    assert err == "ConfigError: --min-cell must be an integer >= 0. Got -1 instead.\n"


def test_a_negative_min_cell_is_refused(tmp_path):
    code, _, err = _run(*BASE, "--min-cell", "-1", "--out", str(tmp_path / "o"))
    assert code == 2
    assert err == (
        "ConfigError: The 'min_cell' parameter must be an integer in [0, 10000]. Got -1 instead.\n"
    )


# --------------------------------------------------------------------------------------------
# k = 1: the zero-cell rule, stated
# --------------------------------------------------------------------------------------------


def test_k1_states_the_zero_cell_rule_and_its_reason_and_keeps_zero_cells_withheld(tmp_path):
    code, stdout, err = _run(*BASE, "--min-cell", "1", "--out", str(tmp_path / "o"))
    assert code == 0, err
    data = json.loads((tmp_path / "o" / "audit.json").read_text())
    d = data["settings"]["disclosure"]
    assert d["min_cell"] == 1 and d["zero_cells"] == ZERO_CELL_RULE
    assert "controlled" not in d and "DISCLOSURE-CONTROLLED" not in stdout
    assert "no patient in the group" in d["zero_cells"] and "disclosive" in d["zero_cells"]
    # the rule bites: grid thresholds where a cell is 0 are withheld, never released as 0
    for g in [data["overall"], *data["subgroups"]]:
        grid = g.get("threshold_grid") or {}
        for cells in zip(*(grid.get(c) or [] for c in ("tp", "fp", "tn", "fn")), strict=True):
            assert all(c is None for c in cells) or min(cells) >= 1
    assert any(None in (g.get("threshold_grid") or {}).get("tp", []) for g in data["subgroups"]), (
        "expected zero cells at the extreme grid thresholds"
    )


# --------------------------------------------------------------------------------------------
# policies: on_insufficient, and why the data are insufficient
# --------------------------------------------------------------------------------------------


def _policy(tmp_path, on_insufficient=None, *, name="p.yaml"):
    extra = {} if on_insufficient is None else {"on_insufficient": on_insufficient}
    rules = [
        # < 40 suppressed (too few events), > 80 withheld (secondary suppression)
        {
            "id": "slope-age",
            "metric": "calibration_slope",
            "scope": "attribute:age",
            "bound": "ci_high",
            "op": ">=",
            "threshold": 0.5,
            **extra,
        },
        # the whole-cohort AUROC CI (about 0.72 to 0.74) straddles 0.73: too wide to decide
        {
            "id": "auroc-floor",
            "metric": "auroc",
            "scope": "overall",
            "bound": "ci_low",
            "op": ">=",
            "threshold": 0.73,
            **extra,
        },
        # a bootstrap-only interval: none with --n-boot 0
        {
            "id": "brier-ceiling",
            "metric": "brier",
            "scope": "overall",
            "bound": "ci_high",
            "op": "<=",
            "threshold": 0.2,
            **extra,
        },
    ]
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"rules": rules}))
    return path


def _why(data):
    return {
        (v["rule_id"], tuple(v["group"].values())): (
            v["status"],
            v.get("insufficient_reason"),
            v.get("counts_as"),
        )
        for v in data["policy"]
    }


@pytest.mark.parametrize(
    ("on_insufficient", "exit_code", "counts_as"),
    [(None, 1, "fail"), ("fail", 1, "fail"), ("warn", 0, "warn"), ("pass", 0, "pass")],
)
def test_on_insufficient_sets_the_exit_code_and_every_verdict_says_why(
    tmp_path, on_insufficient, exit_code, counts_as
):
    code, stdout, err = _run(
        *BASE,
        "--no-safety",
        "--format",
        "json,html",
        "--policy",
        str(_policy(tmp_path, on_insufficient)),
        "--out",
        str(tmp_path / "o"),
    )
    assert code == exit_code, err
    data = json.loads((tmp_path / "o" / "audit.json").read_text())
    why = _why(data)
    assert why[("slope-age", ("< 40",))] == ("insufficient data", "suppressed", counts_as)
    assert why[("slope-age", ("> 80",))] == ("insufficient data", "withheld", counts_as)
    assert why[("auroc-floor", ())] == ("insufficient data", "ci_too_wide", counts_as)
    assert why[("brier-ceiling", ())] == ("pass", None, None)
    assert why[("slope-age", ("[50, 60)",))] == ("pass", None, None)
    rules = {r["id"]: r for r in data["settings"]["policy"]["rules"]}
    assert rules["auroc-floor"]["on_insufficient"] == counts_as
    assert (
        "3 insufficient data (1 ci too wide, 1 suppressed, 1 withheld; "
        f"counted 3 as {counts_as})." in stdout
    )
    lines = err.splitlines()
    if counts_as == "pass":
        assert lines == []
    else:
        label = {"fail": "PolicyFailed", "warn": "PolicyWarning"}[counts_as]
        assert len(lines) == 3, lines
        assert lines[0] == (
            f"{label}: rule 'slope-age' for age=< 40: insufficient data (suppressed, "
            f"on_insufficient: {counts_as}): age=< 40 is suppressed by disclosure control "
            "(fewer than 10 events or fewer than 10 non-events); no numbers to judge."
        )
        assert lines[1].startswith(
            f"{label}: rule 'slope-age' for age=> 80: insufficient data (withheld, "
        )
        assert lines[2].startswith(
            f"{label}: rule 'auroc-floor' for overall: insufficient data (ci too wide, "
            f"on_insufficient: {counts_as}): auroc for overall: CI 0.72"
        )
        assert "straddles the rule's limit ('ci_low >= 0.73')" in lines[2]
    html = (tmp_path / "o" / "audit.html").read_text()
    assert f"INSUFFICIENT DATA (ci too wide) → {counts_as}" in html
    assert f"INSUFFICIENT DATA (suppressed) → {counts_as}" in html
    assert f"INSUFFICIENT DATA (withheld) → {counts_as}" in html


def test_n_boot_0_gives_no_ci_insufficient_data_in_json_pdf_and_cli(tmp_path):
    policy = _policy(tmp_path, "warn")
    code, stdout, err = _run(
        *BASE[:-2],
        "--n-boot",
        "0",
        "--no-safety",
        "--format",
        "json,pdf",
        "--policy",
        str(policy),
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    data = json.loads((tmp_path / "o" / "audit.json").read_text())
    status, reason, counts_as = _why(data)[("brier-ceiling", ())]
    assert (status, reason, counts_as) == ("insufficient data", "no_ci", "warn")
    verdict = next(v for v in data["policy"] if v["rule_id"] == "brier-ceiling")
    assert verdict["observed"]["value"] is not None and verdict["observed"]["ci_low"] is None
    assert "has no confidence interval (bootstrap off with --n-boot 0" in verdict["reason"]
    assert "PolicyWarning: rule 'brier-ceiling' for overall: insufficient data (no ci, " in err
    assert "1 no ci" in stdout
    text = " ".join(_pdf_text(tmp_path / "o" / "audit.pdf").split())
    assert "INSUFFICIENT DATA (no ci) → warn" in text
    assert "no ci: no confidence interval (for example --n-boot 0)" in text


def test_an_invalid_on_insufficient_exits_2_before_the_audit(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "id": "r1",
                        "metric": "auroc",
                        "scope": "overall",
                        "bound": "ci_low",
                        "op": ">=",
                        "threshold": 0.7,
                        "on_insufficient": "ignore",
                    }
                ]
            }
        )
    )
    code, stdout, err = _run(*BASE, "--policy", str(path), "--out", str(tmp_path / "o"))
    assert code == 2
    assert err == (
        "ConfigError: Policy rule 'r1' (rules[0]) in 'bad.yaml': field 'on_insufficient' must "
        "be one of fail, warn, pass (what a verdict of insufficient data counts as; default "
        "fail). Got 'ignore' instead.\n"
    )
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------------------------
# the dashboard
# --------------------------------------------------------------------------------------------


def test_the_dashboard_shows_the_banner_on_every_page_for_a_k0_result(k0, k10):
    from streamlit.testing.v1 import AppTest

    app = ROOT / "app" / "streamlit_app.py"
    sys.path.insert(0, str(app.parent))
    import defaults  # app/defaults.py: the sample and environment switches
    import state  # app/state.py: the widget and session keys

    os.environ[defaults.ENV_AUTORUN] = "0"
    try:
        at = AppTest.from_file(str(app), default_timeout=120)
        at.run()
        at.session_state[state._RESULT] = read_json(k0[0] / "audit.json")
        at.run()
        for page in (
            "views/overview.py",
            "views/subgroups.py",
            "views/calibration.py",
            "views/utility.py",
            "views/explanations.py",
            "views/safety.py",
            "views/sites.py",
            "views/report.py",
            "views/compare.py",
            "views/start.py",
        ):
            at.switch_page(page).run()
            assert not at.exception, (page, [e.value for e in at.exception])
            assert any(BANNER_UPPER in w.value for w in at.warning), page
        assert "(disclosure control off)" in "\n".join(m.value for m in at.sidebar.markdown)
        # a result at the default k shows no banner
        at.session_state[state._RESULT] = read_json(k10[0] / "audit.json")
        at.switch_page("views/overview.py").run()
        assert not any(BANNER_UPPER in w.value for w in at.warning)
    finally:
        os.environ.pop(defaults.ENV_AUTORUN, None)

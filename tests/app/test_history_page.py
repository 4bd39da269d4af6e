"""The History page reads the audit registry: a model's audits, a metric's trend per group with
changes judged against noise, one audit's trail; the Compare page reads recorded audits too.

The registry holds the four sample sites, each pooled on its own (four cohorts of one model), as
in the registry's own tests; the app is opened without its first-load sample audit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cohortaudit.audit_registry import open_registry
from cohortaudit.cli import main

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app" / "streamlit_app.py"
SITES = ("DE-Berlin", "ES-Valencia", "FI-Tampere", "FR-Lyon")


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory) -> str:
    base = tmp_path_factory.mktemp("history")
    url = f"sqlite:///{base / 'registry.sqlite'}"
    for site in SITES:
        out = base / site
        assert main(["pool", str(ROOT / "sample_data" / "sites" / f"{site}.json"), "--out",
                     str(out), "--quiet", "--registry", url, "--auditor", "Ann"]) == 0  # fmt: skip
    return url


def _app(monkeypatch, url: str):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("COHORTAUDIT_REGISTRY", url)
    monkeypatch.setenv("COHORTAUDIT_APP_AUTORUN", "0")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("views/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_history_lists_the_models_audits_and_draws_a_trend(monkeypatch, registry_url):
    at = _app(monkeypatch, registry_url)
    assert at.title[0].value == "History"
    audits = at.dataframe[0].value
    assert len(audits) == 4
    assert set(audits["Site"]) == set(SITES)
    at.selectbox(key="history_metric").set_value("oe_ratio").run()
    at.selectbox(key="history_group").set_value("sex = F").run()
    assert not at.exception
    changes = at.dataframe[1].value
    assert len(changes) == 3
    # FI-Tampere's O/E for women (0.54) differs from its neighbours' (1.07, 1.10) beyond noise
    assert list(changes["Beyond sampling noise"]) == ["no", "yes", "yes"]
    assert changes["Change"].iloc[1].startswith("ratio ")


def test_opening_an_audit_is_in_its_trail_and_a_comment_is_recorded(monkeypatch, registry_url):
    at = _app(monkeypatch, registry_url)
    reg = open_registry(registry_url)
    last = reg.entries()[-1].entry_id
    assert any(e.action == "viewed" and e.entry_id == last for e in reg.events())
    at.text_area[0].input("Checked against the site's data dictionary.")
    at.button[-1].click().run()  # the form's submit button
    assert not at.exception
    comments = [e for e in reg.events() if e.action == "commented"]
    assert comments and comments[-1].detail == "Checked against the site's data dictionary."
    assert comments[-1].actor == "Local user" and comments[-1].role == "auditor"
    assert reg.verify().intact


def test_an_empty_registry_says_how_to_record(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("COHORTAUDIT_REGISTRY", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    monkeypatch.setenv("COHORTAUDIT_APP_AUTORUN", "0")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("views/history.py").run()
    assert not at.exception
    assert "No audit is recorded yet" in at.info[0].value


def test_the_compare_page_compares_with_a_recorded_audit(monkeypatch, registry_url):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("COHORTAUDIT_REGISTRY", registry_url)
    monkeypatch.setenv("COHORTAUDIT_APP_N_BOOT", "5")
    monkeypatch.setenv("COHORTAUDIT_APP_MAX_ORDER", "1")
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()  # the first-load sample audit
    at.switch_page("views/compare.py").run()
    assert not at.exception
    first = open_registry(registry_url).entries()[0].entry_id
    at.selectbox(key="compare_registry_entry").set_value(first).run()
    assert not at.exception and not at.error
    text = "\n".join(m.value for m in at.markdown)
    assert f"registry entry {first}" in text


def test_an_auditor_records_the_audit_on_screen_from_the_report_page(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    monkeypatch.setenv("COHORTAUDIT_REGISTRY", url)
    monkeypatch.setenv("COHORTAUDIT_APP_N_BOOT", "5")
    monkeypatch.setenv("COHORTAUDIT_APP_MAX_ORDER", "1")
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    at.switch_page("views/report.py").run()
    next(b for b in at.button if b.label == "Record in the registry").click().run()
    assert not at.exception and not at.error
    assert any("Recorded as registry entry 1" in s.value for s in at.success)
    reg = open_registry(url)
    (entry,) = reg.entries()
    assert entry.source == "app" and entry.auditor == "Local user"
    assert entry.model_name == "CardioRisk-EU"
    assert [b.name for b in entry.blobs] == ["audit.json", "manifest.json"]
    assert [e.action for e in reg.events()] == ["ran"]
    assert reg.verify().intact

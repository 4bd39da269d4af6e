"""End-to-end: the real app with a time-to-event audit, in headless Debian chromium
(Playwright), with screenshots of the Overview, Subgroups, Calibration and Clinical utility pages
in their survival form.

The audit is the one the CLI writes for the synthetic censored cohort (``tte_factory``); the
app is started by ``launch_tte.py``, which puts it into the session as opening its audit.json
does, so the sample is not audited. Screenshots go to
``artifacts/screenshots/app-tte-*.png`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "artifacts" / "screenshots"
STREAMLIT = Path(sys.executable).with_name("streamlit")
STATUS = '[data-testid="stStatusWidget"]'
EXCEPTION = '[data-testid="stException"]'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None,
        reason="needs Debian chromium and playwright",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tte) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = dict(os.environ, COHORTAUDIT_APP_AUTORUN="0", COHORTAUDIT_TEST_RESULT=str(tte[1]))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(STREAMLIT), "run", "tests/app_survival/launch_tte.py",
                "--server.headless", "true",
                "--server.address", "127.0.0.1",
                "--server.port", str(port),
                "--browser.gatherUsageStats", "false",
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"streamlit did not become healthy:\n{log_path.read_text()[-3000:]}"
                    )
                time.sleep(0.2)  # polling the health endpoint, not waiting for the page
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1440, "height": 2400})
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(server)
        _settle(pg, "The cohort at the horizon")
        yield pg
        context.close()
        browser.close()


def _settle(pg, text: str) -> None:
    pg.get_by_text(text, exact=False).first.wait_for(state="visible")
    pg.wait_for_selector(STATUS, state="detached")
    pg.wait_for_load_state("networkidle")


def _nav(pg, label: str, text: str) -> None:
    pg.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=label).click()
    _settle(pg, text)


def _shot(pg, name: str, height: int) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    charts = pg.locator('[data-testid="stPlotlyChart"]')
    for i in range(charts.count()):
        charts.nth(i).wait_for(state="visible")
    if pg.viewport_size["height"] != height:
        pg.set_viewport_size({"width": 1440, "height": height})
        pg.wait_for_load_state("networkidle")
    for selector in ('[data-testid="stMetricValue"]', '[data-testid="stDataFrame"] canvas'):
        if pg.locator(selector).count():
            pg.locator(selector).first.wait_for(state="visible")
    pg.mouse.move(0, 0)  # no hover tooltips or plotly toolbars in the picture
    pg.wait_for_timeout(1500)  # let plotly and the data grids finish drawing
    path = SHOTS / f"app-tte-{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def test_overview_of_a_time_to_event_audit(page, tte):
    result, _ = tte
    assert page.locator(EXCEPTION).count() == 0
    _shot(page, "overview", 2400)
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    cards = dict(zip([x.strip() for x in labels], [x.strip() for x in values], strict=True))
    assert cards["At risk at 10 years"] == f"{result.overall.survival['at_risk']:,}"
    assert cards["AUC(t)"] == f"{result.overall.metrics['auc_t'].value:.3f}"


def test_calibration_page_of_a_time_to_event_audit(page):
    _nav(page, "Calibration", "Kaplan–Meier observed vs predicted risk by")
    assert page.locator(EXCEPTION).count() == 0
    charts = page.locator('[data-testid="stPlotlyChart"]')
    charts.nth(2).wait_for(state="visible")  # plotly loads lazily
    assert charts.count() == 3
    _shot(page, "calibration", 3300)


def test_subgroups_and_utility_pages_of_a_time_to_event_audit(page):
    _nav(page, "Subgroups", "by group")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(state="visible")
    assert page.locator(EXCEPTION).count() == 0
    _shot(page, "subgroups", 1600)
    _nav(page, "Clinical utility", "Decision curves at")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(state="visible")
    assert page.locator(EXCEPTION).count() == 0
    assert page.get_by_text("ROC and precision–recall curves do not apply").first.is_visible()
    _shot(page, "utility", 1600)

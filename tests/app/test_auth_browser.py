"""End to end: a shared deployment with sign-in (issue 17, points 1 and 2), in a real browser.

A real OpenID Connect provider (``oidc-provider-mock``) runs on loopback; the real app runs with
a temporary ``secrets.toml`` whose ``[auth]`` points at it; headless Debian chromium signs users
in through the provider's own login form. Two users at once, each in their own browser context:
each uploads a cohort and sees only their own workspace; the files land in folders named by a
hash of issuer and subject; a file past the retention time is gone at sign-in; a reload keeps
the workspace; sign-out returns to the sign-in page; a viewer cannot run an audit and a user
without a role is refused. Screenshots go to ``artifacts/screenshots/auth/`` (git-ignored).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
STREAMLIT = Path(sys.executable).with_name("streamlit")
SHOTS = Path(os.environ.get("COHORTAUDIT_SHOTS", ROOT / "artifacts" / "screenshots" / "auth"))
STATUS = '[data-testid="stStatusWidget"]'
EXCEPTION = '[data-testid="stException"]'


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Debian chromium not found at {CHROMIUM} (apt-get install chromium)"
    for module in ("playwright", "oidc_provider_mock", "authlib"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    return None


MISSING = _missing()
pytestmark = [
    pytest.mark.browser,
    # the provider runs in this process (a thread): its Authlib calls deprecated APIs of itself
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"), reason=str(MISSING)),
]

USERS = {  # sub -> claims the provider puts into the ID token
    "alice": {"email": "alice@hospital.example", "name": "Alice Auditor", "roles": ["auditor"]},
    "bob": {"email": "bob@hospital.example", "name": "Bob Auditor", "roles": "auditor"},
    "vera": {"email": "vera@hospital.example", "name": "Vera Viewer", "roles": ["viewer"]},
    "mallory": {"email": "mallory@elsewhere.example", "name": "Mallory", "roles": ["intern"]},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _put_user(base: str, sub: str, claims: dict) -> None:
    req = urllib.request.Request(
        f"{base}/users/{sub}",
        data=json.dumps(claims).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204


def _settle(pg, text: str) -> None:
    pg.get_by_text(text, exact=False).first.wait_for(state="visible")
    pg.wait_for_selector(STATUS, state="detached")


def _shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.mouse.move(0, 0)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))


def _sign_in(pg, url: str, sub: str) -> None:
    pg.goto(url)
    _settle(pg, "Sign in with your organisation's account")
    pg.get_by_role("button", name="Sign in").click()
    pg.get_by_role("heading", name="Authorize Client").wait_for()  # the provider's own form
    pg.locator('input[name="sub"]').fill(sub)
    pg.get_by_role("button", name="Authorize", exact=True).click()
    pg.wait_for_url(f"{url}/**")


def _goto(pg, label: str, text: str) -> None:
    pg.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=label).click()
    _settle(pg, text)


def _upload_cohort(pg, path: Path) -> None:
    _goto(pg, "Start a new audit", "Audit settings")
    pg.get_by_text("My own files").click()
    _settle(pg, "Cohort (CSV or Parquet)")
    pg.get_by_test_id("stFileUploader").filter(has_text="Cohort (CSV or Parquet)").locator(
        '[data-testid="stFileUploaderDropzoneInput"]'
    ).set_input_files(str(path))
    _settle(pg, "Outcome (label) column")


def _workspace_files(pg, expect: str) -> str:
    _goto(pg, "My workspace", "Uploaded files")
    pg.get_by_text(expect).first.wait_for()
    return pg.locator("section.stMain, [data-testid='stMain']").first.inner_text()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """(app URL, provider URL, workspace root): the provider, the secrets and the app."""
    if MISSING is not None:
        pytest.fail(f"CI is set, so this browser test must run, but {MISSING}.")
    from oidc_provider_mock import run_server_in_thread

    tmp = tmp_path_factory.mktemp("auth")
    root = tmp / "workspaces"
    with run_server_in_thread(port=0) as provider:
        idp = f"http://localhost:{provider.server_port}"
        for sub, claims in USERS.items():
            _put_user(idp, sub, claims)
        # a file of alice's from long ago: the retention time (30 days) removes it at sign-in
        old = root / hashlib.sha256(f"{idp}\nalice".encode()).hexdigest()[:32] / "uploads"
        old.mkdir(parents=True)
        (old / "expired.csv").write_text("x\n1\n")
        long_ago = time.time() - 31 * 86400
        os.utime(old / "expired.csv", (long_ago, long_ago))

        port = _free_port()
        url = f"http://localhost:{port}"
        secrets = tmp / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "{url}/oauth2callback"\n'
            f'cookie_secret = "{"s3cret-" * 6}"\n'
            'client_id = "cohortaudit-test"\n'
            'client_secret = "not-a-secret"\n'
            f'server_metadata_url = "{idp}/.well-known/openid-configuration"\n'
            "\n[cohortaudit]\n"
            f'workspace_root = "{root}"\n'
            "retention_days = 30\n",
            encoding="utf-8",
        )
        env = dict(os.environ, COHORTAUDIT_APP_N_BOOT="20", COHORTAUDIT_APP_MAX_ORDER="1")
        env["COHORTAUDIT_APP_AUTORUN"] = "0"  # the sample audit only when asked for
        for name in ("COHORTAUDIT_WORKSPACE_ROOT", "COHORTAUDIT_ROLES_FILE"):
            env.pop(name, None)
        log_path = tmp / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(STREAMLIT),
                    "run",
                    "app/streamlit_app.py",
                    "--server.headless=true",
                    "--server.address=127.0.0.1",
                    f"--server.port={port}",
                    "--browser.gatherUsageStats=false",
                    f"--secrets.files={secrets}",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        with urllib.request.urlopen(
                            f"http://127.0.0.1:{port}/_stcore/health", timeout=2
                        ) as r:
                            if r.read().strip() == b"ok":
                                break
                    except OSError:
                        pass
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"streamlit did not start:\n{log_path.read_text()[-3000:]}")
                    time.sleep(0.2)  # polling the health endpoint
                yield url, idp, root
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        yield b
        b.close()


def _page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    return context, pg


def test_two_users_each_see_only_their_own_workspace(deployment, browser, tmp_path):
    url, idp, root = deployment
    ctx_a, a = _page(browser)
    ctx_b, b = _page(browser)
    try:
        a.goto(url)
        _settle(a, "Sign in with your organisation's account")
        # signed out: the sign-in page and nothing else (no page navigation)
        assert a.locator('[data-testid="stSidebarNav"]').count() == 0
        _shot(a, "1-sign-in")

        _sign_in(a, url, "alice")
        _sign_in(b, url, "bob")  # both sessions alive at once
        for pg, name in ((a, "Alice Auditor"), (b, "Bob Auditor")):
            sidebar = pg.get_by_test_id("stSidebar")
            sidebar.get_by_text(name).wait_for()
            sidebar.get_by_text("Role auditor").wait_for()
        id_a = hashlib.sha256(f"{idp}\nalice".encode()).hexdigest()[:32]
        id_b = hashlib.sha256(f"{idp}\nbob".encode()).hexdigest()[:32]
        assert not (root / id_a / "uploads" / "expired.csv").exists()  # retention, at sign-in

        # alice runs an audit of the bundled sample: its result is kept in her workspace
        _goto(a, "Start a new audit", "synthetic cohort of")
        a.get_by_role("button", name="Run audit").click()
        a.get_by_text("Executive summary").first.wait_for(timeout=240_000)  # a small audit
        a.wait_for_selector(STATUS, state="detached")

        cohort = (ROOT / "sample_data" / "cohort.csv").read_text().splitlines()
        for sub, pg in (("alice", a), ("bob", b)):
            path = tmp_path / f"{sub}_cohort.csv"
            path.write_text("\n".join(cohort[:400]) + "\n")
            _upload_cohort(pg, path)


        seen_a = _workspace_files(a, "alice_cohort.csv")
        seen_b = _workspace_files(b, "bob_cohort.csv")
        assert "alice_cohort.csv" in seen_a and "bob_cohort.csv" not in seen_a
        assert "bob_cohort.csv" in seen_b and "alice_cohort.csv" not in seen_b
        assert "-audit.json" in seen_a and "-audit.json" not in seen_b
        assert a.locator(EXCEPTION).count() == 0 and b.locator(EXCEPTION).count() == 0
        _shot(a, "2-alice-workspace")
        _shot(b, "3-bob-workspace")
        # on disk: one folder per user, named by the hash, each holding only its own files
        assert sorted(p.name for p in root.iterdir()) == sorted([id_a, id_b])
        assert [p.name for p in (root / id_a / "uploads").iterdir()] == ["alice_cohort.csv"]
        assert [p.name for p in (root / id_b / "uploads").iterdir()] == ["bob_cohort.csv"]
        assert len(list((root / id_a / "results").iterdir())) == 1
        assert list((root / id_b / "results").iterdir()) == []

        # a reload keeps the sign-in and the workspace
        a.reload()
        a.get_by_test_id("stSidebar").get_by_text("Alice Auditor").wait_for()
        assert "alice_cohort.csv" in _workspace_files(a, "alice_cohort.csv")

        # sign-out returns to the sign-in page (through the provider's end-session page)
        a.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
        end = a.get_by_role("button", name="End session")
        end.or_(a.get_by_text("Sign in with your organisation's account")).first.wait_for()
        if end.count():
            end.click()
        if not a.url.startswith(url):
            a.goto(url)
        _settle(a, "Sign in with your organisation's account")
        assert a.locator('[data-testid="stSidebarNav"]').count() == 0
        # bob is still signed in, in his own browser; he deletes his workspace
        b.reload()
        b.get_by_test_id("stSidebar").get_by_text("Bob Auditor").wait_for()
        _workspace_files(b, "bob_cohort.csv")
        b.get_by_text("Yes, delete all my files").click()
        b.wait_for_selector(STATUS, state="detached")
        b.get_by_role("button", name="Delete my workspace").click()
        _settle(b, "Your workspace was deleted")
        assert not (root / id_b / "uploads" / "bob_cohort.csv").exists()
        assert (root / id_a / "uploads" / "alice_cohort.csv").exists()  # alice's stays
    except Exception:
        _shot(a, "failed-a")
        _shot(b, "failed-b")
        raise
    finally:
        ctx_a.close()
        ctx_b.close()


def test_a_viewer_cannot_run_and_a_user_without_a_role_is_refused(deployment, browser):
    url, _, _ = deployment
    ctx_v, v = _page(browser)
    ctx_m, m = _page(browser)
    try:
        _sign_in(v, url, "vera")
        v.get_by_test_id("stSidebar").get_by_text("Role viewer").wait_for()
        _goto(v, "Start a new audit", "Audit settings")
        assert v.get_by_role("button", name="Run audit").is_disabled()
        assert v.get_by_text("Starting an audit needs the auditor role").first.is_visible()
        v.get_by_text("My own files").click()
        _settle(v, "You can open an audit.json or read the pages")
        assert v.locator('[data-testid="stFileUploader"]').count() == 0  # no patient uploads
        _shot(v, "5-viewer-start")
        _goto(v, "Report", "No audit yet")

        _sign_in(m, url, "mallory")
        _settle(m, "Access refused")
        text = m.locator("[data-testid='stMain']").first.inner_text()
        assert "mallory@elsewhere.example" in text and "has no cohortaudit role" in text
        assert m.locator('[data-testid="stSidebarNav"]').count() == 0
        assert m.get_by_text("Start a new audit").count() == 0
        _shot(m, "4-refused-role")
    finally:
        ctx_v.close()
        ctx_m.close()

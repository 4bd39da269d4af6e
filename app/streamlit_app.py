"""cohortaudit dashboard: the router. Page config, the shared sidebar, then the chosen page.

Run with ``streamlit run app/streamlit_app.py``. On the first load the bundled synthetic sample
is audited automatically, so the dashboard opens on a finished audit.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` the dashboard is a shared deployment:
a signed-out visitor sees only the sign-in page, a user without a role only a refusal
(``identity.gate``), and each signed-in user works in a private workspace (``workspace.py``).
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="cohortaudit", layout="wide", page_icon=":material/fact_check:")

import defaults  # noqa: E402
import identity  # noqa: E402
import runner  # noqa: E402  (app/ is on sys.path when Streamlit runs this file)
import state  # noqa: E402
import workspace  # noqa: E402

user = identity.gate()  # the sign-in page or a refusal stop here, before any page
if not user.local:
    config = identity.access_config()
    folder = workspace.user_folder(config.workspace_root, user.id)
    if state.set_workspace(folder, user.id):  # at sign-in: files past the retention time go
        workspace.purge_expired(config.workspace_root, config.retention_days)
        folder = workspace.user_folder(config.workspace_root, user.id)

state.keep_widget_state()

PAGES = [
    st.Page("views/start.py", title="Start a new audit", icon=":material/upload_file:"),
    st.Page("views/overview.py", title="Overview", icon=":material/summarize:", default=True),
    st.Page("views/subgroups.py", title="Subgroups", icon=":material/groups:"),
    st.Page("views/calibration.py", title="Calibration", icon=":material/tune:"),
    st.Page("views/utility.py", title="Clinical utility", icon=":material/medical_services:"),
    st.Page("views/explanations.py", title="Explanations", icon=":material/psychology:"),
    st.Page("views/safety.py", title="Safety", icon=":material/health_and_safety:"),
    st.Page("views/sites.py", title="Sites", icon=":material/hub:"),
    st.Page("views/report.py", title="Report", icon=":material/download:"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("views/history.py", title="History", icon=":material/timeline:"),
]
if not user.local:
    PAGES.append(
        st.Page("views/my_workspace.py", title="My workspace", icon=":material/folder_shared:")
    )
page = st.navigation(PAGES)

# First load: audit the bundled sample so the dashboard opens on a finished audit.
if state.get_result() is None and not state.autorun_done() and defaults.autorun_enabled():
    slot = st.empty()
    with slot.container():
        runner.run_sample_audit()
    # marked only after the run: a user who clicks away mid-run gets it restarted, not lost
    state.mark_autorun_done()
    slot.empty()

runner.sidebar()
identity.sidebar_user(user)
runner.disclosure_banner()
page.run()

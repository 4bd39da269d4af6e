"""Test-only launcher: the real dashboard with a time-to-event result already in the session.

Why: the browser test needs a time-to-event result in a running app. The Start page opens an
audit.json, but it checks the file against the JSON Schema first, which does not yet accept the
time-to-event decile and decision-curve rows (see ``test_app_survival``); this launcher puts the
result (``COHORTAUDIT_TEST_RESULT``, an audit.json) into the session the way opening it does
(``state.set_result``) and then runs the unchanged router. Page paths are relative to the main
script, so ``st.Page``, ``st.switch_page`` and ``st.page_link`` get them made absolute.

    COHORTAUDIT_TEST_RESULT=audit.json streamlit run tests/app_survival/launch_tte.py
"""

from __future__ import annotations

import functools
import json
import os
import runpy
import sys
from pathlib import Path

import streamlit as st

APP = Path(__file__).resolve().parents[2] / "app"
if str(APP) not in sys.path:
    sys.path.insert(0, str(APP))


def _absolute(fn):
    @functools.wraps(fn)
    def wrapper(page, *args, **kwargs):
        if isinstance(page, str) and not Path(page).is_absolute():
            page = APP / page
        return fn(page, *args, **kwargs)

    wrapper.launch_tte_original = fn
    return wrapper


for _name in ("Page", "switch_page", "page_link"):
    _fn = getattr(st, _name)
    if not hasattr(_fn, "launch_tte_original"):  # the script re-runs in one process
        setattr(st, _name, _absolute(_fn))

import state  # noqa: E402  (app/state.py)
from cohortaudit.results import AuditResult  # noqa: E402

if state.get_result() is None:
    path = Path(os.environ["COHORTAUDIT_TEST_RESULT"])
    result = AuditResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    state.set_result(result, state.ResultInfo(source="file", description=f"opened {path.name}"))

runpy.run_path(str(APP / "streamlit_app.py"), run_name="__main__")

"""Pieces every dashboard page shares, so each is written (and worded) once."""

from __future__ import annotations

import streamlit as st

import state
from cohortaudit.results import AuditResult

#: What a page says when no audit has been run or opened in this session yet.
NO_AUDIT = "No audit yet. Run one on the Start page."


def page_with_result(title: str, *, hint: str = NO_AUDIT) -> AuditResult:
    """The page's title, and the session's audit result (see :func:`require_result`)."""
    st.title(title)
    return require_result(hint=hint)


def require_result(*, hint: str = NO_AUDIT, title_when_missing: str | None = None) -> AuditResult:
    """The session's audit result.

    Without one the page says so (under ``title_when_missing``, for a page whose title comes
    from the result), links to the Start page and stops, so the rest of a view can assume a
    result exists.
    """
    result = state.get_result()
    if result is None:
        if title_when_missing:
            st.title(title_when_missing)
        st.info(hint)
        st.page_link("views/start.py", label="Start a new audit", icon=":material/upload_file:")
        st.stop()
    return result

"""The dashboard's link to the audit registry: which registry, opened once per process, and the
app's writes to it (recording an audit, the audit trail of who viewed, downloaded, commented).

Which registry: ``COHORTAUDIT_REGISTRY`` (a ``sqlite:///PATH`` or ``postgresql://...`` URL, the
same variable the command line reads), else ``registry`` in the ``[cohortaudit]`` section of
``.streamlit/secrets.toml``, else a local SQLite file, ``~/.cohortaudit/registry.sqlite``, so the
single-user app keeps its history without any set-up. The registry is opened once per process
(``st.cache_resource``): opening runs the migration check, and every session shares the engine's
connection pool.

Nothing here computes a number: trends come from :meth:`Registry.trend`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

import identity
from cohortaudit.audit_registry import ENV_VAR, Entry, Registry, open_registry
from cohortaudit.audit_registry.url import display_url, parse_registry_url
from cohortaudit.errors import AuditError
from cohortaudit.integrity import write_manifest
from cohortaudit.render.json import write_json
from cohortaudit.results import AuditResult

#: The local default when nothing is configured.
DEFAULT_PATH = Path("~/.cohortaudit/registry.sqlite")


def registry_url() -> str:
    """The configured registry URL (see the module docstring for the order)."""
    url = os.environ.get(ENV_VAR)
    if url:
        return url
    try:
        section = st.secrets.get(identity.SECTION, {})
        if section and section.get("registry"):
            return str(section["registry"])
    except (FileNotFoundError, KeyError, AttributeError):
        pass
    except Exception:  # noqa: BLE001 - no secrets file at all: the local default
        pass
    return f"sqlite:///{DEFAULT_PATH.expanduser()}"


@st.cache_resource(show_spinner=False)
def _open(url: str) -> Registry:
    return open_registry(url)


def display(url: str) -> str:
    """The URL as it may be shown (a password replaced by ***)."""
    try:
        return display_url(parse_registry_url(url))
    except AuditError:
        return "(not a valid registry URL)"


def registry() -> tuple[Registry | None, str | None]:
    """The registry, or None and why it cannot be opened (shown to the user)."""
    url = registry_url()
    if url == f"sqlite:///{DEFAULT_PATH.expanduser()}":  # the local default: make its folder
        DEFAULT_PATH.expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        return _open(url), None
    except AuditError as exc:
        return None, str(exc)


def _actor() -> tuple[str, str]:
    user = identity.current_user()
    who = user.display_name + (f" <{user.email}>" if user.email else "")
    return who, user.role or "none"


def record_event(reg: Registry, entry_id: int, action: str, detail: str = "") -> None:
    """One line of the audit trail, by the signed-in user."""
    who, role = _actor()
    reg.record_event(entry_id, who, role, action, detail)


def record_result(reg: Registry, result: AuditResult) -> Entry:
    """Record the current audit: its audit.json and manifest, as the command line writes them,
    from a private temporary folder (removed afterwards), by the signed-in user."""
    who, _ = _actor()
    with tempfile.TemporaryDirectory(prefix="cohortaudit-record-") as tmp:
        write_json(result, Path(tmp) / "audit.json")
        write_manifest(tmp, result)
        return reg.record(Path(tmp), auditor=who, source="app")


def viewed_once(reg: Registry, entry_id: int) -> None:
    """Record "viewed" the first time this session opens an entry (not on every rerun)."""
    seen: set[int] = st.session_state.setdefault("_registry_viewed", set())
    if entry_id not in seen:
        record_event(reg, entry_id, "viewed")
        seen.add(entry_id)


def short(sha: str) -> str:
    return sha[:12]


def entry_label(e: Entry) -> str:
    where = e.site or e.cohort_name
    return f"#{e.entry_id} · {e.recorded_at[:16].replace('T', ' ')} UTC · {where}"


def group_options(audit: dict[str, Any]) -> list[dict[str, str]]:
    """All patients, then every single-attribute group of an audit.json, in its order."""
    out: list[dict[str, str]] = [{}]
    for g in audit.get("subgroups") or []:
        attrs = g.get("attributes") or {}
        if len(attrs) == 1 and attrs not in out:
            out.append(dict(attrs))
    return out

"""Who is using the dashboard, and what their role lets them do.

Why this module: a shared deployment (a hospital's AI committee, a notified body) signs users in
through OpenID Connect with Streamlit's ``st.login`` and must limit what each may do. Without an
``[auth]`` section in ``.streamlit/secrets.toml`` there is nobody to sign in: the dashboard is
the single-user local tool it always was, and :func:`current_user` is a local auditor.

Roles (what each may do, :data:`PERMISSIONS`):

- ``auditor``: run audits, sign, and everything a reviewer may do;
- ``reviewer``: read, comment, download;
- ``viewer``: read.

A signed-in user's role comes from, in this order: the roles file (a YAML mapping of subject or
e-mail to role) when it lists the user, else the ID token's role claim (``roles`` by default; a
string or a list, its values matched against the role names or mapped through ``role_values``,
the highest role found wins). No role: the user is refused (:func:`gate`).

Settings (:class:`AccessConfig`) come from the ``[cohortaudit]`` section of
``.streamlit/secrets.toml`` next to ``[auth]``; an environment variable, when set, wins over the
file (a container sets them without rewriting the secrets):

=====================  ==============================  ====================================
secrets key            environment variable            default
=====================  ==============================  ====================================
``role_claim``         ``COHORTAUDIT_ROLE_CLAIM``      ``roles``
``roles_file``         ``COHORTAUDIT_ROLES_FILE``      none
``role_values``        (secrets only, a table)         none (claim values are role names)
``workspace_root``     ``COHORTAUDIT_WORKSPACE_ROOT``  ``~/.cohortaudit/workspaces``
``retention_days``     ``COHORTAUDIT_RETENTION_DAYS``  ``30`` (0: keep until deleted)
``provider``           ``COHORTAUDIT_AUTH_PROVIDER``   none (the unnamed ``[auth]`` provider)
=====================  ==============================  ====================================

The claims themselves are untrusted text: they are shown escaped, and no path is ever built
from them (the workspace folder is named by :attr:`User.id`, a hash of issuer and subject).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cohortaudit.errors import ConfigError

AUDITOR, REVIEWER, VIEWER = "auditor", "reviewer", "viewer"
#: Lowest to highest: when the claim holds several roles, the highest one counts.
ROLES = (VIEWER, REVIEWER, AUDITOR)
ACTIONS = ("run", "sign", "comment", "download", "read")
PERMISSIONS: dict[str, frozenset[str]] = {
    AUDITOR: frozenset(ACTIONS),
    REVIEWER: frozenset({"read", "comment", "download"}),
    VIEWER: frozenset({"read"}),
}
#: Why an action is unavailable, in words a user can act on.
_WHY_NOT = {
    "run": "Starting an audit needs the auditor role",
    "sign": "Signing an audit needs the auditor role",
    "comment": "Commenting needs the reviewer or auditor role",
    "download": "Downloads need the reviewer or auditor role",
    "read": "Reading needs a cohortaudit role",
}

ENV_ROLE_CLAIM = "COHORTAUDIT_ROLE_CLAIM"
ENV_ROLES_FILE = "COHORTAUDIT_ROLES_FILE"
ENV_WORKSPACE_ROOT = "COHORTAUDIT_WORKSPACE_ROOT"
ENV_RETENTION_DAYS = "COHORTAUDIT_RETENTION_DAYS"
ENV_PROVIDER = "COHORTAUDIT_AUTH_PROVIDER"
#: The secrets section of these settings.
SECTION = "cohortaudit"
DEFAULT_RETENTION_DAYS = 30


@dataclass(frozen=True)
class User:
    """The person using the dashboard. ``id`` is stable and safe as a folder name."""

    id: str
    display_name: str
    email: str | None
    role: str | None  # None: signed in, but no cohortaudit role (refused)
    local: bool = False  # the single-user local app (no sign-in configured)


LOCAL_USER = User(id="local", display_name="Local user", email=None, role=AUDITOR, local=True)


@dataclass(frozen=True)
class AccessConfig:
    """Where roles come from and where workspaces live (see the module docstring)."""

    role_claim: str = "roles"
    roles_file: Path | None = None
    role_values: Mapping[str, str] = field(default_factory=dict)
    workspace_root: Path = Path("~/.cohortaudit/workspaces")
    retention_days: int = DEFAULT_RETENTION_DAYS
    provider: str | None = None


def load_access_config(section: Mapping[str, Any], env: Mapping[str, str]) -> AccessConfig:
    """The settings from the secrets' ``[cohortaudit]`` section, environment variables winning."""

    def pick(key: str, env_name: str | None) -> Any:
        if env_name and env.get(env_name, "").strip():
            return env[env_name].strip()
        return section.get(key)

    retention_raw = pick("retention_days", ENV_RETENTION_DAYS)
    try:
        retention = DEFAULT_RETENTION_DAYS if retention_raw is None else int(retention_raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"The 'retention_days' setting must be a whole number of days (0 keeps files until "
            f"they are deleted). Got {type(retention_raw).__name__} '{retention_raw}' instead."
        ) from None
    if retention < 0:
        raise ConfigError(f"The 'retention_days' setting must be 0 or more. Got {retention}.")
    role_values = dict(section.get("role_values") or {})
    for value, role in role_values.items():
        if role not in ROLES:
            raise ConfigError(
                f"The role_values entry '{value}' maps to '{role}', which is not a role. "
                f"Use one of {', '.join(ROLES)}."
            )
    roles_file = pick("roles_file", ENV_ROLES_FILE)
    root = pick("workspace_root", ENV_WORKSPACE_ROOT)
    return AccessConfig(
        role_claim=str(pick("role_claim", ENV_ROLE_CLAIM) or "roles"),
        roles_file=Path(roles_file).expanduser() if roles_file else None,
        role_values=role_values,
        workspace_root=Path(root or AccessConfig.workspace_root).expanduser(),
        retention_days=retention,
        provider=str(pick("provider", ENV_PROVIDER) or "") or None,
    )


def load_roles_file(path: Path) -> dict[str, str]:
    """The roles file: a YAML mapping of subject or e-mail address to role."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(
            f"The roles file '{path}' could not be read ({type(exc).__name__}). Check the "
            f"'roles_file' setting or {ENV_ROLES_FILE}."
        ) from None
    except yaml.YAMLError:
        raise ConfigError(f"The roles file '{path}' is not valid YAML.") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"The roles file '{path}' must be a mapping of subject or e-mail to role. Got "
            f"{type(data).__name__} instead."
        )
    roles = {}
    for who, role in data.items():
        if role not in ROLES:
            raise ConfigError(
                f"The roles file '{path}' gives an entry the role '{role}', which is not a "
                f"role. Use one of {', '.join(ROLES)}."
            )
        roles[str(who).strip().lower()] = str(role)
    return roles


def resolve_role(
    claims: Mapping[str, Any], config: AccessConfig, roles: Mapping[str, str] | None = None
) -> str | None:
    """The user's role: the roles file's entry (subject, then a verified e-mail), else the
    role claim."""
    if roles:
        # an address the provider says it has not verified could be anyone's: not matched
        email = claims.get("email") if claims.get("email_verified") is not False else None
        for key in (claims.get("sub"), email):
            if isinstance(key, str) and key.strip().lower() in roles:
                return roles[key.strip().lower()]
    raw = claims.get(config.role_claim)
    values = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list | tuple) else []
    found = set()
    for value in values:
        value = str(value)
        role = config.role_values.get(value, value if not config.role_values else None)
        if role in ROLES:
            found.add(role)
    return max(found, key=ROLES.index) if found else None


def user_id(issuer: str, subject: str) -> str:
    """A stable id from issuer and subject (together unique per OIDC), safe as a folder name."""
    return hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:32]


def user_from_claims(
    claims: Mapping[str, Any], config: AccessConfig, roles: Mapping[str, str] | None = None
) -> User:
    """The signed-in user from the ID token's claims (``st.user``)."""
    sub, iss = str(claims.get("sub") or ""), str(claims.get("iss") or "")
    email = claims.get("email")
    email = str(email) if email else None
    name = claims.get("name") or claims.get("preferred_username") or email or sub
    return User(
        id=user_id(iss, sub),
        display_name=str(name),
        email=email,
        role=resolve_role(claims, config, roles),
    )


def allowed(user: User, action: str) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"The 'action' parameter must be one of {ACTIONS}. Got {action!r}.")
    return user.role is not None and action in PERMISSIONS.get(user.role, frozenset())


def why_not(action: str) -> str:
    """Why ``action`` is unavailable to the current user (a sentence without its full stop)."""
    user = current_user()
    return f"{_WHY_NOT[action]}; you are signed in as a {user.role or 'user without a role'}"


# --------------------------------------------------------------------------------------------
# the running app (Streamlit)
# --------------------------------------------------------------------------------------------


def auth_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section (sign-in is on)."""
    import streamlit as st

    return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)


def access_config() -> AccessConfig:
    import streamlit as st

    section = st.secrets.get(SECTION, {}) if st.secrets.load_if_toml_exists() else {}
    return load_access_config(section, os.environ)


def current_user() -> User:
    """The user of this session: the local auditor without sign-in; else from ``st.user``.

    A signed-out visitor is a user with no role and an empty id (:func:`gate` stops before any
    page for them).
    """
    if not auth_configured():
        return LOCAL_USER
    import streamlit as st

    if not st.user.is_logged_in:
        return User(id="", display_name="", email=None, role=None)
    config = access_config()
    roles = load_roles_file(config.roles_file) if config.roles_file else None
    return user_from_claims(st.user.to_dict(), config, roles)


def can(action: str) -> bool:
    """May the current user do ``action`` (one of :data:`ACTIONS`)?"""
    return allowed(current_user(), action)


def gate() -> User:
    """Stop the run with the sign-in page or a refusal unless the user may use the dashboard."""
    import streamlit as st

    from cohortaudit.textsafe import for_markdown as md

    if not auth_configured():
        return LOCAL_USER
    try:
        config = access_config()
        user = current_user()
    except ConfigError as e:
        st.error(f"The sign-in settings are wrong: {md(e)} Ask the administrator.")
        st.stop()
    if not st.user.is_logged_in:
        st.title("cohortaudit")
        st.subheader("Sign in")
        st.markdown(
            "This is a shared cohortaudit deployment. Sign in with your organisation's account "
            "to see your own workspace: your uploads and audits are private to you."
        )
        if st.button("Sign in", type="primary", icon=":material/login:", key="w_sign_in"):
            st.login(config.provider) if config.provider else st.login()
        st.stop()
    if user.role is None:
        who = md(user.email or user.display_name)
        st.title("cohortaudit")
        st.error(
            f"**Access refused.** You are signed in as {who}, but your account has no "
            f"cohortaudit role (auditor, reviewer or viewer). Ask the administrator to give "
            f"you one (the '{md(config.role_claim)}' claim or the roles file), then sign in "
            "again.",
            icon=":material/block:",
        )
        if st.button("Sign out", key="w_sign_out_refused"):
            st.logout()
        st.stop()
    return user


def sidebar_user(user: User) -> None:
    """Who is signed in, their role, and the sign-out button (nothing in the local app)."""
    import streamlit as st

    from cohortaudit.textsafe import for_markdown as md

    if user.local:
        return
    with st.sidebar:
        st.divider()
        st.markdown(f"**Signed in** {md(user.display_name)}")
        if user.email and user.email != user.display_name:
            st.caption(md(user.email))
        st.markdown(f"**Role** {user.role}")
        if st.button("Sign out", icon=":material/logout:", key="w_sign_out"):
            st.logout()

"""Sign-in roles and private workspaces (issue 17, points 1 and 2): the pure parts.

The running app is driven end to end, with a real OIDC provider and two browsers at once, in
tests/app/test_auth_browser.py; here the rules themselves: which role a claim or the roles file
gives, which setting wins, what each role may do, where a user's folder is, and what the
retention time removes.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "app"))

import identity  # noqa: E402
import workspace  # noqa: E402
from cohortaudit.errors import ConfigError  # noqa: E402

CONFIG = identity.AccessConfig()


# --- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "role"),
    [
        ("auditor", "auditor"),
        (["viewer"], "viewer"),
        (["viewer", "auditor", "reviewer"], "auditor"),  # the highest role counts
        (["reviewer", "cohortaudit-admins"], "reviewer"),  # other groups are ignored
        ("admin", None),
        ([], None),
        (None, None),
        (7, None),
    ],
)
def test_the_role_comes_from_the_role_claim(claim, role):
    claims = {"sub": "u1", "iss": "https://idp"} | ({} if claim is None else {"roles": claim})
    assert identity.resolve_role(claims, CONFIG) == role


def test_a_configured_claim_name_and_value_mapping_are_used():
    config = identity.AccessConfig(
        role_claim="groups", role_values={"0b1c-guid": "auditor", "ai-committee": "reviewer"}
    )
    assert identity.resolve_role({"groups": ["ai-committee"]}, config) == "reviewer"
    assert identity.resolve_role({"groups": ["ai-committee", "0b1c-guid"]}, config) == "auditor"
    # with a mapping, only mapped values count: a group literally named "auditor" does not
    assert identity.resolve_role({"groups": ["auditor"]}, config) is None
    assert identity.resolve_role({"roles": ["auditor"]}, config) is None  # another claim


def test_the_roles_file_wins_over_the_claim_by_subject_then_email(tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text("Alice@Hospital.example: reviewer\nsub-bob: viewer\n", encoding="utf-8")
    roles = identity.load_roles_file(path)
    assert roles == {"alice@hospital.example": "reviewer", "sub-bob": "viewer"}
    alice = {"sub": "sub-alice", "email": "alice@hospital.example", "roles": "auditor"}
    assert identity.resolve_role(alice, CONFIG, roles) == "reviewer"
    bob = {"sub": "sub-bob", "email": "bob@hospital.example", "roles": ["auditor"]}
    assert identity.resolve_role(bob, CONFIG, roles) == "viewer"
    carol = {"sub": "sub-carol", "roles": ["auditor"]}  # not listed: the claim decides
    assert identity.resolve_role(carol, CONFIG, roles) == "auditor"
    # an e-mail address the provider marks as unverified is not matched against the file
    mallory = {"sub": "sub-m", "email": "alice@hospital.example", "email_verified": False}
    assert identity.resolve_role(mallory, CONFIG, roles) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a@b: admin\n", "gives an entry the role 'admin', which is not a role"),
        ("- a@b\n", "must be a mapping of subject or e-mail to role. Got list instead."),
        ("a: [\n", "is not valid YAML"),
    ],
)
def test_a_bad_roles_file_is_a_config_error(tmp_path, text, message):
    path = tmp_path / "roles.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        identity.load_roles_file(path)


def test_a_missing_roles_file_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="COHORTAUDIT_ROLES_FILE"):
        identity.load_roles_file(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("role", "may"),
    [
        ("auditor", {"run", "sign", "comment", "download", "read"}),
        ("reviewer", {"read", "comment", "download"}),
        ("viewer", {"read"}),
        (None, set()),
    ],
)
def test_what_each_role_may_do(role, may):
    user = identity.User(id="x", display_name="x", email=None, role=role)
    assert {a for a in identity.ACTIONS if identity.allowed(user, a)} == may


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError, match="The 'action' parameter must be one of"):
        identity.allowed(identity.LOCAL_USER, "delete")


def test_the_local_user_is_an_auditor():
    assert identity.LOCAL_USER.role == "auditor" and identity.LOCAL_USER.local


# --- the user and their folder name ----------------------------------------------------------


def test_the_user_id_is_a_hash_of_issuer_and_subject_never_the_claim():
    claims = {"iss": "https://idp", "sub": "../../etc", "email": "a@b", "roles": "viewer"}
    user = identity.user_from_claims(claims, CONFIG)
    expected = hashlib.sha256(b"https://idp\n../../etc").hexdigest()[:32]
    assert user.id == expected
    assert user.display_name == "a@b" and user.email == "a@b" and user.role == "viewer"
    # the same subject at another issuer is another user
    other = identity.user_from_claims(claims | {"iss": "https://other"}, CONFIG)
    assert other.id != user.id
    assert identity.user_from_claims(claims | {"name": "Dr A"}, CONFIG).display_name == "Dr A"


# --- settings: secrets section, environment winning ------------------------------------------


def test_settings_default_without_a_section():
    config = identity.load_access_config({}, {})
    assert config == identity.AccessConfig(
        workspace_root=Path("~/.cohortaudit/workspaces").expanduser()
    )
    assert config.retention_days == 30 and config.role_claim == "roles"


def test_environment_variables_win_over_the_secrets_section(tmp_path):
    section = {
        "role_claim": "groups",
        "roles_file": str(tmp_path / "a.yaml"),
        "workspace_root": str(tmp_path / "ws-secrets"),
        "retention_days": 7,
        "provider": "keycloak",
    }
    env = {
        "COHORTAUDIT_ROLE_CLAIM": "cohortaudit_role",
        "COHORTAUDIT_WORKSPACE_ROOT": str(tmp_path / "ws-env"),
        "COHORTAUDIT_RETENTION_DAYS": "3",
        "COHORTAUDIT_ROLES_FILE": "",  # empty: not set, the file's value stands
    }
    config = identity.load_access_config(section, env)
    assert config.role_claim == "cohortaudit_role"
    assert config.workspace_root == tmp_path / "ws-env"
    assert config.retention_days == 3
    assert config.roles_file == tmp_path / "a.yaml"
    assert config.provider == "keycloak"
    assert identity.load_access_config(section, {}).retention_days == 7


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a week", "must be a whole number of days .* Got str 'a week' instead"),
        (-1, "must be 0 or more. Got -1"),
    ],
)
def test_a_bad_retention_is_a_config_error(value, message):
    with pytest.raises(ConfigError, match=message):
        identity.load_access_config({"retention_days": value}, {})


def test_a_role_values_entry_must_name_a_role():
    with pytest.raises(ConfigError, match="maps to 'admin', which is not a role"):
        identity.load_access_config({"role_values": {"g": "admin"}}, {})


# --- workspaces ------------------------------------------------------------------------------


def test_each_user_has_a_private_folder_under_the_root(tmp_path):
    a = workspace.user_folder(tmp_path, "a" * 32)
    b = workspace.user_folder(tmp_path, "b" * 32)
    assert a.parent == b.parent == tmp_path and a != b
    assert (a / "uploads").is_dir() and (a / "results").is_dir()
    assert oct(a.stat().st_mode & 0o777) == "0o700"
    with pytest.raises(ValueError, match="hexadecimal user id"):
        workspace.user_folder(tmp_path, "../x")
    with pytest.raises(ValueError, match="hexadecimal user id"):
        workspace.user_folder(tmp_path, "")


def test_results_are_listed_per_user_newest_first(tmp_path):
    a = workspace.user_folder(tmp_path, "a" * 32)
    b = workspace.user_folder(tmp_path, "b" * 32)
    first = workspace.save_result(a, "cvd risk/1.0", '{"x": 1}')
    os.utime(first, (time.time() - 60, time.time() - 60))
    second = workspace.save_result(a, "other", "{}")
    assert first.name.endswith("-cvd_risk_1.0-audit.json")  # no path separator survives
    assert [f.path for f in workspace.list_files(a, workspace.RESULTS)] == [second, first]
    assert workspace.list_files(b, workspace.RESULTS) == []
    workspace.delete_workspace(a)
    assert not a.exists() and b.exists()


def test_files_past_the_retention_time_are_purged(tmp_path):
    a = workspace.user_folder(tmp_path, "a" * 32)
    b = workspace.user_folder(tmp_path, "b" * 32)
    old = a / "uploads" / "cohort.csv"
    old.write_text("x\n1\n")
    fresh = a / "results" / "r.json"
    fresh.write_text("{}")
    b_old = b / "results" / "r.json"
    b_old.write_text("{}")
    now = time.time()
    eight_days_ago = now - 8 * 86400
    for path in (old, b_old):
        os.utime(path, (eight_days_ago, eight_days_ago))
    assert workspace.purge_expired(tmp_path, 0, now=now) == 0  # 0 keeps everything
    assert workspace.purge_expired(tmp_path, 10, now=now) == 0
    assert workspace.purge_expired(tmp_path, 7, now=now) == 2
    assert not old.exists() and fresh.exists()
    assert not b.exists()  # emptied: the user's folder goes too
    assert workspace.purge_expired(tmp_path / "absent", 7) == 0

"""The deployment example (issue 17, point 6): deploy/compose.yaml and its companions hold together.

Parsed with yaml: every secret, volume and build file a service names exists; the proxy reaches
the port the app listens on; the database the registry URL names is the one PostgreSQL creates;
the environment variables are the ones the app reads; the example secrets parse and give the
settings the app understands. When the docker CLI has the compose plugin, ``docker compose
config -q`` checks the file as Docker reads it too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(ROOT / "app"))

import identity  # noqa: E402


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_the_three_services(compose):
    assert set(compose["services"]) == {"app", "db", "proxy"}
    assert compose["services"]["db"]["image"].startswith("postgres:")
    assert compose["services"]["proxy"]["image"].startswith("caddy:")


def test_every_named_secret_and_volume_is_declared(compose):
    declared_secrets = set(compose["secrets"])
    declared_volumes = set(compose["volumes"])
    for name, service in compose["services"].items():
        assert set(service.get("secrets", ())) <= declared_secrets, name
        for mount in service.get("volumes", ()):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts the missing {source}"
            else:
                assert source in declared_volumes, f"{name} mounts the undeclared {source}"
        for dep in service.get("depends_on", ()):
            assert dep in compose["services"], f"{name} depends on the unknown {dep}"
    # every declared secret and volume is used by some service
    used_secrets = {s for svc in compose["services"].values() for s in svc.get("secrets", ())}
    used_volumes = {
        v.split(":")[0] for svc in compose["services"].values() for v in svc.get("volumes", ())
    }
    assert declared_secrets == used_secrets and declared_volumes <= used_volumes
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./")  # next to compose.yaml, git-ignored


def test_the_build_files_exist_and_the_dockerfile_copies_what_the_app_needs(compose):
    build = compose["services"]["app"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    dockerfile = (context / build["dockerfile"]).read_text(encoding="utf-8")
    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.M):
        for item in copied.split():
            assert (ROOT / item).exists(), f"the Dockerfile copies the missing {item}"
    assert "pip install -q -r requirements.lock" in dockerfile  # the pinned lock


def test_the_app_reads_its_secrets_and_workspace_where_compose_puts_them(compose):
    app = compose["services"]["app"]
    command = app["command"]
    secret_file = next(a for a in command if a.startswith("--secrets.files="))
    assert secret_file == "--secrets.files=/run/secrets/cohortaudit_secrets"
    assert "cohortaudit_secrets" in app["secrets"]
    env = app["environment"]
    assert set(env) <= {identity.ENV_WORKSPACE_ROOT, identity.ENV_RETENTION_DAYS}
    workspace_mount = next(v for v in app["volumes"] if v.startswith("workspaces:"))
    assert workspace_mount.split(":")[1] == env[identity.ENV_WORKSPACE_ROOT]
    assert identity.load_access_config({}, env).retention_days == 30


def test_the_registry_url_names_the_database_postgres_creates(compose):
    entry = " ".join(compose["services"]["app"]["entrypoint"])
    match = re.search(r'COHORTAUDIT_REGISTRY="postgresql://(\w+):.*@(\w+):(\d+)/(\w+)"', entry)
    assert match, entry
    user, host, port, database = match.groups()
    db = compose["services"]["db"]
    assert host == "db" and port == "5432"
    assert db["environment"]["POSTGRES_USER"] == user
    assert db["environment"]["POSTGRES_DB"] == database
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "$$(cat /run/secrets/postgres_password)" in entry  # $$: compose leaves $ to the shell
    assert compose["services"]["app"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_the_proxy_reaches_the_port_the_app_listens_on(compose):
    command = compose["services"]["app"]["command"]
    port = next(a for a in command if a.startswith("--server.port=")).split("=")[1]
    assert port in compose["services"]["app"]["expose"]
    caddyfile = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert f"reverse_proxy app:{port}" in caddyfile
    assert "{$COHORTAUDIT_HOST}" in caddyfile
    assert "COHORTAUDIT_HOST" in compose["services"]["proxy"]["environment"]


def test_the_example_secrets_parse_into_settings_the_app_understands():
    secrets = tomllib.loads((DEPLOY / "secrets.example.toml").read_text(encoding="utf-8"))
    auth = secrets["auth"]
    for key in ("redirect_uri", "cookie_secret", "client_id", "client_secret"):
        assert auth[key]
    assert auth["redirect_uri"].endswith("/oauth2callback")
    assert auth["server_metadata_url"].endswith("/.well-known/openid-configuration")
    config = identity.load_access_config(secrets["cohortaudit"], {})
    assert config.workspace_root == Path("/data/workspaces")
    assert config.retention_days == 30 and config.role_claim == "roles"
    roles = identity.load_roles_file(DEPLOY / "roles.example.yaml")
    assert set(roles.values()) <= set(identity.ROLES)


def test_real_secrets_are_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["deploy/secrets.toml", "deploy/postgres_password.txt", ".streamlit/secrets.toml"]
    ignored = subprocess.run(
        ["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ignored.stdout.split() == paths


def _compose_cli() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return docker if probe.returncode == 0 else None


def test_docker_compose_accepts_the_file(tmp_path):
    docker = _compose_cli()
    if docker is None:
        pytest.skip("the docker CLI with the compose plugin is not installed here")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    (copy / "secrets.toml").write_text((DEPLOY / "secrets.example.toml").read_text())
    (copy / "postgres_password.txt").write_text("test\n")
    result = subprocess.run(
        [docker, "compose", "-f", str(copy / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr

"""Fixtures of the audit-registry tests: a real PostgreSQL server, registry URLs, audit outputs.

The PostgreSQL server is started by the suite itself (Debian's ``postgresql`` package, which
``./dev.sh`` installs like chromium): ``initdb`` and ``pg_ctl`` as the ``postgres`` user when
run as root, in a temporary folder, on a free loopback port, stopped at the end of the session.
On a laptop without the binaries the PostgreSQL tests are skipped; under ``CI=1`` they fail,
because a lane that silently skips the shared-deployment backend is not the full lane.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
SITES = ("DE-Berlin", "ES-Valencia", "FI-Tampere", "FR-Lyon")
IN_CI = bool(os.environ.get("CI"))


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:PORT``: a throwaway server for this session."""
    bindir = _pg_bin()
    if bindir is None:
        reason = "PostgreSQL binaries not found (/usr/lib/postgresql/*/bin; apt-get install postgresql)"
        if IN_CI:
            pytest.fail(f"CI is set, so the PostgreSQL registry tests must run, but {reason}.")
        pytest.skip(reason)
    pytest.importorskip("psycopg")
    base = Path(tempfile.mkdtemp(prefix="cohortaudit-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True,
    )  # fmt: skip
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    subprocess.run(
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l",
                      str(base / "server.log"), "-w", "-t", "60", "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's server."""
    import psycopg

    name = "reg_" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{pg_server}/{name}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(name)


def tiny_audit(folder: Path, *, model: str = "a" * 64, cohort: str = "b" * 64) -> Path:
    """The smallest audit.json the registry accepts (the fields it indexes), for the tests of
    the chain and of concurrency that do not need real numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    audit = {
        "schema_version": "1.5.0",
        "model": {"sha256": model, "name": "TinyModel", "version": "1.0", "card_sha256": None},
        "cohort": {"sha256": cohort, "file": "tiny.csv", "n": 100, "events": 10},
        "overall": {"attributes": {}, "n": 100, "metrics": {}},
        "subgroups": [],
        "policy": [],
    }
    (folder / "audit.json").write_text(json.dumps(audit, indent=1))
    return folder


@pytest.fixture(scope="session")
def site_outputs(tmp_path_factory) -> dict[str, Path]:
    """The four sample sites, each pooled on its own: four cohorts of one model."""
    from cohortaudit.cli import main

    base = tmp_path_factory.mktemp("sites")
    out = {}
    for site in SITES:
        assert main(["pool", str(SAMPLE / "sites" / f"{site}.json"), "--out",
                     str(base / site), "--quiet"]) == 0  # fmt: skip
        out[site] = base / site
    return out


@pytest.fixture(scope="session")
def signed_audit(tmp_path_factory) -> Path:
    """A small signed audit of the sample's first 1,500 patients, with a two-rule policy."""
    from cohortaudit.cli import main

    base = tmp_path_factory.mktemp("signed")
    rows = (SAMPLE / "cohort.csv").read_text().splitlines()[:1501]
    (base / "cohort.csv").write_text("\n".join(rows) + "\n")
    (base / "policy.yaml").write_text(
        "name: two rules\nrules:\n"
        "  - id: auroc-floor\n    metric: auroc\n    scope: overall\n    bound: ci_low\n"
        "    op: '>='\n    threshold: 0.6\n"
        "  - id: oe-sex\n    metric: oe_ratio\n    scope: attribute:sex\n    bound: ci_overlaps\n"
        "    between: [0.8, 1.25]\n"
    )
    assert main(["keygen", "--out", str(base / "k")]) == 0
    code = main([
        "audit", "--model", str(SAMPLE / "model.onnx"), "--card", str(SAMPLE / "model.card.yaml"),
        "--cohort", str(base / "cohort.csv"), "--label", "cvd_10y", "--sensitive", "sex",
        "--n-boot", "30", "--no-explain", "--no-safety", "--policy", str(base / "policy.yaml"),
        "--sign", str(base / "k.key"), "--out", str(base / "out"), "--quiet",
    ])  # fmt: skip
    assert code in (0, 1)
    return base / "out"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``cohortaudit ARGS`` in a fresh process (the way a user and a concurrent writer run it)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from cohortaudit.cli import main; sys.exit(main())",
         *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def wait_until(t: float) -> None:
    while time.time() < t:
        time.sleep(0.01)

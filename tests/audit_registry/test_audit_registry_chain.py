"""The registry is append-only and tamper-evident, and concurrent writers keep one chain
(issue 17, point 3): each entry's hash covers its fields, its files and the previous hash."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cohortaudit.audit_registry import open_registry
from cohortaudit.audit_registry.chain import GENESIS, canonical
from cohortaudit.audit_registry.url import parse_registry_url
from conftest import ROOT, run_cli, tiny_audit

WORKER = Path(__file__).with_name("registry_writer_worker.py")


def _three_entries(url: str, tmp_path: Path) -> None:
    with open_registry(url) as reg:
        for name in ("a", "b", "c"):
            reg.record(tiny_audit(tmp_path / name, cohort=name * 64), auditor=name, source="cli")
        reg.record_event(2, "rita", "reviewer", "commented", "looks fine")


def _attack(url: str, *statements: str, params: dict | None = None) -> None:
    """What an attacker with database access does: drop the triggers, then edit."""
    engine = create_engine(parse_registry_url(url))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table in ("entries", "blobs", "events"):
                conn.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
        else:
            for table in ("entries", "blobs", "events"):
                for verb in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER {table}_no_{verb}"))
        for sql in statements:
            conn.execute(text(sql), params or {})
    engine.dispose()


def test_the_entry_hash_is_the_sha256_of_the_canonical_fields_files_and_previous_hash(
    sqlite_url, tmp_path
):
    folder = tiny_audit(tmp_path / "a")
    with open_registry(sqlite_url) as reg:
        first = reg.record(folder, auditor="ann", source="cli")
        second = reg.record(folder, auditor="ann", source="cli")
    body = {
        "entry_id": 1, "recorded_at": first.recorded_at, "model_sha256": "a" * 64,
        "model_name": "TinyModel", "card_version": "1.0", "card_sha256": "",
        "cohort_sha256": "b" * 64, "cohort_name": "tiny.csv", "site": "", "auditor": "ann",
        "source": "cli", "schema_version": "1.5.0", "outcome_kind": "binary",
        "policy_verdict": "none", "prev_hash": GENESIS,
        "blobs": {"audit.json": hashlib.sha256((folder / "audit.json").read_bytes()).hexdigest()},
    }  # fmt: skip
    expected = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert canonical(body) == expected
    assert first.entry_hash == hashlib.sha256(expected).hexdigest()
    assert second.prev_hash == first.entry_hash and second.entry_hash != first.entry_hash


@pytest.mark.parametrize(
    ("statements", "broken", "reason"),
    [
        (["UPDATE entries SET auditor = 'mallory' WHERE entry_id = 2"], "entry 2",
         "its fields or files do not match its entry_hash"),
        (["UPDATE entries SET policy_verdict = 'pass', recorded_at = '2020-01-01T00:00:00Z' "
          "WHERE entry_id = 3"], "entry 3", "its fields or files do not match its entry_hash"),
        (["UPDATE blobs SET content = :fake WHERE entry_id = 2"], "entry 2",
         "stored audit.json does not match its SHA-256"),
        (["UPDATE blobs SET content = :fake, sha256 = :fake_sha, size = :fake_size "
          "WHERE entry_id = 2"], "entry 2",
         "its fields or files do not match its entry_hash"),
        (["DELETE FROM events WHERE entry_id = 2", "DELETE FROM blobs WHERE entry_id = 2",
          "DELETE FROM entries WHERE entry_id = 2"], "entry 3",
         "sequence number 3 where 2 was expected"),
        (["UPDATE events SET detail = 'rejected' WHERE event_id = 4"], "event 4",
         "its fields do not match its event_hash"),
    ],
)  # fmt: skip
def test_a_tampered_row_is_caught_and_the_first_broken_entry_is_named(
    registry_url, tmp_path, statements, broken, reason
):
    _three_entries(registry_url, tmp_path)
    fake = b'{"model": {"sha256": "' + b"a" * 64 + b'"}, "policy": []}'
    _attack(registry_url, *statements,
            params={"fake": fake, "fake_sha": hashlib.sha256(fake).hexdigest(),
                    "fake_size": len(fake)})  # fmt: skip
    with open_registry(registry_url) as reg:
        report = reg.verify()
    assert not report.intact
    assert (report.first_broken, report.reason) == (broken, reason)
    done = run_cli("registry", "verify", "--registry", registry_url)
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith(f"ChainBroken: {broken}: {reason}.")
    assert "Traceback" not in done.stderr


def test_an_intact_registry_verifies_with_exit_0(registry_url, tmp_path):
    _three_entries(registry_url, tmp_path)
    done = run_cli("registry", "verify", "--registry", registry_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Registry intact: 3 entries, 4 events; head hash ")


@pytest.mark.slow
def test_concurrent_writers_make_one_intact_chain(registry_url, tmp_path):
    """Four processes append five audits and five comments each, all starting at once: 20
    entries and 40 events, numbered 1..N without a gap or a repeat, one intact chain."""
    folder = tiny_audit(tmp_path / "a")
    with open_registry(registry_url):
        pass  # the schema exists before the race (opening concurrently is also safe)
    writers, per_writer = 4, 5
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    start = time.time() + 4  # every writer has imported and connected by then
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), registry_url, str(folder), str(per_writer),
             str(start), f"writer{i}"],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for i in range(writers)
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    with open_registry(registry_url) as reg:
        entries = reg.entries()
        events = reg.events()
        report = reg.verify()
    assert [e.entry_id for e in entries] == list(range(1, writers * per_writer + 1))
    assert [e.event_id for e in events] == list(range(1, 2 * writers * per_writer + 1))
    assert report.intact and report.entries == 20 and report.events == 40
    by_writer = {f"writer{i}": 0 for i in range(writers)}
    for e in entries:
        by_writer[e.auditor] += 1
    assert set(by_writer.values()) == {per_writer}
    # interleaved: the writers really ran at once, not one after the other
    order = [e.auditor for e in entries]
    assert sum(a != b for a, b in zip(order, order[1:], strict=False)) >= writers - 1
    for prev, cur in zip(entries, entries[1:], strict=False):
        assert cur.prev_hash == prev.entry_hash

"""Recording and reading audits, on SQLite and on a real PostgreSQL server (issue 17, point 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from cohortaudit.audit_registry import ChainReport, Entry, open_registry
from cohortaudit.audit_registry.url import parse_registry_url
from cohortaudit.errors import ConfigError, InputError
from conftest import SAMPLE, tiny_audit


def test_a_signed_audit_is_stored_byte_for_byte_with_its_index_fields(registry_url, signed_audit):
    audit = json.loads((signed_audit / "audit.json").read_bytes())
    with open_registry(registry_url) as reg:
        entry = reg.record(signed_audit, auditor="dr.ann", source="cli")
        assert isinstance(entry, Entry)
        assert entry.entry_id == 1
        assert entry.model_sha256 == audit["model"]["sha256"]
        assert entry.model_name == "CardioRisk-EU" and entry.card_version == "2.1.0"
        assert entry.card_sha256 == audit["model"]["card_sha256"]
        assert entry.cohort_sha256 == audit["cohort"]["sha256"]
        assert entry.cohort_name == "cohort.csv" and entry.site == ""
        assert (entry.auditor, entry.source) == ("dr.ann", "cli")
        assert entry.schema_version == audit["schema_version"]
        assert entry.outcome_kind == "binary"
        statuses = {v["status"] for v in audit["policy"]}
        assert entry.policy_verdict == ("fail" if "fail" in statuses else entry.policy_verdict)
        assert entry.recorded_at.endswith("Z") and entry.prev_hash == "0" * 64
        assert [b.name for b in entry.blobs] == ["audit.json", "manifest.json", "manifest.sig"]
        for blob in entry.blobs:
            assert reg.blob(1, blob.name) == (signed_audit / blob.name).read_bytes()
        assert reg.audit_json(1) == (signed_audit / "audit.json").read_bytes()
        assert reg.get("1") == entry
        assert reg.entries() == [entry] == reg.entries(entry.model_sha256)
        assert reg.entries("f" * 64) == []
        assert [tuple(m) for m in reg.models()] == [(entry.model_sha256, "CardioRisk-EU", 1)]
        assert [(e.actor, e.role, e.action) for e in reg.events(1)] == [
            ("dr.ann", "auditor", "ran"),
            ("dr.ann", "auditor", "signed"),
        ]
        report = reg.verify()
        assert report == ChainReport(True, 1, 2, entry.entry_hash)


def test_the_policy_verdict_counts_insufficient_data_as_its_rule_says(tmp_path, sqlite_url):
    def with_policy(name, verdicts):
        folder = tiny_audit(tmp_path / name)
        audit = json.loads((folder / "audit.json").read_text())
        audit["policy"] = verdicts
        (folder / "audit.json").write_text(json.dumps(audit))
        return folder

    ok = {"rule_id": "r", "group": {}, "status": "pass"}
    warn = {"rule_id": "w", "group": {}, "status": "insufficient data", "counts_as": "warn"}
    bad = {"rule_id": "f", "group": {}, "status": "insufficient data", "counts_as": "fail"}
    with open_registry(sqlite_url) as reg:
        got = [
            reg.record(with_policy(n, v), auditor="a", source="app").policy_verdict
            for n, v in [("none", []), ("pass", [ok]), ("warn", [ok, warn]), ("fail", [warn, bad])]
        ]
    assert got == ["none", "pass", "warn", "fail"]


def test_a_pooled_audit_is_indexed_by_its_sites(sqlite_url, site_outputs):
    audit = json.loads((site_outputs["FI-Tampere"] / "audit.json").read_bytes())
    import hashlib

    content = audit["sites"]["sites"][0]["content_sha256"]
    with open_registry(sqlite_url) as reg:
        entry = reg.record(site_outputs["FI-Tampere"], auditor="coord", source="pool")
    assert entry.site == "FI-Tampere"
    assert entry.cohort_sha256 == hashlib.sha256(content.encode()).hexdigest()
    assert [b.name for b in entry.blobs] == ["audit.json"]  # pool writes no manifest


def test_no_patient_row_is_ever_stored(tmp_path, signed_audit):
    """Everything the registry file holds is scanned for the values of the audited patients:
    a whole row, and the continuous measurements that identify one. The output folder even
    holds a copy of the cohort: only the released files are read."""
    folder = tmp_path / "out"
    shutil.copytree(signed_audit, folder)
    shutil.copy(SAMPLE / "cohort.csv", folder / "cohort.csv")
    db = tmp_path / "scan.db"
    with open_registry(f"sqlite:///{db}") as reg:
        entry = reg.record(folder, auditor="a", source="cli")
    assert {b.name for b in entry.blobs} == {"audit.json", "manifest.json", "manifest.sig"}
    stored = db.read_bytes()
    for blob in ("audit.json", "manifest.json"):
        stored += (signed_audit / blob).read_bytes()  # what the entry holds, uncompressed
    cohort = pd.read_csv(SAMPLE / "cohort.csv", nrows=1500, dtype=str)
    raw_rows = (SAMPLE / "cohort.csv").read_text().splitlines()[1:1501]
    assert not [r for r in raw_rows if r.encode() in stored]
    # a patient's (sbp, total_chol, hdl) triple, in any of the ways it could be written out
    leaked = [
        r for r in cohort.itertuples()
        if f'{r.sbp}, {r.total_chol}, {r.hdl}'.encode() in stored
        or f'"sbp": {r.sbp}, "total_chol": {r.total_chol}'.encode() in stored
        or f"{r.sbp},{r.total_chol},{r.hdl}".encode() in stored
    ]  # fmt: skip
    assert leaked == []


def test_the_tables_refuse_update_and_delete(registry_url, tmp_path):
    with open_registry(registry_url) as reg:
        reg.record(tiny_audit(tmp_path / "a"), auditor="a", source="cli")
    engine = create_engine(parse_registry_url(registry_url))  # a plain client, as a user's
    try:
        for sql in (
            "UPDATE entries SET auditor = 'mallory'",
            "DELETE FROM entries",
            "UPDATE blobs SET content = content",
            "DELETE FROM blobs",
            "UPDATE events SET detail = 'x'",
            "DELETE FROM events",
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(sql))
    finally:
        engine.dispose()
    with open_registry(registry_url) as reg:
        assert reg.verify().intact


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "holds no audit.json"),
        (lambda d: (d / "audit.json").write_text("{not json"), "is not valid JSON"),
        (lambda d: (d / "audit.json").write_text("[1, 2]"), "is not an audit result"),
        (
            lambda d: (d / "audit.json").write_text('{"model": {"sha256": "abc"}}'),
            "model.sha256 is not 64 hexadecimal digits",
        ),
        (
            lambda d: (d / "audit.json").write_bytes(b" " * (64 * 2**20 + 1)),
            "the registry stores a audit.json of at most 67,108,864 bytes",
        ),
    ],
)
def test_malformed_or_oversized_outputs_are_refused_and_nothing_is_stored(
    tmp_path, sqlite_url, make, message
):
    folder = tmp_path / "out"
    folder.mkdir()
    make(folder)
    with open_registry(sqlite_url) as reg:
        with pytest.raises(InputError, match=message):
            reg.record(folder, auditor="a", source="cli")
        assert reg.entries() == [] and reg.events() == []


def test_an_oversized_signature_and_a_broken_manifest_are_refused(tmp_path, sqlite_url):
    folder = tiny_audit(tmp_path / "sig")
    (folder / "manifest.sig").write_bytes(b"x" * 5000)
    with open_registry(sqlite_url) as reg:
        with pytest.raises(InputError, match="manifest.sig of at most 4,096 bytes"):
            reg.record(folder, auditor="a", source="cli")
        (folder / "manifest.sig").unlink()
        (folder / "manifest.json").write_text("{")
        with pytest.raises(InputError, match="is not valid JSON"):
            reg.record(folder, auditor="a", source="cli")


def test_record_checks_its_arguments(tmp_path, sqlite_url):
    folder = tiny_audit(tmp_path / "a")
    with open_registry(sqlite_url) as reg:
        with pytest.raises(ConfigError, match=r"source must be one of \['cli', 'app', 'pool'\]"):
            reg.record(folder, auditor="a", source="web")
        with pytest.raises(InputError, match="auditor must be 1 to 200 printable characters"):
            reg.record(folder, auditor="", source="cli")
        with pytest.raises(InputError, match="is not a folder"):
            reg.record(tmp_path / "missing", auditor="a", source="cli")


def test_the_audit_trail_records_who_did_what_to_which_entry(registry_url, tmp_path):
    with open_registry(registry_url) as reg:
        first = reg.record(tiny_audit(tmp_path / "a"), auditor="ann", source="app")
        second = reg.record(tiny_audit(tmp_path / "b"), auditor="bob", source="cli")
        viewed = reg.record_event(first.entry_id, "rita", "reviewer", "viewed")
        reg.record_event(first.entry_id, "rita", "reviewer", "downloaded", "audit.json")
        comment = reg.record_event(
            second.entry_id, "rita", "reviewer", "commented", "O/E drifts at FI-Tampere"
        )
        assert (viewed.entry_id, viewed.actor, viewed.role, viewed.action) == (
            1, "rita", "reviewer", "viewed",
        )  # fmt: skip
        assert comment.detail == "O/E drifts at FI-Tampere"
        assert [e.action for e in reg.events(1)] == ["ran", "viewed", "downloaded"]
        assert [e.action for e in reg.events(2)] == ["ran", "commented"]
        assert [e.event_id for e in reg.events()] == [1, 2, 3, 4, 5]
        assert reg.events()[2].prev_hash == reg.events()[1].event_hash
        with pytest.raises(InputError, match="action must be one of"):
            reg.record_event(1, "rita", "reviewer", "deleted")
        with pytest.raises(InputError, match="A comment needs its text"):
            reg.record_event(1, "rita", "reviewer", "commented", "  ")
        with pytest.raises(InputError, match="role must be a short lower-case name"):
            reg.record_event(1, "rita", "Reviewer!", "viewed")
        with pytest.raises(ConfigError, match="The registry has no entry 9"):
            reg.record_event(9, "rita", "reviewer", "viewed")
        assert reg.verify().intact and reg.verify().events == 5


def test_reading_a_missing_entry_names_it(sqlite_url):
    with open_registry(sqlite_url) as reg:
        with pytest.raises(ConfigError, match="The registry has no entry 3;"):
            reg.get(3)
        with pytest.raises(ConfigError, match="An entry ID is a whole number"):
            reg.get("abc")
        assert reg.verify() == ChainReport(True, 0, 0, "0" * 64)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "The registry URL is empty"),
        ("not a url", "is not a database URL"),
        ("mysql://u@h/db", "uses 'mysql', which the registry does not support"),
        ("sqlite://", "must be kept in a file, not in memory"),
        ("sqlite:////no/such/folder/r.db", "The registry's folder /no/such/folder does not exist"),
        ("postgresql+asyncpg://u@h/db", "use the psycopg 3 driver"),
        ("postgresql://u@h", "names no database"),
    ],
)
def test_bad_registry_urls_are_refused_with_what_is_expected(url, message):
    with pytest.raises(ConfigError, match=message):
        parse_registry_url(url)


def test_postgresql_urls_use_psycopg_3_and_messages_hide_the_password():
    url = parse_registry_url("postgresql://ann:s3cret@db.example:5432/audits")
    assert url.drivername == "postgresql+psycopg"
    assert parse_registry_url("postgres://ann@db/audits").drivername == "postgresql+psycopg"
    with pytest.raises(ConfigError) as info:
        open_registry("postgresql://ann:s3cret@127.0.0.1:1/audits")
    assert "s3cret" not in str(info.value) and "Cannot open the audit registry" in str(info.value)


def test_the_default_registry_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("COHORTAUDIT_REGISTRY", raising=False)
    with pytest.raises(ConfigError, match="pass --registry URL .* or set COHORTAUDIT_REGISTRY"):
        open_registry()
    monkeypatch.setenv("COHORTAUDIT_REGISTRY", f"sqlite:///{tmp_path / 'env.db'}")
    with open_registry() as reg:
        reg.record(tiny_audit(tmp_path / "a"), auditor="a", source="cli")
    assert (tmp_path / "env.db").exists()


def test_reopening_a_registry_keeps_its_entries(tmp_path: Path, sqlite_url):
    with open_registry(sqlite_url) as reg:
        reg.record(tiny_audit(tmp_path / "a"), auditor="a", source="cli")
    with open_registry(sqlite_url) as reg:
        assert len(reg.entries()) == 1 and reg.verify().intact

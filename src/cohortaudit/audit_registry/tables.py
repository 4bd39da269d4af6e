"""The registry's three tables, as SQLAlchemy Core tables (the Alembic revision creates them).

``entries`` holds one row per recorded audit (its index fields and hash chain), ``blobs`` the
files the audit released (audit.json, manifest.json, manifest.sig), ``events`` the audit trail.
All three are append-only: the migration adds triggers refusing UPDATE and DELETE, and every
row is covered by a hash chain, so an edit made after dropping the triggers is still found by
:func:`cohortaudit.audit_registry.chain.verify_rows`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["metadata", "entries", "blobs", "events", "INDEXED_FIELDS", "EVENT_FIELDS"]

metadata = MetaData()

entries = Table(
    "entries",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=False),
    Column("recorded_at", String(32), nullable=False, index=True),
    Column("model_sha256", String(64), nullable=False, index=True),
    Column("model_name", String(200), nullable=False, index=True),
    Column("card_version", String(100), nullable=False),
    Column("card_sha256", String(64), nullable=False),
    Column("cohort_sha256", String(64), nullable=False, index=True),
    Column("cohort_name", String(300), nullable=False),
    Column("site", String(1000), nullable=False, index=True),
    Column("auditor", String(200), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("schema_version", String(32), nullable=False),
    Column("outcome_kind", String(32), nullable=False),
    Column("policy_verdict", String(8), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False, unique=True),
)

blobs = Table(
    "blobs",
    metadata,
    Column("entry_id", Integer, ForeignKey("entries.entry_id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=False),
    Column("entry_id", Integer, ForeignKey("entries.entry_id"), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("action", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", String(32), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("event_hash", String(64), nullable=False, unique=True),
)

#: The entry fields the entry hash covers (with the blobs' hashes and ``prev_hash``).
INDEXED_FIELDS = (
    "entry_id",
    "recorded_at",
    "model_sha256",
    "model_name",
    "card_version",
    "card_sha256",
    "cohort_sha256",
    "cohort_name",
    "site",
    "auditor",
    "source",
    "schema_version",
    "outcome_kind",
    "policy_verdict",
)

#: The event fields the event hash covers (with ``prev_hash``).
EVENT_FIELDS = ("event_id", "entry_id", "actor", "role", "action", "detail", "at")

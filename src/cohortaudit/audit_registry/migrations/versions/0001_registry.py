"""The first registry schema: entries, blobs, events, and the append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2026-12-08

The triggers refuse UPDATE and DELETE on all three tables (and TRUNCATE on PostgreSQL), so an
entry cannot be changed through the database by mistake or by a tool that does not know the
rules; an attacker who drops them is still caught by the hash chain (``registry verify``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = ("entries", "blobs", "events")


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.String(32), nullable=False, index=True),
        sa.Column("model_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("model_name", sa.String(200), nullable=False, index=True),
        sa.Column("card_version", sa.String(100), nullable=False),
        sa.Column("card_sha256", sa.String(64), nullable=False),
        sa.Column("cohort_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("cohort_name", sa.String(300), nullable=False),
        sa.Column("site", sa.String(1000), nullable=False, index=True),
        sa.Column("auditor", sa.String(200), nullable=False, index=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("schema_version", sa.String(32), nullable=False),
        sa.Column("outcome_kind", sa.String(32), nullable=False),
        sa.Column("policy_verdict", sa.String(8), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "blobs",
        sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.entry_id"), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(
            "entry_id",
            sa.Integer,
            sa.ForeignKey("entries.entry_id"),
            nullable=False,
            index=True,
        ),  # fmt: skip
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("event_hash", sa.String(64), nullable=False, unique=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION cohortaudit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'the audit registry is append-only: % on % refused', "
            "TG_OP, TG_TABLE_NAME; END $$"
        )
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION cohortaudit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION cohortaudit_append_only()"
            )
    else:
        for table in _TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the audit registry is append-only: "
                    f"{verb} on {table} refused'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("The audit registry is append-only; it is never downgraded.")

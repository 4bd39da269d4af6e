"""The SQLAlchemy engine of a registry, set up so concurrent writers serialise the chain.

SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken before the
chain's head is read, so two writers cannot both append after the same head), foreign keys on,
and a busy timeout so a waiting writer waits instead of failing. PostgreSQL: writers take a
transaction-level advisory lock (:func:`lock_chain`) before reading the head.
"""

from __future__ import annotations

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine

__all__ = ["make_engine", "lock_chain", "CHAIN_LOCK"]

#: The advisory-lock key of the chain (any constant; "ca-reg" in ASCII).
CHAIN_LOCK = 0x63612D726567


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):  # noqa: ANN001 - DB-API objects
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def lock_chain(conn: Connection) -> None:
    """Hold the chain's write lock until the transaction ends (SQLite: already held)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK})

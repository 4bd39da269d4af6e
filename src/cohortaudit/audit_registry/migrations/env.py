"""Alembic environment of the audit registry: runs on the connection the caller passes.

:func:`cohortaudit.audit_registry.migrate.upgrade_to_head` puts an open connection (inside a
transaction holding the chain lock) in ``config.attributes["connection"]``; there is no
alembic.ini and no offline mode.
"""

from __future__ import annotations

from alembic import context

from cohortaudit.audit_registry.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise RuntimeError("Run the registry's migrations through open_registry(url).")
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()

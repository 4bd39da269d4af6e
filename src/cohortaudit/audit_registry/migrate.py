"""Bring a registry's schema to the newest Alembic revision shipped in ``migrations/``.

Run on every :func:`~cohortaudit.audit_registry.open_registry`, inside one transaction that
holds the chain lock, so two processes opening a new registry at once do not both create it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from cohortaudit.audit_registry.engine import lock_chain

__all__ = ["upgrade_to_head", "MIGRATIONS"]

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade_to_head(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        lock_chain(conn)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

"""Registry URLs: ``sqlite:///PATH`` (the embedded default) or ``postgresql://...`` (shared).

``postgresql://`` (and ``postgres://``) are mapped to SQLAlchemy's psycopg 3 driver,
``postgresql+psycopg://``; psycopg is needed only then (``pip install 'cohortaudit[postgres]'``).
``COHORTAUDIT_REGISTRY`` names the registry to use when no ``--registry`` is given.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from cohortaudit.errors import ConfigError

__all__ = ["ENV_VAR", "parse_registry_url", "default_registry_url", "display_url"]

ENV_VAR = "COHORTAUDIT_REGISTRY"

_EXPECTED = "Expected sqlite:///PATH (a local file) or postgresql://USER@HOST:PORT/DBNAME."


def default_registry_url() -> str | None:
    """The registry configured by the environment (``COHORTAUDIT_REGISTRY``), if any."""
    return os.environ.get(ENV_VAR) or None


def display_url(url: URL) -> str:
    """The URL without its password, for messages."""
    return url.render_as_string(hide_password=True)


def parse_registry_url(raw: str) -> URL:
    """Parse and check a registry URL; a ``ConfigError`` says what is wrong and what is expected."""
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"The registry URL is empty. {_EXPECTED}")
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ConfigError(f"The registry URL is not a database URL. {_EXPECTED}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.drivername != "sqlite":
            raise ConfigError(f"Registry URLs use the default SQLite driver. {_EXPECTED}")
        if not url.database or url.database == ":memory:":
            raise ConfigError(
                f"A registry must be kept in a file, not in memory. {_EXPECTED} "
                "Got a SQLite URL without a path."
            )
        folder = Path(url.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise ConfigError(
                f"The registry's folder {folder} does not exist. Create it, or give a "
                "sqlite:///PATH in an existing folder."
            )
        return url
    if backend in ("postgresql", "postgres"):
        if url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise ConfigError(
                f"PostgreSQL registries use the psycopg 3 driver; got {url.drivername!r}. "
                "Write the URL as postgresql://USER@HOST:PORT/DBNAME."
            )
        if not url.database:
            raise ConfigError(f"The PostgreSQL registry URL names no database. {_EXPECTED}")
        return url.set(drivername="postgresql+psycopg")
    raise ConfigError(
        f"The registry URL uses {url.drivername!r}, which the registry does not support. "
        f"{_EXPECTED}"
    )

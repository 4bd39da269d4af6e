"""The registry: record audits, read them back, keep the audit trail, check the chain.

Every write is one transaction that first takes the chain lock (SQLite ``BEGIN IMMEDIATE``,
PostgreSQL an advisory lock), then reads the head of the chain and appends after it, so
concurrent writers -- several CLI runs, app sessions, pool jobs -- produce one intact chain with
no repeated sequence numbers.
"""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from cohortaudit.audit_registry.chain import (
    GENESIS,
    entry_hash,
    event_hash,
    sha256_hex,
    verify_rows,
)
from cohortaudit.audit_registry.engine import lock_chain, make_engine
from cohortaudit.audit_registry.intake import AUDIT_NAME, SOURCES, read_out_dir
from cohortaudit.audit_registry.migrate import upgrade_to_head
from cohortaudit.audit_registry.tables import blobs, entries, events
from cohortaudit.audit_registry.trend import build_trend
from cohortaudit.audit_registry.types import (
    Blob,
    ChainReport,
    Entry,
    Event,
    ModelSummary,
    Trend,
)
from cohortaudit.audit_registry.url import default_registry_url, display_url, parse_registry_url
from cohortaudit.errors import ConfigError, InputError
from cohortaudit.integrity import SIGNATURE_NAME

__all__ = ["Registry", "open_registry", "ACTIONS", "default_auditor"]

#: What an audit-trail event may say was done to an entry.
ACTIONS = ("ran", "signed", "viewed", "downloaded", "commented")
_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
_ROLE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_COMMENT_LIMIT = 10_000


def default_auditor() -> str:
    """The OS user, the auditor of a CLI audit recorded without ``--auditor``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value) or value.strip() != value:
        raise InputError(
            f"The {what} must be 1 to 200 printable characters without surrounding spaces; "
            f"got {type(value).__name__} of length {len(value) if isinstance(value, str) else 0}."
        )
    return value


class Registry:
    """An open audit registry (see :func:`open_registry`)."""

    def __init__(self, engine: Engine, url_text: str) -> None:
        self._engine = engine
        self.url = url_text

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    # -- writing -------------------------------------------------------------------------

    def record(self, out_dir: Path, *, auditor: str, source: str) -> Entry:
        """Append the audit written to ``out_dir`` (its audit.json, manifest.json and
        manifest.sig as they are on disk) and a ``ran`` event (and ``signed`` when signed)."""
        if source not in SOURCES:
            raise ConfigError(f"The source must be one of {list(SOURCES)}; got {source!r}.")
        _check_name(auditor, "auditor")
        intake = read_out_dir(out_dir)
        hashes = {name: sha256_hex(data) for name, data in intake.files.items()}
        with self._write() as conn:
            head = conn.execute(
                select(entries.c.entry_id, entries.c.entry_hash)
                .order_by(entries.c.entry_id.desc())
                .limit(1)
            ).first()
            entry_id, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
            row = {
                "entry_id": entry_id,
                "recorded_at": _now(),
                **intake.fields,
                "auditor": auditor,
                "source": source,
                "prev_hash": prev,
            }
            row["entry_hash"] = entry_hash(row, hashes, prev)
            conn.execute(entries.insert().values(**row))
            for name, data in sorted(intake.files.items()):
                conn.execute(
                    blobs.insert().values(
                        entry_id=entry_id,
                        name=name,
                        sha256=hashes[name],
                        size=len(data),
                        content=data,
                    )  # fmt: skip
                )
            self._append_event(conn, entry_id, auditor, "auditor", "ran", source)
            if SIGNATURE_NAME in intake.files:
                self._append_event(conn, entry_id, auditor, "auditor", "signed", SIGNATURE_NAME)
        return self.get(entry_id)

    def record_event(
        self, entry_id: int, actor: str, role: str, action: str, detail: str = ""
    ) -> Event:
        """Append one audit-trail event: ``actor`` (with ``role``) did ``action`` to the entry
        (``detail``: the comment text for ``commented``, else a short note)."""
        _check_name(actor, "actor")
        if not isinstance(role, str) or not _ROLE.match(role):
            raise InputError(
                "The role must be a short lower-case name such as auditor, reviewer or viewer."
            )
        if action not in ACTIONS:
            raise InputError(f"The action must be one of {list(ACTIONS)}; got {action!r}.")
        if not isinstance(detail, str) or len(detail) > _COMMENT_LIMIT:
            raise InputError(f"The detail must be text of at most {_COMMENT_LIMIT:,} characters.")
        if action == "commented" and not detail.strip():
            raise InputError("A comment needs its text (detail).")
        entry_id = self._entry_id(entry_id)
        with self._write() as conn:
            if (
                conn.execute(
                    select(entries.c.entry_id).where(entries.c.entry_id == entry_id)
                ).first()
                is None
            ):
                raise ConfigError(self._missing(entry_id))
            event_id = self._append_event(conn, entry_id, actor, role, action, detail)
        return next(e for e in self.events(entry_id) if e.event_id == event_id)

    # -- reading -------------------------------------------------------------------------

    def entries(self, model_sha256: str | None = None) -> list[Entry]:
        """Every entry (of one model when ``model_sha256`` is given), oldest first."""
        query = select(entries).order_by(entries.c.entry_id)
        if model_sha256 is not None:
            query = query.where(entries.c.model_sha256 == model_sha256)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
            found = self._blob_index(conn, [r["entry_id"] for r in rows])
        return [_entry(r, found.get(r["entry_id"], ())) for r in rows]

    def get(self, entry_id: int | str) -> Entry:
        """The entry ``entry_id``; a ``ConfigError`` when there is none."""
        entry_id = self._entry_id(entry_id)
        with self._read() as conn:
            row = (
                conn.execute(select(entries).where(entries.c.entry_id == entry_id))
                .mappings()
                .first()
            )
            if row is None:
                raise ConfigError(self._missing(entry_id))
            found = self._blob_index(conn, [entry_id])
        return _entry(row, found.get(entry_id, ()))

    def blob(self, entry_id: int | str, name: str) -> bytes:
        """The stored bytes of one file of an entry (``audit.json``, ``manifest.json``...)."""
        entry_id = self._entry_id(entry_id)
        with self._read() as conn:
            content = conn.execute(
                select(blobs.c.content).where(blobs.c.entry_id == entry_id, blobs.c.name == name)
            ).scalar()
        if content is None:
            self.get(entry_id)  # a missing entry says so
            raise ConfigError(f"Entry {entry_id} of the registry holds no {name}.")
        return bytes(content)

    def audit_json(self, entry_id: int | str) -> bytes:
        """The audit.json of the entry, byte for byte as the audit wrote it."""
        return self.blob(entry_id, AUDIT_NAME)

    def events(self, entry_id: int | str | None = None) -> list[Event]:
        """The audit trail (of one entry when given), oldest first."""
        query = select(events).order_by(events.c.event_id)
        if entry_id is not None:
            query = query.where(events.c.entry_id == self._entry_id(entry_id))
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [Event(**dict(r)) for r in rows]

    def models(self) -> list[ModelSummary]:
        """Each model in the registry with the name of its latest entry and its entry count."""
        with self._read() as conn:
            counts = conn.execute(
                select(entries.c.model_sha256, func.count(), func.max(entries.c.entry_id))
                .group_by(entries.c.model_sha256)
                .order_by(func.max(entries.c.entry_id))
            ).all()
            names = dict(
                conn.execute(
                    select(entries.c.entry_id, entries.c.model_name).where(
                        entries.c.entry_id.in_([c[2] for c in counts])
                    )
                ).all()
            )
        return [ModelSummary(sha, names[last], int(n)) for sha, n, last in counts]

    def verify(self) -> ChainReport:
        """Recompute both hash chains; the report names the first broken entry and why."""
        with self._read() as conn:
            entry_rows = conn.execute(select(entries).order_by(entries.c.entry_id)).mappings().all()
            blob_rows = conn.execute(select(blobs)).mappings().all()
            event_rows = conn.execute(select(events).order_by(events.c.event_id)).mappings().all()
        return verify_rows(entry_rows, blob_rows, event_rows)

    def trend(
        self,
        model_sha256: str,
        metric: str,
        group: dict[str, str] | None = None,
        *,
        confidence: float = 0.95,
    ) -> Trend:
        """``metric`` in ``group`` ({} or None: the whole cohort) across the model's audits."""
        found = self.entries(model_sha256)
        audits = [(e, self.audit_json(e.entry_id)) for e in found]
        return build_trend(model_sha256, metric, dict(group or {}), audits, confidence=confidence)

    # -- plumbing ------------------------------------------------------------------------

    def _write(self):
        return _Transaction(self._engine, self.url, write=True)

    def _read(self):
        return _Transaction(self._engine, self.url, write=False)

    @staticmethod
    def _entry_id(entry_id: int | str) -> int:
        if isinstance(entry_id, bool) or not isinstance(entry_id, int | str):
            raise ConfigError(f"An entry ID is a whole number; got {type(entry_id).__name__}.")
        text = str(entry_id).strip()
        if not text.isdigit() or len(text) > 12:
            raise ConfigError("An entry ID is a whole number (see 'cohortaudit registry list').")
        return int(text)

    @staticmethod
    def _missing(entry_id: int) -> str:
        return (
            f"The registry has no entry {entry_id}; 'cohortaudit registry list' shows the "
            "entries there are."
        )

    @staticmethod
    def _blob_index(conn: Connection, ids: list[int]) -> dict[int, tuple[Blob, ...]]:
        if not ids:
            return {}
        rows = conn.execute(
            select(blobs.c.entry_id, blobs.c.name, blobs.c.sha256, blobs.c.size)
            .where(blobs.c.entry_id.in_(ids))
            .order_by(blobs.c.entry_id, blobs.c.name)
        ).all()
        out: dict[int, list[Blob]] = {}
        for eid, name, sha, size in rows:
            out.setdefault(eid, []).append(Blob(name, sha, int(size)))
        return {k: tuple(v) for k, v in out.items()}

    @staticmethod
    def _append_event(
        conn: Connection, entry_id: int, actor: str, role: str, action: str, detail: str
    ) -> int:
        head = conn.execute(
            select(events.c.event_id, events.c.event_hash)
            .order_by(events.c.event_id.desc())
            .limit(1)
        ).first()
        event_id, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        row: dict[str, Any] = {
            "event_id": event_id,
            "entry_id": entry_id,
            "actor": actor,
            "role": role,
            "action": action,
            "detail": detail,
            "at": _now(),
            "prev_hash": prev,
        }
        row["event_hash"] = event_hash(row, prev)
        conn.execute(events.insert().values(**row))
        return event_id


class _Transaction:
    """One transaction; writers hold the chain lock; database failures become ConfigErrors."""

    def __init__(self, engine: Engine, url_text: str, *, write: bool) -> None:
        self._engine, self._url, self._write = engine, url_text, write
        self._ctx = None

    def __enter__(self) -> Connection:
        try:
            self._ctx = self._engine.begin()
            conn = self._ctx.__enter__()
            if self._write:
                lock_chain(conn)
            return conn
        except DBAPIError as exc:
            raise _unreachable(self._url, exc) from None

    def __exit__(self, *exc: Any) -> None:
        try:
            self._ctx.__exit__(*exc)
        except DBAPIError as err:
            raise ConfigError(
                f"The registry at {self._url} refused the write ({type(err.orig).__name__})."
            ) from None


def _unreachable(url_text: str, exc: SQLAlchemyError) -> ConfigError:
    kind = type(getattr(exc, "orig", exc)).__name__
    return ConfigError(
        f"Cannot open the audit registry at {url_text} ({kind}). Check the URL, that the "
        "server is running and that you may connect; a SQLite registry needs a writable folder."
    )


def _entry(row: Any, found: tuple[Blob, ...]) -> Entry:
    return Entry(**{k: row[k] for k in Entry.__dataclass_fields__ if k != "blobs"}, blobs=found)


def open_registry(url: str | None = None) -> Registry:
    """Open (creating or migrating as needed) the registry at ``url`` -- ``sqlite:///PATH`` or
    ``postgresql://...`` -- or, when ``url`` is None, at ``$COHORTAUDIT_REGISTRY``."""
    raw = url if url is not None else default_registry_url()
    if raw is None:
        raise ConfigError(
            "No audit registry given: pass --registry URL (sqlite:///PATH or "
            "postgresql://USER@HOST/DB) or set COHORTAUDIT_REGISTRY."
        )
    parsed = parse_registry_url(raw)
    shown = display_url(parsed)
    try:
        engine = make_engine(parsed)
    except (ImportError, SQLAlchemyError) as exc:
        raise ConfigError(
            f"Cannot use the registry at {shown} ({type(exc).__name__}); a PostgreSQL registry "
            "needs psycopg: pip install 'cohortaudit[postgres]'."
        ) from None
    try:
        upgrade_to_head(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _unreachable(shown, exc) from None
    return Registry(engine, shown)

"""The hash chain: how an entry's and an event's hash are computed, and how a chain is checked.

An entry's hash is the SHA-256 of a canonical JSON object (sorted keys, no spaces, ASCII
escapes) holding its indexed fields, ``{blob name: SHA-256 of its bytes}`` and ``prev_hash``, the
previous entry's hash (64 zeros for the first). Editing any field, any stored byte, or removing
or re-ordering an entry therefore breaks the link from that entry on. Events have their own
chain, built the same way. Only a rewrite of the whole chain from the edit onwards, or cutting
off its tail, goes unseen by the chain alone: compare the head hash with one kept elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cohortaudit.audit_registry.tables import EVENT_FIELDS, INDEXED_FIELDS
from cohortaudit.audit_registry.types import ChainReport

__all__ = ["GENESIS", "canonical", "entry_hash", "event_hash", "sha256_hex", "verify_rows"]

GENESIS = "0" * 64


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(obj: Mapping[str, Any]) -> bytes:
    """One byte string per value: sorted keys, no whitespace, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(fields: Mapping[str, Any], blob_hashes: Mapping[str, str], prev_hash: str) -> str:
    body = {k: fields[k] for k in INDEXED_FIELDS}
    body["blobs"] = dict(blob_hashes)
    body["prev_hash"] = prev_hash
    return sha256_hex(canonical(body))


def event_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    body = {k: fields[k] for k in EVENT_FIELDS}
    body["prev_hash"] = prev_hash
    return sha256_hex(canonical(body))


def _check_entries(
    rows: Iterable[Mapping[str, Any]], blobs: Mapping[int, list[Mapping[str, Any]]]
) -> tuple[int, str, str | None, str]:
    prev, count = GENESIS, 0
    for row in rows:
        count += 1
        eid = row["entry_id"]
        where = f"entry {eid}"
        if eid != count:
            return count, prev, where, f"sequence number {eid} where {count} was expected"
        hashes = {}
        for blob in blobs.get(eid, []):
            actual = sha256_hex(bytes(blob["content"]))
            if actual != blob["sha256"] or len(blob["content"]) != blob["size"]:
                return count, prev, where, f"stored {blob['name']} does not match its SHA-256"
            hashes[blob["name"]] = actual
        if "audit.json" not in hashes:
            return count, prev, where, "its audit.json is missing"
        if row["prev_hash"] != prev:
            return count, prev, where, "prev_hash does not match the previous entry's hash"
        if entry_hash(row, hashes, prev) != row["entry_hash"]:
            return count, prev, where, "its fields or files do not match its entry_hash"
        prev = row["entry_hash"]
    return count, prev, None, ""


def _check_events(rows: Iterable[Mapping[str, Any]], n_entries: int) -> tuple[int, str | None, str]:
    prev, count = GENESIS, 0
    for row in rows:
        count += 1
        where = f"event {row['event_id']}"
        if row["event_id"] != count:
            return count, where, f"sequence number {row['event_id']} where {count} was expected"
        if not 1 <= row["entry_id"] <= n_entries:
            return count, where, f"it names entry {row['entry_id']}, which is not in the chain"
        if row["prev_hash"] != prev:
            return count, where, "prev_hash does not match the previous event's hash"
        if event_hash(row, prev) != row["event_hash"]:
            return count, where, "its fields do not match its event_hash"
        prev = row["event_hash"]
    return count, None, ""


def verify_rows(
    entry_rows: Iterable[Mapping[str, Any]],
    blob_rows: Iterable[Mapping[str, Any]],
    event_rows: Iterable[Mapping[str, Any]],
) -> ChainReport:
    """Recompute both chains from the rows (entries and events in sequence order)."""
    by_entry: dict[int, list[Mapping[str, Any]]] = {}
    for blob in blob_rows:
        by_entry.setdefault(blob["entry_id"], []).append(blob)
    entries = list(entry_rows)
    n, head, broken, reason = _check_entries(entries, by_entry)
    known = {row["entry_id"] for row in entries}
    orphans = sorted(set(by_entry) - known)
    if broken is None and orphans:
        broken, reason = f"entry {orphans[0]}", "stored files belong to no entry in the chain"
    n_events, ev_broken, ev_reason = _check_events(event_rows, len(entries))
    if broken is None and ev_broken is not None:
        broken, reason = ev_broken, ev_reason
    return ChainReport(
        intact=broken is None,
        entries=len(entries),
        events=n_events,
        head_hash=head if broken is None else "",
        first_broken=broken,
        reason=reason,
    )

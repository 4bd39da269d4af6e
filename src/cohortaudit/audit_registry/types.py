"""The values the audit registry hands out: frozen dataclasses of plain types.

They are what the CLI prints and the app's History and Compare pages show, so they carry
everything a reader needs and nothing that could be patient data (the registry only ever holds
files the audit already releases).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "Blob",
    "Entry",
    "ChainReport",
    "Event",
    "TrendPoint",
    "TrendChange",
    "PolicyChange",
    "Trend",
    "ModelSummary",
]


@dataclass(frozen=True)
class Blob:
    """One stored file of an entry: its name in the audit's output folder, SHA-256, size."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Entry:
    """One recorded audit: its index fields and its place in the hash chain.

    ``entry_id`` is the entry's sequence number (1, 2, ...: the chain's order). An audit of a
    score column (no model file) is indexed under the SHA-256 of ``cohortaudit:scores:COLUMN``
    and named ``scores in column COLUMN``.
    ``recorded_at`` is UTC, ISO 8601 with a ``Z``. ``card_version`` is the model version the
    model card states (``model.version`` of audit.json). ``cohort_sha256`` is the cohort file's
    SHA-256, or for a pooled audit the SHA-256 of its site files' content hashes (one per line,
    sorted). ``site`` names the pooled sites (comma-separated), else ``""``.
    ``policy_verdict`` is ``pass``, ``fail``, ``warn`` (insufficient data counted as a
    warning) or ``none`` (no policy).
    """

    entry_id: int
    recorded_at: str
    model_sha256: str
    model_name: str
    card_version: str
    card_sha256: str
    cohort_sha256: str
    cohort_name: str
    site: str
    auditor: str
    source: str
    schema_version: str
    outcome_kind: str
    policy_verdict: str
    blobs: tuple[Blob, ...]
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True)
class ChainReport:
    """What :meth:`Registry.verify` found.

    ``intact`` is True when every entry's and every event's hash recomputes and links to the
    one before. Otherwise ``first_broken`` names the first bad entry (``"entry 7"`` or
    ``"event 3"``) and ``reason`` says why. ``head_hash`` is the last entry's hash: write it
    down (or publish it) to detect a rewrite of the whole chain or a cut-off tail.
    """

    intact: bool
    entries: int
    events: int
    head_hash: str
    first_broken: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Event:
    """One audit-trail line: who (``actor``, ``role``) did ``action`` to entry ``entry_id``."""

    event_id: int
    entry_id: int
    actor: str
    role: str
    action: str
    detail: str
    at: str
    prev_hash: str
    event_hash: str


@dataclass(frozen=True)
class TrendPoint:
    """One audit's value of the trend's metric in the trend's group.

    ``withheld`` is True when the audit released no number here (the group suppressed or
    absent, the metric withheld or undefined); ``note`` says which. ``n`` is the group's size
    (None when suppressed).
    """

    entry_id: int
    recorded_at: str
    cohort: str
    site: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int | None
    withheld: bool
    note: str = ""


@dataclass(frozen=True)
class TrendChange:
    """The change between two consecutive points that both have a value and a CI.

    ``scale`` is ``difference`` (``estimate`` = later - earlier, null 0) or ``ratio``
    (``estimate`` = later / earlier, null 1; computed on the log scale). ``flagged`` is True
    only when the CI of the change excludes the null: a change beyond sampling noise.
    """

    from_entry: int
    to_entry: int
    scale: str
    estimate: float
    ci_low: float
    ci_high: float
    flagged: bool


@dataclass(frozen=True)
class PolicyChange:
    """A policy rule whose state, for one group, differs between consecutive audits."""

    from_entry: int
    to_entry: int
    rule_id: str
    group: tuple[tuple[str, str], ...]
    before: str
    after: str


@dataclass(frozen=True)
class Trend:
    """One model's metric in one group across its recorded audits (oldest first)."""

    model_sha256: str
    metric: str
    group: tuple[tuple[str, str], ...]
    scale: str
    method: str
    points: tuple[TrendPoint, ...]
    changes: tuple[TrendChange, ...]
    policy_changes: tuple[PolicyChange, ...]


class ModelSummary(NamedTuple):
    """One model in the registry: its SHA-256, the latest name it was recorded under, count.

    A named tuple, so ``for sha, name, count in registry.models()`` works as well.
    """

    model_sha256: str
    model_name: str
    count: int

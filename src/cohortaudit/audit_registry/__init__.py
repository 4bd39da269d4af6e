"""The audit registry (issue 17): every audit recorded, append-only and tamper-evident.

Not to be confused with :mod:`cohortaudit.registry`, the *metric* registry.

An entry stores only what the audit already releases -- ``audit.json``, ``manifest.json`` and
``manifest.sig`` when present -- never a patient row, indexed by model and cohort SHA-256, model
name, card version, auditor, source (cli, app, pool), UTC time, schema version and policy
verdict. Entries and the audit trail (:meth:`Registry.record_event`) are hash-chained and
protected by triggers refusing UPDATE and DELETE; :meth:`Registry.verify` recomputes the chains.
:meth:`Registry.trend` follows one model's metric in one group over its audits.

Modules, one job each: ``url`` (registry URLs), ``engine`` (connections and the chain lock),
``tables`` + ``migrations/`` (the schema, run by ``migrate``), ``intake`` (reading an audit's
output folder), ``chain`` (hashes and their verification), ``trend`` (trends and changes),
``store`` (the :class:`Registry`), ``types`` (the frozen values it returns).
"""

from __future__ import annotations

from cohortaudit.audit_registry.store import ACTIONS, Registry, default_auditor, open_registry
from cohortaudit.audit_registry.types import (
    Blob,
    ChainReport,
    Entry,
    Event,
    ModelSummary,
    PolicyChange,
    Trend,
    TrendChange,
    TrendPoint,
)
from cohortaudit.audit_registry.url import ENV_VAR

__all__ = [
    "open_registry",
    "Registry",
    "Entry",
    "Blob",
    "ChainReport",
    "Event",
    "Trend",
    "TrendPoint",
    "TrendChange",
    "PolicyChange",
    "ModelSummary",
    "ACTIONS",
    "ENV_VAR",
    "default_auditor",
]

"""What a registry entry is made of: the released files of one audit folder, checked.

Only files the audit already releases are read -- ``audit.json`` (aggregate results), and
``manifest.json`` / ``manifest.sig`` when present -- never the cohort, the tables or the report.
Each is size-limited and parsed before anything is stored, and the index fields are read from
``audit.json`` (model, card, cohort, policy verdicts), so a caller cannot index an audit under
another model.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohortaudit.errors import InputError
from cohortaudit.integrity import MANIFEST_NAME, SIGNATURE_NAME
from cohortaudit.safeload import parse_json

__all__ = ["AUDIT_NAME", "LIMITS", "SOURCES", "Intake", "read_out_dir", "policy_verdict"]

AUDIT_NAME = "audit.json"
#: The most each stored file may weigh (bytes): an audit.json of the sample is ~2 MB.
LIMITS = {AUDIT_NAME: 64 * 2**20, MANIFEST_NAME: 4 * 2**20, SIGNATURE_NAME: 4096}
SOURCES = ("cli", "app", "pool")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_TEXT_LIMIT = 200


@dataclass(frozen=True)
class Intake:
    """The checked files of one audit and the index fields read from its audit.json."""

    files: dict[str, bytes]
    fields: dict[str, str]


def _read(path: Path, name: str) -> bytes:
    if path.is_symlink() or not path.is_file():
        raise InputError(f"{path} is not a regular file; the registry stores only real files.")
    size = path.stat().st_size
    if size > LIMITS[name]:
        raise InputError(
            f"{path} is {size:,} bytes; the registry stores a {name} of at most "
            f"{LIMITS[name]:,} bytes. Is this the output folder of one audit?"
        )
    return path.read_bytes()


def _text(value: Any, what: str, *, required: bool = True) -> str:
    """A string field of audit.json, cut to the registry's column width."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InputError(
            f"audit.json has no {what} (expected a non-empty string, got {type(value).__name__})."
        )
    return value[:_TEXT_LIMIT]


def policy_verdict(audit: dict[str, Any]) -> str:
    """``fail`` if any verdict counts as a fail, else ``warn`` if any counts as a warning,
    else ``pass``; ``none`` when the audit ran without a policy."""
    verdicts = audit.get("policy") or []
    if not verdicts:
        return "none"
    outcomes = {
        v.get("status") if v.get("status") != "insufficient data" else v.get("counts_as") or "warn"
        for v in verdicts
    }
    return "fail" if "fail" in outcomes else "warn" if "warn" in outcomes else "pass"


def _scores_model(model: dict[str, Any]) -> tuple[str, str]:
    """An audit of a score column (``--score-column``) has no model file to hash: it is
    indexed under the SHA-256 of ``cohortaudit:scores:COLUMN`` and named after the column, so
    repeated audits of the same score column form one history."""
    inputs = model.get("inputs") or []
    column = str(inputs[0]) if inputs else ""
    if not column:
        raise InputError("audit.json audits a score column but names none (model.inputs).")
    sha = hashlib.sha256(f"cohortaudit:scores:{column}".encode()).hexdigest()
    return sha, f"scores in column {column}"[:_TEXT_LIMIT]


def _cohort_fields(audit: dict[str, Any]) -> tuple[str, str, str]:
    cohort = audit.get("cohort")
    if not isinstance(cohort, dict):
        raise InputError("audit.json has no 'cohort' block; is it an audit result?")
    sites = (
        (audit.get("sites") or {}).get("sites") if isinstance(audit.get("sites"), dict) else None
    )
    name = _text(cohort.get("file"), "cohort file name")
    if cohort.get("sha256"):
        sha = str(cohort["sha256"])
    elif sites:  # pooled: the site files' content hashes identify the cohort
        hashes = sorted(str(s.get("content_sha256", "")) for s in sites)
        sha = hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    else:
        raise InputError("audit.json names no cohort SHA-256 and no pooled site files.")
    if not _SHA.match(sha):
        raise InputError("audit.json's cohort SHA-256 is not 64 hexadecimal digits.")
    site = ",".join(str(s.get("name", "")) for s in sites) if sites else ""
    return sha, name, site[:1000]


def read_out_dir(out_dir: Path) -> Intake:
    """Read and check the released files of the audit written to ``out_dir``."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"{out_dir} is not a folder; give the --out folder of an audit.")
    path = out_dir / AUDIT_NAME
    if not path.exists():
        raise InputError(f"{out_dir} holds no {AUDIT_NAME}; record the --out folder of an audit.")
    files = {AUDIT_NAME: _read(path, AUDIT_NAME)}
    for name in (MANIFEST_NAME, SIGNATURE_NAME):
        if (out_dir / name).exists():
            files[name] = _read(out_dir / name, name)
    hint = "The registry stores audits exactly as cohortaudit wrote them."
    # through the one safe loader: size, nesting depth and duplicate keys are checked there
    audit = parse_json(
        files[AUDIT_NAME], what=f"{AUDIT_NAME} in {out_dir}", error=InputError, hint=hint,
        reject_duplicate_keys=True,
    )  # fmt: skip
    if MANIFEST_NAME in files:
        parse_json(
            files[MANIFEST_NAME], what=f"{MANIFEST_NAME} in {out_dir}", error=InputError,
            hint=hint, reject_duplicate_keys=True,
        )  # fmt: skip
    if not isinstance(audit, dict) or not isinstance(audit.get("model"), dict):
        raise InputError(f"{path} is not an audit result (no 'model' block).")
    model = audit["model"]
    sha, name = model.get("sha256"), model.get("name")
    if model.get("kind") == "scores" and sha is None:
        sha, name = _scores_model(model)
    if not isinstance(sha, str) or not _SHA.match(sha):
        raise InputError(f"{path}: model.sha256 is not 64 hexadecimal digits.")
    cohort_sha, cohort_name, site = _cohort_fields(audit)
    outcome = (audit.get("settings") or {}).get("outcome") or {}
    fields = {
        "model_sha256": sha,
        "model_name": _text(name, "model name"),
        "card_version": _text(model.get("version"), "model version", required=False),
        "card_sha256": _text(model.get("card_sha256"), "card SHA-256", required=False),
        "cohort_sha256": cohort_sha,
        "cohort_name": cohort_name,
        "site": site,
        "schema_version": _text(audit.get("schema_version"), "schema_version"),
        "outcome_kind": str(outcome.get("kind", "binary"))[:32]
        if isinstance(outcome, dict)
        else "binary",
        "policy_verdict": policy_verdict(audit),
    }
    return Intake(files=files, fields=fields)

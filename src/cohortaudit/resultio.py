"""An audit's files on disk: writing a rendered bundle, reading an ``audit.json`` back.

Why this is not in ``render/``: the renderers turn an :class:`AuditResult` into bytes and know
nothing of files a stranger hands in or of the integrity manifest that vouches for a folder.
Reading an audit.json back is input handling (bounded size and depth, no duplicate keys, the
shipped schema: :mod:`cohortaudit.safeload`), and writing a bundle must first remove an
earlier run's manifest and signature (:mod:`cohortaudit.integrity`), so both live here, above
render, and ``render`` imports neither ``safeload`` nor ``integrity``.
"""

from __future__ import annotations

from pathlib import Path

from cohortaudit.errors import InputError
from cohortaudit.integrity import MANIFEST_NAME, SIGNATURE_NAME
from cohortaudit.outputs import write_outputs
from cohortaudit.render.json import validate_result_dict
from cohortaudit.results import AuditResult
from cohortaudit.safeload import parse_json, read_limited

__all__ = ["MAX_AUDIT_JSON_BYTES", "read_json", "read_json_bytes", "write_bundle"]

#: An audit.json is aggregates only: about 1 MB for the sample, a few MB for a large pooled
#: audit. Far above that it is not one (and the dashboard would hold it in memory).
MAX_AUDIT_JSON_BYTES = 200 * 2**20
_NOT_A_RESULT = "Give an audit.json written by 'cohortaudit audit'."


def write_bundle(out: str | Path, files: dict[str, bytes]) -> list[Path]:
    """Write a bundle rendered by :func:`cohortaudit.render.bundle.render_bundle` into ``out``.

    An earlier run's manifest and signature are removed first, so they never vouch for a
    partly replaced folder; the caller writes the new manifest last. Returns the file paths
    (the CSV tables as one entry per file)."""
    return write_outputs(out, files, remove_first=(MANIFEST_NAME, SIGNATURE_NAME))


def read_json(path: str | Path) -> AuditResult:
    """Read an ``audit.json`` written by cohortaudit (e.g. to compare two audits)."""
    path = Path(path)
    what = f"'{path}'"
    try:
        raw = read_limited(
            path, max_bytes=MAX_AUDIT_JSON_BYTES, what=what, error=InputError, hint=_NOT_A_RESULT
        )
    except FileNotFoundError:
        raise InputError(f"No audit result at '{path}'. Give the path of an audit.json.") from None
    return _result_from_bytes(raw, what=what, hint="Give a file written by 'cohortaudit audit'.")


def read_json_bytes(data: bytes, *, name: str) -> AuditResult:
    """Read an ``audit.json`` from bytes (an upload); ``name`` is used in messages only."""
    what = f"'{name}'"
    if len(data) > MAX_AUDIT_JSON_BYTES:
        raise InputError(_too_big_message(what, len(data)))
    return _result_from_bytes(
        bytes(data),
        what=what,
        hint="Give a file written by 'cohortaudit audit' or downloaded from the Report page.",
    )


def _too_big_message(what: str, size: int) -> str:
    return (
        f"{what} is {size / 2**20:.1f} MB, above the limit of "
        f"{MAX_AUDIT_JSON_BYTES / 2**20:.0f} MB for an audit.json. {_NOT_A_RESULT}"
    )


def _result_from_bytes(data: bytes, *, what: str, hint: str) -> AuditResult:
    """Parse (bounded depth, no duplicate keys), check against the schema, build the result."""
    raw = parse_json(data, what=what, error=InputError, hint=hint, reject_duplicate_keys=True)
    validate_result_dict(raw)
    return AuditResult.from_dict(raw)

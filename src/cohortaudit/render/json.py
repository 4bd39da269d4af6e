"""The JSON rendering of an :class:`AuditResult` -- deterministic, so reruns are byte-identical.

Key order is the dataclasses' field order (stable and readable, not alphabetical), floats are
already rounded by the result types, NaN is never written (it is not JSON), and the file ends
with a newline. Only the ``run`` block differs between identical runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cohortaudit.outputs import write_output
from cohortaudit.results import AuditResult
from cohortaudit.safeload import parse_json, read_limited

__all__ = [
    "result_to_json",
    "write_json",
    "read_json",
    "read_json_bytes",
    "validate_result_dict",
    "MAX_AUDIT_JSON_BYTES",
]

#: An audit.json is aggregates only: about 1 MB for the sample, a few MB for a large pooled
#: audit. Far above that it is not one (and the dashboard would hold it in memory).
MAX_AUDIT_JSON_BYTES = 200 * 2**20
_NOT_A_RESULT = "Give an audit.json written by 'cohortaudit audit'."


def result_to_json(result: AuditResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(result: AuditResult, path: str | Path) -> Path:
    """Write ``audit.json`` through the one safe output writer (:mod:`cohortaudit.outputs`)."""
    path = Path(path)
    return write_output(path.parent, path.name, result_to_json(result))


def read_json(path: str | Path) -> AuditResult:
    """Read an ``audit.json`` written by cohortaudit (e.g. to compare two audits)."""
    from cohortaudit.errors import InputError

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
    from cohortaudit.errors import InputError

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
    from cohortaudit.errors import InputError

    raw = parse_json(data, what=what, error=InputError, hint=hint, reject_duplicate_keys=True)
    validate_result_dict(raw)
    return AuditResult.from_dict(raw)


def validate_result_dict(data: Any) -> None:
    """Check a result dict against the shipped JSON Schema; raise InputError naming the field."""
    import jsonschema

    from cohortaudit.errors import InputError

    schema = load_result_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise InputError(
            f"The audit result does not match schema {schema.get('$id', '')}: at '{where}': "
            f"{first.message.splitlines()[0][:200]}. ({len(errors)} problem(s) in all.)"
        )


def load_result_schema() -> dict[str, Any]:
    from importlib import resources

    text = (
        resources.files("cohortaudit")
        .joinpath("schemas/audit_result.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)

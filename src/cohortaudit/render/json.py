"""The JSON rendering of an :class:`AuditResult` -- deterministic, so reruns are byte-identical.

Key order is the dataclasses' field order (stable and readable, not alphabetical), floats are
already rounded by the result types, NaN is never written (it is not JSON), and the file ends
with a newline. Only the ``run`` block differs between identical runs. Reading an audit.json
back (an input a stranger may hand in) is :mod:`cohortaudit.resultio`'s job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cohortaudit.outputs import write_output
from cohortaudit.results import AuditResult

__all__ = ["result_to_json", "write_json", "validate_result_dict", "load_result_schema"]


def result_to_json(result: AuditResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(result: AuditResult, path: str | Path) -> Path:
    """Write ``audit.json`` through the one safe output writer (:mod:`cohortaudit.outputs`)."""
    path = Path(path)
    return write_output(path.parent, path.name, result_to_json(result))


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

"""The one way cohortaudit reads YAML and JSON that strangers wrote (issue 14, point 1).

Model cards, policies, site files, an ``audit.json`` uploaded to the dashboard and manifests
all come from someone else. A few hundred bytes of YAML can expand to gigabytes through aliases
(the "billion laughs"), and a deeply nested file ends the process in a ``RecursionError``. So
every such file is read here, and bounded *before* anything is expanded:

* **size** -- the file is opened once, must be a regular file (a FIFO or a device would block
  or never end), and is read to at most its limit plus one byte;
* **YAML** -- a first pass over the parser's events (libyaml when available, so it is fast)
  refuses aliases outright, and bounds nesting depth and the number of nodes; only then is the
  document constructed, with the safe loader (no Python objects, ever). Constructor failures
  that are not ``YAMLError`` (``!!float ''`` is an ``IndexError``, ``2024-13-45`` a
  ``ValueError``) become the same clear error;
* **JSON** -- parsed by the standard library (it never expands anything), its recursion guard
  turned into a clear error, and the nesting depth of the result bounded so that no later
  recursive walk (schema validation) can overflow.

Anchors without aliases are harmless and allowed; aliases are refused because no file the tool
reads needs them, and bounding their expansion would be a second, subtler limit to get right.

Every failure is raised as the caller's error class (``CardError``, ``ConfigError``,
``InputError``, ``ReportError``), with a message that names the file and says what to do.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from cohortaudit.errors import AuditError

__all__ = [
    "MAX_DEPTH",
    "MAX_YAML_NODES",
    "parse_json",
    "parse_yaml",
    "read_limited",
]

#: Deepest nesting of lists and mappings accepted in any YAML or JSON file. The deepest file
#: cohortaudit writes (audit.json) nests about 10 levels.
MAX_DEPTH = 64
#: Most YAML nodes (scalars, lists, mappings) in one document; a full model card has about a
#: thousand.
MAX_YAML_NODES = 200_000

# libyaml's parser is a state machine (no recursion) and fast; the pure-Python one is the
# fallback where PyYAML was built without it.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Constructor failures that PyYAML does not wrap in YAMLError (bad !!float, !!int, dates).
_CONSTRUCT_ERRORS = (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError)


def read_limited(
    path: str | Path, *, max_bytes: int, what: str, error: type[AuditError], hint: str = ""
) -> bytes:
    """The bytes of the regular file ``path``, refused above ``max_bytes``.

    ``what`` names the file for the reader ("The model card 'card.yaml'"). A missing file is
    left to the caller (``FileNotFoundError`` propagates) so that it can say which file was
    expected; any other problem raises ``error``.
    """
    path = Path(path)
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"Could not open {what}: {exc.strerror or exc}.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} is not a regular file. Give the path of the file itself.")
        if info.st_size > max_bytes:
            raise error(_too_big(what, info.st_size, max_bytes, hint))
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"Could not read {what}: {exc.strerror or exc}.") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew while we read it
        raise error(_too_big(what, len(data), max_bytes, hint))
    return data


def _too_big(what: str, size: int, limit: int, hint: str) -> str:
    return f"{what} is {_mb(size)}, above the limit of {_mb(limit)}." + (f" {hint}" if hint else "")


def _mb(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB"
    return f"{n / 2**10:.0f} KB" if n >= 2**10 else f"{n} bytes"


def _text(data: bytes | str, what: str, error: type[AuditError], kind: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(
            f"{what} is not UTF-8 text. Expected a {kind} file; re-save it as UTF-8."
        ) from None


# ------------------------------------------------------------------------------------ YAML


def parse_yaml(
    data: bytes | str,
    *,
    what: str,
    error: type[AuditError],
    hint: str = "Fix the YAML syntax (indentation, colons, quotes).",
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_YAML_NODES,
) -> Any:
    """The YAML document in ``data`` as plain Python data (dicts, lists, scalars).

    Refused, with ``error``: aliases, nesting deeper than ``max_depth``, more than
    ``max_nodes`` nodes, more than one document, invalid syntax and values the safe
    constructor cannot build.
    """
    text = _text(data, what, error, "YAML")
    _check_events(text, what=what, error=error, hint=hint, max_depth=max_depth, max_nodes=max_nodes)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - the safe loader (C or Python)
    except yaml.YAMLError as exc:
        raise error(_yaml_problem(exc, what, hint)) from None
    except _CONSTRUCT_ERRORS as exc:
        raise error(
            f"{what} holds a value YAML cannot read ({type(exc).__name__}: "
            f"{str(exc)[:120]}). Check explicit tags such as !!float and dates; {hint[:1].lower()}"
            f"{hint[1:]}"
        ) from None
    except RecursionError:  # cannot happen below max_depth, but never a traceback
        raise error(f"{what} is nested too deeply to read.") from None


def _check_events(
    text: str, *, what: str, error: type[AuditError], hint: str, max_depth: int, max_nodes: int
) -> None:
    depth = nodes = documents = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise error(
                    f"{what} uses a YAML alias ('*{event.anchor}'){_at(event)}. Aliases are "
                    "refused: they can expand a small file into gigabytes. Write the value out "
                    "in full."
                )
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise error(f"{what} holds more than one YAML document ('---'). Give one.")
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > max_nodes:
                    raise error(
                        f"{what} has more than {max_nodes:,} YAML values. It is not a file "
                        "cohortaudit writes or expects; check you gave the right file."
                    )
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                depth += 1
                if depth > max_depth:
                    raise error(
                        f"{what} is nested more than {max_depth} levels deep{_at(event)}. "
                        "It is not a file cohortaudit expects; check you gave the right file."
                    )
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise error(_yaml_problem(exc, what, hint)) from None


def _at(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError, what: str, hint: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        where = f" at character {exc.position + 1}"
        char = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
        )
        problem = f"the character U+{char:04X} is not allowed in YAML ({exc.reason})"
    return f"{what} is not valid YAML{where}: {problem}. {hint}".rstrip()


# ------------------------------------------------------------------------------------ JSON


def parse_json(
    data: bytes | str,
    *,
    what: str,
    error: type[AuditError],
    hint: str = "",
    max_depth: int = MAX_DEPTH,
    reject_duplicate_keys: bool = False,
) -> Any:
    """The JSON document in ``data``; refused (``error``) when invalid or nested too deeply.

    ``reject_duplicate_keys``: a key given twice in one object is an error (for files whose
    hash is checked: the reader and the writer must not disagree about which value counts).
    """
    text = _text(data, what, error, "JSON")
    hook = _unique_keys if reject_duplicate_keys else None
    try:
        value = json.loads(text, object_pairs_hook=hook)
    except RecursionError:
        raise error(_too_deep(what, max_depth, hint)) from None
    except _DuplicateKey as exc:
        raise error(
            f"{what} gives the key '{str(exc)[:80]}' twice in one object. {hint}".rstrip()
        ) from None
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        where = (
            f" at line {exc.lineno}, column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        if isinstance(exc, json.JSONDecodeError):
            msg = exc.msg
        elif "integer string conversion" in str(exc):
            msg = "a number has more than 4,300 digits"
        else:
            msg = str(exc)[:120]
        raise error(f"{what} is not valid JSON{where}: {msg}. {hint}".rstrip()) from None
    if _depth(value) > max_depth:
        raise error(_too_deep(what, max_depth, hint))
    return value


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _too_deep(what: str, max_depth: int, hint: str) -> str:
    return (
        f"{what} is nested more than {max_depth} levels deep. It is not a file cohortaudit "
        f"writes; check you gave the right file. {hint}"
    ).rstrip()


def _depth(value: Any) -> int:
    """Nesting depth of lists and dicts, iteratively (a recursive walk could overflow)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        deepest = max(deepest, d)
        stack.extend((c, d + 1) for c in children if isinstance(c, dict | list))
    return deepest

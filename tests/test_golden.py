"""Golden outputs: a refactoring changes nothing outside the ``run`` block.

Each case runs the real CLI on the bundled sample into a temporary folder, normalises the
outputs exactly as ``tests/golden/record.py`` does (that module's docstring lists what is
normalised and why) and requires every artefact to equal the recorded one byte for byte.
A mismatch prints the first differing JSON paths or text lines, not the whole file.

When a change is meant to change the outputs, re-record with ``python tests/golden/record.py``
and say which outputs changed in the commit.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

_RECORD = Path(__file__).resolve().parent / "golden" / "record.py"
_spec = importlib.util.spec_from_file_location("golden_record", _RECORD)
golden = importlib.util.module_from_spec(_spec)
sys.modules["golden_record"] = golden  # dataclasses resolve annotations through sys.modules
_spec.loader.exec_module(golden)

#: How many differences a failure message lists.
_MAX_SHOWN = 8
#: Characters of a value or line shown in a failure message.
_WIDTH = 160


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 3] + "..."


def _json_differences(old: Any, new: Any, path: str = "$") -> list[str]:
    """Paths where two JSON documents differ, depth first, in key order."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}"
            if key not in new:
                out.append(f"{sub}: removed (was {_short(old[key])})")
            elif key not in old:
                out.append(f"{sub}: added {_short(new[key])}")
            else:
                out.extend(_json_differences(old[key], new[key], sub))
            if len(out) >= _MAX_SHOWN:
                break
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        if len(old) != len(new):
            out.append(f"{path}: {len(old)} items recorded, {len(new)} now")
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            out.extend(_json_differences(a, b, f"{path}[{i}]"))
            if len(out) >= _MAX_SHOWN:
                break
        return out
    # compare the serialised text: 1 and 1.0, or True and 1, are different outputs
    if json.dumps(old) != json.dumps(new):
        return [f"{path}: recorded {_short(old)}, now {_short(new)}"]
    return []


def _clip(line: str, at: int) -> str:
    """A window of a (possibly 200 kB) line around column ``at``."""
    lo = max(0, at - _WIDTH // 2)
    return (
        ("..." if lo else "") + line[lo : lo + _WIDTH] + ("..." if lo + _WIDTH < len(line) else "")
    )


def _text_differences(old: str, new: str) -> list[str]:
    """The first differing lines of two texts, with line numbers and the first column."""
    a, b = old.split("\n"), new.split("\n")
    out = []
    if len(a) != len(b):
        out.append(f"{len(a)} lines recorded, {len(b)} now")
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            col = next((k for k, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), 0)
            col = col or min(len(x), len(y))
            out.append(f"line {i + 1}, column {col + 1}:\n  - {_clip(x, col)}\n  + {_clip(y, col)}")
            if len(out) >= _MAX_SHOWN:
                break
    return out


def describe_difference(artefact: str, old: bytes, new: bytes) -> str:
    """A short account of how a regenerated artefact differs from the recorded one."""
    if artefact.endswith(".json"):
        found = _json_differences(json.loads(old), json.loads(new))
        found = found or ["same values, different text (serialisation or float formatting)"]
    else:
        found = _text_differences(old.decode("utf-8"), new.decode("utf-8"))
    return f"{artefact} differs from the golden:\n" + "\n".join(found[:_MAX_SHOWN])


def test_the_difference_report_names_json_paths_and_text_lines():
    old = json.dumps({"overall": {"auroc": 0.731, "n": 10}, "groups": [1, 2]}).encode()
    new = json.dumps({"overall": {"auroc": 0.732, "n": 10}, "groups": [1, 2, 3]}).encode()
    report = describe_difference("audit.json", old, new)
    assert "$.overall.auroc: recorded 0.731, now 0.732" in report
    assert "$.groups: 2 items recorded, 3 now" in report
    report = describe_difference("report.pdf.txt", b"a\nAUROC 0.731\nc", b"a\nAUROC 0.732\nc")
    assert "line 2, column 11:\n  - AUROC 0.731\n  + AUROC 0.732" in report


def test_normalising_audit_json_drops_only_the_run_block_and_keeps_float_text():
    raw = b'{"run": {"host": "vm"}, "b": 0.30000000000000004, "a": [1.0, 2]}'
    assert golden.normalise_audit_json(raw) == (
        b'{\n "a": [\n  1.0,\n  2\n ],\n "b": 0.30000000000000004\n}\n'
    )
    with pytest.raises(ValueError, match="does not re-serialise to itself"):
        golden.normalise_audit_json(b'{"a": 0.10}')


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("golden")


@pytest.mark.parametrize("case", list(golden.CASES))
def test_outputs_equal_the_recorded_goldens(case, workdir):
    recorded = golden.stored_artefacts(case)
    assert recorded, f"No goldens recorded for {case!r}: run python tests/golden/record.py {case}"
    produced = golden.CASES[case].produce(workdir)
    if "dataset.sha256sum.txt" in recorded:
        # the input, not the tool: if pyarrow now writes other bytes, cohort.sha256 follows
        assert produced["dataset.sha256sum.txt"] == recorded["dataset.sha256sum.txt"], (
            "The Parquet copy of the sample has other bytes than when the goldens were "
            "recorded (a different pyarrow?); cohort.sha256 will differ for that reason alone."
        )
    assert sorted(produced) == sorted(recorded), f"{case}: the set of outputs changed"
    differing = [
        describe_difference(name, recorded[name], produced[name])
        for name in sorted(recorded)
        if produced[name] != recorded[name]
    ]
    if differing:
        pytest.fail(f"{case}: " + "\n\n".join(differing), pytrace=False)

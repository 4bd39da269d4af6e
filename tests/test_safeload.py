"""One bounded YAML/JSON loader for every file a stranger wrote (issue 14, point 1).

A 377-byte card with nested aliases (the "billion laughs") once ran for minutes and took 5 GB;
a deeply nested card or site file ended in a RecursionError. cohortaudit.safeload refuses
aliases, bounds depth, node count and size *before* anything is expanded, and turns every
parser or constructor failure into the caller's error (exit 2). These tests drive the real
CLI where a user would, and the library functions the dashboard calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cohortaudit import resultio as json_render
from cohortaudit import safeload
from cohortaudit.card import load_card
from cohortaudit.errors import AuditError, CardError, ConfigError, InputError, ReportError
from cohortaudit.policy import load_policy
from cohortaudit.sites import export as site_export

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SRC = ROOT / "src" / "cohortaudit"

LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def _cli(*args: str, timeout: float = 120) -> tuple[int, str, float]:
    start = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cohortaudit.cli import main; sys.exit(main(sys.argv[1:]))",
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


# ------------------------------------------------------------------ the CLI, as a user runs it


def test_a_billion_laughs_card_is_refused_in_seconds_with_exit_2(tmp_path):
    card = tmp_path / "laughs.card.yaml"
    card.write_text(LAUGHS)
    assert len(LAUGHS.encode()) < 400
    code, out, seconds = _cli(
        "audit", "--model", str(SAMPLE / "model.onnx"), "--card", str(card),
        "--cohort", str(SAMPLE / "cohort.csv"), "--label", "cvd_10y", "--sensitive", "sex",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2, out
    assert "uses a YAML alias ('*a') at line 2" in out and "Traceback" not in out
    assert seconds < 30
    assert not (tmp_path / "out").exists()


def test_a_deeply_nested_policy_is_refused_with_exit_2(tmp_path):
    policy = tmp_path / "deep.yaml"
    policy.write_text("rules: " + "[" * 5000 + "]" * 5000 + "\n")
    code, out, _ = _cli(
        "audit", "--model", str(SAMPLE / "model.onnx"), "--card", str(SAMPLE / "model.card.yaml"),
        "--cohort", str(SAMPLE / "cohort.csv"), "--label", "cvd_10y", "--sensitive", "sex",
        "--policy", str(policy), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2, out
    assert "The policy file 'deep.yaml' is nested more than 64 levels deep" in out
    assert "Traceback" not in out and "RecursionError" not in out


def test_a_deeply_nested_site_file_is_refused_by_pool_with_exit_2(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, out, _ = _cli(
        "pool", str(deep), str(SAMPLE / "sites" / "FI-Tampere.json"), "--out", str(tmp_path / "o")
    )
    assert code == 2, out
    assert "The site file 'deep.json' is nested more than 64 levels deep" in out
    assert "Traceback" not in out


def test_a_damaged_manifest_is_refused_by_verify_with_exit_2(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "audit.json").write_text("{}\n")
    (out_dir / "manifest.json").write_text('{"files": ' + "[" * 3000 + "]" * 3000 + "}")
    code, out, _ = _cli("verify", str(out_dir))
    assert code == 2, out
    assert "manifest.json' is nested more than 64 levels deep" in out
    assert "Traceback" not in out


# ------------------------------------------------------------------ each loader, each limit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LAUGHS, "uses a YAML alias ('*a') at line 2, column 8. Aliases are refused"),
        ("name: x\nmerge:\n  <<: *base\n", "uses a YAML alias ('*base')"),
        ("a: " + "[" * 65 + "]" * 65 + "\n", "is nested more than 64 levels deep at line 1"),
        ("a: !!float ''\n", "holds a value YAML cannot read (IndexError"),
        ("released: 2024-13-45\n", "holds a value YAML cannot read (ValueError: month must be"),
        ("a: !!int 12x\n", "holds a value YAML cannot read (ValueError"),
        ("a: !!python/object/apply:os.system ['true']\n", "is not valid YAML"),
        ("a: 1\n---\nb: 2\n", "holds more than one YAML document"),
        ("a: [1, 2\n", "is not valid YAML at line 2, column 1: did not find expected ',' or ']'"),
        ("a: b\x00\n", "the character U+0000 is not allowed in YAML"),
    ],
)
def test_a_hostile_model_card_is_a_card_error_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "card.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CardError) as e:
        load_card(path)
    assert str(e.value).startswith("The model card 'card.yaml' ")
    assert message in str(e.value)


def test_anchors_without_aliases_are_harmless_and_read():
    assert safeload.parse_yaml("a: &x 3\nb: [&y 1, 2]\n", what="x", error=ConfigError) == {
        "a": 3,
        "b": [1, 2],
    }


def test_the_node_limit_bounds_a_flat_but_huge_document():
    text = "[" + ",".join(["1"] * 1000) + "]"
    with pytest.raises(ConfigError, match="more than 500 YAML values"):
        safeload.parse_yaml(text, what="The policy", error=ConfigError, max_nodes=500)
    assert len(safeload.parse_yaml(text, what="The policy", error=ConfigError)) == 1000


def test_policy_loader_refuses_aliases_and_size(tmp_path, monkeypatch):
    import cohortaudit.policy as policy_mod

    path = tmp_path / "p.yaml"
    path.write_text("base: &r {metric: auroc}\nrules: [*r]\n")
    with pytest.raises(ConfigError, match=r"^The policy file 'p.yaml' uses a YAML alias \('\*r'\)"):
        load_policy(path)
    monkeypatch.setattr(policy_mod, "MAX_POLICY_BYTES", 16)
    with pytest.raises(ConfigError, match=r"is \d+ bytes, above the limit of 16 bytes"):
        load_policy(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "is nested more than 64 levels deep"),
        ('{"a": ' * 70 + "1" + "}" * 70, "is nested more than 64 levels deep"),
        ('{"format": 1, "format": 2}', "gives the key 'format' twice in one object"),
        ('{"n": ' + "9" * 5000 + "}", "is not valid JSON: a number has more than 4,300 digits"),
        ('{"n": 1,}', "is not valid JSON at line 1, column 9"),
    ],
)
def test_a_hostile_site_file_is_an_input_error_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "site.json"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        site_export.read_site_file(path)
    assert str(e.value).startswith("The site file 'site.json' ")
    assert message in str(e.value)


def test_site_files_and_audit_json_have_size_limits_with_a_clear_message(tmp_path, monkeypatch):
    site = SAMPLE / "sites" / "FI-Tampere.json"
    monkeypatch.setattr(site_export, "MAX_SITE_FILE_BYTES", 100 * 2**10)
    with pytest.raises(InputError, match=r"is \d+ KB, above the limit of 100 KB. A site file"):
        site_export.read_site_file(site)
    monkeypatch.setattr(json_render, "MAX_AUDIT_JSON_BYTES", 2**20)
    upload = b"{" + b" " * (2**20 + 10) + b"}"
    with pytest.raises(InputError, match=r"^'big.json' is 1.0 MB, above the limit of 1 MB"):
        json_render.read_json_bytes(upload, name="big.json")  # the dashboard's Start page
    (tmp_path / "audit.json").write_bytes(upload)
    with pytest.raises(InputError, match="above the limit of 1.0 MB"):
        json_render.read_json(tmp_path / "audit.json")


def test_an_uploaded_audit_json_nested_too_deeply_is_refused():
    with pytest.raises(InputError, match="^'up.json' is nested more than 64 levels deep"):
        json_render.read_json_bytes(b"[" * 50_000 + b"]" * 50_000, name="up.json")


def test_a_fifo_or_a_folder_in_place_of_a_file_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "card.yaml"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(CardError, match="is not a regular file"):
        load_card(fifo)
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_policy(tmp_path)
    assert time.monotonic() - start < 5


def test_the_sample_files_still_load_unchanged():
    assert load_card(SAMPLE / "model.card.yaml").name
    assert load_policy(SAMPLE / "policy.yaml").rules
    data = site_export.read_site_file(SAMPLE / "sites" / "FI-Tampere.json")
    assert data == json.loads((SAMPLE / "sites" / "FI-Tampere.json").read_text())


def test_no_module_parses_yaml_or_json_from_a_file_except_through_safeload():
    """The mechanism: one loader. Shipped schemas and the tool's own canonical bytes are the
    only other json.loads calls; yaml is only ever loaded in safeload."""
    allowed_json = {
        "intake/card.py": 1,  # its own JSON Schema
        "policy.py": 2,  # its own schema; a JSON round trip of an already parsed policy
        "render/json.py": 1,  # its own schema
        "integrity.py": 1,  # canonical bytes it has just written
    }
    found_json: dict[str, int] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        text = path.read_text()
        if rel == "safeload.py":
            continue
        assert "yaml.safe_load(" not in text and "yaml.load(" not in text, rel
        if text.count("json.load"):
            found_json[rel] = text.count("json.loads(") + text.count("json.load(")
    assert found_json == allowed_json


def test_every_error_is_an_audit_error():
    for exc in (CardError, ConfigError, InputError, ReportError):
        assert issubclass(exc, AuditError)

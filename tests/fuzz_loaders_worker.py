"""Fuzz worker for tests/test_fuzz_loaders.py: ``python fuzz_loaders_worker.py LOADER SEED N DIR``.

Runs N seeded mutations of a valid file through one loader, each under a per-case alarm, in a
process whose address space is capped (RLIMIT_AS), and prints one JSON line per case:
``{"case": i, "outcome": "ok" | "refused" | "crash" | "hang" | "memory", "detail": ...}``.
"refused" means an :class:`cohortaudit.errors.AuditError` (the CLI's exit 2); "crash" is any
other exception (a traceback for the user). The parent test asserts that nothing crashed,
hung or ran out of memory.

Mutations are both byte-level (flips, cuts, splices of hostile tokens: YAML aliases and tags,
deep brackets, huge numbers, NUL, BOM, invalid UTF-8) and structure-level (a value anywhere in
the parsed document replaced by an odd one, a key deleted, a list element duplicated), so that
mutated files get past the syntax check and reach validation. Site files get their content hash
recomputed after a structural mutation, as an attacker would.
"""

from __future__ import annotations

import copy
import json
import random
import resource
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import yaml

CASE_SECONDS = 10
ADDRESS_SPACE = 6 * 2**30  # numpy / pandas reserve large virtual regions up front

YAML_TOKENS = [
    "&a ",
    "*a",
    "<<: *a\n",
    "!!float ''",
    "!!int x",
    "!!binary zz",
    "!!set {a}",
    "!!timestamp x",
    "!!python/object/apply:os.system ['echo hi']",
    "[" * 300,
    "{" * 300,
    "? [1]\n: 2\n",
    "2024-13-45",
    "9" * 5000,
    "1e999",
    ".nan",
    "-.inf",
    "~",
    "---\n",
    "...\n",
    "\t",
    "\x00",
    "\ufeff",
    "'",
    '"',
    ": ",
    "- ",
    "\n  ",
    "%YAML 1.1\n",
    "0o777",
    "0x1F",
    "null",
    "yes",
    "",
]
JSON_TOKENS = [
    "[" * 300,
    "]",
    "{" * 300,
    "}",
    ",",
    ":",
    '"',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "9" * 5000,
    "null",
    "true",
    "\\u0000",
    "\\ud800",
    '{"a":1,"a":2}',
    "\x00",
    "\ufeff",
    "",
]
ODD_VALUES: list[Any] = [
    None,
    -1,
    0,
    1,
    2**70,
    -1e308,
    1e308,
    0.5,
    "",
    "x",
    "<b>x</b>",
    "\x1b[2J",
    [],
    {},
    [None],
    {"": None},
    True,
    False,
    "NaN",
    [1, 2, 3],
    {"a": [1, {"b": None}]},
    "9" * 400,
]


# ------------------------------------------------------------------------------- mutations


def _mutate_bytes(rng: random.Random, data: bytes, tokens: list[str]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            b = bytearray(rng.choice(tokens).encode("utf-8"))
            continue
        i = rng.randrange(len(b))
        op = rng.randrange(6)
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            del b[i : i + rng.randint(1, 200)]
        elif op == 2:
            b[i:i] = rng.choice(tokens).encode("utf-8")
        elif op == 3:
            j = rng.randrange(len(b))
            b[i:i] = b[j : j + rng.randint(1, 400)]
        elif op == 4:
            del b[i:]
        else:
            b[i:i] = bytes([rng.choice([0x80, 0xFF, 0xC3, 0x00, 0x1B, 0x0A])])
    return bytes(b)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:20]):  # the first elements are enough, and keep this fast
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate_doc(rng: random.Random, doc: Any) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return rng.choice(ODD_VALUES)
        path = rng.choice(paths)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = rng.randrange(4)
        if op == 0 and isinstance(parent, dict):
            del parent[key]
        elif op == 1 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == 2:
            parent[key] = [parent[key]] if rng.random() < 0.5 else {"x": parent[key]}
        else:
            parent[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    return doc


# ------------------------------------------------------------------------------- loaders


def _fixtures(root: Path, work: Path) -> dict[str, Any]:
    sample = root / "sample_data"
    return {
        "card": (sample / "model.card.yaml").read_bytes(),
        "policy": (sample / "policy.yaml").read_bytes(),
        "site": (sample / "sites" / "FI-Tampere.json").read_bytes(),
        "site_other": (sample / "sites" / "ES-Valencia.json").read_bytes(),
        "audit": (work / "audit.json").read_bytes() if (work / "audit.json").exists() else None,
        "cohort": (sample / "cohort.csv").read_bytes(),
    }


def _case_bytes(loader: str, rng: random.Random, fx: dict[str, Any]) -> bytes:
    structural = rng.random() < 0.5
    if loader in ("card", "policy"):
        if structural:
            doc = _mutate_doc(rng, yaml.safe_load(fx[loader]))
            return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8")
        return _mutate_bytes(rng, fx[loader], YAML_TOKENS)
    if loader == "site":
        if structural:
            from cohortaudit.sites.export import content_sha256

            doc = _mutate_doc(rng, json.loads(fx["site"]))
            if isinstance(doc, dict):
                doc["content_sha256"] = content_sha256(doc)
            return json.dumps(doc, ensure_ascii=False).encode("utf-8")
        return _mutate_bytes(rng, fx["site"], JSON_TOKENS)
    if loader == "audit":
        if structural:
            doc = _mutate_doc(rng, json.loads(fx["audit"]))
            return json.dumps(doc, ensure_ascii=False).encode("utf-8")
        return _mutate_bytes(rng, fx["audit"], JSON_TOKENS)
    if loader == "cohort":  # the header line and the first rows: that is where names live
        head = b"".join(fx["cohort"].splitlines(keepends=True)[:400])
        cut = head.index(b"\n")
        tokens = YAML_TOKENS + JSON_TOKENS + [";", "\t", ",", "sex", "cvd_10y", "age"]
        header = _mutate_bytes(rng, head[:cut], tokens)
        if rng.random() < 0.8:  # usually keep the header one line, so validation is reached
            header = header.replace(b"\n", b" ").replace(b"\r", b" ")
        body = head[cut:] if rng.random() < 0.8 else _mutate_bytes(rng, head[cut:], [",", '"'])
        return header + body
    raise SystemExit(f"unknown loader {loader}")


def _run(loader: str, path: Path, fx: dict[str, Any], work: Path) -> None:
    if loader == "card":
        from cohortaudit.card import load_card

        load_card(path)
    elif loader == "policy":
        from cohortaudit.policy import load_policy

        load_policy(path)
    elif loader == "site":
        from cohortaudit.sites.pool import pool_site_files

        other = work / "ES-Valencia.json"
        if not other.exists():
            other.write_bytes(fx["site_other"])
        pool_site_files([path, other], n_boot=0)
    elif loader == "audit":  # the dashboard's Start page and Compare page read uploads so
        from cohortaudit.resultio import read_json_bytes

        read_json_bytes(path.read_bytes(), name=path.name)
    elif loader == "cohort":
        from cohortaudit.cohort import validate_cohort
        from cohortaudit.config import AuditConfig
        from cohortaudit.io import load_cohort

        frame, _ = load_cohort(path)
        config = AuditConfig(label="cvd_10y", sensitive_features=("sex", "site"))
        validate_cohort(frame, config=config, model=fx["model"], card=fx["model_card"])


class _Alarm(BaseException):
    """Raised by the per-case alarm; a BaseException so no ``except Exception`` swallows it."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Alarm


def main() -> None:
    loader, seed, n, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    root = Path(__file__).resolve().parents[1]
    fx = _fixtures(root, work)
    from cohortaudit.card import load_card
    from cohortaudit.errors import AuditError
    from cohortaudit.io import load_model

    if loader == "cohort":
        fx["model_card"] = load_card(root / "sample_data" / "model.card.yaml")
        fx["model"] = load_model(root / "sample_data" / "model.onnx", card=fx["model_card"])
    for name in (
        "cohortaudit.policy",
        "cohortaudit.sites.pool",
        "cohortaudit.resultio",
        "cohortaudit.cohort",
    ):
        __import__(name)  # imported before memory is capped, so the cap measures the cases
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    signal.signal(signal.SIGALRM, _on_alarm)
    suffix = {"card": ".yaml", "policy": ".yaml", "site": ".json", "audit": ".json"}
    for i in range(n):
        rng = random.Random(f"{loader}-{seed}-{i}")
        data = _case_bytes(loader, rng, fx)
        path = work / f"case{suffix.get(loader, '.csv')}"
        path.write_bytes(data)
        outcome, detail = "ok", ""
        signal.alarm(CASE_SECONDS)
        try:
            _run(loader, path, fx, work)
        except AuditError as exc:
            outcome, detail = "refused", str(exc)[:200]
        except _Alarm:
            outcome = "hang"
        except MemoryError:
            outcome = "memory"
        except Exception as exc:  # noqa: BLE001 - a crash is what this worker reports
            outcome = "crash"
            detail = "".join(traceback.format_exception(exc)[-3:])[-1500:]
        finally:
            signal.alarm(0)
        if outcome in ("crash", "hang", "memory"):
            (work / f"failing-{i}{path.suffix}").write_bytes(data)
        print(json.dumps({"case": i, "outcome": outcome, "detail": detail}), flush=True)


if __name__ == "__main__":
    main()

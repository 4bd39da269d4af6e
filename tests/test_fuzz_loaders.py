"""Every loader of a stranger's file survives random mutations (issue 14, "Also": fuzzing).

For each loader -- model card, policy, site file (pooled, after its content hash is recomputed
as an attacker would), audit.json (the dashboard's upload path) and the cohort header -- a
seeded worker (tests/fuzz_loaders_worker.py) feeds mutations of a valid file, each case under
a 10-second alarm, in a process whose address space is capped. Every case must end in success
or a clear refusal (an AuditError: the CLI's exit 2); never a traceback, a hang or a
MemoryError. Failing inputs are kept in the temporary folder for reproduction.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("fuzz_loaders_worker.py")
SEED = 20261204
CASES = {"card": 150, "policy": 150, "site": 120, "audit": 60, "cohort": 150}


def _fuzz(loader: str, work: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.run(
        [sys.executable, str(WORKER), loader, str(SEED), str(CASES[loader]), str(work)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture(scope="module")
def small_audit_json(tmp_path_factory) -> Path:
    """A real audit.json (sample model, card and cohort; few replicates to stay quick)."""
    out = tmp_path_factory.mktemp("audit")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cohortaudit.cli import main; sys.exit(main(sys.argv[1:]))",
            "audit",
            "--model",
            str(ROOT / "sample_data" / "model.onnx"),
            "--card",
            str(ROOT / "sample_data" / "model.card.yaml"),
            "--cohort",
            str(ROOT / "sample_data" / "cohort.csv"),
            "--label",
            "cvd_10y",
            "--sensitive",
            "sex",
            "site",
            "--n-boot",
            "10",
            "--explain-rows",
            "100",
            "--out",
            str(out),
            "--quiet",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return out / "audit.json"


@pytest.mark.slow
@pytest.mark.parametrize("loader", list(CASES))
def test_mutated_files_are_read_or_refused_never_crash_hang_or_exhaust_memory(
    loader, tmp_path, request
):
    if loader == "audit":
        (tmp_path / "audit.json").write_bytes(
            request.getfixturevalue("small_audit_json").read_bytes()
        )
    rows = _fuzz(loader, tmp_path)
    assert len(rows) == CASES[loader]
    outcomes = collections.Counter(r["outcome"] for r in rows)
    bad = [r for r in rows if r["outcome"] not in ("ok", "refused")]
    assert not bad, (
        f"{len(bad)} of {len(rows)} {loader} cases failed (inputs kept in {tmp_path}):\n"
        + "\n".join(f"case {r['case']}: {r['outcome']}\n{r['detail']}" for r in bad[:5])
    )
    # the mutations reach past the parser: some mutated files are still valid and are read
    assert outcomes["ok"] >= 1, outcomes
    # every refusal is a sentence for the person at the keyboard, naming the file or column
    assert all(len(r["detail"]) > 20 for r in rows if r["outcome"] == "refused")

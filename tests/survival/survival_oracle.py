"""The test-only oracle environment: scikit-survival and lifelines in ``.venv-oracle``.

Why a separate venv: lifelines pins pandas<3 and scikit-survival (GPL-3) pins scikit-learn
1.9.x, so neither may enter cohortaudit's runtime dependencies (shared/TECH-NOTES.md). They are
still the independent implementations our survival estimators must agree with, so the tests
run ``oracle_script.py`` in this venv (JSON in on stdin, JSON out on stdout).

The venv is built from ``oracle-requirements.txt`` (exact pins) and rebuilt only when that file
changes (a stamp holds its hash), so ``./dev.sh test`` pays the ~1 minute once. Run
``python tests/survival/survival_oracle.py`` to build it by hand; it prints the versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = ROOT / ".venv-oracle"
PINS = HERE / "oracle-requirements.txt"
SCRIPT = HERE / "oracle_script.py"
STAMP = VENV / ".oracle-stamp"


def _python() -> Path:
    return VENV / "bin" / "python"


def _want() -> str:
    return hashlib.sha256(PINS.read_bytes()).hexdigest()[:16]


def is_current() -> bool:
    """True when the venv exists and was built from the current pin file."""
    return _python().exists() and STAMP.exists() and STAMP.read_text().strip() == _want()


def build(python: str = sys.executable) -> str | None:
    """Build (or refresh) the oracle venv; return None on success, else the reason it failed."""
    if is_current():
        return None
    try:
        if not _python().exists():
            subprocess.run([python, "-m", "venv", str(VENV)], check=True, capture_output=True)
        subprocess.run(
            [str(_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "-r", str(PINS)],
            check=True, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        return f"the oracle venv {VENV} could not be built: {exc} {detail[-500:]}".strip()
    STAMP.write_text(_want() + "\n")
    return None


def require(in_ci: bool) -> None:
    """Build the venv if needed; when it cannot be built, skip with the reason, or fail under
    CI (a lane that silently skips the independent check is not the full lane)."""
    import pytest

    why = build()
    if why is not None:
        if in_ci:
            pytest.fail(f"CI is set, so the survival oracle tests must run, but {why}")
        pytest.skip(why)


def run(cases: list[dict]) -> list[dict]:
    """Run the oracle script on the cases in the oracle venv and return its answers."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(
        [str(_python()), str(SCRIPT)],
        input=json.dumps(cases), capture_output=True, text=True, check=False, env=env,
        timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"oracle script failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def versions() -> dict[str, str]:
    """The oracle libraries' versions, as the oracle venv reports them."""
    return run([{"versions": True}])[0]


if __name__ == "__main__":
    # Fast when the venv is current (no subprocess), so ./dev.sh test pays nothing after the
    # first build; after a build it prints the versions the venv reports.
    if not is_current():
        why = build()
        if why:
            print(why, file=sys.stderr)
            sys.exit(1)
        print(json.dumps(versions()))

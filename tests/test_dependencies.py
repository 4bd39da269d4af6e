"""Dependencies match the layout (issue 15, point 8).

``pyproject.toml``'s runtime ``dependencies`` are what ``src/cohortaudit`` imports; the dashboard,
the Dask engine and the tests are extras; ``requirements.lock`` (what ``./dev.sh`` installs) pins
every package those need and nothing that nothing needs. Imports are read with :mod:`ast` (as
``tests/architecture.py`` does), the requirement graph from the installed distributions'
metadata.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

#: import name -> distribution name, where they differ
DIST_OF = {
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "fpdf": "fpdf2",
    "skl2onnx": "skl2onnx",
}
#: Imported by src only inside functions of an optional feature, and declared by its extra.
OPTIONAL = {"dask": "dask", "distributed": "dask"}
#: Imported by src only inside a try/except ImportError (an optional speed-up of shap's kernels).
GUARDED = {"numba"}
#: Kept in the lock for the build, not the runtime: dev.sh installs with --no-build-isolation.
BUILD = {"setuptools", "wheel"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _third_party_imports(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("cohortaudit", "__future__"):
                    found.add(top)
    return found


def _declared(reqs: list[str]) -> set[str]:
    return {_norm(Requirement(r).name) for r in reqs}


def test_runtime_dependencies_are_exactly_what_src_imports():
    imported = _third_party_imports(ROOT / "src" / "cohortaudit") - GUARDED
    needed = {_norm(DIST_OF.get(m, m)) for m in imported if m not in OPTIONAL}
    assert _declared(PYPROJECT["dependencies"]) == needed


def test_optional_features_and_test_only_packages_are_extras():
    extras = PYPROJECT["optional-dependencies"]
    for module, extra in OPTIONAL.items():
        assert _norm(module) in _declared(extras[extra])
    assert "streamlit" in _declared(extras["app"])
    runtime = _declared(PYPROJECT["dependencies"])
    tests_only = {"skl2onnx", "statsmodels", "pypdf", "psutil", "pytest", "playwright"}
    assert tests_only <= _declared(extras["test"])
    assert not tests_only & runtime
    assert "streamlit" not in runtime and "dask" not in runtime


def _closure() -> set[str]:
    """Every distribution that pyproject's dependencies and extras need, transitively."""
    dists = {_norm(d.metadata["Name"]): d for d in metadata.distributions()}
    extras = PYPROJECT["optional-dependencies"]
    todo = [Requirement(r) for r in PYPROJECT["dependencies"]]
    todo += [Requirement(r) for name in extras for r in extras[name]]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (_norm(req.name), frozenset(req.extras))
        if key in seen or key[0] == "cohortaudit":
            seen.add(key)
            if key[0] == "cohortaudit":  # cohortaudit[app,dask,test]: its own extras
                for extra in req.extras:
                    todo += [Requirement(r) for r in extras[extra]]
            continue
        seen.add(key)
        dist = dists.get(key[0])
        assert dist is not None, f"{req.name} is required but not installed"
        for raw in dist.requires or []:
            sub = Requirement(raw)
            if sub.marker is None or any(
                sub.marker.evaluate({"extra": e}) for e in (req.extras or {""})
            ):
                todo.append(sub)
    return {name for name, _ in seen} - {"cohortaudit"}


def test_the_lock_pins_what_is_needed_and_nothing_stale():
    pinned = set()
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"unpinned line in requirements.lock: {line}"
            pinned.add(_norm(name))
    needed = _closure()
    assert needed - pinned == set(), "required but not pinned"
    assert pinned - needed - BUILD == set(), "pinned but nothing requires it"


def test_engine_dask_without_the_extra_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    import importlib.util

    from cohortaudit.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "dask" else real(name, *a)
    )
    sample = ROOT / "sample_data"
    code = main(
        [
            "audit",
            "--model", str(sample / "model.onnx"),
            "--cohort", str(sample / "cohort.csv"),
            "--label", "cvd_10y",
            "--engine", "dask",
            "--out", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ConfigError: --engine dask needs dask, which this environment lacks.")
    assert "pip install 'cohortaudit[dask]'" in err


def test_the_dask_engine_called_from_python_without_the_extra_names_the_install(monkeypatch):
    """Python callers of audit_with_engine get the CLI's message, not a ModuleNotFoundError."""
    import importlib.util

    import pytest

    from cohortaudit.config import AuditConfig
    from cohortaudit.engines import audit_with_engine
    from cohortaudit.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "distributed" else real(name, *a),
    )
    sample = ROOT / "sample_data"
    with pytest.raises(ConfigError, match=r"needs distributed.*cohortaudit\[dask\]"):
        audit_with_engine(
            engine="dask",
            config=AuditConfig(label="cvd_10y", sensitive_features=("sex",)),
            model_path=sample / "model.onnx",
            cohort_path=sample / "cohort.csv",
        )

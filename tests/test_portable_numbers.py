"""The same audit gives the same JSON, to the last bit, whatever CPU kernels the machine picks.

A regulator re-running a filed audit on another server must get the same numbers (and so the
same audit id); the golden outputs are compared byte for byte on whatever machine CI lands on.
BLAS, LAPACK and numpy's SIMD loops choose CPU-specific kernels at run time, so the fits go
through :mod:`cohortaudit.metrics.portable` instead. We cannot change the CPU inside a test,
but we can make the libraries choose other kernels: ``OPENBLAS_CORETYPE`` and
``OPENBLAS_NUM_THREADS`` pick OpenBLAS's kernel and its split of the work,
``NPY_DISABLE_CPU_FEATURES`` turns off numpy's AVX2/FMA dispatch. Each audit runs in a fresh
interpreter under each setting; the JSON (run block aside) must not change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cohortaudit.metrics import portable

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

# -- the building blocks agree with numpy's BLAS-backed versions -------------------------------


def test_the_products_equal_numpys_to_rounding():
    rng = np.random.default_rng(7)
    cols = rng.normal(size=(5, 2000))
    v = rng.random(2000)
    beta = rng.normal(size=5)
    np.testing.assert_allclose(portable.combine(cols, beta), beta @ cols, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(portable.cross(cols, v), cols @ v, rtol=1e-12)
    np.testing.assert_allclose(portable.gram(cols, v), (cols * v) @ cols.T, rtol=1e-12)


def test_a_batch_of_information_matrices_is_solved_as_linalg_solves_each():
    rng = np.random.default_rng(8)
    cols = rng.normal(size=(4, 1, 6, 40))  # 4 columns shared by 3 replicates of 6 groups
    w = rng.random((3, 6, 40))
    info = portable.gram(cols, w)
    assert info.shape == (3, 6, 4, 4)
    np.testing.assert_allclose(info, np.einsum("igk,jgk,rgk->rgij", cols[:, 0], cols[:, 0], w))
    rhs = rng.normal(size=(3, 6, 4))
    x = portable.cho_solve(portable.cholesky(info), rhs)
    np.testing.assert_allclose(x, np.linalg.solve(info, rhs[..., None])[..., 0], rtol=1e-10)


def test_an_inverse_is_the_solve_against_the_identity():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(5, 5))
    a = a @ a.T + 5 * np.eye(5)
    np.testing.assert_allclose(portable.solve_pd(a, np.eye(5)), np.linalg.inv(a), rtol=1e-12)


def test_a_matrix_that_is_not_positive_definite_has_no_solution():
    assert portable.solve_pd(np.array([[1.0, 2.0], [2.0, 1.0]]), np.ones(2)) is None
    assert portable.solve_pd(np.array([[1.0, 1.0], [1.0, 1.0]]), np.ones(2)) is None
    low = portable.cholesky(np.array([[[4.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]))
    assert np.isfinite(low[0]).all() and np.isnan(low[1]).any()


# -- whole audits under other kernels -----------------------------------------------------------

_BINARY = [
    "--model", str(SAMPLE / "model.onnx"), "--card", str(SAMPLE / "model.card.yaml"),
    "--cohort", str(SAMPLE / "cohort.csv"), "--label", "cvd_10y",
    "--sensitive", "sex", "ethnicity", "site", "--reference", "sex=M", "--max-order", "1",
    "--n-boot", "40", "--no-explain", "--format", "json", "--quiet",
]  # fmt: skip
_SURVIVAL = [
    "--model", str(SAMPLE / "survival" / "model.onnx"),
    "--card", str(SAMPLE / "survival" / "model.card.yaml"),
    "--cohort", str(SAMPLE / "survival" / "cohort.csv"), "--time", "fu_years",
    "--event", "cvd_event", "--horizon", "10", "--sensitive", "sex", "deprivation",
    "--max-order", "1", "--n-boot", "40", "--no-explain", "--no-safety", "--format", "json",
    "--quiet",
]  # fmt: skip


def _kernel_settings() -> dict[str, dict[str, str]]:
    settings = {
        "default": {},
        "openblas generic kernel, one thread": {
            "OPENBLAS_CORETYPE": "Prescott",
            "OPENBLAS_NUM_THREADS": "1",
        },
    }
    from numpy._core._multiarray_umath import __cpu_features__

    if __cpu_features__.get("X86_V3"):  # only a feature the CPU has can be turned off
        settings["numpy without AVX2/FMA dispatch"] = {"NPY_DISABLE_CPU_FEATURES": "X86_V3"}
    return settings


_MAIN = "import sys; from cohortaudit.cli import main; sys.exit(main(sys.argv[1:]))"


def _audit_json(args: list[str], out: Path, env_extra: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "NPY_"))}
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", _MAIN, "audit", *args, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    doc.pop("run", None)
    return doc


@pytest.mark.parametrize("kind,args", [("binary", _BINARY), ("time_to_event", _SURVIVAL)])
def test_the_audit_json_does_not_depend_on_the_cpu_kernels(kind, args, tmp_path):
    results = {
        name: _audit_json(args, tmp_path / name.replace(" ", "_").replace(",", ""), extra)
        for name, extra in _kernel_settings().items()
    }
    reference = json.dumps(results.pop("default"), sort_keys=True)
    for name, doc in results.items():
        assert json.dumps(doc, sort_keys=True) == reference, f"{kind}: differs under {name}"

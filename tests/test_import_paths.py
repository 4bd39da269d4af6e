"""The old import paths stay as thin re-exports of the new house (issue 15, points 1 and 3).

Callers (tests, the app, scripts, other people's code) import ``cohortaudit.cohort``,
``cohortaudit.io``, ``cohortaudit.streaming`` ... ; each must hand out the very objects of the
module that now does the job, so there is still one implementation behind two names.
"""

from __future__ import annotations

import importlib

import pytest

MOVED = {
    "cohortaudit.cohort": ("cohortaudit.intake.validate", ["Cohort", "validate_cohort"]),
    "cohortaudit.io": ("cohortaudit.intake.model", ["load_model"]),
    "cohortaudit.card": ("cohortaudit.intake.card", ["ModelCard", "load_card", "init_card"]),
    "cohortaudit.testvectors": ("cohortaudit.intake.vectors", ["check_test_vectors"]),
    "cohortaudit.pipeline": ("cohortaudit.intake.inputs", ["load_inputs", "AuditInputs"]),
    "cohortaudit.streaming": ("cohortaudit.engines.stream", ["audit_stream", "stream_cohort"]),
    "cohortaudit.dask_engine": ("cohortaudit.engines.dask", ["audit_dask", "dataset_sha256"]),
}


@pytest.mark.parametrize("old", list(MOVED))
def test_an_old_module_re_exports_the_new_objects(old):
    new, names = MOVED[old]
    old_mod, new_mod = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_mod, name) is getattr(new_mod, name), f"{old}.{name}"
    assert set(old_mod.__all__) <= set(dir(old_mod))


def test_the_public_api_is_unchanged():
    import cohortaudit
    from cohortaudit.intake.model import load_model
    from cohortaudit.intake.tables import load_cohort

    assert cohortaudit.load_model is load_model
    assert cohortaudit.load_cohort is load_cohort
    assert callable(cohortaudit.run_audit) and cohortaudit.AuditConfig.__name__ == "AuditConfig"


def test_the_dask_engine_module_does_not_shadow_the_dask_library():
    import dask

    import cohortaudit.engines.dask as engine

    assert engine.__name__ == "cohortaudit.engines.dask"
    assert hasattr(dask, "delayed") and dask.__name__ == "dask"

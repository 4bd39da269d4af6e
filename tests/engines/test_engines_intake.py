"""Every engine reads its inputs through the one sequencer, ``intake.inputs.load_inputs``.

In memory, streamed, on Dask, and a site's export: policy, card, model and test vectors are
loaded and checked in one order, by one function, before the cohort is read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cohortaudit.config import AuditConfig
from cohortaudit.engines import audit_dask, audit_files, audit_stream, audit_with_engine
from cohortaudit.errors import CardError
from cohortaudit.intake import inputs as intake_inputs
from cohortaudit.sites.export import export_site

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
SRC = ROOT / "src" / "cohortaudit"
CONFIG = AuditConfig(label="cvd_10y", sensitive_features=("sex",), n_boot=20)


class _Sequenced(Exception):
    """Raised by the spy: the engine reached the one sequencer's card step."""


ENGINES = {
    "memory": lambda **kw: audit_files(cohort_path=SAMPLE / "missing.csv", **kw),
    "stream": lambda **kw: audit_stream(cohort_path=SAMPLE / "missing.csv", chunk_rows=100, **kw),
    "dask": lambda **kw: audit_dask(dataset=SAMPLE / "missing", **kw),
    "dispatcher": lambda **kw: audit_with_engine(cohort_path=SAMPLE / "missing.csv", **kw),
    "site export": lambda **kw: export_site(cohort_path=SAMPLE / "missing.csv", site="X", **kw),
}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_engine_loads_its_card_through_load_inputs(engine, monkeypatch):
    def spy(path):
        raise _Sequenced(str(path))

    monkeypatch.setattr(intake_inputs, "load_card", spy)
    with pytest.raises(_Sequenced):
        ENGINES[engine](
            config=CONFIG, model_path=SAMPLE / "model.onnx", card_path=SAMPLE / "model.card.yaml"
        )


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_bad_card_stops_every_engine_before_the_cohort_is_read(engine, tmp_path):
    card = tmp_path / "bad.card.yaml"
    card.write_text("name: [unclosed\n")
    with pytest.raises(CardError):  # not the InputError of the missing cohort
        ENGINES[engine](config=CONFIG, model_path=SAMPLE / "model.onnx", card_path=card)


def _calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
    }


#: The steps only the sequencer runs (a Dask worker re-loads the model by reference, which is
#: not a step of the intake, so ``load_model`` is not listed).
SEQUENCED_STEPS = {"load_policy", "load_card", "check_card_matches", "check_test_vectors"}


@pytest.mark.parametrize(
    "module", ["engines/memory.py", "engines/stream.py", "engines/dask.py", "sites/export.py"]
)
def test_load_inputs_is_the_only_sequencer(module):
    calls = _calls(SRC / module)
    assert "load_inputs" in calls
    assert not calls & (SEQUENCED_STEPS | {"load_cohort", "validate_cohort"})


def test_the_sequencer_runs_every_step():
    assert SEQUENCED_STEPS | {"load_model", "load_cohort", "validate_cohort"} <= _calls(
        SRC / "intake" / "inputs.py"
    )

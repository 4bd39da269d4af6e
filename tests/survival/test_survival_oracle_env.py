"""The oracle venv's own contract: a venv that cannot be built skips with the reason on a
laptop and fails under CI; a built venv is reused until its pin file changes."""

from __future__ import annotations

import pytest
import survival_oracle as oracle


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    pins = tmp_path / "pins.txt"
    pins.write_text("lifelines==0.30.3\n")
    monkeypatch.setattr(oracle, "VENV", tmp_path / "venv")
    monkeypatch.setattr(oracle, "STAMP", tmp_path / "venv" / ".oracle-stamp")
    monkeypatch.setattr(oracle, "PINS", pins)
    return tmp_path


def test_an_unbuildable_venv_is_a_reason_not_an_exception(elsewhere):
    why = oracle.build(python=str(elsewhere / "no-such-python"))
    assert why is not None and "could not be built" in why


def test_an_unbuildable_venv_skips_locally(elsewhere, monkeypatch):
    monkeypatch.setattr(oracle, "build", lambda: "the oracle venv could not be built: test")
    with pytest.raises(pytest.skip.Exception, match="could not be built"):
        oracle.require(in_ci=False)


def test_an_unbuildable_venv_fails_under_ci(elsewhere, monkeypatch):
    monkeypatch.setattr(oracle, "build", lambda: "the oracle venv could not be built: test")
    with pytest.raises(pytest.fail.Exception, match="CI is set, so the survival oracle tests"):
        oracle.require(in_ci=True)


def test_the_stamp_is_the_pin_file_hash(elsewhere):
    (elsewhere / "venv" / "bin").mkdir(parents=True)
    (elsewhere / "venv" / "bin" / "python").write_text("")
    assert not oracle.is_current()
    oracle.STAMP.write_text(oracle._want() + "\n")
    assert oracle.is_current()
    oracle.PINS.write_text("lifelines==0.30.2\n")  # a changed pin file means a rebuild
    assert not oracle.is_current()

"""The named steps of ``run_audit`` (cohortaudit/audit.py): each takes values, returns values."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cohortaudit.audit import _extreme_predictions_caveat, _run_record, _scores
from cohortaudit.errors import ConfigError


def _cohort(y_score=None):
    return SimpleNamespace(y_true=np.array([0, 1, 0]), y_score=y_score, features=None)


def test_precomputed_scores_must_hold_one_score_per_patient():
    with pytest.raises(ConfigError, match=r"one score per patient \(3\)\. Got shape \(2,\)\."):
        _scores(_cohort(), object(), np.array([0.1, 0.2]))


def test_scores_mode_takes_the_cohort_column_as_float64():
    y = _scores(_cohort(y_score=[0.1, 0.5, 0.9]), None, None)
    assert y.dtype == np.float64 and y.tolist() == [0.1, 0.5, 0.9]


def test_nothing_to_audit_names_both_ways_in():
    with pytest.raises(ConfigError, match=r"give a model \(--model\) or a column of predictions"):
        _scores(_cohort(), None, None)


def test_extreme_predictions_are_counted_and_absent_when_none():
    assert _extreme_predictions_caveat(np.array([0.2, 0.5])) == ()
    (caveat,) = _extreme_predictions_caveat(np.array([0.0, 0.5, 1.0]))
    assert caveat.code == "extreme_predictions" and caveat.message.startswith("2 predictions")


def test_run_record_names_the_engine_only_when_one_read_the_cohort():
    assert "engine" not in _run_record(None)
    assert _run_record({"name": "dask"})["engine"] == {"name": "dask"}

"""The bundled sample, audited through the real ONNX model, checked against sklearn directly.

This is the end-to-end honesty check: score the cohort with onnxruntime ourselves, compute the
metrics with sklearn for the same patients, and require the audit to report the same numbers.
It also audits an unseen cohort drawn fresh from the sample's simulator.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    recall_score,
    roc_auc_score,
)

from cohortaudit.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def _score_with_onnxruntime(frame: pd.DataFrame) -> np.ndarray:
    """An independent scorer: feeds built by hand from the session's inputs."""
    sess = ort.InferenceSession(str(SAMPLE / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in sess.get_inputs():
        col = frame[inp.name]
        if inp.type == "tensor(string)":
            feeds[inp.name] = col.astype(str).to_numpy(dtype=object).reshape(-1, 1)
        elif inp.type == "tensor(int64)":
            feeds[inp.name] = col.to_numpy(np.int64).reshape(-1, 1)
        else:
            feeds[inp.name] = col.to_numpy(np.float32).reshape(-1, 1)
    out = sess.run(None, feeds)
    probs = next(o for o in out if getattr(o, "ndim", 0) == 2 and o.shape[1] == 2)
    return probs[:, 1].astype(np.float64)


@pytest.fixture(scope="module")
def sample_audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    code = main(
        [
            "audit",
            "--no-explain",
            "--model",
            str(SAMPLE / "model.onnx"),
            "--card",
            str(SAMPLE / "model.card.yaml"),
            "--cohort",
            str(SAMPLE / "cohort.csv"),
            "--label",
            "cvd_10y",
            "--sensitive",
            "sex",
            "site",
            "--n-boot",
            "20",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    return json.loads((out / "audit.json").read_text())


def test_sample_metrics_equal_sklearn_on_independently_scored_patients(sample_audit):
    frame = pd.read_csv(SAMPLE / "cohort.csv")
    frame = frame.dropna(subset=["bmi"]) if sample_audit["cohort"]["n_excluded"] else frame
    assert len(frame) == sample_audit["cohort"]["n"]
    p = _score_with_onnxruntime(frame)
    y = frame["cvd_10y"].to_numpy()
    t = sample_audit["settings"]["threshold"]
    groups = {(): np.ones(len(y), bool)}
    for value in ("F", "M"):
        groups[("sex", value)] = frame["sex"].to_numpy() == value
    for value in frame["site"].unique():
        groups[("site", value)] = frame["site"].to_numpy() == value
    for key, mask in groups.items():
        entry = (
            sample_audit["overall"]
            if not key
            else next(g for g in sample_audit["subgroups"] if g["attributes"] == {key[0]: key[1]})
        )
        m = entry["metrics"]
        assert m["auroc"]["value"] == pytest.approx(roc_auc_score(y[mask], p[mask]), abs=1e-6)
        assert m["auprc"]["value"] == pytest.approx(
            average_precision_score(y[mask], p[mask]), abs=1e-6
        )
        assert m["brier"]["value"] == pytest.approx(brier_score_loss(y[mask], p[mask]), abs=1e-6)
        assert m["sensitivity"]["value"] == pytest.approx(
            recall_score(y[mask], p[mask] >= t), abs=1e-9
        )
        assert entry["n"] == mask.sum() and entry["events"] == y[mask].sum()


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_sample", SAMPLE / "build_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_sample", module)
    spec.loader.exec_module(module)
    return module


def test_an_unseen_cohort_from_the_same_simulator_audits_cleanly(tmp_path):
    builder = _load_builder()
    fresh = builder.simulate_population(3000, 424242, kind="audit")
    path = tmp_path / "unseen.parquet"
    fresh.to_parquet(path)
    code = main(
        [
            "audit",
            "--no-explain",
            "--model",
            str(SAMPLE / "model.onnx"),
            "--card",
            str(SAMPLE / "model.card.yaml"),
            "--cohort",
            str(path),
            "--label",
            "cvd_10y",
            "--sensitive",
            "sex",
            "deprivation",
            "--n-boot",
            "50",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert data["cohort"]["n"] > 2900
    assert 0.6 < data["overall"]["metrics"]["auroc"]["value"] < 0.85


def test_scores_mode_gives_the_same_numbers_as_model_mode(sample_audit, tmp_path):
    frame = pd.read_csv(SAMPLE / "cohort.csv")
    if sample_audit["cohort"]["n_excluded"]:
        frame = frame.dropna(subset=["bmi"])
    frame["risk"] = _score_with_onnxruntime(frame)
    path = tmp_path / "scored.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    code = main(
        [
            "audit",
            "--no-explain",
            "--score-column",
            "risk",
            "--cohort",
            str(path),
            "--label",
            "cvd_10y",
            "--sensitive",
            "sex",
            "site",
            "--threshold",
            str(sample_audit["settings"]["threshold"]),
            "--n-boot",
            "20",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ]
    )
    assert code == 0
    scored = json.loads((tmp_path / "o" / "audit.json").read_text())
    for key in ("auroc", "sensitivity", "brier", "oe_ratio", "citl", "calibration_slope", "ici"):
        a = sample_audit["overall"]["metrics"][key]["value"]
        b = scored["overall"]["metrics"][key]["value"]
        assert b == pytest.approx(a, abs=1e-6), key

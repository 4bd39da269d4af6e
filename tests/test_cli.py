"""The command line as a user runs it: exit codes, stderr, and what lands in --out."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pandas as pd
import pytest

from cohortaudit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
MODEL, CARD, COHORT = SAMPLE / "model.onnx", SAMPLE / "model.card.yaml", SAMPLE / "cohort.csv"
BASE = ["--label", "cvd_10y", "--sensitive", "sex", "ethnicity", "--n-boot", "50"]


def _audit(tmp_path, *extra, out="out"):
    return main(
        [
            "audit",
            "--no-explain",
            "--model",
            str(MODEL),
            "--card",
            str(CARD),
            "--cohort",
            str(COHORT),
            *BASE,
            "--out",
            str(tmp_path / out),
            *extra,
        ]
    )


def test_audit_of_the_sample_writes_a_valid_result_and_a_summary(tmp_path, capsys):
    assert _audit(tmp_path) == 0
    out = capsys.readouterr().out
    assert "CardioRisk-EU" in out and "AUROC" in out and "Wrote" in out
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert data["model"]["sha256"] and data["cohort"]["sha256"]
    assert data["cohort"]["n"] > 20_000
    assert data["settings"]["threshold"] == pytest.approx(0.10)  # from the card
    assert data["settings"]["threshold_source"] == "model card"
    female = next(g for g in data["subgroups"] if g["attributes"] == {"sex": "F"})
    male = next(g for g in data["subgroups"] if g["attributes"] == {"sex": "M"})
    # the planted problem: lower sensitivity for women, with separated intervals
    assert female["metrics"]["sensitivity"]["ci_high"] < male["metrics"]["sensitivity"]["ci_low"]


def test_explanations_and_safety_land_in_the_json_and_can_be_turned_off(tmp_path):
    assert _audit(tmp_path, "--explain", "--explain-rows", "40", out="on") == 0
    on = json.loads((tmp_path / "on" / "audit.json").read_text())
    assert on["explanations"]["settings"]["n_explain"] == 40
    assert on["explanations"]["global"][0]["mean_abs_shap"]["ci_low"] is not None
    assert on["safety"]["weak_slices"] and on["safety"]["shift"]
    assert _audit(tmp_path, "--no-safety", out="off") == 0
    off = json.loads((tmp_path / "off" / "audit.json").read_text())
    assert off["explanations"] is None and off["safety"] is None


def test_rerunning_gives_byte_identical_json_apart_from_the_run_block(tmp_path):
    assert _audit(tmp_path, out="a") == 0
    assert _audit(tmp_path, out="b") == 0
    a = json.loads((tmp_path / "a" / "audit.json").read_text())
    b = json.loads((tmp_path / "b" / "audit.json").read_text())
    a.pop("run"), b.pop("run")
    assert json.dumps(a) == json.dumps(b)


def test_scores_mode_audits_predictions_already_in_the_cohort(tmp_path, capsys):
    frame = pd.read_csv(COHORT).head(4000)
    rng = __import__("numpy").random.default_rng(0)
    frame["risk"] = rng.random(len(frame))
    path = tmp_path / "scored.parquet"
    frame.to_parquet(path)
    code = main(
        [
            "audit",
            "--no-explain",
            "--score-column",
            "risk",
            "--cohort",
            str(path),
            *BASE,
            "--threshold",
            "0.3",
            "--out",
            str(tmp_path / "s"),
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "s" / "audit.json").read_text())
    assert data["model"]["kind"] == "scores" and data["model"]["sha256"] is None
    assert 0.4 < data["overall"]["metrics"]["auroc"]["value"] < 0.6  # random scores


def _bad(tmp_path, capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_a_pickled_model_is_refused_with_advice(tmp_path, capsys):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"not": "a model"}))
    err = _bad(
        tmp_path,
        capsys,
        [
            "audit",
            "--no-explain",
            "--model",
            str(path),
            "--cohort",
            str(COHORT),
            *BASE,
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert err.startswith("UnsafeModelFormatError:") and "skops" in err


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--threshold", "1.5"], r"UsageError|ConfigError: The 'threshold' parameter must be"),
        (["--n-boot", "-1"], "ConfigError: The 'n_boot' parameter"),
        (["--bins", "age=80,40"], "ConfigError: The bin edges for 'age'"),
        (["--reference", "sex"], "ConfigError: The --reference value 'sex'"),
        (["--reference", "sex=X"], "SchemaError"),
    ],
)
def test_bad_options_exit_2_with_one_clear_line(tmp_path, capsys, args, expected):
    import re

    argv = [
        "audit",
        "--no-explain",
        "--model",
        str(MODEL),
        "--cohort",
        str(COHORT),
        *BASE,
        *args,
        "--out",
        str(tmp_path / "o"),
    ]
    if "age=" in " ".join(args):
        argv += ["--sensitive", "age"]
    err = _bad(tmp_path, capsys, argv)
    assert re.search(expected, err), err


def test_missing_cohort_and_missing_label_say_what_to_do(tmp_path, capsys):
    err = _bad(
        tmp_path,
        capsys,
        [
            "audit",
            "--no-explain",
            "--model",
            str(MODEL),
            "--cohort",
            str(tmp_path / "nope.csv"),
            *BASE,
            "--out",
            str(tmp_path),
        ],
    )
    assert "nope.csv" in err
    err = _bad(
        tmp_path,
        capsys,
        [
            "audit",
            "--no-explain",
            "--model",
            str(MODEL),
            "--cohort",
            str(COHORT),
            "--label",
            "outcome",
            "--out",
            str(tmp_path),
        ],
    )
    assert "SchemaError" in err and "'outcome'" in err


def test_a_model_file_that_differs_from_the_cards_hash_is_refused(tmp_path, capsys):
    import onnx

    model = onnx.load(str(MODEL))
    model.doc_string = "re-saved by somebody else"
    swapped = tmp_path / "model.onnx"
    onnx.save(model, str(swapped))
    err = _bad(
        tmp_path,
        capsys,
        [
            "audit",
            "--no-explain",
            "--model",
            str(swapped),
            "--card",
            str(CARD),
            "--cohort",
            str(COHORT),
            *BASE,
            "--out",
            str(tmp_path),
        ],
    )
    assert err.startswith("CardError:") and "SHA-256" in err


def test_a_card_for_another_model_is_refused(tmp_path, capsys):
    err = _bad(
        tmp_path,
        capsys,
        [
            "audit",
            "--no-explain",
            "--model",
            str(SAMPLE / "model_tensor.onnx"),
            "--card",
            str(CARD),
            "--cohort",
            str(COHORT),
            *BASE,
            "--out",
            str(tmp_path),
        ],
    )
    assert err.startswith(("CardError:", "ModelSignatureError:"))


def test_usage_errors_are_one_line_too(capsys):
    assert main(["audit", "--cohort", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("UsageError:") and err.count("\n") == 1


def test_inspect_prints_inputs_output_and_card(capsys):
    assert main(["inspect", "--model", str(MODEL), "--card", str(CARD)]) == 0
    out = capsys.readouterr().out
    for word in ("SHA-256", "age", "sex", "smoking", "diabetes", "CardioRisk-EU"):
        assert word in out


def test_card_init_writes_a_card_that_audits(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    code = main(
        [
            "card",
            "init",
            "--model",
            str(MODEL),
            "--data",
            str(SAMPLE / "development.csv"),
            "--label",
            "cvd_10y",
            "--out",
            str(card),
            "--name",
            "My model",
            "--version",
            "0.1",
            "--threshold",
            "0.15",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert card.exists()
    assert (
        main(
            [
                "audit",
                "--no-explain",
                "--model",
                str(MODEL),
                "--card",
                str(card),
                "--cohort",
                str(COHORT),
                *BASE,
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 0
    )
    data = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert data["model"]["name"] == "My model"
    assert data["settings"]["threshold"] == pytest.approx(0.15)


def test_the_api_is_importable_from_the_package_root():
    from cohortaudit import AuditConfig, load_cohort, load_model, run_audit

    assert callable(run_audit) and callable(load_model) and callable(load_cohort)
    assert AuditConfig(label="y").n_boot == 1000

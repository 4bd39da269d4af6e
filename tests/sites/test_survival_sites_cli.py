"""``cohortaudit site-export --time --event --horizon`` and ``cohortaudit pool`` on the files,
as a coordinator runs them: a site file per site, one pooled ``survival_pool.json`` whose
observed risk agrees with the patient-level Kaplan-Meier of all the sites' patients."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortaudit.cli import main
from cohortaudit.survival.km import summarize_follow_up

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
SURV = ROOT / "sample_data" / "survival"


def test_site_files_of_the_survival_sample_pool_to_the_patient_level_risk(tmp_path, capsys):
    cohort = pd.read_csv(SURV / "cohort.csv")
    sites = sorted(cohort["site"].unique())
    files = []
    for site in sites:
        out = tmp_path / f"{site}.json"
        code = main([
            "site-export", "--model", str(SURV / "model.onnx"), "--card",
            str(SURV / "model.card.yaml"), "--cohort", str(SURV / "cohort.csv"),
            "--time", "fu_years", "--event", "cvd_event", "--horizon", "10",
            "--sensitive", "sex", "--max-order", "1", "--site", site, "--where",
            f"site={site}", "--out", str(out),
        ])  # fmt: skip
        assert code == 0
        files.append(str(out))
    data = json.loads((tmp_path / f"{sites[0]}.json").read_text(encoding="utf-8"))
    assert "patient_level_only" in data and all("time" not in g for g in data["groups"])
    capsys.readouterr()
    assert main(["pool", *files, "--out", str(tmp_path / "pooled")]) == 0
    assert "Pooled 4 time-to-event sites" in capsys.readouterr().out
    pooled = json.loads((tmp_path / "pooled" / "survival_pool.json").read_text(encoding="utf-8"))
    whole = next(g for g in pooled["groups"] if not g["attributes"])["pooled"]
    km = summarize_follow_up(cohort["fu_years"], cohort["cvd_event"], horizon=10.0)
    risk = whole["observed_risk"]
    assert risk["ci_low"] <= km.observed_risk.value <= risk["ci_high"]
    assert abs(risk["value"] - km.observed_risk.value) < 0.01
    assert whole["n"] == len(cohort) and whole["events"] == km.events


def test_pooling_survival_files_with_report_formats_is_refused_for_now(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({
        "sex": rng.choice(["F", "M"], n), "fu": rng.uniform(1, 12, n).round(2),
        "ev": rng.integers(0, 2, n),
    })  # fmt: skip
    frame.to_csv(tmp_path / "c.csv", index=False)
    code = main(["pool", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o"),
                 "--format", "pdf"])  # fmt: skip
    assert code == 2
    capsys.readouterr()
    pytest.importorskip("cohortaudit.sites.survival_pool")


def _export(tmp_path, site: str, *extra: str) -> str:
    out = tmp_path / f"{site}.json"
    code = main([
        "site-export", "--model", str(SURV / "model.onnx"), "--card",
        str(SURV / "model.card.yaml"), "--cohort", str(SURV / "cohort.csv"),
        "--time", "fu_years", "--event", "cvd_event", "--horizon", "10",
        "--sensitive", "sex", "--max-order", "1", "--site", site, "--where",
        f"site={site}", "--out", str(out), *extra,
    ])  # fmt: skip
    assert code == 0
    return str(out)


def test_signed_survival_site_files_are_verified_and_a_tampered_one_refused(tmp_path, capsys):
    assert main(["keygen", "--out", str(tmp_path / "fi")]) == 0
    signed = _export(tmp_path, "FI-Tampere", "--sign", str(tmp_path / "fi.key"))
    other = _export(tmp_path, "FR-Lyon")
    key = f"FI-Tampere={tmp_path / 'fi.pub'}"
    capsys.readouterr()
    assert main(["pool", signed, other, "--out", str(tmp_path / "ok"), "--public-key", key]) == 0
    assert "Signatures verified for: FI-Tampere." in capsys.readouterr().out
    # a key for FR-Lyon, which did not sign: refused, naming the missing .sig
    assert main(["keygen", "--out", str(tmp_path / "fr")]) == 0
    capsys.readouterr()
    code = main(["pool", signed, other, "--out", str(tmp_path / "no"), "--public-key",
                 f"FR-Lyon={tmp_path / 'fr.pub'}"])  # fmt: skip
    assert code == 2 and "is not signed" in capsys.readouterr().err
    # the signed file altered (and its content hash recomputed, as an attacker would)
    from cohortaudit.sites.export import content_sha256

    data = json.loads(Path(signed).read_text(encoding="utf-8"))
    data["groups"][0]["n"] = data["groups"][0].get("n", 0) + 1
    data["content_sha256"] = content_sha256(data)
    Path(signed).write_text(json.dumps(data), encoding="utf-8")
    code = main(["pool", signed, other, "--out", str(tmp_path / "bad"), "--public-key", key])
    assert code == 2 and "does not match the site file" in capsys.readouterr().err


def test_the_same_patients_in_two_survival_site_files_are_refused(tmp_path, capsys):
    from cohortaudit.sites.export import content_sha256

    first = _export(tmp_path, "FI-Tampere")
    # a renamed copy: every released number identical under another site name
    data = json.loads(Path(first).read_text(encoding="utf-8"))
    data["site"] = "XX-Copy"
    data["cohort"] = {}
    data["content_sha256"] = content_sha256(data)
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps(data), encoding="utf-8")
    capsys.readouterr()
    assert main(["pool", first, str(copy), "--out", str(tmp_path / "o")]) == 2
    assert "identical aggregates" in capsys.readouterr().err
    # the same cohort file exported twice without disjoint selections
    data = json.loads(Path(first).read_text(encoding="utf-8"))
    data["site"] = "FI-Other"
    data["cohort"]["where"] = {}
    data["content_sha256"] = content_sha256(data)
    overlap = tmp_path / "overlap.json"
    overlap.write_text(json.dumps(data), encoding="utf-8")
    assert main(["pool", first, str(overlap), "--out", str(tmp_path / "o2")]) == 2
    assert "same cohort file" in capsys.readouterr().err

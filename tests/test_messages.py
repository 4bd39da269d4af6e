"""Messages that must not mislead (issue 14, point 7): each case as a user meets it.

Every test runs the real command line (``cohortaudit.cli.main``) on real files in ``tmp_path``
and reads what the user reads: the exit code, stderr, stdout and the files written.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cohortaudit.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
MODEL, CARD, COHORT = SAMPLE / "model.onnx", SAMPLE / "model.card.yaml", SAMPLE / "cohort.csv"
SKOPS = SAMPLE / "model.skops"
SKOPS_TRUST = [
    "--trust",
    "numpy.dtype",
    "--trust",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]
FAST = ["--no-explain", "--no-safety", "--n-boot", "0"]

pytestmark = pytest.mark.skipif(not COHORT.exists(), reason="bundled sample not built")


def audit(tmp_path, *extra, model=MODEL, card=CARD, cohort=COHORT, out="out", label="cvd_10y"):
    args = ["audit", *FAST, "--model", str(model)]
    if card is not None:
        args += ["--card", str(card)]
    args += ["--cohort", str(cohort), "--label", label, "--out", str(tmp_path / out), *extra]
    return main(args)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(COHORT)


def _card_with(tmp_path, name="card.yaml", **changes) -> Path:
    """The sample card with some fields changed (test vectors dropped: they pin the output)."""
    data = yaml.safe_load(CARD.read_text())
    data.pop("test_vectors", None)
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---- (a) a semicolon-separated cohort is not "missing 9 columns" ------------------------------


def test_a_semicolon_separated_cohort_is_named_as_such_not_as_missing_columns(
    tmp_path, capsys, sample
):
    path = tmp_path / "cohort.csv"
    sample.head(500).to_csv(path, sep=";", index=False)
    assert audit(tmp_path, cohort=path) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "SchemaError: The cohort file 'cohort.csv' looks semicolon-separated: its header reads "
        "as a single column containing 11 ';' characters, but the file is read as "
        "comma-separated (.csv). Pass --delimiter ';', or re-save it comma-separated"
    )
    assert "missing" not in err


@pytest.mark.parametrize("chunks", [[], ["--chunk-rows", "200"]], ids=["memory", "streamed"])
def test_delimiter_reads_a_semicolon_separated_cohort_as_its_comma_twin(
    tmp_path, capsys, sample, chunks
):
    comma, semi = tmp_path / "comma.csv", tmp_path / "semi.csv"
    sample.head(2000).to_csv(comma, index=False)
    sample.head(2000).to_csv(semi, sep=";", index=False)
    assert audit(tmp_path, "--sensitive", "sex", "--quiet", *chunks, cohort=comma, out="a") == 0
    extra = ["--delimiter", ";", "--sensitive", "sex", "--quiet", *chunks]
    assert audit(tmp_path, *extra, cohort=semi, out="b") == 0
    a, b = (json.loads((tmp_path / o / "audit.json").read_text()) for o in "ab")
    assert a["overall"] == b["overall"] and a["subgroups"] == b["subgroups"]


def test_a_bad_delimiter_and_a_delimiter_for_parquet_are_refused(tmp_path, capsys):
    assert audit(tmp_path, "--delimiter", "ab") == 2
    assert capsys.readouterr().err.strip() == (
        "ConfigError: The 'delimiter' parameter (--delimiter) must be one character that is "
        "not a letter, digit or quote, e.g. ';' or '|', or 'tab'. Got 'ab' instead."
    )
    assert audit(tmp_path, "--delimiter", ";", cohort=SAMPLE / "cohort.parquet") == 2
    assert capsys.readouterr().err.strip() == (
        "ConfigError: --delimiter applies to CSV/TSV cohorts, but 'cohort.parquet' is a Parquet "
        "file. Drop --delimiter."
    )


def test_a_tab_separated_file_named_csv_is_told_to_be_a_tsv(tmp_path, capsys, sample):
    path = tmp_path / "export.csv"
    sample.head(500).to_csv(path, sep="\t", index=False)
    assert audit(tmp_path, cohort=path) == 2
    err = capsys.readouterr().err
    assert "'export.csv' looks tab-separated" in err
    assert "Pass --delimiter tab, or rename it to .tsv (tab-separated)." in err
    tsv = tmp_path / "export.tsv"  # following either advice works
    shutil.copy(path, tsv)
    assert audit(tmp_path, "--quiet", cohort=tsv) == 0
    assert audit(tmp_path, "--quiet", "--delimiter", "tab", cohort=path) == 0


# ---- (b) a hash mismatch shows hashes that differ --------------------------------------------


def test_a_card_hash_mismatch_shows_both_hashes_in_full(tmp_path, capsys):
    real = yaml.safe_load(CARD.read_text())["model"]["sha256"]
    forged = real[:12] + ("0" if real[12] != "0" else "1") + real[13:]  # same 12-char prefix
    card = _card_with(tmp_path, model__sha256=forged)
    assert audit(tmp_path, card=card) == 2
    err = capsys.readouterr().err
    assert err.startswith("CardError: The model card 'CardioRisk-EU' is for a model file with")
    assert f"SHA-256 {forged}, but 'model.onnx' has SHA-256 {real}." in err


# ---- (c) every suggested command exists ------------------------------------------------------


def test_a_card_that_is_not_a_mapping_points_to_card_init_which_exists(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    card.write_text("- just\n- a list\n")
    assert audit(tmp_path, card=card) == 2
    err = capsys.readouterr().err
    assert "Start from the output of 'cohortaudit card init'." in err
    assert "init-card" not in err
    assert main(["card", "init", "--help"]) == 0  # the command the message names


def test_every_command_a_message_suggests_exists():
    """Quoted 'cohortaudit X [Y]' in the code must name a real command (and subcommand)."""
    from cohortaudit.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    suggested = {
        tuple(m.group(1, 2))
        for folder in ("src", "app")
        for p in (ROOT / folder).rglob("*.py")
        for m in re.finditer(
            r"['`]cohortaudit ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", p.read_text(encoding="utf-8")
        )
    }
    assert ("card", "init") in suggested
    for command, sub in suggested:
        assert command in commands, command
        inner = commands[command]._subparsers
        if inner is not None and sub is not None:
            assert sub in inner._group_actions[0].choices, (command, sub)


# ---- (d) size limits a CLI user can raise ----------------------------------------------------


def test_an_oversized_model_gives_an_environment_variable_that_works(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COHORTAUDIT_MAX_MODEL_MB", "0.05")  # 50 KiB; the model is 126 KiB
    assert audit(tmp_path, "--quiet") == 2
    err = capsys.readouterr().err
    assert err.startswith("ModelLoadError: The model file 'model.onnx' is 0.1 MB, above the limit")
    advice = re.search(r"set the environment variable COHORTAUDIT_MAX_MODEL_MB=(\d+)", err)
    assert advice, err
    assert "'COHORTAUDIT_MAX_MODEL_MB=1 cohortaudit audit ...'" in err
    monkeypatch.setenv("COHORTAUDIT_MAX_MODEL_MB", advice.group(1))  # do what it says
    assert audit(tmp_path, "--quiet") == 0


def test_an_oversized_cohort_names_its_variable_and_a_bad_value_is_refused(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("COHORTAUDIT_MAX_COHORT_MB", "0.5")  # the sample is ~1.6 MB
    assert audit(tmp_path, "--quiet") == 2
    err = capsys.readouterr().err
    assert err.startswith("InputError: The cohort file 'cohort.csv' is ")
    assert "set the environment variable COHORTAUDIT_MAX_COHORT_MB=" in err
    monkeypatch.setenv("COHORTAUDIT_MAX_COHORT_MB", "lots")
    assert audit(tmp_path, "--quiet") == 2
    assert capsys.readouterr().err.strip() == (
        "ConfigError: The environment variable COHORTAUDIT_MAX_COHORT_MB must be a positive "
        "number of megabytes (MiB), e.g. COHORTAUDIT_MAX_COHORT_MB=2000. Got 'lots' instead."
    )


# ---- (e) a skops model with text inputs and no card ------------------------------------------


def test_a_skops_model_without_a_card_asks_for_one_and_card_init_writes_it(tmp_path, capsys):
    assert audit(tmp_path, *SKOPS_TRUST, model=SKOPS, card=None) == 2
    err = capsys.readouterr().err
    assert "Clean the column" not in err
    assert err.startswith("SchemaError: The model input 'sex' holds text in 25000 of 25000 rows")
    assert (
        "This model needs a model card (--card) that declares 'sex' with 'type: categorical'" in err
    )
    assert "'cohortaudit card init --model MODEL.skops --data DEVELOPMENT.csv" in err
    # the advice, followed: card init on the development data, then the audit runs
    card = tmp_path / "model.card.yaml"
    init = ["card", "init", "--model", str(SKOPS), *SKOPS_TRUST, "--data"]
    init += [str(SAMPLE / "development.csv"), "--label", "cvd_10y", "--out", str(card)]
    assert main(init) == 0
    assert {i["name"]: i["type"] for i in yaml.safe_load(card.read_text())["inputs"]}["sex"] == (
        "categorical"
    )
    assert audit(tmp_path, *SKOPS_TRUST, "--quiet", model=SKOPS, card=card) == 0


# ---- (f) an inverted ranking is pointed out --------------------------------------------------


def test_positive_class_0_gives_an_inverted_ranking_caveat_everywhere(tmp_path, capsys):
    card = _card_with(tmp_path, output__positive_class=0)
    assert audit(tmp_path, "--sensitive", "sex", "--format", "json,html", card=card) == 0
    out = capsys.readouterr().out
    phrase = (
        "Inverted ranking: AUROC below 0.5 with CI excluding 0.5 — check the card's positive "
        "class / label coding"
    )
    assert f"  ! {phrase}: over all patients AUROC is 0.268 (95% CI 0.258 to 0.277)" in out
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    [caveat] = [c for c in data["caveats"] if c["code"] == "inverted_ranking"]
    assert caveat["severity"] == "serious" and caveat["where"] == {"group": "overall"}
    html = (tmp_path / "out" / "audit.html").read_text()
    findings = html[html.index("Serious caveats") :]  # the findings section of the report
    assert phrase.replace("'", "&#x27;") in findings[:3000] or phrase in findings[:3000]


def _with_finlands_label_flipped(sample: pd.DataFrame, tmp_path: Path) -> Path:
    """The sample with one site's outcome coded the other way (1 = no event), as a CSV."""
    frame = sample.copy()
    finland = frame["site"] == "FI-Tampere"
    frame.loc[finland, "cvd_10y"] = 1 - frame.loc[finland, "cvd_10y"]
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_subgroup_with_its_label_coded_the_other_way_is_named(tmp_path, capsys, sample):
    path = _with_finlands_label_flipped(sample, tmp_path)
    assert audit(tmp_path, "--sensitive", "site", "--quiet", cohort=path) == 0
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    [caveat] = [c for c in data["caveats"] if c["code"] == "inverted_ranking"]
    assert caveat["severity"] == "warning" and caveat["where"] == {"n_groups": 1}
    assert "in 1 subgroup(s) AUROC is below 0.5" in caveat["message"]
    assert "site=FI-Tampere: 0." in caveat["message"]


def test_a_pooled_audit_names_a_site_whose_label_is_coded_the_other_way(tmp_path, capsys, sample):
    """The same check runs on the pooled audit: one site exported with its label flipped."""
    path = _with_finlands_label_flipped(sample, tmp_path)
    files = []
    for site in ("DE-Berlin", "FI-Tampere"):
        out = tmp_path / f"{site}.json"
        args = ["site-export", "--model", str(MODEL), "--card", str(CARD), "--cohort", str(path)]
        args += ["--label", "cvd_10y", "--sensitive", "sex", "site", "--site", site]
        args += ["--where", f"site={site}", "--out", str(out)]
        assert main(args) == 0
        files.append(str(out))
    assert main(["pool", *files, "--out", str(tmp_path / "pooled")]) == 0
    data = json.loads((tmp_path / "pooled" / "audit.json").read_text())
    [caveat] = [c for c in data["caveats"] if c["code"] == "inverted_ranking"]
    assert caveat["severity"] == "warning" and "site=FI-Tampere: 0." in caveat["message"]


def test_the_sample_has_no_inverted_ranking_caveat(tmp_path, capsys):
    assert audit(tmp_path, "--sensitive", "sex", "site", "--quiet") == 0
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert not [c for c in data["caveats"] if c["code"] == "inverted_ranking"]


# ---- (g) the label cannot be a model input ---------------------------------------------------


def test_a_model_input_as_the_label_is_refused(tmp_path, capsys):
    assert audit(tmp_path, label="diabetes") == 2
    assert capsys.readouterr().err.strip() == (
        "SchemaError: The label column 'diabetes' is one of the model's inputs: the model would "
        "be given the outcome it is meant to predict, and every metric would be meaningless. "
        "Pass --label with the outcome column (not a model input)."
    )
    assert not (tmp_path / "out").exists()


def test_a_model_input_as_the_label_is_refused_when_streaming_too(tmp_path, capsys):
    assert audit(tmp_path, "--chunk-rows", "5000", label="diabetes") == 2
    assert "'diabetes' is one of the model's inputs" in capsys.readouterr().err


# ---- (h) a category spelled "missing" is not merged with rows without a value ---------------


@pytest.mark.parametrize("chunks", [[], ["--chunk-rows", "5000"]], ids=["memory", "streamed"])
def test_a_literal_missing_category_stays_apart_from_rows_without_a_value(
    tmp_path, capsys, sample, chunks
):
    frame = sample.copy()
    frame.loc[:99, "ethnicity"] = "missing"
    frame.loc[100:219, "ethnicity"] = None
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    assert audit(tmp_path, "--sensitive", "ethnicity", "--quiet", *chunks, cohort=path) == 0
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    n = {g["attributes"]["ethnicity"]: g["n"] for g in data["subgroups"]}
    assert n["missing"] == 100 and n["missing (no value)"] == 120
    [caveat] = [c for c in data["caveats"] if c["code"] == "missing_sensitive"]
    assert "audited as their own group 'missing (no value)'" in caveat["message"]


def test_a_category_spelled_like_the_missing_group_is_refused(tmp_path, capsys, sample):
    frame = sample.copy()
    frame.loc[:99, "ethnicity"] = "missing (no value)"
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    assert audit(tmp_path, "--sensitive", "ethnicity", cohort=path) == 2
    assert capsys.readouterr().err.startswith(
        "SchemaError: The sensitive feature 'ethnicity' has a category spelled 'missing (no "
        "value)', the name cohortaudit gives to rows without a value"
    )


# ---- (i) verify without a key still catches a stale signature --------------------------------


def _signed_outputs(tmp_path) -> Path:
    assert main(["keygen", "--out", str(tmp_path / "signer")]) == 0
    key = tmp_path / "signer.key"
    assert audit(tmp_path, "--sensitive", "sex", "--quiet", "--sign", str(key)) == 0
    return tmp_path / "out"


def test_verify_without_a_key_checks_the_signature_against_the_manifests_own_key(tmp_path, capsys):
    out = _signed_outputs(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["signature"]) == {"algorithm", "public_key_sha256", "public_key", "file"}
    capsys.readouterr()
    assert main(["verify", str(out)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"OK: {len(manifest['files'])} files match manifest.json; signature self-consistent "
        "(signer not verified: pass --public-key)."
    )
    assert main(["verify", str(out), "--public-key", str(tmp_path / "signer.pub")]) == 0
    assert "signature valid." in capsys.readouterr().out


def test_a_stale_signature_fails_verify_without_a_key(tmp_path, capsys):
    out = _signed_outputs(tmp_path)
    # edit audit.json and re-hash it into the manifest: the files match, the signature is stale
    audit_json = out / "audit.json"
    audit_json.write_text(audit_json.read_text().replace('"CardioRisk-EU"', '"Other"'))
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        entry["sha256"], entry["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    (out / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n")
    capsys.readouterr()
    assert main(["verify", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "ReportError: Bad signature: manifest.sig does not match manifest.json for the public "
        "key the manifest names: the manifest or the signature was altered after signing (a "
        "stale signature)."
    )


def test_a_swapped_key_in_the_manifest_fails_verify_without_a_key(tmp_path, capsys):
    out = _signed_outputs(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["signature"]["public_key"] = "A" * 43 + "="  # another 32-byte key, old fingerprint
    (out / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n")
    capsys.readouterr()
    assert main(["verify", str(out)]) == 2
    assert "the manifest was edited" in capsys.readouterr().err


# ---- (j) no CI, no claim about disparities ---------------------------------------------------


def test_n_boot_0_says_disparities_were_not_tested_in_the_summary_and_the_report(tmp_path, capsys):
    assert audit(tmp_path, "--sensitive", "sex", "ethnicity", "--format", "json,html") == 0
    out = capsys.readouterr().out
    assert "No single-attribute disparity whose 95% CI excludes 0" not in out
    note = re.compile(
        r"Disparities were not tested: no confidence intervals were computed \(0 bootstrap "
        r"replicates\), so no difference between groups \((\d+) comparisons\) can be called real "
        r"or ruled out\. Re-run with bootstrap replicates \(--n-boot 1000, the default\) to test "
        r"them\."
    )
    found = note.search(out)
    assert found and int(found.group(1)) > 0, out
    html = (tmp_path / "out" / "audit.html").read_text()
    assert note.search(html)
    assert "shows a difference whose 95% confidence interval excludes zero" not in html


def test_with_bootstrap_the_summary_still_reports_the_disparities(tmp_path, capsys):
    args = ["audit", "--no-explain", "--no-safety", "--n-boot", "50", "--model", str(MODEL)]
    args += ["--card", str(CARD), "--cohort", str(COHORT), "--label", "cvd_10y"]
    assert main([*args, "--sensitive", "sex", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Largest disparities vs the reference group (95% CI excludes 0):" in out
    assert "not tested" not in out

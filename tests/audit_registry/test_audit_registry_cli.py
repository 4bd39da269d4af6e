"""The command-line contract of the audit registry (issue 17): ``audit``/``pool --registry``,
``registry list|show|verify|trend``, exit 2 with one clear line on bad input."""

from __future__ import annotations

import json
import math
import re

import pytest

from cohortaudit.audit_registry import open_registry
from cohortaudit.cli import main
from conftest import SAMPLE, SITES, tiny_audit

Z = 1.959963984540054


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def four_sites(registry_url, site_outputs) -> str:
    """The four sample sites recorded as four cohorts of CardioRisk-EU, in site order."""
    with open_registry(registry_url) as reg:
        for site in SITES:
            reg.record(site_outputs[site], auditor="coordinator", source="pool")
    return registry_url


def test_registry_trend_prints_four_sites_and_flags_only_real_changes(capsys, four_sites,
                                                                      site_outputs):  # fmt: skip
    code, out, err = _run(capsys, "registry", "trend", "--registry", four_sites,
                          "--metric", "oe_ratio", "--group", "sex=F")  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("oe_ratio in sex = F, model 2c286233d6aa: 4 audits")
    stored = []
    for i, site in enumerate(SITES, start=1):
        audit = json.loads((site_outputs[site] / "audit.json").read_text())
        (g,) = [g for g in audit["subgroups"] if g["attributes"] == {"sex": "F"}]
        m = stored.append(g["metrics"]["oe_ratio"]) or g["metrics"]["oe_ratio"]
        assert re.match(
            rf"\s+{i}  \S+Z  {site}  {m['value']:.4f} \(95% CI {m['ci_low']:.4f} to "
            rf"{m['ci_high']:.4f}\)  n={g['n']:,}$",
            lines[i],
        ), lines[i]

    def by_hand(a, b):  # log-scale normal approximation from the two stored CIs
        se = [(math.log(x["ci_high"]) - math.log(x["ci_low"])) / (2 * Z) for x in (a, b)]
        d, h = math.log(b["value"] / a["value"]), Z * math.hypot(*se)
        return math.exp(d), math.exp(d - h), math.exp(d + h)

    # Berlin -> Valencia: O/E 1.1007 -> 1.0689, ratio 0.971 (0.841 to 1.121): within noise.
    r, lo, hi = by_hand(stored[0], stored[1])
    assert lo < 1 < hi
    assert f"  1 -> 2: ratio {r:.4f} (95% CI {lo:.4f} to {hi:.4f})  within noise" in lines
    # Valencia -> Tampere: 1.0689 -> 0.5391, ratio 0.504 (0.418 to 0.608): flagged.
    r, lo, hi = by_hand(stored[1], stored[2])
    assert hi < 1
    assert f"  2 -> 3: ratio {r:.4f} (95% CI {lo:.4f} to {hi:.4f})  FLAGGED" in lines
    assert sum("FLAGGED" in line for line in lines) == 2  # and back up at Lyon


def test_registry_trend_of_a_difference_metric_for_all_patients(capsys, four_sites):
    code, out, _ = _run(capsys, "registry", "trend", "--registry", four_sites, "--metric",
                        "auroc")  # fmt: skip
    assert code == 0
    assert out.splitlines()[0] == "auroc in all patients, model 2c286233d6aa: 4 audits"
    assert "FLAGGED" not in out and out.count("within noise") == 3  # AUROC 0.73-0.75 everywhere


def test_registry_list_has_one_line_per_audit(capsys, four_sites):
    code, out, _ = _run(capsys, "registry", "list", "--registry", four_sites)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4
    for i, (line, site) in enumerate(zip(lines, SITES, strict=True), start=1):
        assert re.match(rf"\s+{i}  \S+Z  CardioRisk-EU 2\.1\.0  model 2c286233d6aa  cohort "
                        rf"{site} \([0-9a-f]{{12}}\)  pool  by coordinator  policy none$", line)  # fmt: skip


def test_audit_with_registry_records_the_outputs_with_manifest_and_signature(
    capsys, tmp_path, signed_audit, sqlite_url
):
    """audit --registry: the same small signed audit as the fixture, recorded by the CLI."""
    out = tmp_path / "out"
    code, stdout, err = _run(
        capsys, "audit", "--model", str(SAMPLE / "model.onnx"), "--card",
        str(SAMPLE / "model.card.yaml"), "--cohort", str(signed_audit.parent / "cohort.csv"),
        "--label", "cvd_10y", "--sensitive", "sex", "--n-boot", "30", "--no-explain",
        "--no-safety", "--sign", str(signed_audit.parent / "k.key"), "--out", str(out),
        "--registry", sqlite_url, "--auditor", "Dr Ann",
    )  # fmt: skip
    assert code == 0, err
    assert re.search(r"^Recorded as entry 1 in sqlite:///\S+ \(entry hash [0-9a-f]{16}\.\.\.\)\.$",
                     stdout, re.M)  # fmt: skip
    code, shown, _ = _run(capsys, "registry", "show", "1", "--registry", sqlite_url)
    assert code == 0
    assert "Entry 1, recorded " in shown and "from cli by Dr Ann" in shown
    for name in ("audit.json", "manifest.json", "manifest.sig"):
        size = (out / name).stat().st_size
        assert re.search(rf"^    {re.escape(name)}\s+{size:,} bytes  SHA-256 [0-9a-f]{{64}}$",
                         shown, re.M)  # fmt: skip
    assert "Dr Ann (auditor) ran: cli" in shown and "Dr Ann (auditor) signed: manifest.sig" in shown


def test_the_auditor_defaults_to_the_os_user(capsys, tmp_path, site_outputs, sqlite_url,
                                            monkeypatch):  # fmt: skip
    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    code, out, err = _run(capsys, "pool", str(SAMPLE / "sites" / "FR-Lyon.json"), "--out",
                          str(tmp_path / "p"), "--registry", sqlite_url)  # fmt: skip
    assert code == 0, err
    assert "Recorded as entry 1" in out
    with open_registry(sqlite_url) as reg:
        (entry,) = reg.entries()
    assert (entry.auditor, entry.source, entry.site) == ("os-user", "pool", "FR-Lyon")


def test_bare_registry_flag_uses_the_configured_default(capsys, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'default.db'}"
    monkeypatch.setenv("COHORTAUDIT_REGISTRY", url)
    code, out, err = _run(capsys, "pool", str(SAMPLE / "sites" / "FR-Lyon.json"), "--out",
                          str(tmp_path / "p"), "--registry", "--quiet")  # fmt: skip
    assert code == 0, err
    code, out, _ = _run(capsys, "registry", "list")  # no --registry: the default
    assert code == 0 and len(out.splitlines()) == 1 and "FR-Lyon" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["registry", "list", "--registry", "mysql://u@h/db"],
         "ConfigError: The registry URL uses 'mysql', which the registry does not support."),
        (["registry", "verify", "--registry", "sqlite:////no/such/dir/r.db"],
         "ConfigError: The registry's folder /no/such/dir does not exist."),
        (["registry", "list", "--registry", "postgresql://ann:pw@127.0.0.1:1/x"],
         "ConfigError: Cannot open the audit registry at postgresql+psycopg://ann:***@127.0.0.1:1/x"),
        (["registry", "show", "7", "--registry", "{sqlite}"],
         "ConfigError: The registry has no entry 7; 'cohortaudit registry list' shows"),
        (["registry", "show", "seven", "--registry", "{sqlite}"],
         "ConfigError: An entry ID is a whole number"),
        (["registry", "trend", "--registry", "{sqlite}", "--metric", "auroc", "--group", "sex"],
         "ConfigError: --group takes COL=VALUE, e.g. --group sex=F; got 'sex'."),
        (["registry", "trend", "--registry", "{sqlite}", "--metric", "auroc"],
         "ConfigError: The registry holds 0 models; choose one with --model SHA256."),
        (["registry", "trend", "--registry", "{sqlite}", "--metric", "auroc", "--model", "ff"],
         "ConfigError: --model 'ff' matches 0 models in the registry"),
        (["registry", "frobnicate"], "UsageError: argument registry_command: invalid choice"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line_and_no_traceback(capsys, sqlite_url, monkeypatch,
                                                          args, message):  # fmt: skip
    monkeypatch.delenv("COHORTAUDIT_REGISTRY", raising=False)
    args = [a.replace("{sqlite}", sqlite_url) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert "Traceback" not in err and "pw" not in err.replace("psycopg", "")


def test_registry_without_a_url_or_a_default_says_how_to_give_one(capsys, monkeypatch):
    monkeypatch.delenv("COHORTAUDIT_REGISTRY", raising=False)
    code, _, err = _run(capsys, "registry", "list")
    assert code == 2
    assert err.startswith("ConfigError: No audit registry given: pass --registry URL")


def test_a_bad_registry_fails_the_audit_before_it_runs(capsys, tmp_path):
    code, _, err = _run(
        capsys, "pool", str(SAMPLE / "sites" / "FR-Lyon.json"), "--out", str(tmp_path / "p"),
        "--registry", "sqlite:////no/such/dir/r.db",
    )  # fmt: skip
    assert code == 2 and err.startswith("ConfigError: The registry's folder")
    assert not (tmp_path / "p").exists()


def test_show_lists_comments_of_the_audit_trail(capsys, sqlite_url, tmp_path):
    with open_registry(sqlite_url) as reg:
        reg.record(tiny_audit(tmp_path / "a"), auditor="ann", source="app")
        reg.record_event(1, "rita", "reviewer", "commented", "Please re-run with 2,000 boots")
    code, out, _ = _run(capsys, "registry", "show", "1", "--registry", sqlite_url)
    assert code == 0
    assert out.rstrip().endswith("rita (reviewer) commented: Please re-run with 2,000 boots")

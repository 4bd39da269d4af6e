"""The PDF, HTML and CSV reports: content, fonts, embedded JSON, determinism, safety.

One small audit of the bundled sample (few bootstrap replicates) is made once per module by the
CLI itself (``--format pdf,html,json,csv``); the tests read what it wrote.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cohortaudit.cli import main
from cohortaudit.render.chart_registry import chart_svg
from cohortaudit.render.csv import safe_cell, write_csv_tables
from cohortaudit.render.findings import format_estimate
from cohortaudit.render.html import html_text
from cohortaudit.render.pdf import pdf_bytes, render_pdf
from cohortaudit.render.report import (
    RUN_RECORD_END,
    RUN_RECORD_START,
    build_report,
    vector_status_sentence,
)
from cohortaudit.resultio import read_json
from cohortaudit.results import MetricValue

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
POPPLER = shutil.which("pdftotext") and shutil.which("pdffonts")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")

SECTION_TITLES = [
    "1 Executive summary",
    "2 Key numbers",
    "3 Scope and intended use",
    "4 Evaluation data",
    "5 Methods",
    "6 Discrimination",
    "7 Calibration",
    "8 Clinical utility",
    "9 Subgroups and fairness",
    "10 Explanations",
    "11 Safety",
    "11.1 Cohort shift against the development data",
    "11.2 Intended-use fit and data quality by group",
    "11.3 Robustness to perturbed inputs",
    "11.4 Weak slices found by search",
    "12 Claimed vs measured",
    "13 Policy verdicts",
    "14 Limitations",
    "15 Disclosure log",
    "16 Checklist: TRIPOD+AI and EU AI Act Annex IV",
    "Annex A: all findings",
    "Annex B: all weak-slice groups",
    "Annex C: the audit result (audit.json)",
]


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    t0 = time.perf_counter()
    code = main(
        [
            "audit",
            "--explain-rows",
            "60",
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
            "age",
            "ethnicity",
            "--bins",
            "age=40,50,60,70,80",
            "--max-order",
            "1",
            "--n-boot",
            "20",
            "--out",
            str(out),
            "--format",
            "pdf,html,json,csv",
            "--auditor",
            "Dr A. Example",
            "--quiet",
        ]
    )
    print(f"\nCLI audit + all formats: {time.perf_counter() - t0:.1f} s")
    assert code == 0
    return out


@pytest.fixture(scope="module")
def result(audit_dir):
    return read_json(audit_dir / "audit.json")


def _pdftotext(data_or_path) -> str:
    if isinstance(data_or_path, (bytes, bytearray)):
        proc = subprocess.run(
            ["pdftotext", "-layout", "-", "-"],
            input=bytes(data_or_path),
            capture_output=True,
            check=True,
        )
    else:
        proc = subprocess.run(
            ["pdftotext", "-layout", str(data_or_path), "-"], capture_output=True, check=True
        )
    return proc.stdout.decode("utf-8")


def _strip_run_record(text: str) -> str:
    start, end = text.index(RUN_RECORD_START), text.index(RUN_RECORD_END)
    return text[:start] + text[end:]


# -------------------------------------------------------------------------------- CLI


def test_cli_writes_every_format(audit_dir):
    for name in ("audit.json", "audit.pdf", "audit.html"):
        assert (audit_dir / name).stat().st_size > 1000, name
    tables = sorted(p.name for p in (audit_dir / "tables").glob("*.csv"))
    assert tables == sorted(
        [
            "metrics_by_group.csv",
            "disparities.csv",
            "fairness.csv",
            "disclosure_log.csv",
            "caveats.csv",
        ]
    )


def test_cli_rejects_unknown_format(tmp_path, capsys):
    code = main(
        [
            "audit",
            "--no-explain",
            "--score-column",
            "s",
            "--cohort",
            str(tmp_path / "x.csv"),
            "--label",
            "y",
            "--out",
            str(tmp_path),
            "--format",
            "pdf,docx",
        ]
    )
    assert code == 2
    assert "--format must be a comma-separated list of json, pdf, html, csv" in (
        capsys.readouterr().err
    )


# -------------------------------------------------------------------------------- PDF


@needs_poppler
def test_pdf_has_every_section_and_key_numbers(audit_dir, result):
    text = _pdftotext(audit_dir / "audit.pdf")
    flat = re.sub(r"\s+", " ", text)
    for title in SECTION_TITLES:
        assert title in flat, title
    assert "Contents" in text and "Page 1 of" in text
    # numbers from the JSON, formatted as the report promises: 3 decimals with the CI
    assert format_estimate(result.overall.metrics["auroc"], 3) in text
    f, m = result.subgroup(sex="F"), result.subgroup(sex="M")
    assert format_estimate(f.metrics["sensitivity"], 3) in text
    assert format_estimate(m.metrics["sensitivity"], 3) in text
    # the sex sensitivity gap in plain language (2 decimals, as findings.py writes it)
    assert re.search(r"Sensitivity is (higher|lower) for sex=", flat)
    # cover: full hashes, auditor, test vectors, signature block
    assert result.model.sha256 in text and result.cohort.sha256 in text
    assert result.model.card_sha256 in text
    assert "Dr A. Example" in text and "Signature" in text
    assert "32 test vectors passed" in flat and "(tolerance 1e-4)" in flat
    # suppressed groups, the not-assessed limitations, the impossibility note, no policy
    assert "not evaluable (fewer than 10)" in text
    # explanations and safety, in words and numbers from the JSON
    assert "The model relies most on" in flat
    top = result.explanations["global"][0]
    assert format_estimate(MetricValue.from_dict(top["mean_abs_shap"]), 3) in flat
    assert "serious for total_chol" in flat  # Tampere's mg/dL values shift the whole cohort
    assert f"found {len(result.safety['weak_slices'])} slices" in flat
    n_groups = len(result.safety["weak_slice_groups"])
    assert f"overlapping ones form {n_groups} groups" in flat
    assert f"The 10 largest weak-slice groups of {n_groups}; all of them in annex B." in flat
    assert f"All {n_groups} weak-slice groups." in flat
    assert "cannot both hold" in flat
    assert "No audit policy was given" in flat


@needs_poppler
def test_pdf_fonts_are_all_embedded(audit_dir):
    out = subprocess.run(
        ["pdffonts", str(audit_dir / "audit.pdf")], capture_output=True, check=True, text=True
    ).stdout.splitlines()[2:]
    assert out, "no fonts listed"
    for line in out:
        cols = line.split()
        # name type... emb sub uni object ID: 'emb' is the 5th column from the end
        assert cols[-5] == "yes", line
    assert any("DejaVuSans" in line for line in out)
    assert any("DejaVuSansMono" in line for line in out)


def test_pdf_embeds_the_exported_json_byte_for_byte(audit_dir):
    from pypdf import PdfReader

    reader = PdfReader(audit_dir / "audit.pdf")
    attached = reader.attachments
    assert list(attached) == ["audit.json"]
    assert attached["audit.json"][0] == (audit_dir / "audit.json").read_bytes()


@needs_poppler
def test_pdf_text_is_deterministic(result, audit_dir):
    data = (audit_dir / "audit.json").read_bytes()
    t0 = time.perf_counter()
    first = pdf_bytes(result, auditor="Dr A. Example", audit_json=data)
    print(f"\nPDF render (small sample audit): {time.perf_counter() - t0:.2f} s")
    second = pdf_bytes(result, auditor="Dr A. Example", audit_json=data)
    assert _pdftotext(first) == _pdftotext(second)
    assert first == second  # fixed creation date and content-hash file id: byte-identical
    # a rerun differs only in the run block: only the run record's text may change
    rerun = dataclasses.replace(
        result,
        run={
            **result.run,
            "started_at": "2031-01-02T03:04:05+00:00",
            "host": "other",
            "duration_seconds": 99.0,
        },
    )
    other = pdf_bytes(rerun, auditor="Dr A. Example", audit_json=data + b" ")
    a, b = _pdftotext(first), _pdftotext(other)
    assert a != b
    assert _strip_run_record(a) == _strip_run_record(b)


def test_cover_states_missing_test_vectors_and_card(result):
    bare = dataclasses.replace(
        result, model=dataclasses.replace(result.model, test_vectors=None, card={})
    )
    assert vector_status_sentence(bare) == (
        "The model card carries no test vectors: the artefact's identity rests on its SHA-256 only."
    )
    report = build_report(bare)
    text = " ".join(getattr(b, "text", "") for s in report.sections for b in s.blocks)
    assert "No model card was given" in text
    assert report.auditor == "not stated"
    assert len(report.audit_id) == 16


def test_render_pdf_writes_file_and_charts_are_deterministic(result, tmp_path):
    path = render_pdf(result, tmp_path / "sub" / "r.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    for kind in ("roc", "calibration", "calibration_groups", "decision_curve"):
        assert chart_svg(result, kind) == chart_svg(result, kind)


# -------------------------------------------------------------------------------- HTML


def test_html_is_offline_and_has_every_section(audit_dir):
    text = (audit_dir / "audit.html").read_text(encoding="utf-8")
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", text)
    for tag in tags:
        assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", tag), tag
    assert text.count("<script") >= 1
    for title in SECTION_TITLES:
        assert title in text, title
    assert "plotly-graph-div" in text  # interactive charts, plotly.js inlined once
    assert text.count("Plotly.newPlot") >= 4
    assert RUN_RECORD_START in text


def test_html_text_same_sections_as_pdf(result):
    text = html_text(result)
    for s in build_report(result).sections:
        assert s.heading in text


# -------------------------------------------------------------------------------- CSV


def test_csv_neutralises_formula_injection(result, tmp_path):
    evil = '=HYPERLINK("http://evil.example","click")'
    g = result.subgroups[0]
    hacked = dataclasses.replace(
        result,
        subgroups=(dataclasses.replace(g, attributes={evil: "1"}), *result.subgroups[1:]),
        caveats=(
            *result.caveats,
            dataclasses.replace(result.caveats[0], message="+cmd|' /C calc'!A0"),
        ),
    )
    write_csv_tables(hacked, tmp_path)
    with (tmp_path / "metrics_by_group.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    labels = {r["group"] for r in rows}
    assert "'" + evil + "=1" in labels
    assert not any(lab.startswith(("=", "+", "-", "@")) for lab in labels)
    caveats = (tmp_path / "caveats.csv").read_text(encoding="utf-8")
    assert "'+cmd|" in caveats
    # numbers stay numbers
    overall = [r for r in rows if r["group"] == "overall" and r["metric"] == "auroc"][0]
    assert float(overall["value"]) == pytest.approx(result.overall.metrics["auroc"].value)
    assert safe_cell(-0.25) == -0.25 and safe_cell(3) == 3
    assert safe_cell("-1") == "'-1" and safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("\tx") == "'\tx" and safe_cell("\rx") == "'\rx"
    assert safe_cell("sex=F") == "sex=F"


def test_csv_long_format_marks_suppressed_groups(audit_dir):
    with (audit_dir / "tables" / "metrics_by_group.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) >= {"group", "metric", "value", "ci_low", "ci_high"}
    sup = [r for r in rows if r["status"].startswith("not evaluable")]
    assert sup and all(r["value"] == "" for r in sup)
    with (audit_dir / "tables" / "disparities.csv").open(encoding="utf-8") as fh:
        assert "difference_ci_low" in next(csv.reader(io.StringIO(fh.readline())))

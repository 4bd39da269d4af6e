"""Every output is written by one function that never writes outside the output folder.

Specification (issue 14, points 2 and 6): a pre-existing symbolic link inside ``--out`` (to a
file, to a folder, or dangling) is refused *before* anything is written, with exit 2 and a
message naming the link; nothing outside the folder changes; writes are atomic (no temporary
file is left, an existing file is replaced whole); and a run that fails half-way never leaves a
folder that looks like a finished audit (no ``audit.json`` without its manifest, no stale
manifest vouching for new files).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from cohortaudit.cli import main
from cohortaudit.errors import OutputPathError, ReportError
from cohortaudit.outputs import OutputFolder, write_output, write_outputs

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
MODEL, CARD = SAMPLE / "model.onnx", SAMPLE / "model.card.yaml"
EVERY_FORMAT = "json,pdf,html,csv"


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    pd.read_csv(SAMPLE / "cohort.csv").head(3000).to_csv(path, index=False)
    return path


def _audit(cohort: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "audit",
            "--no-explain",
            "--no-safety",
            "--model",
            str(MODEL),
            "--card",
            str(CARD),
            "--cohort",
            str(cohort),
            "--label",
            "cvd_10y",
            "--sensitive",
            "sex",
            "--n-boot",
            "20",
            "--format",
            EVERY_FORMAT,
            "--out",
            str(out),
            *extra,
        ]
    )


def _tree(folder: Path) -> dict[str, bytes | str]:
    """Everything under ``folder``: file bytes, or 'link -> target' for links."""
    found: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            found[rel] = f"link -> {os.readlink(p)}"
        elif p.is_file():
            found[rel] = p.read_bytes()
    return found


# --- the writer itself ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape.txt", "/tmp/abs.txt", "a/../../b.txt", "", ".."])
def test_a_name_that_is_not_plainly_inside_the_folder_is_refused(tmp_path, name):
    with pytest.raises(OutputPathError, match="not a plain relative path"):
        OutputFolder(tmp_path / "out").write(name, b"x")
    assert not (tmp_path / "escape.txt").exists()


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path):
    out = tmp_path / "out"
    write_output(out, "tables/a.csv", "one\n")
    write_output(out, "tables/a.csv", "two\n")  # replaced whole
    assert (out / "tables" / "a.csv").read_text() == "two\n"
    assert sorted(p.name for p in out.rglob("*")) == ["a.csv", "tables"]


def test_a_link_to_a_file_outside_is_refused_and_the_file_is_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "audit.json").symlink_to(victim)
    with pytest.raises(OutputPathError, match="'audit.json' .* is a symbolic link"):
        write_output(out, "audit.json", "{}")
    assert victim.read_text() == "precious\n"
    assert (out / "audit.json").is_symlink()


def test_a_dangling_link_is_refused_too(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "audit.pdf").symlink_to(tmp_path / "would-be-created.pdf")
    with pytest.raises(OutputPathError, match="symbolic link"):
        write_output(out, "audit.pdf", b"%PDF")
    assert not (tmp_path / "would-be-created.pdf").exists()


def test_a_linked_subfolder_is_refused_and_nothing_lands_in_its_target(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "tables").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputPathError, match="'tables' .* is a symbolic link"):
        write_output(out, "tables/caveats.csv", "x")
    assert list(elsewhere.iterdir()) == []


def test_a_folder_where_a_file_should_go_is_refused(tmp_path):
    out = tmp_path / "out"
    (out / "audit.json").mkdir(parents=True)
    with pytest.raises(OutputPathError, match="not a regular file"):
        write_output(out, "audit.json", "{}")


def test_a_bundle_is_checked_whole_before_the_first_write(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.txt").symlink_to(tmp_path / "target")
    with pytest.raises(OutputPathError):
        write_outputs(out, {"a.txt": "a", "b.txt": "b"})
    assert not (out / "a.txt").exists()


def test_a_write_that_fails_half_way_removes_what_this_call_wrote(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "manifest.json").write_text("{}")  # a stale manifest from an earlier run
    real_write = OutputFolder.write
    calls = []

    def failing_write(self, relative, data):  # fault injection: the disk fills on file 3
        calls.append(relative)
        if len(calls) == 3:
            raise OutputPathError("Could not write 'c.txt': No space left on device.")
        return real_write(self, relative, data)

    monkeypatch.setattr(OutputFolder, "write", failing_write)
    with pytest.raises(OutputPathError, match="No space left"):
        write_outputs(
            out, {"a.txt": "a", "b.txt": "b", "c.txt": "c"}, remove_first=["manifest.json"]
        )
    assert sorted(p.name for p in out.iterdir()) == []


# --- the commands, as a user runs them ------------------------------------------------------


def test_audit_refuses_a_planted_link_before_writing_anything(tmp_path, small_cohort, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "audit.json").symlink_to(victim)
    before = _tree(out)
    assert _audit(small_cohort, out) == 2
    err = capsys.readouterr().err
    assert "OutputPathError" in err and "symbolic link" in err and "Traceback" not in err
    assert victim.read_text() == "precious\n"
    assert _tree(out) == before  # no report, no tables, no manifest


def test_audit_refuses_a_linked_tables_folder(tmp_path, small_cohort, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "tables").symlink_to(elsewhere, target_is_directory=True)
    assert _audit(small_cohort, out) == 2
    assert "'tables'" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []
    assert not (out / "audit.json").exists() and not (out / "manifest.json").exists()


def test_a_renderer_that_fails_leaves_no_audit_json_and_no_manifest(
    tmp_path, small_cohort, monkeypatch, capsys
):
    import cohortaudit.render.pdf as pdf

    def broken_pdf(*args, **kwargs):  # fault injection: the PDF cannot be set
        raise ReportError("The PDF report could not be laid out.")

    monkeypatch.setattr(pdf, "pdf_bytes", broken_pdf)
    out = tmp_path / "out"
    assert _audit(small_cohort, out) == 2
    assert "could not be laid out" in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def test_a_successful_run_over_an_old_one_verifies_and_leaves_no_temporary_files(
    tmp_path, small_cohort
):
    out = tmp_path / "out"
    assert _audit(small_cohort, out, "--quiet") == 0
    assert _audit(small_cohort, out, "--quiet") == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert not [n for n in names if n.endswith(".tmp")]
    assert {"audit.json", "audit.pdf", "audit.html", "manifest.json"} <= set(names)
    assert main(["verify", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} == set(names) - {"manifest.json"}


def test_the_pdf_embeds_exactly_the_json_on_disk(tmp_path, small_cohort):
    out = tmp_path / "out"
    assert _audit(small_cohort, out, "--quiet") == 0
    from pypdf import PdfReader

    attachments = PdfReader(out / "audit.pdf").attachments
    assert attachments["audit.json"][0] == (out / "audit.json").read_bytes()


def test_site_export_and_card_init_and_keygen_refuse_links(tmp_path, small_cohort, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "site.json").symlink_to(victim)
    code = main(
        [
            "site-export",
            "--model",
            str(MODEL),
            "--card",
            str(CARD),
            "--cohort",
            str(small_cohort),
            "--label",
            "cvd_10y",
            "--sensitive",
            "sex",
            "--site",
            "A",
            "--out",
            str(site / "site.json"),
        ]
    )
    assert code == 2 and "symbolic link" in capsys.readouterr().err
    (tmp_path / "card.yaml").symlink_to(victim)
    code = main(
        [
            "card",
            "init",
            "--model",
            str(MODEL),
            "--data",
            str(small_cohort),
            "--label",
            "cvd_10y",
            "--out",
            str(tmp_path / "card.yaml"),
        ]
    )
    assert code == 2 and "symbolic link" in capsys.readouterr().err
    (tmp_path / "k.pub").symlink_to(tmp_path / "dangling.pub")
    code = main(["keygen", "--out", str(tmp_path / "k")])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert not (tmp_path / "k.key").exists()
    assert not (tmp_path / "dangling.pub").exists()
    assert victim.read_text() == "precious\n"

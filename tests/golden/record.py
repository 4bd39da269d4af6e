"""Record the golden outputs that prove a refactoring changed nothing.

Issue 15 re-lays cohortaudit's internals under one rule: behaviour does not change, so every
output stays byte-identical outside the ``run`` block. This script runs the real CLI
(:func:`cohortaudit.cli.main`) on the bundled sample, normalises what legitimately differs
between runs and machines, and stores the rest gzipped next to it. ``tests/test_golden.py``
regenerates the same outputs and compares them byte for byte.

Usage (it records this checkout's ``src/``, whatever is installed)::

    python tests/golden/record.py                 # re-record every case
    python tests/golden/record.py memory pool     # re-record some cases

Re-record only when a change is *meant* to change the outputs, and say so in the commit.

Cases (small settings so that the whole check runs in well under two minutes on 2 cores;
explanations and safety stay on in the in-memory case so those blocks are covered):

``memory``  in-memory audit of the sample with the card: audit.json, the PDF text, the HTML and
            the CSV tables.
``stream``  the same audit streamed in 6,000-row chunks (``--chunk-rows``), audit.json.
``dask``    the same audit with ``--engine dask`` on a 4-file Parquet copy of the sample written
            into the work folder, audit.json and the listing of the files it read.
``pool``    the pooled audit of the 4 bundled site files: audit.json, the PDF text, the HTML.

What is normalised, and why (nothing else is):

* audit.json: the top-level ``run`` block (time, duration, host, platform, package versions,
  engine settings) is removed; the rest is re-serialised canonically (sorted keys, fixed
  separators). Every float is checked to re-serialise to the exact text the tool wrote, so the
  comparison stays textual, never approximate.
* PDF text (pypdf): the run-record box, from the line starting with ``RUN_RECORD_START`` to
  the line starting with ``RUN_RECORD_END``, becomes one placeholder line. It holds the audit
  id (a SHA-256 of audit.json, so of the run block), the date, the duration, host and platform.
  The PDF bytes themselves are not compared: the PDF embeds audit.json, run block included.
* HTML: the same run-record block becomes a placeholder. The inlined plotly.js library (4.8 MB
  of third-party code, identical in every report) is replaced by its length and SHA-256, which
  keeps the comparison exact while keeping the repository small.
* CSV tables: stored as written (they hold no run information).

Files are stored with ``gzip.compress(data, mtime=0)``, so re-recording identical content
gives identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent
ROOT = GOLDEN_DIR.parents[1]
SAMPLE = ROOT / "sample_data"

#: Total size of the stored files above which the cases should be made smaller.
MAX_TOTAL_BYTES = 4 * 1024 * 1024

RUN_PLACEHOLDER = "[run record removed by tests/golden/record.py: it differs between runs]"

#: The audit shared by the memory, stream and dask cases: the README's sample command with
#: fewer replicates, single attributes only and few explained patients, to stay fast.
_AUDIT_ARGS = (
    "--model",
    str(SAMPLE / "model.onnx"),
    "--card",
    str(SAMPLE / "model.card.yaml"),
    "--label",
    "cvd_10y",
    "--sensitive",
    "sex",
    "age",
    "ethnicity",
    "deprivation",
    "site",
    "--bins",
    "age=40,50,60,70,80",
    "--reference",
    "sex=M",
    "--max-order",
    "1",
    "--n-boot",
    "50",
    "--explain-rows",
    "100",
    "--quiet",
)

#: Rows per file of the Dask case's Parquet copy: 4 files, so 4 partitions.
_DASK_FILE_ROWS = 6250


# ------------------------------------------------------------------------------ normalisers


def _exact_float(text: str) -> float:
    """Parse a JSON float, refusing one that would not re-serialise to the same text."""
    value = float(text)
    if repr(value) != text:
        raise ValueError(
            f"The float {text!r} in audit.json does not re-serialise to itself "
            f"(Python writes {value!r}); the golden comparison would not be textual."
        )
    return value


def normalise_audit_json(data: bytes) -> bytes:
    """audit.json without its top-level ``run`` block, canonically serialised."""
    doc = json.loads(data.decode("utf-8"), parse_float=_exact_float)
    doc.pop("run", None)
    text = json.dumps(doc, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def pdf_text(data: bytes) -> str:
    """The text of every page (pypdf), pages separated by a form feed line."""
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return "\n\f\n".join(page.extract_text() for page in reader.pages) + "\n"


def normalise_pdf_text(data: bytes) -> bytes:
    """The PDF's text with the run-record box replaced by one placeholder line."""
    from cohortaudit.render.report import RUN_RECORD_END, RUN_RECORD_START

    lines = pdf_text(data).split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(RUN_RECORD_START)]
    ends = [i for i, line in enumerate(lines) if line.startswith(RUN_RECORD_END)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(
            f"Expected one run-record box in the PDF text, found {len(starts)} start and "
            f"{len(ends)} end markers; update tests/golden/record.py to the new layout."
        )
    lines[starts[0] : ends[0] + 1] = [RUN_PLACEHOLDER]
    return "\n".join(lines).encode("utf-8")


_PLOTLY_JS = re.compile(r"<script>(/\*\*\n\* plotly\.js v[^\n]*\n.*?)</script>", re.S)


def normalise_html(data: bytes) -> bytes:
    """The HTML with the run block replaced and plotly.js reduced to its length and SHA-256."""
    from html import escape

    from cohortaudit.render.report import RUN_RECORD_END

    text = data.decode("utf-8")
    start_tag = '<div class="run">'
    if text.count(start_tag) != 1:
        raise ValueError(
            f"Expected one run block ({start_tag}) in the HTML, found {text.count(start_tag)}; "
            "update tests/golden/record.py to the new layout."
        )
    start = text.index(start_tag)
    end = text.index("</div>", text.index(escape(RUN_RECORD_END), start)) + len("</div>")
    text = f"{text[:start]}{start_tag}{RUN_PLACEHOLDER}</div>{text[end:]}"

    def _digest(match: re.Match[str]) -> str:
        body = match.group(1)
        head = body.split("\n", 2)[1]
        sha = hashlib.sha256(body.encode("utf-8")).hexdigest()
        return f"<script>/* {head[2:]}: {len(body)} characters, sha256 {sha} */</script>"

    text, n_libs = _PLOTLY_JS.subn(_digest, text)
    if n_libs != 1:
        raise ValueError(f"Expected plotly.js inlined once in the HTML, found it {n_libs} times.")
    return text.encode("utf-8")


# ------------------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Case:
    """One golden case: ``produce(workdir)`` returns {artefact name: normalised bytes}."""

    name: str
    produce: Callable[[Path], dict[str, bytes]]


def _cli(argv: list[str]) -> None:
    from cohortaudit.cli import main

    code = main(argv)
    if code != 0:
        raise RuntimeError(f"cohortaudit {' '.join(argv[:1])} exited {code}; see stderr above.")


def _audit_outputs(out: Path) -> dict[str, bytes]:
    """Normalised artefacts of one output folder (whichever formats it holds)."""
    found = {"audit.json": normalise_audit_json((out / "audit.json").read_bytes())}
    if (out / "audit.pdf").exists():
        found["report.pdf.txt"] = normalise_pdf_text((out / "audit.pdf").read_bytes())
    if (out / "audit.html").exists():
        found["report.html"] = normalise_html((out / "audit.html").read_bytes())
    for table in sorted((out / "tables").glob("*.csv")) if (out / "tables").is_dir() else []:
        found[f"tables.{table.name}"] = table.read_bytes()
    return found


def _memory(workdir: Path) -> dict[str, bytes]:
    out = workdir / "memory"
    _cli(
        [
            "audit",
            *_AUDIT_ARGS,
            "--cohort",
            str(SAMPLE / "cohort.csv"),
            "--format",
            "json,html,csv,pdf",
            "--auditor",
            "Dr A. Auditor",
            "--out",
            str(out),
        ]
    )
    return _audit_outputs(out)


def _stream(workdir: Path) -> dict[str, bytes]:
    out = workdir / "stream"
    _cli(
        [
            "audit",
            *_AUDIT_ARGS,
            "--cohort",
            str(SAMPLE / "cohort.csv"),
            "--chunk-rows",
            "6000",
            "--format",
            "json",
            "--out",
            str(out),
        ]
    )
    return _audit_outputs(out)


def write_parquet_dataset(folder: Path) -> str:
    """Write the sample cohort as 4 Parquet files; return their ``sha256sum`` listing.

    The listing is recorded too: the Dask audit's ``cohort.sha256`` is the hash of these files,
    so a pyarrow that writes different bytes changes it without any change in cohortaudit.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    frame = pd.read_csv(SAMPLE / "cohort.csv")
    listing = []
    for i, start in enumerate(range(0, len(frame), _DASK_FILE_ROWS)):
        part = folder / f"part-{i}.parquet"
        chunk = frame.iloc[start : start + _DASK_FILE_ROWS]
        pq.write_table(pa.Table.from_pandas(chunk, preserve_index=False), part)
        listing.append(f"{hashlib.sha256(part.read_bytes()).hexdigest()}  {part.name}\n")
    return "".join(listing)


def _dask(workdir: Path) -> dict[str, bytes]:
    dataset = workdir / "cohort_dataset"  # a fixed name: audit.json records it as cohort.file
    listing = write_parquet_dataset(dataset)
    out = workdir / "dask"
    _cli(
        [
            "audit",
            *_AUDIT_ARGS,
            "--cohort",
            str(dataset),
            "--engine",
            "dask",
            "--format",
            "json",
            "--out",
            str(out),
        ]
    )
    return {"dataset.sha256sum.txt": listing.encode("utf-8"), **_audit_outputs(out)}


def _pool(workdir: Path) -> dict[str, bytes]:
    out = workdir / "pool"
    sites = sorted(str(p) for p in (SAMPLE / "sites").glob("*.json"))
    _cli(["pool", *sites, "--format", "json,pdf,html", "--quiet", "--out", str(out)])
    return _audit_outputs(out)


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("memory", _memory),
        Case("stream", _stream),
        Case("dask", _dask),
        Case("pool", _pool),
    )
}


# ------------------------------------------------------------------------------ storage


def stored_path(case: str, artefact: str) -> Path:
    """Where one artefact of one case is stored, e.g. ``memory.audit.json.gz``."""
    return GOLDEN_DIR / f"{case}.{artefact}.gz"


def stored_artefacts(case: str) -> dict[str, bytes]:
    """The recorded artefacts of one case, decompressed."""
    prefix = f"{case}."
    return {
        p.name[len(prefix) : -len(".gz")]: gzip.decompress(p.read_bytes())
        for p in sorted(GOLDEN_DIR.glob(f"{prefix}*.gz"))
    }


def record(names: list[str], workdir: Path) -> None:
    """Regenerate the named cases and store them, replacing what was stored for them."""
    for name in names:
        produced = CASES[name].produce(workdir)
        for old in GOLDEN_DIR.glob(f"{name}.*.gz"):
            old.unlink()
        for artefact, data in produced.items():
            stored_path(name, artefact).write_bytes(gzip.compress(data, mtime=0))
        print(f"{name}: {', '.join(sorted(produced))}")
    stored = sorted(GOLDEN_DIR.glob("*.gz"))
    total = sum(p.stat().st_size for p in stored)
    for p in stored:
        print(f"  {p.stat().st_size:>9,}  {p.name}")
    print(f"  {total:>9,}  total")
    if total > MAX_TOTAL_BYTES:
        print(f"warning: the goldens exceed {MAX_TOTAL_BYTES:,} bytes; make the cases smaller")


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "cases", nargs="*", metavar="CASE", help=f"{', '.join(CASES)}; default: all"
    )
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; choose from {', '.join(CASES)}")
    import cohortaudit

    print(f"recording with {cohortaudit.__file__}")
    with tempfile.TemporaryDirectory(prefix="cohortaudit-golden-") as tmp:
        record(args.cases or list(CASES), Path(tmp))
    return 0


if __name__ == "__main__":
    # record this checkout's code, not whichever cohortaudit the environment has installed
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())

"""All of an audit's output files, rendered in memory before the first one is written.

Rendering is where a hostile cohort can still make a renderer fail (a name no font can set, a
chart that cannot be drawn). If the files were written one by one as they were rendered, a
failure half-way would leave an ``audit.json`` without its PDF and without its manifest: a
folder that looks like a finished audit but is not one. So the CLI renders the whole bundle
first (:func:`render_bundle`), then writes it in one step
(:func:`cohortaudit.resultio.write_bundle`) through the one safe output writer, which removes a
stale manifest before the first write and what it wrote if a write fails; the manifest comes
last (``integrity.write_manifest``). Files and manifests are not render's business: this module
only renders.
"""

from __future__ import annotations

from collections.abc import Sequence

from cohortaudit.errors import ConfigError
from cohortaudit.results import AuditResult

__all__ = ["FORMATS", "parse_formats", "render_bundle"]

FORMATS = ("json", "pdf", "html", "csv")


def parse_formats(value: str, *, allowed: Sequence[str] = FORMATS) -> tuple[str, ...]:
    """``"json,pdf"`` -> ``("json", "pdf")``; ConfigError for anything not in ``allowed``."""
    wanted = tuple(dict.fromkeys(x.strip().lower() for x in value.split(",") if x.strip()))
    bad = [x for x in wanted if x not in allowed]
    if not wanted or bad:
        raise ConfigError(
            f"--format must be a comma-separated list of {', '.join(allowed)}. Got "
            f"{value!r} instead."
        )
    return wanted


def render_bundle(
    result: AuditResult, formats: Sequence[str], *, auditor: str | None = None
) -> dict[str, bytes]:
    """``{relative path: bytes}`` for every requested format, in the order they are listed to
    the user. The PDF and HTML reports embed the exported ``audit.json`` byte for byte."""
    from cohortaudit.render.json import result_to_json

    audit_json = result_to_json(result).encode("utf-8")
    files: dict[str, bytes] = {}
    if "json" in formats:
        files["audit.json"] = audit_json
    if "pdf" in formats:
        from cohortaudit.render.pdf import pdf_bytes

        files["audit.pdf"] = pdf_bytes(result, auditor=auditor, audit_json=audit_json)
    if "html" in formats:
        from cohortaudit.render.html import html_text

        files["audit.html"] = html_text(result, auditor=auditor, audit_json=audit_json).encode(
            "utf-8"
        )
    if "csv" in formats:
        from cohortaudit.render.csv import csv_tables

        for name, text in csv_tables(result).items():
            files[f"tables/{name}"] = text.encode("utf-8")
    return files

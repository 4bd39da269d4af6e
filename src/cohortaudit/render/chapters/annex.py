"""Annex "the audit result (audit.json)": where the embedded result is and how to read it."""

from __future__ import annotations

from cohortaudit.render.document import Para, Section, ref
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    s = Section(
        f"Annex {ref('annex')}: the audit result (audit.json)",
        new_page=True,
        anchor="annex",
        appendix=True,
    )
    s.blocks.append(
        Para(
            "The complete audit result, byte for byte as exported, is attached to this PDF as "
            "the embedded file 'audit.json' (open the attachments panel of the PDF reader, or "
            "run 'pdfdetach -saveall audit.pdf'). Its SHA-256 is given in the run record on "
            "the cover; the first 16 hex digits are the audit id. The JSON follows the "
            f"published schema (version {result.schema_version}) and can be re-read with "
            "cohortaudit to reproduce every table and chart of this report."
        )
    )
    return [s]

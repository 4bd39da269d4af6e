"""The findings model: what the audit found, ranked by what it means for patients (issue 19).

:func:`build_findings` turns a released :class:`~cohortaudit.results.AuditResult` into its
``findings`` (:class:`~cohortaudit.results.Finding`), once, when the result is assembled; the
dashboard, the PDF and HTML reports and the CLI only show them. The severity rules are stated
in :mod:`cohortaudit.findings.rules` (and in ``settings.findings`` and the README).
"""

from __future__ import annotations

from cohortaudit.findings.build import build_findings
from cohortaudit.findings.rules import RULES_SETTINGS

__all__ = ["build_findings", "RULES_SETTINGS"]

"""Old import path of the file intake and the in-memory engine, kept for callers:
:func:`~cohortaudit.intake.inputs.load_inputs` and :func:`~cohortaudit.engines.memory.audit_files`."""

from cohortaudit.engines.memory import audit_files
from cohortaudit.intake.inputs import AuditInputs, load_inputs

__all__ = ["AuditInputs", "audit_files", "load_inputs"]

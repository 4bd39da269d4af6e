"""cohortaudit: bias and safety audits of shared medical AI models.

Public API::

    from cohortaudit import run_audit, load_model, load_cohort, AuditConfig

Heavy modules (onnxruntime, the model card) are imported lazily so that ``import cohortaudit``
stays fast and a view can import the result types without loading a runtime.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "AuditConfig",
    "AuditResult",
    "run_audit",
    "load_model",
    "load_cohort",
    "load_card",
    "validate_cohort",
    "__version__",
]

_LAZY = {
    "AuditConfig": ("cohortaudit.config", "AuditConfig"),
    "AuditResult": ("cohortaudit.results", "AuditResult"),
    "run_audit": ("cohortaudit.audit", "run_audit"),
    "load_model": ("cohortaudit.intake.model", "load_model"),
    "load_cohort": ("cohortaudit.intake.tables", "load_cohort"),
    "load_card": ("cohortaudit.intake.card", "load_card"),
    "validate_cohort": ("cohortaudit.intake.validate", "validate_cohort"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'cohortaudit' has no attribute {name!r}")

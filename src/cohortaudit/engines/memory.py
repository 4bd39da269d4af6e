"""The in-memory engine: from files on disk to an :class:`AuditResult`, the cohort read whole.

``run_audit`` takes validated objects and does no I/O; this engine reads the inputs with
:func:`~cohortaudit.intake.inputs.load_inputs` (policy, card, model, test vectors, cohort, in
that order) and runs the audit. It is what ``cohortaudit audit`` runs for cohorts that fit in
memory, and what the app runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.intake.inputs import load_inputs
from cohortaudit.results import AuditResult

__all__ = ["audit_files"]


def audit_files(
    *,
    cohort_path: str | Path,
    config: AuditConfig,
    model_path: str | Path | None = None,
    card_path: str | Path | None = None,
    trusted_types: Sequence[str] = (),
    progress: Callable[[str, float], None] | None = None,
    policy_path: str | Path | None = None,
    delimiter: str | None = None,
) -> AuditResult:
    """Load, validate and audit in one call.

    ``policy_path`` is an audit policy (YAML); it is read first, so a malformed policy fails
    before any model or cohort is loaded. Its verdicts are in ``result.policy``. ``delimiter``
    overrides the CSV delimiter the cohort's extension implies (e.g. ``";"``).
    """
    inputs = load_inputs(
        cohort_path=cohort_path,
        config=config,
        model_path=model_path,
        card_path=card_path,
        trusted_types=trusted_types,
        delimiter=delimiter,
        policy_path=policy_path,
    )
    return run_audit(
        inputs.cohort,
        inputs.model,
        inputs.config or config,
        card=inputs.card,
        cohort_sha256=inputs.cohort_sha256,
        cohort_file=inputs.cohort_file,
        progress=progress,
        test_vectors=inputs.test_vectors,
        policy=inputs.policy,
    )

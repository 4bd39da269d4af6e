"""From files on disk to an :class:`AuditResult`: the one intake path the CLI and the app share.

``run_audit`` takes validated objects and does no I/O; this module does the file part in the
order that gives the clearest error first: card (is it well-formed?), model (is it safe, does it
match the card?), cohort (does it fit the model?), then the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError
from cohortaudit.results import AuditResult

__all__ = ["AuditInputs", "load_inputs", "audit_files"]


@dataclass(frozen=True)
class AuditInputs:
    """Loaded and validated inputs, ready for :func:`run_audit`."""

    cohort: object
    model: object | None
    card: object | None
    cohort_sha256: str
    cohort_file: str
    #: Report of the card's test vectors (they passed), or None without a card or vectors.
    test_vectors: object | None = None


def load_inputs(
    *,
    cohort_path: str | Path,
    config: AuditConfig,
    model_path: str | Path | None = None,
    card_path: str | Path | None = None,
    trusted_types: Sequence[str] = (),
    delimiter: str | None = None,
) -> AuditInputs:
    """Load card, model and cohort, check they fit together, and validate the cohort.

    With a card, the model must match its SHA-256 and reproduce its test vectors before the
    cohort is even read: a swapped, altered or mis-converted model stops here.
    """
    from cohortaudit.card import check_card_matches, load_card
    from cohortaudit.cohort import validate_cohort
    from cohortaudit.io import load_cohort, load_model
    from cohortaudit.testvectors import check_test_vectors

    if model_path is None and config.score_column is None:
        raise ConfigError(
            "Nothing to audit: give a model file (--model model.onnx) or the column of the "
            "cohort that holds predictions already (--score-column COL)."
        )
    if model_path is not None and config.score_column is not None:
        raise ConfigError(
            "Give either --model or --score-column, not both: the audit scores the cohort "
            "with the model, or audits the predictions already in the cohort."
        )
    card = load_card(card_path) if card_path is not None else None
    model = None
    vectors = None
    if model_path is not None:
        model = load_model(model_path, card=card, trusted_types=trusted_types)
        if card is not None:
            check_card_matches(card, model)
            vectors = check_test_vectors(card, model)
    frame, sha = load_cohort(cohort_path, delimiter=delimiter)
    cohort = validate_cohort(frame, config=config, model=model, card=card)
    return AuditInputs(
        cohort=cohort,
        model=model,
        card=card,
        cohort_sha256=sha,
        cohort_file=Path(cohort_path).name,
        test_vectors=vectors,
    )


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
    """Load, validate and audit in one call (what ``cohortaudit audit`` runs).

    ``policy_path`` is an audit policy (YAML); it is read first, so a malformed policy fails
    before any model or cohort is loaded. Its verdicts are in ``result.policy``. ``delimiter``
    overrides the CSV delimiter the cohort's extension implies (e.g. ``";"``).
    """
    policy = None
    if policy_path is not None:
        from cohortaudit.policy import load_policy

        policy = load_policy(policy_path)
    inputs = load_inputs(
        cohort_path=cohort_path,
        config=config,
        model_path=model_path,
        card_path=card_path,
        trusted_types=trusted_types,
        delimiter=delimiter,
    )
    return run_audit(
        inputs.cohort,
        inputs.model,
        config,
        card=inputs.card,
        cohort_sha256=inputs.cohort_sha256,
        cohort_file=inputs.cohort_file,
        progress=progress,
        test_vectors=inputs.test_vectors,
        policy=policy,
    )

"""The one intake sequence: policy, card, model, test vectors, then the cohort.

Every way of auditing -- in memory, streamed in chunks, on Dask, and a site's export for a
pooled audit -- reads its inputs through :func:`load_inputs`, so they are checked in the same
order, which gives the clearest (and cheapest) error first:

1. the audit policy, and its scope against the audit's attributes (a typo costs a second, not
   a pass over the data);
2. the source of predictions (a model xor a score column, :func:`~cohortaudit.intake.validate.
   check_prediction_source`);
3. the model card (is it well-formed?), and the outcome settled against it (the horizon and
   time unit of a time-to-event audit, :func:`~cohortaudit.intake.outcome.resolve_outcome`);
4. the model (is it safe to load, does it match the card's SHA-256?), then the card's test
   vectors (does it compute what its owner says?): a swapped, altered or mis-converted model
   stops here, before the cohort is read;
5. the cohort: read whole and validated (the default), or read by the engine's own reader
   (``read_cohort``), which validates chunk by chunk with the same validator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from cohortaudit.config import AuditConfig
from cohortaudit.intake.card import ModelCard, check_card_matches, load_card
from cohortaudit.intake.model import load_model
from cohortaudit.intake.outcome import resolve_outcome
from cohortaudit.intake.tables import load_cohort
from cohortaudit.intake.validate import Cohort, check_prediction_source, validate_cohort
from cohortaudit.intake.vectors import TestVectorReport, check_test_vectors
from cohortaudit.modelspec import LoadedModel
from cohortaudit.policy import Policy, check_policy_scope, load_policy

__all__ = ["AuditInputs", "CohortRead", "CohortReader", "load_inputs"]


class CohortRead(Protocol):
    """What reading a cohort gives: the validated cohort and the identity of what was read."""

    @property
    def cohort(self) -> Cohort: ...

    @property
    def sha256(self) -> str: ...

    @property
    def file(self) -> str: ...


#: An engine's cohort reader: called with the loaded model (None in scores mode) and card,
#: once they have passed their checks.
CohortReader = Callable[[LoadedModel | None, ModelCard | None], CohortRead]


@dataclass(frozen=True)
class _FileRead:
    """A cohort file read whole and validated in memory."""

    cohort: Cohort
    sha256: str
    file: str


@dataclass(frozen=True)
class AuditInputs:
    """Loaded and validated inputs, ready for :func:`~cohortaudit.audit.run_audit`."""

    cohort: Cohort
    model: LoadedModel | None
    card: ModelCard | None
    cohort_sha256: str
    cohort_file: str
    #: Report of the card's test vectors (they passed), or None without a card or vectors.
    test_vectors: TestVectorReport | None = None
    #: The audit policy, scope-checked, or None without one.
    policy: Policy | None = None
    #: What the cohort reader returned (a streamed read's feature sample and chunk counts).
    read: Any = None
    #: The config the cohort was validated with: the caller's, with the horizon and time unit
    #: settled against the card (:func:`~cohortaudit.intake.outcome.resolve_outcome`). Pass
    #: this one to :func:`~cohortaudit.audit.run_audit`.
    config: AuditConfig | None = None


def load_inputs(
    *,
    config: AuditConfig,
    cohort_path: str | Path | None = None,
    model_path: str | Path | None = None,
    card_path: str | Path | None = None,
    trusted_types: Sequence[str] = (),
    delimiter: str | None = None,
    policy_path: str | Path | None = None,
    rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    read_cohort: CohortReader | None = None,
) -> AuditInputs:
    """Load policy, card, model and cohort in that order, check that they fit together, and
    validate the cohort.

    With a card, the model must match its SHA-256 and reproduce its test vectors before the
    cohort is even read. The cohort is ``cohort_path`` read whole (``delimiter`` overrides the
    CSV delimiter; ``rows``, if given, selects the rows to audit before validation -- a site
    export's ``--where``), unless ``read_cohort`` reads it (the chunked engines).

    Raises
    ------
    ConfigError
        A bad policy scope, not exactly one of a model and a score column, or an outcome the
        card contradicts (a different horizon or time unit; a 0/1 label for a time-to-event
        model without ``censored_as_event_free``).
    InputError, CardError, ModelLoadError, SchemaError
        From the file that is wrong, checked in the order above.
    """
    policy = None
    if policy_path is not None:
        policy = load_policy(policy_path)
        check_policy_scope(
            policy,
            sensitive_features=config.sensitive_features,
            max_order=config.max_intersection_order,
        )
    check_prediction_source(config, has_model=model_path is not None)
    card = load_card(card_path) if card_path is not None else None
    config = resolve_outcome(config, card)  # before the model and the cohort are read
    model = vectors = None
    if model_path is not None:
        model = load_model(model_path, card=card, trusted_types=trusted_types)
        if card is not None:
            check_card_matches(card, model)
            vectors = check_test_vectors(card, model)
    if read_cohort is not None:
        read = read_cohort(model, card)
    elif cohort_path is None:
        raise TypeError("load_inputs needs cohort_path or read_cohort")  # a caller's bug
    else:
        read = _read_file(cohort_path, config, model, card, delimiter=delimiter, rows=rows)
    return AuditInputs(
        cohort=read.cohort,
        model=model,
        card=card,
        cohort_sha256=read.sha256,
        cohort_file=read.file,
        test_vectors=vectors,
        policy=policy,
        read=read,
        config=config,
    )


def _read_file(
    cohort_path: str | Path,
    config: AuditConfig,
    model: LoadedModel | None,
    card: ModelCard | None,
    *,
    delimiter: str | None,
    rows: Callable[[pd.DataFrame], pd.DataFrame] | None,
) -> _FileRead:
    frame, sha = load_cohort(cohort_path, delimiter=delimiter)
    if rows is not None:
        frame = rows(frame)
    cohort = validate_cohort(frame, config=config, model=model, card=card)
    return _FileRead(cohort=cohort, sha256=sha, file=Path(cohort_path).name)

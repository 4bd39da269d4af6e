"""``run_audit``: the pipeline from a validated cohort to an :class:`AuditResult`.

No I/O and no UI here: the CLI, the app and the report all call this one function and render
what it returns. Order of work: score -> the group table of every group's exact metrics
(:mod:`cohortaudit.metrics.subgroups`) -> disclosure control on it
(:func:`cohortaudit.disclosure.apply_disclosure`) -> the bootstrap of the released groups (a
new table) -> safety checks and explanations -> :func:`cohortaudit.assemble.assemble_result`,
which a pooled audit (:mod:`cohortaudit.sites.pool`) calls the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np

from cohortaudit.assemble import (
    CURVE_SETTINGS,
    CURVES_UP_TO_ORDER,
    DECISION_CURVE_SETTINGS,
    IMPRECISE_BELOW,
    INVERTED_RANKING,
    assemble_result,
    inverted_ranking_caveats,
    reference_list,
)
from cohortaudit.config import AuditConfig
from cohortaudit.disclosure import DisclosureDecision, apply_disclosure
from cohortaudit.errors import ConfigError
from cohortaudit.metrics.subgroups import (
    bootstrap_intervals,
    compute_point_estimates,
)
from cohortaudit.results import (
    AuditResult,
    Caveat,
    CohortInfo,
    ModelInfo,
)

if TYPE_CHECKING:
    import pandas as pd

    from cohortaudit.intake.card import ModelCard
    from cohortaudit.intake.validate import Cohort
    from cohortaudit.intake.vectors import TestVectorReport
    from cohortaudit.metrics.table import GroupTable
    from cohortaudit.modelspec import LoadedModel
    from cohortaudit.policy import Policy

__all__ = [
    "run_audit",
    "card_facts",
    "operating_threshold",
    # assembled in cohortaudit.assemble; importable from here as before
    "IMPRECISE_BELOW",
    "CURVES_UP_TO_ORDER",
    "CURVE_SETTINGS",
    "DECISION_CURVE_SETTINGS",
    "INVERTED_RANKING",
    "inverted_ranking_caveats",
]

ProgressCallback = Callable[[str, float], None]

_ENVIRONMENT_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "fairlearn",
    "onnx",
    "onnxruntime",
    "skl2onnx",
    "skops",
    "statsmodels",
    "shap",
    "streamlit",
    "plotly",
    "fpdf2",
)


def run_audit(
    cohort: Cohort,
    model: LoadedModel | None,
    config: AuditConfig,
    *,
    card: ModelCard | None = None,
    cohort_sha256: str | None = None,
    cohort_file: str | None = None,
    progress: ProgressCallback | None = None,
    test_vectors: TestVectorReport | None = None,
    policy: Policy | None = None,
    scores: np.ndarray | None = None,
    feature_cohort: Cohort | None = None,
    feature_sample_note: str | None = None,
    engine_run: Mapping[str, Any] | None = None,
    started: float | None = None,
) -> AuditResult:
    """Audit ``model`` on ``cohort``; ``model`` is None in scores mode.

    ``progress(stage, fraction)`` is called as work advances (the CLI draws a bar from it).
    ``test_vectors`` is the report of the card's test vectors when the caller already ran them
    (:func:`cohortaudit.pipeline.load_inputs` does); otherwise a card's vectors are run here,
    so no audit with a card skips them. A failing vector raises :class:`CardError`.
    ``policy`` rules are judged last, on the finished result (``result.policy``); the card's
    claimed metrics are checked against the overall estimates (``result.claims``).

    A time-to-event config (``config.event``) runs the same steps with the survival group
    table, disclosure control and bootstrap of :mod:`cohortaudit.survival_audit`.

    Streamed and Dask audits (:mod:`cohortaudit.streaming`) keep no feature frame: they pass
    the model's ``scores``, already computed chunk by chunk, and a ``feature_cohort`` (a seeded
    sample with features and scores) on which the safety checks and explanations run;
    ``feature_sample_note`` says so in those blocks' settings (``settings.sample``),
    ``engine_run`` describes the engine in the run record (``run.engine``) and ``started``
    (a :func:`time.perf_counter` reading) is when the engine began reading, so the result
    is complete when it is made and never patched afterwards.
    """
    started = time.perf_counter() if started is None else started
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    report = progress or (lambda stage, frac: None)
    _check_policy_scope(policy, config)

    report("scoring", 0.0)
    test_vectors = _test_vectors(model, card, test_vectors)
    y_score = _scores(cohort, model, scores)
    report("scoring", 1.0)
    y_true = np.asarray(cohort.y_true, dtype=np.int8)

    threshold, threshold_source = operating_threshold(config, card)
    caveats = [*cohort.caveats, *_extreme_predictions_caveat(y_score)]
    groups_frame = cohort.groups[list(config.sensitive_features)]
    time_to_event = config.outcome_kind == "time_to_event"
    assembly: dict[str, Any] = {}
    if time_to_event:
        from cohortaudit.survival_audit import survival_assembly, survival_table

        table, decision = survival_table(cohort, y_score, groups_frame, config, threshold, report)
        assembly = survival_assembly(table, config)
    else:
        table, decision = _exact_table(y_score, y_true, groups_frame, config, threshold, report)
    checks = _checks(
        cohort,
        model,
        card,
        config,
        y_score,
        threshold,
        table=table,
        decision=decision,
        feature_cohort=feature_cohort,
        feature_sample_note=feature_sample_note,
        report=report,
    )
    user_metrics = (
        None
        if time_to_event
        else _user_metrics_hook(config, y_true, y_score, groups_frame, threshold)
    )
    if time_to_event:
        caveats.extend(_survival_not_yet(config))

    report("done", 1.0)
    return assemble_result(
        table,
        decision,
        k=config.min_cell,
        z=config.z,
        confidence=config.confidence,
        threshold=threshold,
        threshold_source=threshold_source,
        max_order=config.max_intersection_order,
        model=_model_info(model, card, config, test_vectors=test_vectors),
        cohort=_cohort_info(cohort, config, sha256=cohort_sha256, file=cohort_file),
        config=config.to_dict(),
        started=started,
        started_at=started_at,
        run=_run_record(engine_run),
        bins=config.bins,
        requested_reference=config.reference,
        caveats=caveats,
        closing_caveats=list(checks.closing),
        claimed_metrics=card.claimed_metrics if card is not None else None,
        policy=policy,
        safety=checks.safety,
        explanations=checks.explanations,
        user_metrics=user_metrics,
        **assembly,
    )


def _survival_not_yet(config: AuditConfig) -> tuple[Caveat, ...]:
    """What a time-to-event audit does not run yet, said rather than silently skipped."""
    out = []
    if config.safety:
        out.append(
            Caveat(
                code="survival_safety_not_run",
                severity="info",
                message=(
                    "Of the safety checks, a time-to-event audit runs the shift of the model "
                    "inputs and the intended-use check; the robustness check and the weak-slice "
                    "search, defined on a 0/1 outcome, are not run for time-to-event audits yet."
                ),
            )
        )
    if config.user_metrics:
        out.append(
            Caveat(
                code="survival_user_metrics_not_run",
                severity="info",
                message="Your own metrics (--metric) take a 0/1 label; they are not run for "
                "time-to-event audits.",
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class _Checks:
    """What the safety checks and explanations give the result, computed before assembly."""

    safety: dict[str, Any] | None
    explanations: dict[str, Any] | None
    closing: tuple[Caveat, ...]


def _check_policy_scope(policy: Policy | None, config: AuditConfig) -> None:
    """Fail on a policy naming groups the audit will not have: a scope typo should cost a
    second, not a bootstrap."""
    if policy is None:
        return
    from cohortaudit.policy import check_policy_scope

    check_policy_scope(
        policy,
        sensitive_features=config.sensitive_features,
        max_order=config.max_intersection_order,
    )


def _test_vectors(
    model: LoadedModel | None, card: ModelCard | None, test_vectors: TestVectorReport | None
) -> TestVectorReport | None:
    """The card's test-vector report, run here when the caller did not, so no audit with a
    card and a model skips them (a failing vector raises CardError)."""
    if model is None or card is None or test_vectors is not None:
        return test_vectors
    from cohortaudit.intake.vectors import check_test_vectors

    return check_test_vectors(card, model)


def _scores(cohort: Cohort, model: LoadedModel | None, scores: np.ndarray | None) -> np.ndarray:
    """One float64 score per patient, from the caller's precomputed scores, the model or the
    cohort's score column, in that order: the single place the audit gets its predictions."""
    if model is not None and scores is not None:
        y_score = np.asarray(scores, dtype=np.float64)
        if y_score.shape != (len(cohort.y_true),):
            raise ConfigError(
                f"The 'scores' parameter must hold one score per patient ({len(cohort.y_true)}). "
                f"Got shape {y_score.shape}."
            )
        return y_score
    if model is not None:
        from cohortaudit.scoring import score

        return score(model, cohort.features)
    if cohort.y_score is not None:
        return np.asarray(cohort.y_score, dtype=np.float64)
    raise ConfigError(
        "Nothing to audit: give a model (--model) or a column of predictions (--score-column)."
    )


def _extreme_predictions_caveat(y_score: np.ndarray) -> tuple[Caveat, ...]:
    """A caveat when some scores are exactly 0 or 1, because calibration fits clip them while
    the other metrics use them as given (empty when there are none)."""
    n_extreme = int(np.sum((y_score <= 0.0) | (y_score >= 1.0)))
    if not n_extreme:
        return ()
    return (
        Caveat(
            code="extreme_predictions",
            severity="info",
            message=(
                f"{n_extreme} predictions are exactly 0 or 1. They are used as given for "
                "discrimination and threshold metrics; calibration fits clip them to "
                "[1e-8, 1 - 1e-8]."
            ),
        ),
    )


def _exact_table(
    y_score: np.ndarray,
    y_true: np.ndarray,
    groups_frame: pd.DataFrame,
    config: AuditConfig,
    threshold: float,
    report: ProgressCallback,
) -> tuple[GroupTable, DisclosureDecision]:
    """The group table and its disclosure decision: exact estimates, then disclosure, then a
    bootstrap of only the released groups (suppressed cells cost no resamples)."""
    exact = compute_point_estimates(
        y_score,
        y_true,
        groups_frame,
        threshold=threshold,
        z=config.z,
        max_order=config.max_intersection_order,
        min_cell=config.min_cell,
    )
    decision = apply_disclosure(exact, config.min_cell, curves_up_to_order=CURVES_UP_TO_ORDER)
    table = bootstrap_intervals(
        exact,
        y_score,
        y_true,
        released=[[not h for h in row] for row in decision.hidden],
        n_boot=config.n_boot,
        seed=config.seed,
        confidence=config.confidence,
        max_bins=config.boot_score_bins,
        progress=lambda done, total: report("bootstrap", done / total),
    )
    return table, decision


def _cohort_info(
    cohort: Cohort, config: AuditConfig, *, sha256: str | None, file: str | None
) -> CohortInfo:
    """The cohort block, with its exclusion counts released only when they clear k."""
    n_input_rows, n_excluded = _released_exclusions(
        cohort.n_input_rows, cohort.n_dropped, config.min_cell
    )
    return CohortInfo(
        sha256=sha256,
        file=file,
        n=None,
        events=None,
        n_input_rows=n_input_rows,
        n_excluded=n_excluded,
        label=config.label,
        sensitive_features=config.sensitive_features,
        time=config.time if config.outcome_kind == "time_to_event" else None,
        event=config.event,
    )


def _checks(
    cohort: Cohort,
    model: LoadedModel | None,
    card: ModelCard | None,
    config: AuditConfig,
    y_score: np.ndarray,
    threshold: float,
    *,
    table: GroupTable,
    decision: DisclosureDecision,
    feature_cohort: Cohort | None,
    feature_sample_note: str | None,
    report: ProgressCallback,
) -> _Checks:
    """Safety checks and explanations, run on the feature sample when the engine kept no
    feature frame, plus the closing caveat when explanations cannot run without a model."""
    safety = None
    if config.safety:
        from cohortaudit.checks import run_safety

        if feature_cohort is None:
            safety = run_safety(cohort, model, card, config, y_score, threshold, report)
        else:
            sample_scores = np.asarray(feature_cohort.y_score, dtype=np.float64)
            safety = run_safety(
                feature_cohort, model, card, config, sample_scores, threshold, report
            )
        safety = _noted(safety, feature_sample_note)
    explanations = None
    closing: tuple[Caveat, ...] = ()
    checked = cohort if feature_cohort is None else feature_cohort
    if config.explain and model is not None and checked.features is not None:
        from cohortaudit.checks import explain_reference, run_explanations

        references = {"references": reference_list(table, decision, config.reference)}
        explanations = run_explanations(
            checked, model, config, explain_reference(references), report
        )
        explanations = _noted(explanations, feature_sample_note)
    elif config.explain:
        closing = (
            Caveat(
                code="explanations_need_model",
                severity="info",
                message=(
                    "Explanations were requested but this is a scores-mode audit: SHAP values "
                    "need the model itself. Audit with --model to explain it."
                ),
            ),
        )
    return _Checks(safety=safety, explanations=explanations, closing=closing)


def _user_metrics_hook(
    config: AuditConfig,
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups_frame: pd.DataFrame,
    threshold: float,
) -> Callable[[Any], Any] | None:
    """The auditor's own metrics (--metric, see metrics/user.py) as a hook assembly calls,
    because they need the finished groups: which ones disclosure released."""
    if not config.user_metrics:
        return None
    from cohortaudit.metrics.user import for_audit

    def user_metrics(groups):
        return for_audit(config, y_true, y_score, groups_frame, groups, threshold)

    return user_metrics


def _run_record(engine_run: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run record: package versions, and the engine that read the cohort when one did."""
    return {
        "packages": _package_versions(),
        **({"engine": dict(engine_run)} if engine_run is not None else {}),
    }


def _noted(block: dict[str, Any] | None, note: str | None) -> dict[str, Any] | None:
    """A check's block with ``settings.sample`` saying it ran on the feature sample."""
    if block is None or note is None:
        return block
    return {**block, "settings": {**block.get("settings", {}), "sample": note}}


def operating_threshold(config: AuditConfig, card: ModelCard | None) -> tuple[float, str]:
    """The threshold a patient is predicted positive at, and where it came from: the
    configuration (--threshold), else the card's operating threshold, else 0.5 (shared by
    single-site audits and site exports, so both read the same threshold)."""
    if config.threshold is not None:
        return config.threshold, "configuration"
    card_t = getattr(card, "operating_threshold", None) if card is not None else None
    if card_t is not None:
        return float(card_t), "model card"
    return 0.5, "default (0.5)"


def _released_exclusions(
    n_input_rows: int | None, n_excluded: int | None, k: int
) -> tuple[int | None, int | None]:
    """Rows read and rows excluded, both withheld when 1..k-1 rows were excluded (either
    one, with the released cohort size, gives the other back)."""
    if k > 0 and n_excluded is not None and 0 < n_excluded < k:
        return None, None
    return n_input_rows, n_excluded


def _finite(x: Any) -> float | None:
    """A JSON-safe float: None for missing, NaN or infinite values."""
    if x is None:
        return None
    x = float(x)
    return float(f"{x:.12g}") if math.isfinite(x) else None


def _model_info(
    model, card, config: AuditConfig, *, test_vectors: TestVectorReport | None = None
) -> ModelInfo:
    if model is None:
        return ModelInfo(
            kind="scores",
            sha256=None,
            file=None,
            name=getattr(card, "name", None),
            version=getattr(card, "version", None),
            inputs=(config.score_column,) if config.score_column else (),
            card=card_facts(card),
        )
    card_path = getattr(card, "path", None)
    return ModelInfo(
        kind=model.kind,
        sha256=model.sha256,
        file=model.path.name,
        name=getattr(card, "name", None),
        version=getattr(card, "version", None),
        inputs=tuple(i.name for i in model.inputs),
        card_sha256=getattr(card, "sha256", None),
        card_file=card_path.name if card_path is not None else None,
        metadata=_plain(model.metadata),
        test_vectors=test_vectors.to_dict() if test_vectors is not None else None,
        card=card_facts(card),
    )


def card_facts(card: ModelCard | None) -> dict[str, Any]:
    """The card's facts a reader needs beside the numbers, as plain sorted JSON ({} if no card).

    Stored in the result so that the dashboard and reports never re-read the card file (and a
    result opened later still says what the model is for and what its developer claimed).
    """
    if card is None:
        return {}
    crr = card.clinically_relevant_range
    facts = {
        "developer": card.developer,
        "contact": card.contact,
        "license": card.license,
        "intended_use": card.intended_use,
        "intended_population": _plain(dict(card.intended_population or {})),
        "outcome": _plain(dict(card.outcome or {})),
        "output_meaning": card.output_meaning,
        "operating_threshold": _finite(card.operating_threshold),
        "clinically_relevant_range": [_finite(crr[0]), _finite(crr[1])] if crr else None,
        "claimed_metrics": _plain(dict(card.claimed_metrics or {})),
        "development_data": _plain(dict(card.development_data or {})),
    }
    return dict(sorted(facts.items()))


def _plain(obj: Any) -> Any:
    """JSON-safe copy of model metadata (keys as strings, sorted for byte-identical output)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None  # NaN/inf are not JSON
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _package_versions() -> dict[str, str]:
    out = {}
    for name in _ENVIRONMENT_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out

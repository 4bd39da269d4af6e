"""The audit's optional blocks: safety checks and SHAP explanations, run on a validated cohort.

:mod:`cohortaudit.safety` and :mod:`cohortaudit.explain` compute; this module decides *what they
are given* for an audit, so the choices are made once and recorded in each block's settings:

* **Shift and intended use** compare the cohort's model inputs with the model card's
  development summary, so they need a card and a model (scores mode has no model inputs).
* **Robustness** re-scores perturbed inputs, so it needs a model. Above
  ``config.robustness_rows`` patients it perturbs a seeded sample (stratified by the sensitive
  attributes), because each perturbation is a full scoring pass and the change in AUROC is
  already precise at 20,000 patients.
* **Weak slices** search the sensitive attributes (as the audit bins them) and the other model
  inputs (quartile-binned inside :func:`safety.weak_slices`) for slices worse than the rest,
  with a minimum slice size of k events and k non-events; overlapping ones are then grouped
  (:func:`safety.group_weak_slices`) so that each weakness is reported once.
* **Explanations** use the audit's reference groups, so "the model relies on X more for group
  G" is against the same reference as every disparity in the report.

Everything returned is aggregate-only and already disclosure-controlled at the audit's k.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.config import AuditConfig
from cohortaudit.intake.card import ModelCard
from cohortaudit.intake.validate import Cohort
from cohortaudit.modelspec import LoadedModel
from cohortaudit.sampling import strata_codes, stratified_sample

__all__ = ["run_safety", "run_explanations", "explain_reference"]

#: Noise levels (in SDs of each input) and category flip rates of the robustness check.
NOISE_LEVELS = (0.05, 0.1, 0.2)
FLIP_RATES = (0.05, 0.1)
#: Background rows of the SHAP masker (TECH-NOTES: 100 is enough for a stable base value).
N_BACKGROUND = 100
#: Bootstrap replicates of the explanation CIs. Capped because each replicate re-averages
#: |SHAP| per group and proxy AUROCs; 200 gives percentile bounds stable to ~0.002 here.
MAX_EXPLAIN_BOOT = 200


def _sample_rows(groups: pd.DataFrame, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of ``size`` rows, proportional per stratum."""
    rng = np.random.default_rng([seed, 11])
    return stratified_sample(strata_codes(groups, len(groups)), size, rng)


def _slice_frame(cohort: Cohort, config: AuditConfig) -> pd.DataFrame:
    """Sensitive attributes as audited, plus every other model input (binned by the search)."""
    frame = cohort.groups[list(config.sensitive_features)].astype(str).reset_index(drop=True)
    if cohort.features is not None:
        for col in cohort.features.columns:
            if col not in frame.columns:
                frame[col] = cohort.features[col].reset_index(drop=True)
    return frame


def run_safety(
    cohort: Cohort,
    model: LoadedModel | None,
    card: ModelCard | None,
    config: AuditConfig,
    y_score: np.ndarray,
    threshold: float,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """The ``safety`` block of the result (``SafetyResult.to_dict()`` plus what was skipped).

    A time-to-event audit runs the checks that do not need a 0/1 outcome -- shift of the model
    inputs against the card and the intended-use check -- and says why the others are skipped:
    the outcome's prevalence shift, the robustness check's AUROC and sensitivity and the
    weak-slice tests are defined on 0/1 labels, and reading the event column as one would count
    patients censored before the horizon as event-free.
    """
    from cohortaudit import safety

    report = progress or (lambda stage, frac: None)
    time_to_event = config.outcome_kind == "time_to_event"
    not_binary = (
        "time-to-event audit: this check is defined on a 0/1 outcome, and the event column is "
        "not one at the horizon (patients censored before it); not run yet"
    )
    groups = cohort.groups[list(config.sensitive_features)].reset_index(drop=True)
    features = cohort.features
    k, conf = config.min_cell, config.confidence
    skipped: dict[str, str] = {}

    shift: tuple = ()
    use = None
    if card is None:
        skipped["shift"] = skipped["intended_use"] = (
            "no model card: the development data summary and intended population come from it"
        )
    elif features is None:
        skipped["shift"] = skipped["intended_use"] = (
            "scores mode: the cohort's model inputs are not part of the audit"
        )
    else:
        shift = safety.compute_shift(
            features,
            card,
            groups=groups,
            y_true=None if time_to_event else cohort.y_true,
            min_cell=k,
            confidence=conf,
        )
        if time_to_event:
            skipped["outcome_shift"] = not_binary
        use = safety.intended_use_fit(features, card, groups=groups, min_cell=k)
    report("safety", 0.2)

    robust = None
    if time_to_event:
        skipped["robustness"] = not_binary
    elif model is None or features is None:
        skipped["robustness"] = "scores mode: there is no model to re-score perturbed inputs"
    elif config.robustness_rows == 0:
        skipped["robustness"] = "turned off (robustness_rows = 0)"
    else:
        from cohortaudit.scoring import score

        rows = _sample_rows(groups, config.robustness_rows, config.seed)
        sub_features = features.iloc[rows].reset_index(drop=True)
        robust = safety.robustness(
            sub_features,
            np.asarray(cohort.y_true)[rows],
            lambda frame: score(model, frame),
            threshold=threshold,
            card=card,
            groups=groups.iloc[rows].reset_index(drop=True),
            noise_levels=NOISE_LEVELS,
            flip_rates=FLIP_RATES,
            random_state=config.seed,
            min_cell=k,
            confidence=conf,
        )
    report("safety", 0.6)

    slices: tuple = ()
    slice_groups: tuple = ()
    if time_to_event:
        skipped["weak_slices"] = not_binary
    else:
        slice_frame = _slice_frame(cohort, config)
        slices = safety.weak_slices(
            cohort.y_true,
            y_score,
            slice_frame,
            threshold=threshold,
            min_size=k,
            max_order=config.slice_max_order,
            fdr=config.slice_fdr,
            confidence=conf,
        )
        slice_groups = safety.group_weak_slices(slices, slice_frame, min_cell=k)
    report("safety", 1.0)
    settings = dict(safety.SAFETY_SETTINGS)
    settings.update(
        {
            "min_cell": k,
            "confidence": conf,
            "threshold": float(threshold),
            "seed": int(config.seed),
            "robustness_rows": int(config.robustness_rows),
            "robustness_sample": (
                None
                if robust is None
                else (
                    "whole cohort"
                    if len(cohort.y_true) <= config.robustness_rows
                    else f"seeded sample of {config.robustness_rows} patients, "
                    "proportional per sensitive-attribute stratum"
                )
            ),
            "noise_levels": list(NOISE_LEVELS),
            "flip_rates": list(FLIP_RATES),
            "slice_max_order": int(config.slice_max_order),
            "slice_fdr": float(config.slice_fdr),
            "slice_min_size": f"{k} events and {k} non-events in the slice and in the rest",
            "slice_attributes": list(_slice_frame_columns(cohort, config)),
            "skipped": skipped,
        }
    )
    return safety.SafetyResult(
        shift=shift,
        intended_use=use,
        robustness=robust,
        weak_slices=slices,
        weak_slice_groups=slice_groups,
        settings=settings,
    ).to_dict()


def _slice_frame_columns(cohort: Cohort, config: AuditConfig) -> list[str]:
    cols = list(config.sensitive_features)
    if cohort.features is not None:
        cols += [c for c in cohort.features.columns if c not in cols]
    return cols


def explain_reference(settings: dict[str, Any]) -> dict[str, str]:
    """Reference group per single attribute, from the audit's ``settings["references"]``."""
    out: dict[str, str] = {}
    for item in settings.get("references", []):
        ref = item.get("reference") or {}
        if len(ref) == 1:
            out.update({str(a): str(v) for a, v in ref.items()})
    return out


def run_explanations(
    cohort: Cohort,
    model: LoadedModel,
    config: AuditConfig,
    reference: dict[str, str],
    progress: Callable[[str, float], None] | None = None,
    *,
    method: str = "model-agnostic",
) -> dict[str, Any]:
    """The ``explanations`` block of the result (``ExplanationResult.to_dict()``).

    ``method="auto"`` lets tree ensembles be explained from their trees (the same values; see
    :mod:`cohortaudit.explain_treeshap`)."""
    from cohortaudit.explain import explain_model

    report = progress or (lambda stage, frac: None)
    groups = cohort.groups[list(config.sensitive_features)].astype(str)
    result = explain_model(
        model,
        cohort.features,
        groups=groups if groups.shape[1] else None,
        reference=reference,
        n_explain=config.explain_rows,
        n_background=N_BACKGROUND,
        seed=config.seed,
        n_boot=min(config.n_boot, MAX_EXPLAIN_BOOT),
        progress=lambda done, total: report("explanations", done / max(total, 1)),
        min_cell=config.min_cell,
        method=method,
    )
    return result.to_dict()


def attach_explanations(
    result: Any,
    cohort: Cohort,
    model: LoadedModel,
    config: AuditConfig,
    progress: Callable[[str, float], None] | None = None,
    *,
    method: str = "model-agnostic",
) -> Any:
    """``result`` with its ``explanations`` block computed now (the app's "Explain" button).

    The audit's other numbers are untouched; the config recorded in the result says
    ``explain: true`` and the rows explained, as if the audit had been run with them.
    """
    from dataclasses import replace

    from cohortaudit.errors import ConfigError

    if cohort.features is None:
        raise ConfigError(
            "This audit has no model inputs (scores mode): SHAP explanations need the model "
            "and its inputs. Run the audit with a model file to explain it."
        )
    block = run_explanations(
        cohort, model, config, explain_reference(result.settings), progress, method=method
    )
    recorded = dict(result.config)
    recorded.update({"explain": True, "explain_rows": int(config.explain_rows)})
    return replace(result, explanations=block, config=recorded)

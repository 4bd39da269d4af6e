"""Running an audit from the dashboard (with a progress bar) and the shared sidebar.

Every audit goes through the one library call :func:`cohortaudit.engines.memory.audit_files`. What
needs the validated cohort and model *after* the audit (SHAP explanations on demand, one
patient's waterfall) loads them again from the same files and settings
(:func:`audit_inputs`): the model through ``st.cache_resource``, the cohort through
``st.cache_data(scope="session")`` (patient data never enter a cache shared between sessions;
only the bundled synthetic sample does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

import defaults
import state
from cohortaudit.config import AuditConfig
from cohortaudit.errors import AuditError
from cohortaudit.results import AuditResult
from cohortaudit.textsafe import for_markdown as md

_STAGES = {
    "scoring": (0.0, 0.1),
    "bootstrap": (0.1, 0.75),
    "safety": (0.75, 0.97),
    "explanations": (0.97, 0.99),
    "done": (1.0, 1.0),
}
#: The Explanations page's button: SHAP is the whole job.
_EXPLAIN_STAGES = {"explanations": (0.02, 0.99), "done": (1.0, 1.0)}
_STAGE_TEXT = {
    "scoring": "Scoring the cohort with the model",
    "bootstrap": "Computing subgroup metrics and bootstrap confidence intervals",
    "safety": "Safety checks: shift, intended use, robustness, weak slices",
    "explanations": "Computing SHAP explanations",
    "done": "Done",
}


def _progress_callback(
    stages: dict[str, tuple[float, float]] | None = None,
    text: str = "Loading and validating the model, card and cohort",
) -> Callable[[str, float], None]:
    stages = stages or _STAGES
    bar = st.progress(0.0, text=text)
    last = {"value": -1.0, "t": 0.0}

    def report(stage: str, fraction: float) -> None:
        lo, hi = stages.get(stage, (0.0, 1.0))
        value = min(1.0, max(0.0, lo + (hi - lo) * float(fraction)))
        now = time.monotonic()
        # redraw at most ~10 times a second; the engine may report every replicate
        if value >= 1.0 or value - last["value"] >= 0.01 and now - last["t"] > 0.1:
            last.update(value=value, t=now)
            bar.progress(value, text=f"{_STAGE_TEXT.get(stage, stage)} ({value:.0%})")

    return report


def run_audit_files(*, chunk_rows: int | None = None, **kwargs: Any) -> AuditResult | None:
    """Audit files through the CLI's dispatcher, with a progress bar; show an ``AuditError``
    as a message.

    ``cohortaudit.engines.audit_with_engine`` reads a small cohort in memory and streams a
    large one in chunks (its own size rule, the CLI's); ``chunk_rows`` streams any cohort.
    """
    from cohortaudit.engines import audit_with_engine

    try:
        result = audit_with_engine(
            engine="local", chunk_rows=chunk_rows, progress=_progress_callback(), **kwargs
        )
    except AuditError as e:
        st.error(f"{type(e).__name__}: {md(e)}")
        return None
    state.set_audit_source(result, _source(**kwargs))
    return result


def _source(
    *,
    cohort_path: Any,
    config: AuditConfig,
    model_path: Any = None,
    card_path: Any = None,
    trusted_types: Any = (),
    sample: bool = False,
    **_: Any,
) -> state.AuditSource:
    return state.AuditSource(
        cohort_path=str(cohort_path),
        model_path=None if model_path is None else str(model_path),
        card_path=None if card_path is None else str(card_path),
        config=config,
        trusted_types=tuple(trusted_types or ()),
        sample=sample,
    )


def sample_config(*, n_boot: int | None = None, max_order: int | None = None) -> AuditConfig:
    from cohortaudit.config import parse_bins

    return AuditConfig(
        label=defaults.SAMPLE_LABEL,
        sensitive_features=defaults.SAMPLE_SENSITIVE,
        bins=parse_bins([f"{k}={v}" for k, v in defaults.SAMPLE_BINS.items()]),
        n_boot=defaults.sample_n_boot() if n_boot is None else n_boot,
        max_intersection_order=defaults.sample_max_order() if max_order is None else max_order,
    )


@st.cache_resource(show_spinner=False)
def _sample_store() -> tuple[dict[Any, AuditResult], threading.Lock]:
    """Audits of the bundled *synthetic* sample, shared by all sessions (no patient data).

    A plain store rather than a cached function, so that the first run can draw its progress
    bar (a cached function may not write to elements created outside it).
    """
    return {}, threading.Lock()


def run_sample_audit(config: AuditConfig | None = None) -> AuditResult | None:
    """Audit the bundled sample (once per settings for the whole server) and make it current."""
    config = config or sample_config()
    store, lock = _sample_store()
    key = repr(sorted(config.to_dict().items()))
    started = time.perf_counter()
    with lock:
        result = store.get(key)
        if result is None:
            if not defaults.SAMPLE_COHORT.exists():
                st.error(
                    f"The bundled sample is missing ({defaults.SAMPLE_COHORT.name} not found in "
                    f"{defaults.SAMPLE_DIR}). Upload your own files on the Start page."
                )
                return None
            st.info(
                f"Auditing the bundled synthetic sample ({config.n_boot} bootstrap replicates). "
                "This happens once; afterwards every page is instant."
            )
            card = defaults.SAMPLE_CARD if defaults.SAMPLE_CARD.exists() else None
            result = run_audit_files(
                cohort_path=defaults.SAMPLE_COHORT,
                model_path=defaults.SAMPLE_MODEL,
                card_path=card,
                config=config,
            )
            if result is None:
                return None
            result = _with_tree_explanations(result, config, card)
            store[key] = result
    card = defaults.SAMPLE_CARD if defaults.SAMPLE_CARD.exists() else None
    state.set_result(
        result,
        state.ResultInfo(
            source="sample",
            description="Bundled synthetic sample (not real patients)",
            card_path=str(card) if card else None,
            seconds=round(time.perf_counter() - started, 2),
        ),
    )
    state.set_audit_source(
        result,
        _source(
            cohort_path=defaults.SAMPLE_COHORT,
            model_path=defaults.SAMPLE_MODEL,
            card_path=card,
            config=config,
            sample=True,
        ),
    )
    return result


def _with_tree_explanations(
    result: AuditResult, config: AuditConfig, card: Path | None
) -> AuditResult:
    """The sample audit with its explanations, when the model is a tree ensemble the exact tree
    path reads (~2 s for 1,000 patients, issue 18.5); otherwise as it was (the Explanations
    page's button computes them on request, as for every other model)."""
    from dataclasses import replace

    from cohortaudit.checks import attach_explanations
    from cohortaudit.explain_treeshap import tree_path_reason

    src = _source(
        cohort_path=defaults.SAMPLE_COHORT,
        model_path=defaults.SAMPLE_MODEL,
        card_path=card,
        config=config,
        sample=True,
    )
    try:
        inputs = _sample_inputs(_config_key(config), src)
        if inputs.model is None or tree_path_reason(inputs.model) is not None:
            return result
        explain = replace(config, explain=True, explain_rows=defaults.explain_rows())
        return attach_explanations(result, inputs.cohort, inputs.model, explain, method="auto")
    except AuditError:
        return result  # the audit stands; the page's button still offers explanations


# --------------------------------------------------------------------------------------------
# the audit's validated inputs, loaded again on demand (explanations, one patient's waterfall)
# --------------------------------------------------------------------------------------------


def _mtime(path: str | None) -> float:
    return Path(path).stat().st_mtime if path and Path(path).exists() else 0.0


def _config_key(config: AuditConfig) -> str:
    return repr(sorted(config.to_dict().items()))


@st.cache_resource(show_spinner=False, max_entries=2)
def _sample_inputs(key: str, _src: state.AuditSource) -> Any:
    """The bundled *synthetic* sample's validated inputs, shared by all sessions."""
    from cohortaudit.intake.inputs import load_inputs

    return load_inputs(
        cohort_path=_src.cohort_path,
        config=_src.config,
        model_path=_src.model_path,
        card_path=_src.card_path,
    )


@st.cache_resource(show_spinner=False, max_entries=4)
def _uploaded_model(
    model_path: str, model_mtime: float, card_path: str | None, trusted: tuple[str, ...]
) -> Any:
    """A model session (no patient data): shared cache, keyed by this session's file path."""
    from cohortaudit.intake.card import load_card
    from cohortaudit.intake.model import load_model

    card = load_card(card_path) if card_path else None
    return load_model(model_path, card=card, trusted_types=trusted)


@st.cache_data(scope="session", show_spinner=False, max_entries=2)
def _uploaded_cohort(
    cohort_path: str,
    cohort_mtime: float,
    model_path: str | None,
    card_path: str | None,
    trusted: tuple[str, ...],
    config_key: str,
    _config: AuditConfig,
) -> Any:
    """The uploaded cohort, validated exactly as the audit did: this session only."""
    from cohortaudit.intake.inputs import load_inputs

    return load_inputs(
        cohort_path=cohort_path,
        config=_config,
        model_path=model_path,
        card_path=card_path,
        trusted_types=trusted,
    ).cohort


def audit_inputs(result: AuditResult) -> tuple[Any, Any, AuditConfig] | str:
    """``(cohort, model, config)`` of ``result``'s audit, or why they cannot be had (a message).

    Loaded again from the files and settings the audit used; cached, so only the first call
    after an audit reads the files.
    """
    source = state.get_audit_source(result)
    if source is None:
        return (
            "This result was not computed in this session, so its cohort and model are not at "
            "hand. Run the audit again on *Start a new audit*."
        )
    if source.model_path is None:
        return (
            "This is a scores-mode audit (predictions already in the cohort): SHAP values "
            "need the model itself. Run the audit with a model file to explain it."
        )
    if result.run.get("engine") and not source.sample:
        return (
            "This cohort was streamed in chunks (it is too large to hold in memory), so the "
            "dashboard does not load it again for SHAP values. Run `cohortaudit audit` with "
            "the same files: it explains a seeded sample of the streamed cohort."
        )
    try:
        if source.sample:
            inputs = _sample_inputs(_config_key(source.config), source)
            return inputs.cohort, inputs.model, source.config
        model = _uploaded_model(
            source.model_path,
            _mtime(source.model_path),
            source.card_path,
            source.trusted_types,
        )
        cohort = _uploaded_cohort(
            source.cohort_path,
            _mtime(source.cohort_path),
            source.model_path,
            source.card_path,
            source.trusted_types,
            _config_key(source.config),
            source.config,
        )
    except AuditError as e:
        return f"{type(e).__name__}: {e}"
    except FileNotFoundError:
        return (
            "The files of this audit are no longer in this session's folder. Run the audit "
            "again on *Start a new audit*."
        )
    return cohort, model, source.config


def compute_explanations(result: AuditResult) -> AuditResult | None:
    """Add the ``explanations`` block to the current result (the library's
    ``attach_explanations``) with a progress bar, and make it current."""
    from dataclasses import replace

    from cohortaudit.checks import attach_explanations

    inputs = audit_inputs(result)
    if isinstance(inputs, str):
        st.error(inputs)
        return None
    cohort, model, config = inputs
    config = replace(config, explain=True, explain_rows=defaults.explain_rows())
    source = state.get_audit_source(result)
    try:
        progress = _progress_callback(_EXPLAIN_STAGES, text="Preparing the SHAP explainer")
        new = attach_explanations(result, cohort, model, config, progress, method="auto")
    except AuditError as e:
        st.error(f"{type(e).__name__}: {md(e)}")
        return None
    state.replace_result(new)
    if source is not None:
        state.set_audit_source(new, source)
    return new


def local_explanation(result: AuditResult, row: int) -> dict[str, Any] | str:
    """One patient's waterfall (row ``row``, 0-based, of the validated cohort), computed once
    per session and patient; on screen only, never stored in the result or exported."""
    cached = state.get_local_explanation(row)
    if cached is not None:
        return cached
    inputs = audit_inputs(result)
    if isinstance(inputs, str):
        return inputs
    cohort, model, _ = inputs
    features = cohort.features
    if features is None:
        return "This audit has no model inputs (scores mode): there is nothing to explain."
    if not 0 <= row < len(features):
        return f"Choose a patient between 1 and {len(features):,}."
    from cohortaudit.explain import local_explanation as _local

    try:
        value = _local(model, features.iloc[[row]], background=features)
    except AuditError as e:
        return f"{type(e).__name__}: {e}"
    state.set_local_explanation(row, value)
    return value


def cohort_size(result: AuditResult) -> int | None:
    """Patients in the validated cohort (the waterfall's row range)."""
    return result.cohort.n


def disclosure_banner() -> None:
    """On every page, above its content: the banner of an audit run with disclosure control
    off (k = 0), so no screen of it can be mistaken for a releasable one."""
    result = state.get_result()
    if result is not None and result.disclosure_banner:
        st.warning(
            f"**{result.disclosure_banner.upper()}.** This audit ran with disclosure control "
            "off (k = 0): small groups and zero cells are shown.",
            icon=":material/gpp_bad:",
        )


def sidebar() -> None:
    """What is being audited, on every page."""
    result = state.get_result()
    info = state.get_result_info()
    with st.sidebar:
        st.markdown("**cohortaudit** · subgroup performance audit")
        if result is None:
            st.caption("No audit yet. Start one on *Start a new audit*.")
            return
        m, c, s = result.model, result.cohort, result.settings_view
        st.markdown(f"**Model** {md(m.display_name)}")
        if c.n is not None:
            st.markdown(f"**Cohort** {md(c.file)} · {c.n:,} patients · {c.events:,} events")
        else:
            st.markdown(f"**Cohort** {md(c.file)}")
        st.markdown(
            f"**Threshold** {s.threshold:g} ({s.threshold_source})  \n"
            f"**Bootstrap** {s.n_boot} replicates · **k** = "
            f"{s.min_cell}"
            + (" (disclosure control off)" if not result.disclosure_controlled else "")
        )
        if info is not None and info.source == "sample":
            n_boot = s.n_boot
            order = result.config.get("max_intersection_order")
            st.caption(
                f"{info.description}. Opened with {n_boot} bootstrap replicates"
                + (" (the library default is 1000)" if n_boot < 1000 else "")
                + f" and intersections of up to {order} attributes (the CLI default is 3) "
                "so that it loads within 20 s; change both on *Start a new audit*."
            )
        elif info is not None:
            st.caption(info.description)


@st.cache_data(scope="session", show_spinner=False, max_entries=4)
def _card_facts_from_file(path: str) -> dict[str, Any]:
    from cohortaudit.audit import card_facts
    from cohortaudit.intake.card import load_card

    return card_facts(load_card(path))


def card_facts(result: AuditResult) -> dict[str, Any]:
    """The model card's facts: from the result (``model.card``), else from the card file.

    Results written before the card facts were stored carry ``{}``; only then is the card the
    audit used read again (it is the same file the sidebar names). ``{}`` without a card.
    """
    if result.model.card:
        return dict(result.model.card)
    info = state.get_result_info()
    if info is None or not info.card_path:
        return {}
    try:
        return _card_facts_from_file(info.card_path)
    except AuditError as e:
        st.error(f"{type(e).__name__}: {md(e)}")
        return {}


def relevant_range(facts: dict[str, Any]) -> tuple[float, float] | None:
    """The card's clinically relevant threshold range, if it states one."""
    crr = facts.get("clinically_relevant_range")
    if not crr or len(crr) != 2 or any(x is None for x in crr):
        return None
    return float(crr[0]), float(crr[1])


def curve_attribute(result: AuditResult) -> str | None:
    """The attribute selector shared by the Calibration and Clinical utility pages."""
    attrs = [p[0] for p in result.partitions() if len(p) == 1]
    if not attrs:
        return None
    state.init_widget(state.K_CURVE_ATTR, attrs[0], valid=attrs)
    return st.selectbox("Groups by", attrs, key=state.K_CURVE_ATTR)

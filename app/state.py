"""Session state of the dashboard: the only module that spells session-state key strings.

Views read and write state through the typed accessors below, so a renamed key cannot
silently split one value into two. Widget keys are constants here too: a widget created with
``key=state.K_THRESHOLD`` writes straight into session state.

Patient data never leaves the session: uploads go to a per-session temporary folder (with
sign-in, to the user's own workspace, ``app/workspace.py``), and the audit result lives in
``st.session_state``. Only the bundled *synthetic* sample may be shared
between sessions (``st.cache_resource`` in ``app/views/start.py``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from cohortaudit.results import AuditResult

# --------------------------------------------------------------------------------------------
# keys (the only place they are spelled)
# --------------------------------------------------------------------------------------------

_RESULT = "ca_result"
_RESULT_INFO = "ca_result_info"
_COMPARE = "ca_compare_result"
_COMPARE_NAME = "ca_compare_name"
_AUTORUN_DONE = "ca_autorun_done"
_WORKDIR = "ca_workdir"
_JSON_CACHE = "ca_json_cache"
_UPLOAD_IDS = "ca_upload_ids"
_SOURCE = "ca_audit_source"
_LOCAL = "ca_local_explanations"
_REPORT_CACHE = "ca_report_cache"
_FOLLOWED = "ca_followed_defaults"
_KEPT = "ca_kept_choices"
_WORKSPACE = "ca_workspace"
_SIGNED_IN_AS = "ca_signed_in_as"

# widget keys
K_SOURCE = "w_source"
K_MODEL_UPLOAD = "w_model_upload"
K_CARD_UPLOAD = "w_card_upload"
K_COHORT_UPLOAD = "w_cohort_upload"
K_LABEL = "w_label"
#: Start page: binary label or follow-up time and event; a model file or a score column.
K_OUTCOME_KIND = "w_outcome_kind"
K_PREDICTIONS = "w_predictions_from"
K_SCORE_COLUMN = "w_score_column"
K_TIME = "w_time_column"
K_EVENT = "w_event_column"
K_HORIZON = "w_horizon"
K_TIME_UNIT = "w_time_unit"
K_SENSITIVE = "w_sensitive"
K_BINS_PREFIX = "w_bins__"
K_REFERENCE_PREFIX = "w_reference__"
K_USE_CARD_THRESHOLD = "w_use_card_threshold"
#: The same checkbox drawn disabled and unticked when no card was given (its own key, so the
#: ticked state of the card's checkbox is neither kept nor warned about).
K_USE_CARD_THRESHOLD_NO_CARD = "w_use_card_threshold_no_card"
K_THRESHOLD_INPUT = "w_threshold_input"
K_N_BOOT = "w_n_boot"
K_MIN_CELL = "w_min_cell"
K_MAX_ORDER = "w_max_order"
K_TRUSTED = "w_trusted_types"
K_RUN = "w_run"
K_AUDITOR = "w_report_auditor"

K_PARTITION = "w_partition"
K_TABLE_METRICS = "w_table_metrics"
K_FOREST_METRIC = "w_forest_metric"
K_HEAT_ROW = "w_heat_row"
K_HEAT_COL = "w_heat_col"
K_HEAT_METRIC = "w_heat_metric"
K_THRESHOLD = "w_explore_threshold"
K_COMPARE_UPLOAD = "w_compare_upload"
K_OPEN_UPLOAD = "w_open_upload"
K_OPEN_RUN = "w_open_run"
K_COMPARE_METRIC = "w_compare_metric"
K_CURVE_ATTR = "w_curve_attribute"  # shared by the Calibration and Clinical utility pages
K_CAL_BANDS = "w_calibration_bands"
K_CAL_OVERALL = "w_calibration_overall"
K_UTIL_THRESHOLD = "w_utility_threshold"

# Explanations page
K_XAI_ATTR = "w_xai_attribute"
K_XAI_FEATURE = "w_xai_dependence_feature"
K_XAI_ROW = "w_xai_patient_row"
K_XAI_COMPUTE = "w_xai_compute"
K_XAI_LOCAL = "w_xai_local"
# Safety page
K_SAFETY_SHIFT_STAT = "w_safety_shift_statistic"
K_SAFETY_ROBUST_ATTR = "w_safety_robustness_attribute"
K_SAFETY_ROBUST_METRIC = "w_safety_robustness_metric"
K_SAFETY_SLICE_METRIC = "w_safety_slice_metric"
K_SAFETY_SLICE_ALL = "w_safety_slice_all"

#: Widget values that must survive switching pages (Streamlit drops the state of widgets that
#: are not drawn on the current page unless it is re-assigned on every run).
PERSISTENT_KEYS = (
    K_PARTITION,
    K_TABLE_METRICS,
    K_FOREST_METRIC,
    K_HEAT_ROW,
    K_HEAT_COL,
    K_HEAT_METRIC,
    K_THRESHOLD,
    K_COMPARE_METRIC,
    K_CURVE_ATTR,
    K_CAL_BANDS,
    K_CAL_OVERALL,
    K_UTIL_THRESHOLD,
    K_XAI_ATTR,
    K_XAI_FEATURE,
    K_XAI_ROW,
    K_SAFETY_SHIFT_STAT,
    K_SAFETY_ROBUST_ATTR,
    K_SAFETY_ROBUST_METRIC,
    K_SAFETY_SLICE_METRIC,
    K_SAFETY_SLICE_ALL,
)


def keep_widget_state() -> None:
    """Re-assign persistent widget values so that they survive a page switch."""
    for key in PERSISTENT_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


# --------------------------------------------------------------------------------------------
# typed accessors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultInfo:
    """Where the current result came from (for the sidebar and the report page)."""

    source: str  # "sample" | "upload" | "file" (an opened audit.json)
    description: str
    card_path: str | None = None
    seconds: float | None = None


def get_result() -> AuditResult | None:
    return st.session_state.get(_RESULT)


def get_result_info() -> ResultInfo | None:
    return st.session_state.get(_RESULT_INFO)


def set_result(result: AuditResult, info: ResultInfo) -> None:
    st.session_state[_RESULT] = result
    st.session_state[_RESULT_INFO] = info
    st.session_state.pop(_JSON_CACHE, None)
    st.session_state.pop(_LOCAL, None)  # one patient's waterfall belongs to its audit
    # a new audit has its own operating threshold, partitions, inputs and patients
    for key in (
        K_THRESHOLD,
        K_PARTITION,
        K_HEAT_ROW,
        K_HEAT_COL,
        K_CURVE_ATTR,
        K_UTIL_THRESHOLD,
        K_XAI_ATTR,
        K_XAI_FEATURE,
        K_XAI_ROW,
        K_SAFETY_ROBUST_ATTR,
    ):
        st.session_state.pop(key, None)


def clear_result() -> None:
    """No current audit (its files were deleted with the workspace)."""
    st.session_state.pop(_RESULT, None)
    st.session_state.pop(_RESULT_INFO, None)
    st.session_state.pop(_SOURCE, None)
    st.session_state.pop(_JSON_CACHE, None)
    st.session_state.pop(_REPORT_CACHE, None)
    st.session_state.pop(_LOCAL, None)


def replace_result(result: AuditResult) -> None:
    """The same audit with a block added (explanations): keep where it came from and every
    widget choice; only the renderings of the old result are dropped."""
    st.session_state[_RESULT] = result
    st.session_state.pop(_JSON_CACHE, None)
    st.session_state.pop(_REPORT_CACHE, None)


@dataclass(frozen=True)
class AuditSource:
    """The files and settings an audit was run with, so that its validated cohort and model can
    be loaded again for what needs them after the audit (SHAP explanations, one patient's
    waterfall). Paths only: the data stay in their files (uploads in this session's folder).
    """

    cohort_path: str
    model_path: str | None
    card_path: str | None
    config: Any  # cohortaudit.config.AuditConfig
    trusted_types: tuple[str, ...] = ()
    #: The bundled synthetic sample (its loaded inputs may be shared between sessions).
    sample: bool = False


def set_audit_source(result: AuditResult, source: AuditSource) -> None:
    st.session_state[_SOURCE] = (id(result), source)


def get_audit_source(result: AuditResult | None) -> AuditSource | None:
    """Where ``result`` came from, if this session ran it (None for other results)."""
    entry = st.session_state.get(_SOURCE)
    if result is None or entry is None or entry[0] != id(result):
        return None
    return entry[1]


def get_local_explanation(row: int) -> dict[str, Any] | None:
    """One patient's waterfall computed in this session for the current result (on screen only)."""
    cache = st.session_state.get(_LOCAL) or {}
    return cache.get((id(get_result()), row))


def set_local_explanation(row: int, value: dict[str, Any]) -> None:
    cache = st.session_state.setdefault(_LOCAL, {})
    if len(cache) >= 20:  # a handful of patients per session is plenty
        cache.pop(next(iter(cache)))
    cache[(id(get_result()), row)] = value


def get_compare() -> tuple[AuditResult, str] | None:
    r = st.session_state.get(_COMPARE)
    return None if r is None else (r, st.session_state.get(_COMPARE_NAME, "earlier audit"))


def set_compare(result: AuditResult | None, name: str = "") -> None:
    st.session_state[_COMPARE] = result
    st.session_state[_COMPARE_NAME] = name


def autorun_done() -> bool:
    return bool(st.session_state.get(_AUTORUN_DONE, False))


def mark_autorun_done() -> None:
    st.session_state[_AUTORUN_DONE] = True


def set_workspace(folder: Path, user_id: str) -> bool:
    """Use the signed-in user's workspace (``app/workspace.py``) for uploads and results.

    True when this is the session's first run as ``user_id`` (the router then purges expired
    files): a session that changes user drops every value of the previous one.
    """
    first = st.session_state.get(_SIGNED_IN_AS) != user_id
    if first and _SIGNED_IN_AS in st.session_state:
        for key in list(st.session_state.keys()):
            del st.session_state[key]
    st.session_state[_SIGNED_IN_AS] = user_id
    st.session_state[_WORKSPACE] = str(folder)
    return first


def workspace() -> Path | None:
    """The signed-in user's workspace folder, or None in the single-user local app."""
    path = st.session_state.get(_WORKSPACE)
    return None if path is None else Path(path)


def workdir() -> Path:
    """This session's private folder for uploaded files: the signed-in user's ``uploads/``;
    without sign-in a temporary folder (removed with the process)."""
    folder = workspace()
    if folder is not None:
        (folder / "uploads").mkdir(parents=True, exist_ok=True, mode=0o700)
        return folder / "uploads"
    path = st.session_state.get(_WORKDIR)
    if path is None or not Path(path).is_dir():
        path = tempfile.mkdtemp(prefix="cohortaudit-session-")
        st.session_state[_WORKDIR] = path
    return Path(path)


def upload_id(name: str) -> str | None:
    """The id of the upload last written to the session folder under ``name``."""
    return st.session_state.get(_UPLOAD_IDS, {}).get(name)


def set_upload_id(name: str, file_id: str) -> None:
    st.session_state.setdefault(_UPLOAD_IDS, {})[name] = file_id


def cached_json(result: AuditResult) -> str | None:
    """The JSON text rendered for ``result`` in this session, if any."""
    cached: tuple[int, str] | None = st.session_state.get(_JSON_CACHE)
    return cached[1] if cached is not None and cached[0] == id(result) else None


def set_cached_json(result: AuditResult, text: str) -> None:
    st.session_state[_JSON_CACHE] = (id(result), text)


def report_cache() -> dict[tuple[int, str, str], bytes]:
    """This session's rendered reports, by (id of the result, kind, auditor)."""
    return st.session_state.setdefault(_REPORT_CACHE, {})


def init_widget(key: str, value: Any, *, valid: Any = None) -> None:
    """Give a persistent widget its first value through session state (not ``default=``).

    Passing both a default and a session-state value makes Streamlit warn; setting the value
    here once, and again when it is no longer among ``valid`` options, avoids that.
    """
    current = st.session_state.get(key)
    if current is None or (valid is not None and not _is_valid(current, valid)):
        st.session_state[key] = value


def keep_choice(key: str, default: Any, *, valid: Any) -> None:
    """Like :func:`init_widget`, for a widget that a toggle may hide: Streamlit forgets the
    value of a widget that is not drawn, so the last valid choice is remembered here and given
    back when the widget returns (switching to time to event and back keeps the label)."""
    kept = st.session_state.setdefault(_KEPT, {})
    current = st.session_state.get(key)
    if current is None or not _is_valid(current, valid):
        previous = kept.get(key)
        st.session_state[key] = previous if previous is not None and previous in valid else default
    kept[key] = st.session_state[key]


def follow_default(key: str, default: Any) -> None:
    """Give a widget ``default`` through session state, again whenever ``default`` changes.

    For values that come from another input (the horizon a newly uploaded model card states):
    the user's own edit stands until that input changes, also while a toggle hides the widget.
    Set before the widget is drawn, which is then drawn without ``value=`` (both would make
    Streamlit warn).
    """
    followed = st.session_state.setdefault(_FOLLOWED, {})
    entry = followed.get(key)
    if entry is None or entry[0] != default:
        st.session_state[key] = default
    elif key not in st.session_state:  # hidden for a while: the user's value comes back
        st.session_state[key] = entry[1]
    followed[key] = (default, st.session_state[key])


def _is_valid(current: Any, valid: Any) -> bool:
    if isinstance(current, list):
        return all(c in valid for c in current)
    return current in valid


def get(key: str, default: Any = None) -> Any:
    """Read a widget value by its key constant."""
    return st.session_state.get(key, default)

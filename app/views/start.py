"""Start a new audit: the bundled sample or your own model, card and cohort."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

import choices
import defaults
import identity
import runner
import state
import uploads
from cohortaudit.config import AuditConfig
from cohortaudit.errors import AuditError
from cohortaudit.textsafe import for_markdown as md

SAMPLE = "Bundled synthetic sample"
UPLOAD = "My own files"
OPEN = "An audit result (audit.json)"
LARGEST = "(largest group)"
CHOOSE = "Choose a column"


@st.cache_resource(show_spinner=False)
def _sample_columns(path: str) -> dict[str, Any]:
    """Columns of the bundled synthetic sample (shared: not patient data)."""
    return uploads.describe_cohort(path)


@st.cache_data(scope="session", show_spinner=False, max_entries=4)
def _upload_columns(path: str, mtime: float) -> dict[str, Any]:
    """Columns of an uploaded cohort (a large one from its head), for this session only."""
    return uploads.describe_cohort(path)


@st.cache_data(scope="session", show_spinner=False, max_entries=4)
def _card_outcome_of(path: str, mtime: float) -> tuple[float | None, str | None]:
    from cohortaudit.intake.card import load_card

    try:
        return choices.card_outcome(load_card(path).outcome)
    except AuditError:  # the audit itself reports a bad card, with its reasons
        return None, None


def _card_outcome(path: Path | None) -> tuple[float | None, str | None]:
    """The horizon and time unit the model card states (None for what it does not say)."""
    if path is None:
        return None, None
    return _card_outcome_of(str(path), path.stat().st_mtime)


def _columns_or_error(path: Path, *, shared: bool) -> dict[str, Any] | None:
    try:
        if shared:
            return _sample_columns(str(path))
        return _upload_columns(str(path), path.stat().st_mtime)
    except AuditError as e:
        st.error(f"{type(e).__name__}: {md(e)}")
        return None


def _keep_in_workspace(result: Any) -> None:
    """With sign-in, the audit's JSON result goes to the user's workspace (aggregates only)."""
    folder = state.workspace()
    if folder is None:
        return
    import workspace
    from cohortaudit.render.json import result_to_json

    text = result_to_json(result)
    state.set_cached_json(result, text)  # the Report page's download is the same text
    stem = "-".join(x for x in (result.model.name, result.model.version) if x) or "audit"
    workspace.save_result(folder, stem, text)


st.title("Start a new audit")
st.markdown(
    "Audit a shared model on your held-out cohort: choose the outcome column, the sensitive "
    "attributes that define subgroups, and the operating threshold. "
    + (
        "Files stay in this session's private folder and are never shared between users."
        if state.workspace() is None
        else "Files stay in your private workspace (*My workspace*), never shared with others."
    )
)

source = st.radio("Data", [SAMPLE, UPLOAD, OPEN], horizontal=True, key=state.K_SOURCE)

if source == OPEN:
    # A finished audit, e.g. a pooled multi-site audit from `cohortaudit pool`, or one written
    # by `cohortaudit audit`: every page reads it as it reads a fresh audit.
    st.caption(
        "Open an audit.json written by `cohortaudit audit` or `cohortaudit pool` (a multi-site "
        "audit) to explore it here. It holds aggregates only; nothing is recomputed."
    )
    up_json = st.file_uploader("Audit result", type=["json"], key=state.K_OPEN_UPLOAD)
    if up_json is None:
        st.stop()
    from cohortaudit.resultio import read_json_bytes

    try:
        opened = read_json_bytes(up_json.getvalue(), name=up_json.name)
    except AuditError as e:
        st.error(f"{type(e).__name__}: {md(e)}")
        st.stop()
    if st.button("Open this audit", type="primary", key=state.K_OPEN_RUN):
        state.set_result(
            opened, state.ResultInfo(source="file", description=f"opened {up_json.name}")
        )
        st.switch_page("views/overview.py")
    sites = opened.sites_view.n_sites if opened.sites_view is not None else None
    st.info(
        f"{md(up_json.name)}: {md(opened.model.display_name)} on "
        f"{opened.cohort.n:,} patients"
        + (f", pooled from {sites} sites" if sites else "")
        + ". Open it to replace the current audit."
    )
    st.stop()

may_run = identity.can("run")
if source == UPLOAD and not may_run:
    # no patient data from someone who may not audit them
    st.info(f"{identity.why_not('run')}. You can open an audit.json or read the pages.")
    st.stop()

model_path = card_path = cohort_path = None
scores_mode = False
if source == SAMPLE:
    sample = _columns_or_error(defaults.SAMPLE_COHORT, shared=True)
    if sample is None:
        st.stop()
    n_sites = len(sample["categories"].get(defaults.SAMPLE_SITE_COLUMN, []))
    st.caption(
        "A synthetic 10-year cardiovascular risk model (ONNX) with its model card and a "
        f"synthetic cohort of {sample['n_rows']:,} patients from {n_sites} sites. No real "
        "patients."
    )
    model_path, cohort_path = defaults.SAMPLE_MODEL, defaults.SAMPLE_COHORT
    card_path = defaults.SAMPLE_CARD if defaults.SAMPLE_CARD.exists() else None
else:
    predictions = st.radio(
        "Predictions from",
        choices.PREDICTION_SOURCES,
        horizontal=True,
        key=state.K_PREDICTIONS,
        help="A model file is run on the cohort. If the model was run elsewhere (a hospital "
        "system, a vendor), audit its predicted risks from a column of the cohort instead.",
    )
    scores_mode = predictions == choices.FROM_COLUMN
    c1, c2, c3 = st.columns(3)
    up_model = None
    if scores_mode:
        c1.caption(
            "**No model file needed:** the predicted risks are read from a column of the "
            "cohort (choose it below). Explanations and robustness checks need the model, so "
            "this audit has none."
        )
    else:
        up_model = c1.file_uploader(
            "Model (ONNX or skops)",
            type=["onnx", "skops"],
            key=state.K_MODEL_UPLOAD,
            help="Pickle and joblib files are refused: they can run code.",
        )
    up_card = c2.file_uploader(
        "Model card (YAML, optional)", type=["yaml", "yml"], key=state.K_CARD_UPLOAD
    )
    up_cohort = c3.file_uploader(
        "Cohort (CSV or Parquet)",
        type=["csv", "tsv", "gz", "parquet", "pq"],
        key=state.K_COHORT_UPLOAD,
    )
    model_path = uploads.save_upload(up_model) if up_model is not None else None
    card_path = uploads.save_upload(up_card) if up_card is not None else None
    cohort_path = uploads.save_upload(up_cohort) if up_cohort is not None else None

if cohort_path is None:
    st.info("Upload a cohort file to choose the audit settings.")
    st.stop()

info = _columns_or_error(cohort_path, shared=source == SAMPLE)
if info is None:
    st.stop()
columns: list[str] = info["columns"]
if info.get("from_head"):
    st.caption(
        f"A large cohort: its columns and categories are read from its first "
        f"{info['from_head']:,} rows, and the audit reads it in chunks (streamed, as "
        "`cohortaudit audit` does), so it is never held in memory whole."
    )

st.subheader("Audit settings")
outcome_kind = st.radio(
    "Outcome",
    choices.OUTCOME_KINDS,
    horizontal=True,
    key=state.K_OUTCOME_KIND,
    help="A 0/1 label says whether the event happened. With follow-up that ends before the "
    "horizon for some patients (censoring), audit the follow-up time and event instead: a "
    "patient followed for two years is not event-free for ten.",
)
time_to_event = outcome_kind == choices.TIME_TO_EVENT
label = time_col = event_col = horizon = time_unit = None
tte_ready = True
if time_to_event:
    numeric: list[str] = info["numeric"]
    card_horizon, card_unit = _card_outcome(card_path)
    t1, t2, t3, t4 = st.columns(4)
    state.keep_choice(state.K_TIME, choices.guess(numeric, ("time", "follow")), valid=numeric)
    time_col = t1.selectbox(
        "Follow-up time column",
        numeric,
        index=None,
        placeholder=CHOOSE,
        key=state.K_TIME,
        help="Time from the start of follow-up to the event or to censoring, in the unit "
        "of the horizon.",
    )
    event_options = choices.numeric_choices(numeric, time_col)
    state.keep_choice(
        state.K_EVENT,
        choices.guess(event_options, ("event", "status", "dead", "died")),
        valid=event_options,
    )
    event_col = t2.selectbox(
        "Event column, 0/1 (1 = event)",
        event_options,
        index=None,
        placeholder=CHOOSE,
        key=state.K_EVENT,
    )
    state.follow_default(state.K_HORIZON, card_horizon)
    horizon = t3.number_input(
        "Horizon",
        min_value=0.0,
        step=1.0,
        key=state.K_HORIZON,
        placeholder="e.g. 10",
        help="The model predicts the risk of the event by this time"
        + (" (from the model card)." if card_horizon is not None else "."),
    )
    state.follow_default(state.K_TIME_UNIT, card_unit or choices.DEFAULT_TIME_UNIT)
    time_unit = t4.text_input("Time unit", key=state.K_TIME_UNIT)
    if not choices.supports_time_to_event():
        st.error(choices.NEEDS_NEWER_LIBRARY)
        tte_ready = False
    elif time_col is None or event_col is None:
        st.caption("Choose the follow-up time and event columns to run the audit.")
        tte_ready = False
    elif horizon is None or horizon <= 0:
        st.caption("Set the horizon (the time the predicted risk refers to) to run the audit.")
        tte_ready = False

c1, c2 = st.columns([1, 2])
if not time_to_event:
    label_default = defaults.SAMPLE_LABEL if defaults.SAMPLE_LABEL in columns else None
    state.keep_choice(
        state.K_LABEL, label_default or (columns[0] if columns else None), valid=columns
    )
    label = c1.selectbox("Outcome (label) column, 0/1", columns, key=state.K_LABEL)
score_column = None
if scores_mode:
    score_options = choices.numeric_choices(info["numeric"], label, time_col, event_col)
    state.keep_choice(
        state.K_SCORE_COLUMN,
        choices.guess(score_options, ("risk", "score", "prob", "pred")),
        valid=score_options,
    )
    score_column = c1.selectbox(
        "Score column (predicted risk, 0 to 1)",
        score_options,
        index=None,
        placeholder=CHOOSE,
        key=state.K_SCORE_COLUMN,
        help="Numeric columns only. The audit treats these values as the model's predicted "
        "risks.",
    )
    if not score_options:
        st.error("The cohort has no numeric column left to read the predicted risks from.")
    elif score_column is None:
        st.caption("Choose the column of predicted risks to run the audit.")
used = {label, time_col, event_col, score_column}
sens_default = [c for c in defaults.SAMPLE_SENSITIVE if c in columns and c not in used]
sensitive = c2.multiselect(
    "Sensitive attributes (each value and each intersection becomes a subgroup)",
    [c for c in columns if c not in used],
    default=sens_default,
    key=state.K_SENSITIVE,
)

bins_specs: list[str] = []
reference: dict[str, str] = {}
if sensitive:
    st.markdown("**Subgroup definitions**")
    cols = st.columns(min(len(sensitive), 3))
    for i, col in enumerate(sensitive):
        with cols[i % len(cols)]:
            if col in info["numeric"] and len(info["categories"].get(col, range(99))) > 12:
                edges = st.text_input(
                    f"Bin edges for {md(col)}",
                    value=defaults.SAMPLE_BINS.get(col, ""),
                    key=state.K_BINS_PREFIX + col,
                    help="Comma-separated, e.g. 40,50,60,70,80. Groups are [40, 50), …; "
                    "values outside form their own groups. The reference group is the "
                    "largest bin.",
                )
                if edges.strip():
                    bins_specs.append(f"{col}={edges}")
            else:
                options = [LARGEST, *info["categories"].get(col, [])]
                ref = st.selectbox(
                    f"Reference group for {col}", options, key=state.K_REFERENCE_PREFIX + col
                )
                if ref != LARGEST:
                    reference[col] = ref

c1, c2, c3, c4 = st.columns(4)
if card_path is not None:
    use_card = c1.checkbox(
        "Card's operating threshold",
        value=True,
        key=state.K_USE_CARD_THRESHOLD,
        help="Use the operating threshold the model card states (0.5 if the card has none). "
        "Untick to set your own.",
    )
else:  # nothing to take a threshold from: the box is shown, unticked and disabled
    use_card = c1.checkbox(
        "Card's operating threshold",
        value=False,
        disabled=True,
        key=state.K_USE_CARD_THRESHOLD_NO_CARD,
        help="No model card was uploaded, so there is no card threshold: set one below.",
    )
threshold = None
if not use_card:
    threshold = c1.number_input(
        "Operating threshold",
        min_value=0.01,
        max_value=0.99,
        value=0.1 if card_path is not None else 0.5,
        step=0.01,
        key=state.K_THRESHOLD_INPUT,
    )
n_boot = c2.number_input(
    "Bootstrap replicates",
    min_value=0,
    max_value=10000,
    value=defaults.sample_n_boot(),
    step=100,
    key=state.K_N_BOOT,
    help="For the intervals of AUPRC, Brier and all disparities. 1000 "
    "is the standard; fewer runs faster with rougher intervals.",
)
min_cell = c3.number_input(
    "Minimum cell size k",
    min_value=0,
    max_value=1000,
    value=10,
    key=state.K_MIN_CELL,
    help="Groups with fewer than k events or non-events are not "
    "evaluable and their numbers are suppressed. 0 turns disclosure control off (an "
    "authorised reproduction only): every output is then marked not for release.",
)
max_order = c4.selectbox(
    "Intersections of up to",
    [1, 2, 3],
    index=[1, 2, 3].index(defaults.sample_max_order())
    if defaults.sample_max_order() in (1, 2, 3)
    else 1,
    format_func=lambda k: f"{k} attribute" + ("s" if k > 1 else ""),
    key=state.K_MAX_ORDER,
)

trusted: list[str] = []
if model_path is not None and str(model_path).endswith(".skops"):
    raw = st.text_input(
        "skops types you trust (comma-separated)",
        key=state.K_TRUSTED,
        help="skops refuses types that are not trusted; list only types you have checked.",
    )
    trusted = [t.strip() for t in raw.split(",") if t.strip()]

if model_path is None and not scores_mode:
    st.caption("No model uploaded: upload one to run the audit.")
ready = (model_path is not None or score_column is not None) and tte_ready
if not may_run:
    st.caption(f"{identity.why_not('run')}.")
run = st.button(
    "Run audit",
    type="primary",
    disabled=not ready or not may_run,
    key=state.K_RUN,
    help=None if may_run else f"{identity.why_not('run')}.",
)

if run:
    try:
        config = AuditConfig(
            **choices.config_kwargs(
                outcome_kind=outcome_kind,
                label=label,
                sensitive=sensitive,
                bins_specs=bins_specs,
                reference=reference,
                threshold=threshold,
                n_boot=int(n_boot),
                min_cell=int(min_cell),
                max_order=int(max_order),
                score_column=score_column,
                time=time_col,
                event=event_col,
                horizon=horizon,
                time_unit=time_unit,
            )
        )
    except AuditError as e:
        st.error(f"{type(e).__name__}: {md(e)}")
        st.stop()
    if source == SAMPLE:
        result = runner.run_sample_audit(config)
    else:
        result = runner.run_audit_files(
            chunk_rows=defaults.upload_chunk_rows(),
            cohort_path=cohort_path,
            model_path=model_path,
            card_path=card_path,
            config=config,
            trusted_types=tuple(trusted),
        )
        if result is not None:
            predictions_from = (
                Path(str(model_path)).name
                if model_path is not None
                else f"scores from column '{score_column}'"
            )
            state.set_result(
                result,
                state.ResultInfo(
                    source="upload",
                    description=f"Uploaded files: {predictions_from}, "
                    f"{Path(str(cohort_path)).name}",
                    card_path=str(card_path) if card_path else None,
                ),
            )
    if result is not None:
        _keep_in_workspace(result)
        st.switch_page("views/overview.py")

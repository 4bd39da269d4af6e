"""Build the time-to-event sample: follow-up, censoring, a 10-year-risk model, known problems.

Run ``python sample_data/build_survival_sample.py`` from the project root (with cohortaudit
importable, e.g. ``PYTHONPATH=$PWD/src``). Everything is synthetic. The script writes
``sample_data/survival/`` and nothing else: the binary sample next to it is untouched.

Why a second sample: a 10-year risk model is validated on cohorts whose follow-up ends before
ten years for many patients. A binary audit of ``cvd_10y`` counts a patient lost after two years
as event-free for ten; this sample is built so that the size of that error is known, next to
the true 10-year risks (from the uncensored event times, which only the simulator knows).

* Covariates come from the binary sample's simulator (``build_sample.simulate_population``,
  its clean ``development`` kind, with new seeds), so patients look the same.
* True event times follow a Weibull proportional-hazards model whose log hazard ratios are the
  binary sample's risk coefficients.
* Follow-up ends at study close (staggered entry: 4-14 years of administrative follow-up) or
  at loss to follow-up, whose rate differs by site and deprivation.
* The model (gradient boosting, ONNX) is trained on a development population with complete
  10-year follow-up, so its output is an honest 10-year risk there.
* Planted in the audit cohort: (a) an extra hazard ratio for deprivation 5 the model never saw,
  (b) weaker discrimination for South Asian patients, (c) a lower baseline hazard at
  ES-Valencia, (d) heavy loss to follow-up at DE-Berlin and in deprived groups.

Determinism: every draw comes from ``numpy.random.default_rng`` with fixed seeds, floats are
rounded before writing, the ONNX opsets are sorted, so a re-run writes byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "survival"


def _load_binary_builder() -> ModuleType:
    """``build_sample.py`` as a module, without putting ``sample_data`` on ``sys.path``."""
    spec = importlib.util.spec_from_file_location("_cohortaudit_build_sample", HERE / "build_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bs = _load_binary_builder()

__all__ = [
    "ADMIN_FU_RANGE",
    "AUDIT_N",
    "AUDIT_SEED",
    "COLUMNS",
    "DEV_N",
    "DEV_SEED",
    "HORIZON",
    "LTFU",
    "PLANTED",
    "WEIBULL",
    "export_onnx",
    "fit_model",
    "km_risk",
    "main",
    "naive_vs_km",
    "simulate_survival",
]

# --------------------------------------------------------------------------------------------
# Design constants. Changing any of them changes every file; the README quotes them.
# --------------------------------------------------------------------------------------------

DEV_SEED = 20261207
AUDIT_SEED = 20261208
#: Seeds of the follow-up draws (event times, entry dates, loss to follow-up), per population.
TIME_SEED = {"development": 31, "audit": 32}
SPLIT_SEED = 7
DEV_N = 40_000
AUDIT_N = 25_000
DEV_EXTRACT_N = 5_000
DEV_HOLDOUT_FRACTION = 0.25

HORIZON = 10.0
OPERATING_THRESHOLD = 0.10
#: Follow-up times are recorded in years with 2 decimals (about 4 days); never below this.
TIME_DECIMALS = 2
MIN_TIME = 0.01

#: Weibull PH: H(t | x) = H0_10 * (t / 10) ** shape * exp(eta), eta = the binary sample's risk
#: equation without its intercept (log hazard ratios = its log odds ratios), so that
#: 1 - exp(-H0_10) is the 10-year risk of the reference patient (60, female, SBP 130, ...).
WEIBULL = {"shape": 1.25, "reference_risk_10y": 0.05}

#: Administrative follow-up: entry spread uniformly over ten years, study close fixed.
ADMIN_FU_RANGE = (4.0, 14.0)

#: Loss to follow-up: exponential, rate = base * site factor * exp(per_quintile * (dep - 1)).
#: Independent of the event time given site and deprivation.
LTFU: dict[str, Any] = {
    "base_per_year": 0.012,
    "site_factor": {"DE-Berlin": 4.0, "FR-Lyon": 1.0, "ES-Valencia": 1.0, "FI-Tampere": 0.5},
    "per_quintile_log": 0.30,
}

#: Planted problems (audit cohort only).
PLANTED: dict[str, Any] = {
    # (a) an extra hazard ratio for deprivation quintile 5 that the development data lacked
    "deprivation5_extra_hr": 1.8,
    # (b) South Asian: log hazard shrunk towards the group mean, plus unmeasured heterogeneity,
    #     and a shift that keeps the group's calibration (outside deprivation 5) close to 1
    "south_asian_attenuation": 0.5,
    "south_asian_noise_sd": 0.9,
    "south_asian_shift": -0.05,
    # (c) a site with a lower baseline hazard than the development population
    "low_baseline_site": "ES-Valencia",
    "low_baseline_hr": 0.6,
    # (d) heavy loss to follow-up: LTFU["site_factor"] and LTFU["per_quintile_log"]
    "heavy_loss_site": "DE-Berlin",
}

COVARIATES: tuple[str, ...] = tuple(c for c in bs.COLUMNS if c != "cvd_10y")
COLUMNS: tuple[str, ...] = COVARIATES + ("fu_years", "cvd_event", "cvd_10y")
#: Columns only the simulator knows (never written to the cohort files).
TRUTH_COLUMNS: tuple[str, ...] = ("true_time", "admin_time", "ltfu_time", "true_event_10y")

MODEL_METADATA: dict[str, Any] = {
    "name": "CardioRisk10-EU",
    "version": "1.0.0",
    "developer": "EuroHeart Prediction Consortium (fictional)",
    "contact": "model-governance@euroheart-consortium.example",
    "license": "CC-BY-4.0 (synthetic demonstration model, not for clinical use)",
}
ONNX_TOLERANCE = 1e-5

Z = 1.959964

# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


def _log_hazard(cov: pd.DataFrame, rng: np.random.Generator, *, audit: bool) -> np.ndarray:
    """Log hazard ratio against the reference patient, with the planted effects in the audit.

    The South Asian noise is drawn in both populations so the random stream has the same shape
    whatever the kind.
    """
    eta = bs.true_log_odds(cov) - bs.RISK_COEFFICIENTS["intercept"]
    noise = rng.normal(0.0, 1.0, len(cov))
    if not audit:
        return eta
    sa = cov["ethnicity"].to_numpy(object) == "South Asian"
    centre = float(eta[sa].mean()) if sa.any() else 0.0
    sa_eta = (
        centre
        + PLANTED["south_asian_attenuation"] * (eta - centre)
        + PLANTED["south_asian_noise_sd"] * noise
        + PLANTED["south_asian_shift"]
    )
    eta = np.where(sa, sa_eta, eta)
    eta = eta + np.log(PLANTED["deprivation5_extra_hr"]) * (cov["deprivation"].to_numpy() == 5)
    low = cov["site"].to_numpy(object) == PLANTED["low_baseline_site"]
    return eta + np.log(PLANTED["low_baseline_hr"]) * low


def _ltfu_rate(cov: pd.DataFrame) -> np.ndarray:
    site = cov["site"].to_numpy(object)
    factor = np.array([LTFU["site_factor"][s] for s in site], dtype=float)
    dep = cov["deprivation"].to_numpy(float)
    return LTFU["base_per_year"] * factor * np.exp(LTFU["per_quintile_log"] * (dep - 1.0))


def simulate_survival(n: int, seed: int, *, kind: str) -> pd.DataFrame:
    """Simulate ``n`` patients with true event times and their observed follow-up.

    Returns :data:`COLUMNS` followed by :data:`TRUTH_COLUMNS`. ``kind="development"`` has
    complete 10-year follow-up (``fu_years`` = min(true time, 10), no loss) and no planted
    problems; ``kind="audit"`` has administrative censoring, loss to follow-up and the planted
    problems. Depends only on ``(n, seed, kind)``.
    """
    if kind not in TIME_SEED:
        raise ValueError(f"The 'kind' parameter must be 'development' or 'audit'. Got {kind!r}.")
    audit = kind == "audit"
    cov = bs.simulate_population(n, seed, kind="development").loc[:, list(COVARIATES)]
    rng = np.random.default_rng([seed, TIME_SEED[kind]])
    eta = _log_hazard(cov, rng, audit=audit)
    h0 = -np.log1p(-WEIBULL["reference_risk_10y"])
    e = rng.standard_exponential(n)
    true_time = HORIZON * (e / (h0 * np.exp(eta))) ** (1.0 / WEIBULL["shape"])
    admin_u = rng.random(n)
    ltfu_e = rng.standard_exponential(n)
    if audit:
        lo, hi = ADMIN_FU_RANGE
        admin_time = lo + (hi - lo) * admin_u
        ltfu_time = ltfu_e / _ltfu_rate(cov)
    else:
        admin_time = np.full(n, HORIZON)
        ltfu_time = np.full(n, np.inf)
    end = np.minimum(admin_time, ltfu_time)
    event = true_time <= end
    fu = np.maximum(np.round(np.where(event, true_time, end), TIME_DECIMALS), MIN_TIME)
    out = cov.copy()
    out["fu_years"] = fu
    out["cvd_event"] = event.astype(np.int64)
    # The naive binary label: an event observed by 10 years; censored before 10 counts as 0.
    out["cvd_10y"] = (event & (fu <= HORIZON)).astype(np.int64)
    out["true_time"] = true_time
    out["admin_time"] = admin_time
    out["ltfu_time"] = ltfu_time
    out["true_event_10y"] = (true_time <= HORIZON).astype(np.int64)
    return out


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


def fit_model(dev: pd.DataFrame) -> tuple[Pipeline, pd.DataFrame, pd.DataFrame]:
    """Fit the owner's model on the development population; return it, train and hold-out.

    With complete 10-year follow-up in development, ``cvd_10y`` *is* the 10-year outcome, so a
    classifier's probability is an honest 10-year risk. Same pipeline as the binary sample.
    """
    train, hold = train_test_split(
        dev, test_size=DEV_HOLDOUT_FRACTION, random_state=SPLIT_SEED, stratify=dev["cvd_10y"]
    )
    pipe = bs.build_named_pipeline("hgb")
    pipe.fit(train.loc[:, list(bs.NAMED_INPUTS)], train["cvd_10y"].to_numpy())
    return pipe, train, hold.sort_index()


def export_onnx(pipe: Pipeline) -> bytes:
    """Named per-column ONNX inputs, zipmap off, opsets sorted (PYTHONHASHSEED-independent)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    initial_types = (
        [(c, FloatTensorType([None, 1])) for c in bs.NUMERIC_INPUTS]
        + [(c, StringTensorType([None, 1])) for c in bs.CATEGORICAL_INPUTS]
        + [(c, Int64TensorType([None, 1])) for c in bs.INT_INPUTS]
    )
    onx = convert_sklearn(
        pipe,
        name=MODEL_METADATA["name"],
        initial_types=initial_types,
        options={id(pipe): {"zipmap": False}},
        target_opset=dict(bs.TARGET_OPSET),
    )
    opsets = sorted(((o.domain, o.version) for o in onx.opset_import), key=lambda t: t[0])
    del onx.opset_import[:]
    for domain, version in opsets:
        entry = onx.opset_import.add()
        entry.domain, entry.version = domain, version
    onx.doc_string = (
        f"{MODEL_METADATA['name']} {MODEL_METADATA['version']} (synthetic demo): predicted risk "
        "of a first cardiovascular event within 10 years. Output 'probabilities'[:, 1] = "
        "10-year risk."
    )
    onx.domain = "example.euroheart.cardiorisk10"
    onx.model_version = 1_000_000
    props = {
        "model_name": MODEL_METADATA["name"],
        "model_version": MODEL_METADATA["version"],
        "developer": MODEL_METADATA["developer"],
        "outcome": "time to first cardiovascular event (MI, stroke, CHD death); risk by 10 years",
        "output_kind": "risk_by_horizon",
        "horizon": "10",
        "time_unit": "years",
        "positive_class": "1",
        "operating_threshold": f"{OPERATING_THRESHOLD:.2f}",
        "input_contract": "named per-column inputs",
        "units": "age years; sbp mmHg; total_chol mmol/L; hdl mmol/L; bmi kg/m2; diabetes 0/1",
        "synthetic": "true: trained on simulated data by sample_data/build_survival_sample.py",
    }
    del onx.metadata_props[:]
    for key, value in props.items():
        entry = onx.metadata_props.add()
        entry.key, entry.value = key, value
    return onx.SerializeToString()


def _ort_predict(onnx_bytes: bytes, df: pd.DataFrame) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    out = sess.run(["probabilities"], bs.onnx_feeds(df, sess))[0]
    return np.asarray(out, dtype=np.float64)[:, 1]


# --------------------------------------------------------------------------------------------
# Statistics (plain numpy, independent of cohortaudit)
# --------------------------------------------------------------------------------------------


def km_risk(time: np.ndarray, event: np.ndarray, horizon: float = HORIZON) -> float:
    """Kaplan-Meier 1 - S(horizon) (events before censorings at tied times; a patient censored
    exactly at the horizon is event-free at the horizon)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    uniq, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event)
    c = np.bincount(inv).astype(float)
    at_risk = len(time) - np.concatenate([[0.0], np.cumsum(c)[:-1]])
    keep = (uniq <= horizon) & (d > 0)
    return float(1.0 - np.prod(1.0 - d[keep] / at_risk[keep]))


def _median_followup(time: np.ndarray, event: np.ndarray) -> float:
    """Median potential follow-up by reverse Kaplan-Meier (censorings are the 'events')."""
    time = np.asarray(time, dtype=float)
    cens = 1.0 - np.asarray(event, dtype=float)
    uniq, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=cens)
    c = np.bincount(inv).astype(float)
    at_risk = len(time) - np.concatenate([[0.0], np.cumsum(c)[:-1]])
    s = np.cumprod(1.0 - d / at_risk)
    below = np.nonzero(s <= 0.5)[0]
    return float(uniq[below[0]]) if len(below) else float("nan")


def _auroc(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    out = bs._auroc(np.asarray(y), np.asarray(p))
    return float(out[0]), float(out[1]), float(out[2])


class GroupRow(NamedTuple):
    """One line of the naive-vs-KM-vs-truth table (risks at 10 years)."""

    variable: str
    group: str
    n: int
    expected: float
    naive: float
    km: float
    true: float

    @property
    def oe_naive(self) -> float:
        return self.naive / self.expected

    @property
    def oe_km(self) -> float:
        return self.km / self.expected

    @property
    def oe_true(self) -> float:
        return self.true / self.expected


def _groups(df: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    out = [("overall", "all", np.ones(len(df), dtype=bool))]
    for s in bs.SITES:
        out.append(("site", s, df["site"].to_numpy(object) == s))
    for q in range(1, 6):
        out.append(("deprivation", str(q), df["deprivation"].to_numpy() == q))
    return out


def naive_vs_km(df: pd.DataFrame, p: np.ndarray) -> list[GroupRow]:
    """Mean predicted vs naive mean(cvd_10y) vs KM 1 - S(10) vs true risk, per group."""
    rows = []
    for var, name, m in _groups(df):
        rows.append(
            GroupRow(
                var,
                name,
                int(m.sum()),
                float(p[m].mean()),
                float(df["cvd_10y"].to_numpy()[m].mean()),
                km_risk(df["fu_years"].to_numpy()[m], df["cvd_event"].to_numpy()[m]),
                float(df["true_event_10y"].to_numpy()[m].mean()),
            )
        )
    return rows


class CensorRow(NamedTuple):
    """Follow-up of one group: how many are censored before the horizon, and why."""

    variable: str
    group: str
    n: int
    ltfu_rate: float
    admin_before: float
    lost_before: float
    event_before: float
    at_risk_10: float
    median_fu: float


def censoring_table(df: pd.DataFrame) -> list[CensorRow]:
    fu = df["fu_years"].to_numpy()
    ev = df["cvd_event"].to_numpy() == 1
    cens_before = ~ev & (fu < HORIZON)
    lost = df["ltfu_time"].to_numpy() < df["admin_time"].to_numpy()
    rate = _ltfu_rate(df)
    rows = []
    for var, name, m in _groups(df):
        rows.append(
            CensorRow(
                var,
                name,
                int(m.sum()),
                float(rate[m].mean()),
                float((cens_before & ~lost)[m].mean()),
                float((cens_before & lost)[m].mean()),
                float((ev & (fu <= HORIZON))[m].mean()),
                float((fu >= HORIZON)[m].mean()),
                _median_followup(fu[m], ev[m]),
            )
        )
    return rows


class Finding(NamedTuple):
    """A planted problem measured on the true 10-year outcome (no censoring)."""

    problem: str
    measure: str
    audit: str
    reference: str


def _oe_text(y: np.ndarray, p: np.ndarray) -> str:
    o, e = float(y.sum()), float(p.sum())
    r, w = o / e, Z / np.sqrt(o)
    return f"{r:.2f} ({r * np.exp(-w):.2f}-{r * np.exp(w):.2f})"


def _auc_text(y: np.ndarray, p: np.ndarray) -> str:
    a, lo, hi = _auroc(y, p)
    return f"{a:.3f} ({lo:.3f}-{hi:.3f})"


def measure_planted(
    audit: pd.DataFrame, p_audit: np.ndarray, hold: pd.DataFrame, p_hold: np.ndarray
) -> list[Finding]:
    """Each planted problem on the *true* 10-year outcome, next to the development hold-out."""
    ya, yd = audit["true_event_10y"].to_numpy(), hold["true_event_10y"].to_numpy()

    def both(text, col: str, value: Any, negate: bool = False) -> tuple[str, str]:
        ma = audit[col].to_numpy(object) == value
        md = hold[col].to_numpy(object) == value
        if negate:
            ma, md = ~ma, ~md
        return text(ya[ma], p_audit[ma]), text(yd[md], p_hold[md])

    rows: list[Finding] = []
    a, r = both(_oe_text, "deprivation", 5)
    rows.append(Finding("(a) deprivation 5 under-predicted", "true O/E, deprivation 5", a, r))
    a, r = both(_oe_text, "deprivation", 5, negate=True)
    rows.append(Finding("", "true O/E, deprivation 1-4", a, r))
    a, r = both(_auc_text, "ethnicity", "South Asian")
    rows.append(Finding("(b) South Asian: weaker discrimination", "true AUC(10), South Asian", a, r))
    a, r = both(_auc_text, "ethnicity", "White European")
    rows.append(Finding("", "true AUC(10), White European", a, r))
    a, r = both(_oe_text, "ethnicity", "South Asian")
    rows.append(Finding("", "true O/E, South Asian", a, r))
    site = PLANTED["low_baseline_site"]
    a, r = both(_oe_text, "site", site)
    rows.append(Finding(f"(c) {site} over-predicted", f"true O/E, {site}", a, r))
    a, r = both(_oe_text, "site", site, negate=True)
    rows.append(Finding("", "true O/E, other sites", a, r))
    heavy = PLANTED["heavy_loss_site"]
    a, r = both(_oe_text, "site", heavy)
    rows.append(Finding(f"(d) {heavy}: heavy loss (no model problem)", f"true O/E, {heavy}", a, r))
    untouched = [s for s in bs.SITES if s not in (heavy, site)]
    ma = np.isin(audit["site"].to_numpy(object), untouched)
    md = np.isin(hold["site"].to_numpy(object), untouched)
    rows.append(
        Finding(
            "",
            f"true O/E, {' + '.join(untouched)}",
            _oe_text(ya[ma], p_audit[ma]),
            _oe_text(yd[md], p_hold[md]),
        )
    )
    rows.append(Finding("Overall", "true AUC(10)", _auc_text(ya, p_audit), _auc_text(yd, p_hold)))
    rows.append(Finding("", "true O/E", _oe_text(ya, p_audit), _oe_text(yd, p_hold)))
    rows.append(
        Finding(
            "",
            "n / true events by 10 y",
            f"{len(ya)} / {int(ya.sum())}",
            f"{len(yd)} / {int(yd.sum())}",
        )
    )
    return rows


# --------------------------------------------------------------------------------------------
# Card
# --------------------------------------------------------------------------------------------


def _card_metadata(claimed: dict[str, Any], evaluated_on: dict[str, Any]) -> dict[str, Any]:
    meta = bs.build_card_metadata(
        claimed,
        algorithm="HistGradientBoostingClassifier",
        params={
            "preprocessing": "median imputation (numeric); one-hot (sex, smoking); diabetes passed through",
            **bs.HGB_PARAMS,
        },
        tensor=False,
        evaluated_on=evaluated_on,
    )
    meta.update(MODEL_METADATA)
    meta["development_data"] = {
        "description": (
            f"Synthetic development population (n={DEV_N:,}, seed {DEV_SEED}) with complete "
            f"10-year follow-up; the model was trained on "
            f"{int(DEV_N * (1 - DEV_HOLDOUT_FRACTION)):,} patients on the binary outcome "
            f"'event by 10 years'. Reference summaries from {DEV_EXTRACT_N:,} patients of the "
            f"hold-out; claimed metrics from the whole hold-out (n={evaluated_on['n']:,}, "
            f"events by 10 years={evaluated_on['events']:,})."
        )
    }
    meta["training"]["data"] = (
        f"synthetic development population, n={DEV_N}, seed {DEV_SEED}, complete 10-year follow-up"
    )
    return meta


def _survival_fields() -> tuple[dict[str, Any], dict[str, Any]]:
    """The card's time-to-event ``outcome`` and ``output`` (issue 16's card fields)."""
    outcome = {
        "kind": "time_to_event",
        "definition": "time to first cardiovascular event (MI, stroke, CHD death)",
        "horizon": 10,
        "time_unit": "years",
    }
    output = {
        "kind": "risk_by_horizon",
        "positive_class": 1,
        "meaning": "predicted risk of a first cardiovascular event within 10 years",
    }
    return outcome, output


def _claimed(hold: pd.DataFrame, p: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """Owner-reported metrics on the hold-out, where follow-up is complete to 10 years.

    With no censoring before the horizon, AUC(10) is the AUROC of the 10-year outcome and the
    IPCW Brier score is the plain Brier score; only keys whose meaning carries over are claimed.
    """
    y = hold["cvd_10y"].to_numpy()
    brier = float(np.mean((p - y) ** 2))

    def block(t: tuple[float, float, float]) -> dict[str, float]:
        return {"value": round(t[0], 3), "ci_low": round(t[1], 3), "ci_high": round(t[2], 3)}

    o, e = float(y.sum()), float(p.sum())
    r, w = o / e, Z / np.sqrt(o)
    claimed = {
        "auc_t": block(_auroc(y, p)),
        "oe_ratio": block((r, r * float(np.exp(-w)), r * float(np.exp(w)))),
        "observed_risk": round(float(y.mean()), 4),
        "expected_risk": round(float(p.mean()), 4),
        "brier": round(brier, 4),
        "scaled_brier": round(1.0 - brier / float(y.mean() * (1 - y.mean())), 4),
    }
    evaluated_on = {
        "dataset": "development hold-out (synthetic), complete 10-year follow-up",
        "n": len(y),
        "events": int(y.sum()),
        "horizon": HORIZON,
        "ci_methods": {"auc_t": "DeLong (AUROC; no censoring)", "oe_ratio": "O/E*exp(+-1.96/sqrt(O))"},
    }
    return claimed, evaluated_on


def _card_yaml(card: dict[str, Any]) -> str:
    """YAML in the card writer's style: block structure, flow lists of scalars, width 100."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _list(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
        flow = all(not isinstance(v, dict | list) for v in data)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    _Dumper.add_representer(list, _list)
    return yaml.dump(
        card, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )


def write_card(out: Path, dev_extract: pd.DataFrame, meta: dict[str, Any]) -> str:
    """Write ``model.card.yaml`` with ``cohortaudit.card.init_card``; returns how it was written.

    ``init_card`` builds inputs, reference summaries, the SHA-256 and the architecture; the
    time-to-event ``outcome`` / ``output`` fields are added afterwards. When this cohortaudit's
    card schema already knows them, ``write_card`` validates and writes the card; otherwise
    (schema 1.0 rejects unknown keys) the same dict is written directly, with a header saying so.
    """
    from cohortaudit.card import init_card
    from cohortaudit.card import write_card as ca_write_card
    from cohortaudit.errors import AuditError
    from cohortaudit.io import load_model
    from cohortaudit.testvectors import make_test_vectors

    model = load_model(out / "model.onnx")
    card = init_card(
        model,
        dev_extract,
        label="cvd_10y",
        metadata=meta,
        operating_threshold=OPERATING_THRESHOLD,
    )
    card["test_vectors"] = make_test_vectors(card, model, dev=dev_extract)
    outcome, output = _survival_fields()
    card["outcome"] = outcome
    card["output"] = {**output, "positive_class": card["output"]["positive_class"]}
    target = out / "model.card.yaml"
    try:
        ca_write_card(card, target)
        return "cohortaudit.card.write_card (schema knows the time-to-event fields)"
    except AuditError as exc:
        header = (
            f"# cohortaudit model card (schema_version {card['schema_version']}), time-to-event.\n"
            "# Share this file together with the model file; model.sha256 ties the card to that exact file.\n"
            "# Built by cohortaudit.card.init_card, then written directly by build_survival_sample.py:\n"
            "# this cohortaudit's card schema does not yet accept outcome.kind / horizon (number) /\n"
            "# time_unit and output.kind (issue 16). Reference summaries are aggregate and\n"
            "# disclosure-safe (cells below 10 are null).\n"
        )
        target.write_text(header + _card_yaml(card), encoding="utf-8")
        return f"written directly: the current card schema rejects the new fields ({type(exc).__name__})"


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def _text_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    cells = [head, *rows]
    w = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = [" | ".join(c[i].ljust(w[i]) for i in range(len(head))).rstrip() for c in cells]
    lines.insert(1, "-+-".join("-" * x for x in w))
    return "\n".join(lines)


def _md_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


NAIVE_HEAD = (
    "group",
    "n",
    "mean predicted (E)",
    "naive mean(cvd_10y)",
    "KM 1 - S(10)",
    "true 10-y risk",
    "O/E naive",
    "O/E KM",
    "O/E true",
)
CENSOR_HEAD = (
    "group",
    "n",
    "loss rate /y",
    "censored < 10 y: study close",
    "censored < 10 y: lost",
    "event by 10 y observed",
    "followed to 10 y",
    "median follow-up (reverse KM)",
)
FINDING_HEAD = ("Planted problem", "Measure (true outcome)", "Audit cohort", "Dev hold-out (reference)")


def _label(var: str, group: str) -> str:
    return "overall" if var == "overall" else f"{var}={group}"


def _naive_rows(rows: list[GroupRow]) -> list[tuple[str, ...]]:
    return [
        (
            _label(r.variable, r.group),
            f"{r.n}",
            f"{r.expected:.4f}",
            f"{r.naive:.4f}",
            f"{r.km:.4f}",
            f"{r.true:.4f}",
            f"{r.oe_naive:.3f}",
            f"{r.oe_km:.3f}",
            f"{r.oe_true:.3f}",
        )
        for r in rows
    ]


def _censor_rows(rows: list[CensorRow]) -> list[tuple[str, ...]]:
    return [
        (
            _label(r.variable, r.group),
            f"{r.n}",
            f"{r.ltfu_rate:.3f}",
            f"{r.admin_before:.1%}",
            f"{r.lost_before:.1%}",
            f"{r.event_before:.1%}",
            f"{r.at_risk_10:.1%}",
            f"{r.median_fu:.2f}",
        )
        for r in rows
    ]


def km_risk_stratified(df: pd.DataFrame, mask: np.ndarray, by: str = "deprivation") -> float:
    """KM 1 - S(10) within each level of ``by``, averaged with the levels' sizes."""
    total, n = 0.0, int(mask.sum())
    for level in np.unique(df[by].to_numpy()[mask]):
        m = mask & (df[by].to_numpy() == level)
        total += m.sum() / n * km_risk(df["fu_years"].to_numpy()[m], df["cvd_event"].to_numpy()[m])
    return float(total)


def _km_facts(audit: pd.DataFrame, p: np.ndarray, naive: list[GroupRow]) -> dict[str, Any]:
    heavy, low = PLANTED["heavy_loss_site"], PLANTED["low_baseline_site"]
    untouched = [s for s in bs.SITES if s not in (heavy, low)]
    by = {r.group: r for r in naive if r.variable == "site"}
    worst = max(naive, key=lambda r: abs(r.km - r.true))
    return {
        "untouched_oe": " / ".join(f"{by[s].oe_true:.2f}" for s in untouched),
        "untouched_naive": " / ".join(f"{by[s].oe_naive:.2f}" for s in untouched),
        "km_gap": (
            f"{_label(worst.variable, worst.group)}, KM {worst.km:.4f} vs true {worst.true:.4f}"
        ),
        "berlin_strat": km_risk_stratified(audit, audit["site"].to_numpy(object) == heavy),
    }


REPLICATE_N = 1_000_000
REPLICATE_SEED = 20261209
REPLICATE_HEAD = (
    "group",
    "naive mean(cvd_10y)",
    "KM 1 - S(10), pooled",
    "KM within deprivation, averaged",
    "true 10-y risk",
)


def _replicate_rows() -> list[tuple[str, ...]]:
    """Naive, pooled KM, deprivation-stratified KM and true risk in a large replicate."""
    big = simulate_survival(REPLICATE_N, REPLICATE_SEED, kind="audit")
    rows = []
    for var, name, m in _groups(big):
        if var == "deprivation":
            continue
        rows.append(
            (
                _label(var, name),
                f"{big['cvd_10y'].to_numpy()[m].mean():.4f}",
                f"{km_risk(big['fu_years'].to_numpy()[m], big['cvd_event'].to_numpy()[m]):.4f}",
                f"{km_risk_stratified(big, m):.4f}",
                f"{big['true_event_10y'].to_numpy()[m].mean():.4f}",
            )
        )
    return rows


def _replicate_bias(rows: list[tuple[str, ...]]) -> tuple[float, float, float]:
    """Pooled KM, stratified KM and naive minus the true risk at the heavy-loss site."""
    row = next(r for r in rows if r[0] == _label("site", PLANTED["heavy_loss_site"]))
    naive, pooled, strat, true = (float(x) for x in row[1:])
    return pooled - true, strat - true, naive - true


def _check_story(naive: list[GroupRow]) -> None:
    """The README's sentences about the table must stay true if a constant is changed."""
    by = {(r.variable, r.group): r for r in naive}
    ov = by[("overall", "all")]
    sites = [r for r in naive if r.variable == "site"]
    quintiles = [r for r in naive if r.variable == "deprivation"]
    d5 = by[("deprivation", "5")]
    low = by[("site", PLANTED["low_baseline_site"])]
    checks = {
        "naive O/E overall well below the truth": ov.oe_naive < ov.oe_true - 0.2,
        "KM overall within 0.05 of the truth": abs(ov.oe_km - ov.oe_true) < 0.05,
        "naive label most wrong at the heavy-loss site": min(
            sites, key=lambda r: r.naive / r.true
        ).group
        == PLANTED["heavy_loss_site"],
        "deprivation 5 truly under-predicted": d5.oe_true > 1.3,
        "deprivation 5 naive O/E closest to 1": min(quintiles, key=lambda r: abs(r.oe_naive - 1))
        is d5,
        "low-baseline site truly over-predicted, naive worse": low.oe_naive < low.oe_true < 0.85,
        "KM within 0.01 of the truth everywhere": all(abs(r.km - r.true) < 0.01 for r in naive),
    }
    failed = [k for k, ok in checks.items() if not ok]
    if failed:
        raise AssertionError(f"the README's description no longer fits the data: {failed}")


def main(argv: list[str] | None = None) -> int:
    """Rebuild every file in ``sample_data/survival/`` and print the verification tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="default: sample_data/survival")
    args = parser.parse_args(argv)
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    dev = simulate_survival(DEV_N, DEV_SEED, kind="development")
    audit = simulate_survival(AUDIT_N, AUDIT_SEED, kind="audit")
    pipe, _, hold = fit_model(dev)
    onnx_bytes = export_onnx(pipe)
    p_audit = _ort_predict(onnx_bytes, audit)
    p_hold = _ort_predict(onnx_bytes, hold)
    diff = max(
        float(np.max(np.abs(p_audit - pipe.predict_proba(audit.loc[:, list(bs.NAMED_INPUTS)])[:, 1]))),
        float(np.max(np.abs(p_hold - pipe.predict_proba(hold.loc[:, list(bs.NAMED_INPUTS)])[:, 1]))),
    )
    if not diff <= ONNX_TOLERANCE:
        raise AssertionError(f"ONNX Runtime and sklearn disagree by {diff:.2e} > {ONNX_TOLERANCE}")

    cohort = audit.loc[:, list(COLUMNS)]
    (out / "model.onnx").write_bytes(onnx_bytes)
    (out / "cohort.csv").write_bytes(_csv_bytes(cohort))
    (out / "cohort.parquet").write_bytes(_parquet_bytes(cohort))

    claimed, evaluated_on = _claimed(hold, p_hold)
    meta = _card_metadata(claimed, evaluated_on)
    extract = hold.sample(n=DEV_EXTRACT_N, random_state=SPLIT_SEED).sort_index()
    extract = extract.loc[:, list(COVARIATES) + ["cvd_10y"]].reset_index(drop=True)
    card_how = write_card(out, extract, meta)

    naive = naive_vs_km(audit, p_audit)
    censor = censoring_table(audit)
    findings = measure_planted(audit, p_audit, hold, p_hold)
    _check_story(naive)
    facts = {
        "onnx_size": len(onnx_bytes),
        "onnx_diff": diff,
        "card_how": card_how,
        "claimed": claimed,
        "events": int(cohort["cvd_event"].sum()),
        "naive_events": int(cohort["cvd_10y"].sum()),
        "true_events": int(audit["true_event_10y"].sum()),
        "fu_range": (float(cohort["fu_years"].min()), float(cohort["fu_years"].max())),
        "dev_risk": float(dev["cvd_10y"].mean()),
        **_km_facts(audit, p_audit, naive),
        "replicate": (replicate := _replicate_rows()),
        "replicate_bias": _replicate_bias(replicate),
        "sha256": {
            name: _sha256(out / name)
            for name in ("cohort.csv", "cohort.parquet", "model.onnx", "model.card.yaml")
        },
        "counts": {
            c: cohort[c].value_counts().sort_index().to_dict()
            for c in ("site", "ethnicity", "sex", "deprivation")
        },
    }
    (out / "README.md").write_text(_readme(naive, censor, findings, facts), encoding="utf-8")

    print(f"model.onnx: HistGradientBoostingClassifier, {len(onnx_bytes):,} bytes, max |ORT - sklearn| {diff:.1e}")
    print(f"model.card.yaml: {card_how}")
    print()
    print("Planted problems, on the true (uncensored) 10-year outcome:")
    print(_text_table(FINDING_HEAD, [tuple(f) for f in findings]))
    print()
    print("Follow-up (audit cohort):")
    print(_text_table(CENSOR_HEAD, _censor_rows(censor)))
    print()
    print("What a binary audit of cvd_10y gets wrong (risks at 10 years):")
    print(_text_table(NAIVE_HEAD, _naive_rows(naive)))
    print()
    print(f"Expected values ({REPLICATE_N:,}-patient replicate):")
    print(_text_table(REPLICATE_HEAD, facts["replicate"]))
    print()
    for name, digest in facts["sha256"].items():
        print(f"{digest}  {name}")
    print(f"built in {time.perf_counter() - start:.1f} s")
    return 0


def _readme(
    naive: list[GroupRow], censor: list[CensorRow], findings: list[Finding], facts: dict[str, Any]
) -> str:
    """README generated from the same run, so its numbers cannot drift from the data."""
    coef_rows = "\n".join(
        f"| `{k}` | {v:+.3f} | {np.exp(v):.2f} |"
        for k, v in bs.RISK_COEFFICIENTS.items()
        if k != "intercept"
    )
    sha = "\n".join(f"| `{k}` | `{v}` |" for k, v in facts["sha256"].items())
    counts = facts["counts"]

    def count_line(col: str) -> str:
        return ", ".join(f"{k}: {v:,}" for k, v in counts[col].items())

    site_rates = ", ".join(f"{s} × {f:g}" for s, f in LTFU["site_factor"].items())
    by = {(r.variable, r.group): r for r in naive}
    ov, heavy = by[("overall", "all")], by[("site", PLANTED["heavy_loss_site"])]
    d5, low = by[("deprivation", "5")], by[("site", PLANTED["low_baseline_site"])]
    cl = facts["claimed"]
    lo, hi = ADMIN_FU_RANGE
    return f"""# sample_data/survival: a 10-year risk model audited on a censored cohort

**Everything here is synthetic. No real patient contributed any value.** The files are built by
one seeded script, [`../build_survival_sample.py`](../build_survival_sample.py); this README is
written by the same run, so every number below comes from the data next to it. The binary
sample in [`sample_data/`](../README.md) is not touched by it.

The setting: the (fictional) EuroHeart Prediction Consortium shares **{MODEL_METADATA["name"]}
{MODEL_METADATA["version"]}**, which predicts the **risk of a first cardiovascular event within
10 years**. A third party validates it on a cohort from four primary-care sites in which, as in
every real cohort, follow-up ends before 10 years for many patients: recruitment was staggered,
so administrative follow-up is {lo:g}-{hi:g} years, and patients are lost to follow-up, more so at one
site and in deprived groups. Problems were planted on purpose, with sizes known from the true
event times (which the simulator knows and the cohort file does not contain).

## Rebuild

```bash
PYTHONPATH=$PWD/src python sample_data/build_survival_sample.py   # ~30 s; prints the tables below
```

Deterministic: a re-run writes byte-identical files whatever `PYTHONHASHSEED` is (seeds:
development {DEV_SEED}, audit {AUDIT_SEED}, follow-up draws `[seed, {TIME_SEED["development"]}]` and `[seed, {TIME_SEED["audit"]}]`,
split {SPLIT_SEED}, large replicate {REPLICATE_SEED}).
SHA-256 of this build:

| file | sha256 |
|---|---|
{sha}

## Files

| file | what it is |
|---|---|
| `cohort.csv`, `cohort.parquet` | the audit cohort: {AUDIT_N:,} patients, 4 sites, censored follow-up, planted problems (same data twice) |
| `model.onnx` | the shared model: HistGradientBoostingClassifier, one named ONNX input per column, `zipmap` off; `probabilities`[:, 1] is the 10-year risk |
| `model.card.yaml` | its card: `outcome.kind: time_to_event`, `outcome.horizon: 10`, `outcome.time_unit: years`, `output.kind: risk_by_horizon`, reference summaries, claimed metrics, test vectors, `model.sha256` |

The card was built by `cohortaudit.card.init_card` and {facts["card_how"]}.

## Columns

| column | type | unit / values | notes |
|---|---|---|---|
| `site` | string | DE-Berlin, FR-Lyon, ES-Valencia, FI-Tampere | {count_line("site")} |
| `sex` | string | F, M | {count_line("sex")} |
| `age` | float (1 decimal) | years, 40-79 | at entry |
| `ethnicity` | string | White European, South Asian, Black African/Caribbean, Other | {count_line("ethnicity")} |
| `deprivation` | int | quintile 1-5, 5 = most deprived | {count_line("deprivation")} |
| `sbp` | int | mmHg | systolic blood pressure |
| `total_chol` | float | mmol/L | total cholesterol (mmol/L at every site here) |
| `hdl` | float | mmol/L | HDL cholesterol |
| `bmi` | float (1 decimal) | kg/m² | no missing values |
| `smoking` | string | never, former, current | |
| `diabetes` | int | 0/1 | diagnosed diabetes |
| `fu_years` | float (2 decimals) | years, > 0 | follow-up: time to the first CVD event or to censoring; range {facts["fu_range"][0]:.2f}-{facts["fu_range"][1]:.2f} |
| `cvd_event` | int | 0/1 | 1 = first CVD event (MI, stroke, CHD death) at `fu_years`; 0 = censored there ({facts["events"]:,} events) |
| `cvd_10y` | int | 0/1 | **the naive binary label**: 1 if an event was observed by 10 years (`cvd_event = 1` and `fu_years ≤ 10`), else 0 — patients censored before 10 years count as non-events ({facts["naive_events"]:,} ones). What a careless binary audit would use; do not. |

Times are in years; the horizon is 10 years. A patient censored exactly at 10 years is
event-free at 10 years. The true number of patients with an event by 10 years (uncensored true
times) is {facts["true_events"]:,}.

## How it was simulated

**Covariates** come from the binary sample's simulator (`build_sample.simulate_population`,
kind `development`, seeds above): same dependencies between site, ethnicity, deprivation,
smoking, BMI, blood pressure, cholesterol and diabetes; no unit errors, no missing BMI, ages 40-79.

**True event times** follow a Weibull proportional-hazards model,

    H(t | x) = H0 · (t / 10)^{WEIBULL["shape"]} · exp(η(x)),   H0 = −log(1 − {WEIBULL["reference_risk_10y"]}),

so the reference patient (age 60, female, SBP 130, cholesterol/HDL 4, BMI 27, never smoker,
no diabetes, deprivation 3) has a 10-year risk of {WEIBULL["reference_risk_10y"]:.0%}, and η(x) uses the binary
sample's coefficients as log hazard ratios (development mean 10-year risk {facts["dev_risk"]:.3f}):

| term | log hazard ratio | hazard ratio |
|---|---|---|
{coef_rows}

Event time: T = 10 · (E / (H0 · exp(η)))^(1/{WEIBULL["shape"]}), E ~ Exp(1).

**Development population** ({DEV_N:,} patients): complete 10-year follow-up (the owner's
registry), no planted problems. The model was trained on {int(DEV_N * (1 - DEV_HOLDOUT_FRACTION)):,} of them on the outcome
"event by 10 years" (then an honest 10-year risk), with the binary sample's pipeline
(median imputation, one-hot `sex`/`smoking`, HistGradientBoosting, {", ".join(f"{k}={v}" for k, v in bs.HGB_PARAMS.items())}),
and converted with skl2onnx ({facts["onnx_size"]:,} bytes; ONNX Runtime matches sklearn to
{facts["onnx_diff"]:.1e}). It does not see `ethnicity`, `deprivation` or `site`. On the hold-out
({int(DEV_N * DEV_HOLDOUT_FRACTION):,} patients): AUC(10) {cl["auc_t"]["value"]:.3f} ({cl["auc_t"]["ci_low"]:.3f}-{cl["auc_t"]["ci_high"]:.3f}), O/E {cl["oe_ratio"]["value"]:.3f},
Brier {cl["brier"]:.4f}, the card's `claimed_metrics`.

**Audit cohort** ({AUDIT_N:,} patients): the same model plus the planted problems below, and
censoring:

- *Administrative:* entry dates uniform over ten years before study close, so administrative
  follow-up is uniform on {lo:g}-{hi:g} years for everyone.
- *Loss to follow-up:* exponential, rate {LTFU["base_per_year"]} per year × site factor ({site_rates})
  × exp({LTFU["per_quintile_log"]} · (deprivation − 1)), i.e. {np.exp(4 * LTFU["per_quintile_log"]):.1f}× higher in quintile 5 than in quintile 1.
  It is independent of the event time given site and deprivation (so Kaplan–Meier within
  site × deprivation is unbiased), but it differs between the groups an audit compares —
  which is what makes the naive label wrong by different amounts in different groups.
- `fu_years` = min(T, administrative end, loss) rounded to {TIME_DECIMALS} decimals (at least {MIN_TIME});
  `cvd_event` = 1 iff T came first.

### Follow-up in the audit cohort

{_md_table(CENSOR_HEAD, _censor_rows(censor))}

## Known problems built into the audit cohort

(a) **Under-prediction for the most deprived.** Deprivation quintile 5 has an extra hazard
ratio of {PLANTED["deprivation5_extra_hr"]} that the development population did not have. The model cannot
see deprivation, so this also lifts the true O/E of every group with many deprived patients
(minority ethnic groups, and each site by about a tenth).
(b) **Weaker discrimination for South Asian patients.** Their log hazard is shrunk by
{PLANTED["south_asian_attenuation"]} towards the group mean and gets unmeasured heterogeneity (normal, SD
{PLANTED["south_asian_noise_sd"]}) with a shift of {PLANTED["south_asian_shift"]:+} that keeps their calibration close to 1.
(c) **Over-prediction at {PLANTED["low_baseline_site"]}.** Its baseline hazard is {PLANTED["low_baseline_hr"]} × the development
population's (a lower-risk region the model was not recalibrated for).
(d) **Heavy loss to follow-up at {PLANTED["heavy_loss_site"]} and in deprived groups** (rates above). This is
not a model problem — in truth the model does no worse at {PLANTED["heavy_loss_site"]} than at the two
untouched sites — but a trap for the analysis (next section).

True sizes, measured on the true 10-year outcome (every patient's uncensored event time;
O/E = true events / sum of predicted risks, CI O/E·exp(±1.96/√O); AUC(10) = AUROC of the
true 10-year outcome, DeLong CI). The reference column is the development hold-out, scored
by the same model:

{_md_table(FINDING_HEAD, [tuple(f) for f in findings])}

## What a binary audit of cvd_10y gets wrong

`cvd_10y` counts every patient censored before 10 years as event-free. The table compares, at
10 years: the model's mean predicted risk (E); the naive observed risk, mean(`cvd_10y`); the
Kaplan–Meier estimate 1 − S(10) from `fu_years` and `cvd_event`; and the **true** 10-year risk
from the uncensored event times; with the O/E each implies (observed risk / mean predicted).
Computed with numpy in the build script, independently of cohortaudit; the test suite checks
the KM column against statsmodels.

{_md_table(NAIVE_HEAD, _naive_rows(naive))}

What this shows:

- **Overall**, the naive label gives O/E {ov.oe_naive:.2f}: the model would look badly
  over-predicting, when it is in truth at O/E {ov.oe_true:.2f} (Kaplan–Meier: {ov.oe_km:.2f}).
- **{PLANTED["heavy_loss_site"]}** (heavy loss to follow-up) is in truth like the two untouched sites
  (O/E {heavy.oe_true:.2f} vs {facts["untouched_oe"]}); the naive label puts it at {heavy.oe_naive:.2f} vs {facts["untouched_naive"]}, and
  sees only {heavy.naive / heavy.true:.0%} of its true 10-year risk (the least of any site): a binary audit would
  report a badly over-predicting site where there is no site problem at all.
- **Deprivation 5** is in truth the most *under*-predicted group (O/E {d5.oe_true:.2f}), but its heavy loss
  to follow-up makes the naive O/E {d5.oe_naive:.2f}: the binary audit calls it well calibrated — the
  best-calibrated quintile — and misses planted problem (a) entirely.
- **{PLANTED["low_baseline_site"]}** is in truth over-predicted (O/E {low.oe_true:.2f}); the naive O/E {low.oe_naive:.2f}
  exaggerates it. Kaplan–Meier recovers {low.oe_km:.2f}.
- Kaplan–Meier is close to the truth in every group (largest gap: {facts["km_gap"]}). What remains
  is sampling error plus the bias of pooling: censoring is non-informative only given site
  *and* deprivation, so a site's pooled KM under-weights its deprived patients, who are both
  the likeliest to have an event and the likeliest to be lost. At {PLANTED["heavy_loss_site"]}, KM within each
  deprivation quintile, averaged with the quintiles' sizes, gives {facts["berlin_strat"]:.4f} against the
  pooled {heavy.km:.4f} and the true {heavy.true:.4f}; the site × deprivation intersections of an audit
  (`--max-order 2`) are unbiased. To tell this bias from sampling error, the same design was
  simulated once more with {REPLICATE_N:,} patients (seed {REPLICATE_SEED}; no model needed): expected values

{_md_table(REPLICATE_HEAD, facts["replicate"])}

  In expectation, {PLANTED["heavy_loss_site"]}'s pooled KM is {facts["replicate_bias"][0]:+.4f} off the true risk, its
  deprivation-stratified KM {facts["replicate_bias"][1]:+.4f}; the naive label {facts["replicate_bias"][2]:+.4f}.

## Audit it

```bash
cohortaudit audit --model sample_data/survival/model.onnx --card sample_data/survival/model.card.yaml \\
  --cohort sample_data/survival/cohort.csv --time fu_years --event cvd_event --horizon 10 \\
  --sensitive sex age ethnicity deprivation site --bins age=40,50,60,70,80 --max-order 2 \\
  --out out/survival --format json,pdf,html,csv
```

The horizon and its unit come from the card (`outcome.horizon: 10`, `outcome.time_unit: years`);
`--horizon 10` only repeats it (a different value is refused). What the audit should find, and
does (`tests/survival/test_survival_sample_audit.py` checks each against the truth above):

- deprivation 5: O/E above 1 with its interval excluding 1 (under-prediction, problem a);
- ES-Valencia: O/E below 1 with its interval excluding 1 (over-prediction, problem c);
- South Asian patients: AUC(10) below the White European group's (problem b);
- the whole cohort: O/E close to 1, where the binary `cvd_10y` audit says about 0.7 (problem d).

Audited as a binary `cvd_10y` label instead (`--label cvd_10y --time fu_years`), the audit
refuses, saying how many patients have less than 10 years of follow-up without an event; only
`--censored-as-event-free` makes it treat them as non-events, with a warning in every output.
"""


if __name__ == "__main__":
    sys.exit(main())

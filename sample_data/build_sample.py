"""Build the bundled cohortaudit sample: a synthetic CVD-risk model and an audit cohort.

Run ``python sample_data/build_sample.py`` from the project root. Everything here is synthetic:
no real patient contributed a single value. The script is the single source of truth for the
files next to it, so the demo, the tests and the README all describe the same data.

Why a simulation and not a public data set: a sample for a *bias audit* tool is only useful if
the problems in it are known in advance. We therefore simulate

* a **development population** (what the model owner trained on; clean), and
* an **audit cohort** from four sites with three (plus one optional) problems planted on
  purpose, so an audit can be checked against the truth:

  1. under-prediction for the most deprived quintile (extra odds ratio in the audit only);
  2. lower sensitivity for women at the operating threshold (a risk factor the model never sees);
  3. total cholesterol recorded in mg/dL instead of mmol/L at one site (FI-Tampere);
  4. (optional) weaker discrimination for South Asian patients (unmeasured heterogeneity).

Determinism: every random draw comes from ``numpy.random.default_rng`` with fixed seeds, the
model is trained without random early-stopping splits, floats are rounded before writing, so a
re-run gives byte-identical CSV/Parquet/ONNX files and identical predictions.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = [
    "AUDIT_N",
    "AUDIT_SEED",
    "COLUMNS",
    "DEV_N",
    "DEV_SEED",
    "MODEL_METADATA",
    "NAMED_INPUTS",
    "OPERATING_THRESHOLD",
    "TENSOR_COLUMNS",
    "build_card_metadata",
    "build_named_pipeline",
    "build_tensor_pipeline",
    "export_named_onnx",
    "export_tensor_onnx",
    "main",
    "measure_planted_effects",
    "onnx_feeds",
    "simulate_population",
    "true_log_odds",
    "write_cards",
]

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------------
# Fixed design constants. Changing any of them changes every file; the README quotes them.
# --------------------------------------------------------------------------------------------

#: Seeds: development and audit populations are drawn independently.
DEV_SEED = 20240101
AUDIT_SEED = 20261123
#: Seed for the train / held-out split of the development population and the 5,000-row extract.
SPLIT_SEED = 7
DEV_N = 40_000
AUDIT_N = 25_000
DEV_EXTRACT_N = 5_000
DEV_HOLDOUT_FRACTION = 0.25

OPERATING_THRESHOLD = 0.10
#: skops types model.skops needs beyond the defaults (the owner's own file, so trusted here).
SKOPS_TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
#: Factor between mmol/L and mg/dL for cholesterol (1 mmol/L = 38.67 mg/dL).
CHOL_MMOL_TO_MGDL = 38.67

COLUMNS: tuple[str, ...] = (
    "site",
    "sex",
    "age",
    "ethnicity",
    "deprivation",
    "sbp",
    "total_chol",
    "hdl",
    "bmi",
    "smoking",
    "diabetes",
    "cvd_10y",
)

SITES: tuple[str, ...] = ("DE-Berlin", "FR-Lyon", "ES-Valencia", "FI-Tampere")
#: Site mix. FI-Tampere is the smallest audit site so the unit error there stays contained.
SITE_SHARE = {
    "development": (0.30, 0.28, 0.22, 0.20),
    "audit": (0.37, 0.29, 0.22, 0.12),
}
ETHNICITIES: tuple[str, ...] = (
    "White European",
    "South Asian",
    "Black African/Caribbean",
    "Other",
)
#: Ethnicity mix per site (same order as ETHNICITIES); urban sites are more diverse.
ETHNICITY_BY_SITE = {
    "DE-Berlin": (0.72, 0.09, 0.06, 0.13),
    "FR-Lyon": (0.70, 0.07, 0.13, 0.10),
    "ES-Valencia": (0.80, 0.05, 0.05, 0.10),
    "FI-Tampere": (0.92, 0.04, 0.02, 0.02),
}
#: Deprivation quintile mix (1 = least, 5 = most deprived) for White European / other groups.
DEPRIVATION_MIX = {
    "White European": (0.22, 0.22, 0.21, 0.19, 0.16),
    "minority": (0.10, 0.14, 0.20, 0.26, 0.30),
}

#: The true risk equation shared by both populations (log-odds of a first CVD event in 10 y).
#: Centred so the intercept is the log-odds of a 60-year-old reference patient.
RISK_COEFFICIENTS: dict[str, float] = {
    "intercept": -2.85,
    "age_per_year_from_60": 0.075,
    "male": 0.20,
    "sbp_per_mmHg_from_130": 0.016,
    "chol_hdl_ratio_per_unit_from_4": 0.25,
    "smoking_former": 0.30,
    "smoking_current": 0.75,
    "diabetes": 0.75,
    "bmi_per_unit_from_27": 0.025,
    "deprivation_per_quintile_from_3": 0.05,
    "chol_mmol_above_7_5": 0.5,
}

#: Planted problems: they act on the audit cohort only.
PLANTED = {
    # 1. extra odds ratio for deprivation quintile 5, unseen by the model
    "deprivation5_extra_or": 1.9,
    # 2. women: a binary risk factor the model does not see (e.g. history of pre-eclampsia or
    #    an autoimmune inflammatory disease), with a compensating baseline shift so that women's
    #    overall calibration stays close to 1 and the damage is to discrimination/sensitivity.
    "female_attenuation": 0.6,
    "female_hidden_prevalence": 0.20,
    "female_hidden_log_or": 1.3,
    "female_baseline_shift": -0.40,
    # 4. South Asian: attenuated known effects plus unmeasured heterogeneity (lower AUROC)
    "south_asian_attenuation": 0.55,
    "south_asian_noise_sd": 1.0,
    "south_asian_shift": -0.15,
    # 3. FI-Tampere lab units: total cholesterol recorded in mg/dL (x 38.67), hdl unchanged
    "unit_error_site": "FI-Tampere",
}

NUMERIC_INPUTS: tuple[str, ...] = ("age", "sbp", "total_chol", "hdl", "bmi")
CATEGORICAL_INPUTS: tuple[str, ...] = ("sex", "smoking")
INT_INPUTS: tuple[str, ...] = ("diabetes",)
#: ONNX input order of model.onnx (named, one column each).
NAMED_INPUTS: tuple[str, ...] = NUMERIC_INPUTS + CATEGORICAL_INPUTS + INT_INPUTS
#: Column order of the single float tensor of model_tensor.onnx.
TENSOR_COLUMNS: tuple[str, ...] = ("age", "sbp", "total_chol", "hdl", "bmi", "diabetes")

HGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.06,
    "max_iter": 150,
    "max_leaf_nodes": 12,
    "min_samples_leaf": 100,
    "l2_regularization": 1.0,
    "early_stopping": False,  # no random validation split -> deterministic
    "random_state": 0,
}
LR_PARAMS: dict[str, Any] = {"C": 1.0, "max_iter": 1000}
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
ONNX_MAX_BYTES = 2_000_000
ONNX_TOLERANCE = 1e-5

MODEL_METADATA: dict[str, Any] = {
    "name": "CardioRisk-EU",
    "version": "2.1.0",
    "developer": "EuroHeart Prediction Consortium (fictional)",
    "contact": "model-governance@euroheart-consortium.example",
    "license": "CC-BY-4.0 (synthetic demonstration model, not for clinical use)",
}

Kind = Literal["development", "audit"]


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_categorical(
    rng: np.random.Generator, probs: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Draw one label per row from row-specific probabilities (rows of ``probs`` sum to 1).

    Inverse-CDF with one uniform per row keeps the number of random draws independent of the
    probabilities, so tuning a probability never shifts the random stream of later columns.
    """
    u = rng.random(probs.shape[0])
    idx = (u[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    return labels[np.minimum(idx, len(labels) - 1)]


def _draw_age(rng: np.random.Generator, n: int, kind: Kind) -> np.ndarray:
    """Ages 40-79 skewed towards younger adults; the audit adds ~1 % outside the intended range."""
    core = 40.0 + 39.9 * rng.beta(1.25, 1.6, size=n)
    if kind == "audit":
        u = rng.random(n)
        young = rng.uniform(35.0, 39.95, size=n)
        old = rng.uniform(80.0, 84.95, size=n)
        core = np.where(u < 0.005, young, np.where(u > 0.995, old, core))
    return np.round(core, 1)


def true_log_odds(df: pd.DataFrame, *, chol_mmol: np.ndarray | None = None) -> np.ndarray:
    """Log-odds of a 10-year CVD event from the shared risk equation (no planted effects).

    ``chol_mmol`` lets the caller pass the *physiological* cholesterol when the recorded column
    has a unit error: the patient's risk depends on their blood, not on the lab's unit.
    """
    c = RISK_COEFFICIENTS
    chol = df["total_chol"].to_numpy(float) if chol_mmol is None else chol_mmol
    ratio = chol / df["hdl"].to_numpy(float)
    bmi = df["bmi"].to_numpy(float)
    bmi = np.where(np.isnan(bmi), 27.0, bmi)
    smoking = df["smoking"].to_numpy(object)
    return (
        c["intercept"]
        + c["age_per_year_from_60"] * (df["age"].to_numpy(float) - 60.0)
        + c["male"] * (df["sex"].to_numpy(object) == "M")
        + c["sbp_per_mmHg_from_130"] * (df["sbp"].to_numpy(float) - 130.0)
        + c["chol_hdl_ratio_per_unit_from_4"] * (ratio - 4.0)
        + c["smoking_former"] * (smoking == "former")
        + c["smoking_current"] * (smoking == "current")
        + c["diabetes"] * df["diabetes"].to_numpy(float)
        + c["bmi_per_unit_from_27"] * (bmi - 27.0)
        + c["deprivation_per_quintile_from_3"] * (df["deprivation"].to_numpy(float) - 3.0)
        + c["chol_mmol_above_7_5"] * np.maximum(chol - 7.5, 0.0)
    )


def simulate_population(n: int, seed: int, *, kind: Kind) -> pd.DataFrame:
    """Simulate ``n`` patients of the development or the audit population.

    Both populations share covariate distributions and the risk equation in
    :data:`RISK_COEFFICIENTS`; only ``kind="audit"`` carries the planted problems (see
    :data:`PLANTED`), ages outside 40-79 and ~1 % missing BMI. The result has exactly the
    columns in :data:`COLUMNS`, in that order, and depends only on ``(n, seed, kind)``.
    """
    if kind not in ("development", "audit"):
        raise ValueError(f"The 'kind' parameter must be 'development' or 'audit'. Got {kind!r}.")
    if not isinstance(n, int | np.integer) or n <= 0:
        raise ValueError(f"The 'n' parameter must be a positive integer. Got {n!r}.")
    rng = np.random.default_rng(seed)

    site = _draw_categorical(rng, np.tile(SITE_SHARE[kind], (n, 1)), np.array(SITES, dtype=object))
    sex = np.where(rng.random(n) < 0.48, "M", "F").astype(object)
    male = sex == "M"
    age = _draw_age(rng, n, kind)

    eth_probs = np.array([ETHNICITY_BY_SITE[s] for s in site])
    ethnicity = _draw_categorical(rng, eth_probs, np.array(ETHNICITIES, dtype=object))
    white = ethnicity == "White European"
    south_asian = ethnicity == "South Asian"
    black = ethnicity == "Black African/Caribbean"

    dep_probs = np.where(
        white[:, None],
        np.array(DEPRIVATION_MIX["White European"])[None, :],
        np.array(DEPRIVATION_MIX["minority"])[None, :],
    )
    deprivation = _draw_categorical(rng, dep_probs, np.arange(1, 6)).astype(np.int64)
    dep_c = deprivation - 3.0
    age_c = age - 55.0

    # Smoking: more current smokers among men, the deprived and the young.
    p_current = np.clip(
        0.19 + 0.05 * male + 0.035 * dep_c - 0.003 * age_c - 0.08 * (south_asian & ~male), 0.03, 0.6
    )
    p_former = np.clip(0.22 + 0.06 * male + 0.004 * age_c, 0.05, 0.6)
    smoking = _draw_categorical(
        rng,
        np.column_stack([1.0 - p_current - p_former, p_former, p_current]),
        np.array(["never", "former", "current"], dtype=object),
    )

    bmi = (
        27.0 + 0.5 * dep_c + 0.04 * age_c - 1.2 * south_asian + 1.0 * black + rng.normal(0, 4.3, n)
    )
    bmi = np.round(np.clip(bmi, 16.0, 58.0), 1)

    sbp = (
        128.0
        + 0.55 * age_c
        + 5.0 * male
        + 0.6 * (bmi - 27.0)
        + 3.0 * black
        + rng.normal(0, 15.0, n)
    )
    sbp = np.round(np.clip(sbp, 88.0, 225.0)).astype(np.int64)

    chol = (
        5.35
        + 0.01 * age_c
        + 0.30 * (~male & (age > 55.0))
        + 0.03 * (bmi - 27.0)
        + rng.normal(0, 0.95, n)
    )
    chol = np.round(np.clip(chol, 2.6, 10.5), 2)

    hdl = (
        1.55
        - 0.30 * male
        - 0.025 * (bmi - 27.0)
        - 0.08 * (smoking == "current")
        + rng.normal(0, 0.30, n)
    )
    hdl = np.round(np.clip(hdl, 0.55, 3.2), 2)

    diab_lp = (
        -3.5
        + 0.04 * age_c
        + 0.12 * (bmi - 27.0)
        + 0.9 * south_asian
        + 0.4 * black
        + 0.15 * dep_c
        + 0.2 * male
    )
    diabetes = (rng.random(n) < _sigmoid(diab_lp)).astype(np.int64)

    df = pd.DataFrame(
        {
            "site": site,
            "sex": sex,
            "age": age,
            "ethnicity": ethnicity,
            "deprivation": deprivation,
            "sbp": sbp,
            "total_chol": chol,
            "hdl": hdl,
            "bmi": bmi,
            "smoking": smoking,
            "diabetes": diabetes,
        }
    )
    lp = true_log_odds(df)

    # Draws for the planted effects happen in both populations so the random stream (and
    # hence all later columns) is the same shape whatever the kind; they are used only in audit.
    hidden = rng.random(n) < PLANTED["female_hidden_prevalence"]
    sa_noise = rng.normal(0.0, 1.0, n)
    u_outcome = rng.random(n)
    u_missing = rng.random(n)

    if kind == "audit":
        female = ~male
        # 2. women: measured factors matter less, a factor the model never sees matters more
        centre = -2.2
        f_lp = (
            centre
            + PLANTED["female_attenuation"] * (lp - centre)
            + PLANTED["female_hidden_log_or"] * hidden
            + PLANTED["female_baseline_shift"]
        )
        lp = np.where(female, f_lp, lp)
        # 4. weaker dependence on measured factors among South Asian patients
        sa_lp = (
            centre
            + PLANTED["south_asian_attenuation"] * (lp - centre)
            + PLANTED["south_asian_noise_sd"] * sa_noise
            + PLANTED["south_asian_shift"]
        )
        lp = np.where(south_asian, sa_lp, lp)
        # 1. extra risk in the most deprived quintile (applied last: a full OR for everyone)
        lp = lp + np.log(PLANTED["deprivation5_extra_or"]) * (deprivation == 5)

    df["cvd_10y"] = (u_outcome < _sigmoid(lp)).astype(np.int64)

    if kind == "audit":
        # 3. lab unit error at one site: recorded in mg/dL, risk was driven by mmol/L
        at_site = df["site"].to_numpy(object) == PLANTED["unit_error_site"]
        df.loc[at_site, "total_chol"] = np.round(
            df.loc[at_site, "total_chol"] * CHOL_MMOL_TO_MGDL, 0
        )
        # ~1 % missing BMI (not measured at the visit)
        df["bmi"] = df["bmi"].where(u_missing >= 0.01)

    for col in ("site", "sex", "ethnicity", "smoking"):
        df[col] = df[col].astype(str)
    return df.loc[:, list(COLUMNS)]


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def build_named_pipeline(algorithm: Literal["hgb", "lr"] = "hgb") -> Pipeline:
    """The owner's model: one-hot categoricals in a ColumnTransformer, then a classifier.

    One-hot (not HGB native categoricals) because native categorical splits convert to ONNX
    silently wrong (TECH-NOTES). Ethnicity, deprivation and site are deliberately not inputs.

    The tree model gets **no StandardScaler**: trees are scale-invariant, and scaling breaks
    ONNX exactness. HGB puts split thresholds *on* data values when values tie; after scaling,
    ONNX Runtime computes the scaled value in float32 and lands on the other side of the split
    for ~10 % of patients (measured: |ORT - sklearn| up to 0.14). On raw values the float32
    threshold and the float32 input round identically, and ORT matches sklearn to ~5e-7.
    """
    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if algorithm == "lr":
        numeric_steps.append(("scale", StandardScaler()))
    prep = ColumnTransformer(
        [
            ("num", Pipeline(numeric_steps), list(NUMERIC_INPUTS)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_INPUTS)),
            ("bin", "passthrough", list(INT_INPUTS)),
        ]
    )
    clf = (
        HistGradientBoostingClassifier(**HGB_PARAMS)
        if algorithm == "hgb"
        else LogisticRegression(**LR_PARAMS)
    )
    return Pipeline([("prep", prep), ("clf", clf)])


def build_tensor_pipeline() -> Pipeline:
    """A plain single-tensor model, the other ONNX contract cohortaudit must handle."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(**LR_PARAMS)),
        ]
    )


def _onnx_metadata(model: Any, *, doc: str, props: dict[str, str]) -> None:
    """Stamp identity into the ONNX file so ``cohortaudit inspect`` has something to show."""
    # skl2onnx collects opsets in a set: their order follows the per-process string hash seed.
    # Sort them so the file's bytes do not depend on PYTHONHASHSEED.
    opsets = sorted(((o.domain, o.version) for o in model.opset_import), key=lambda t: t[0])
    del model.opset_import[:]
    for domain, version in opsets:
        entry = model.opset_import.add()
        entry.domain, entry.version = domain, version
    model.doc_string = doc
    model.domain = "example.euroheart.cardiorisk"
    model.model_version = 2_001_000  # 2.1.0
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def _common_props(kind: str) -> dict[str, str]:
    return {
        "model_name": MODEL_METADATA["name"],
        "model_version": MODEL_METADATA["version"],
        "developer": MODEL_METADATA["developer"],
        "outcome": "cvd_10y: first cardiovascular event (MI, stroke, CHD death) within 10 years",
        "positive_class": "1",
        "operating_threshold": f"{OPERATING_THRESHOLD:.2f}",
        "input_contract": kind,
        "units": "age years; sbp mmHg; total_chol mmol/L; hdl mmol/L; bmi kg/m2; diabetes 0/1",
        "synthetic": "true: trained on simulated data by sample_data/build_sample.py",
    }


def export_named_onnx(pipe: Pipeline) -> bytes:
    """Export with one named ONNX input per cohort column (the safest shared-model contract)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    initial_types = (
        [(c, FloatTensorType([None, 1])) for c in NUMERIC_INPUTS]
        + [(c, StringTensorType([None, 1])) for c in CATEGORICAL_INPUTS]
        + [(c, Int64TensorType([None, 1])) for c in INT_INPUTS]
    )
    onx = convert_sklearn(
        pipe,
        name="CardioRisk-EU",
        initial_types=initial_types,
        options={id(pipe): {"zipmap": False}},
        target_opset=dict(TARGET_OPSET),
    )
    _onnx_metadata(
        onx,
        doc=(
            "CardioRisk-EU 2.1.0 (synthetic demo): 10-year risk of a first cardiovascular event "
            "for adults 40-79 in primary care. Output 'probabilities'[:, 1] = P(cvd_10y = 1)."
        ),
        props=_common_props("named per-column inputs"),
    )
    return onx.SerializeToString()


def export_tensor_onnx(pipe: Pipeline) -> bytes:
    """Export with a single float tensor input [N, 6] in :data:`TENSOR_COLUMNS` order."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(
        pipe,
        name="CardioRisk-EU-tensor",
        initial_types=[("input", FloatTensorType([None, len(TENSOR_COLUMNS)]))],
        options={id(pipe): {"zipmap": False}},
        target_opset=dict(TARGET_OPSET),
    )
    _onnx_metadata(
        onx,
        doc=(
            "CardioRisk-EU 2.1.0 tensor variant (synthetic demo, logistic regression). One input "
            f"'input' float32 [N, 6], columns in order {', '.join(TENSOR_COLUMNS)}."
        ),
        props=_common_props("single float tensor: " + ",".join(TENSOR_COLUMNS)),
    )
    return onx.SerializeToString()


def onnx_feeds(df: pd.DataFrame, session: Any) -> dict[str, np.ndarray]:
    """Build ORT feeds generically from ``session.get_inputs()`` (float32 / int64 / str, (n,1)).

    A single tensor input is filled from :data:`TENSOR_COLUMNS`. NaN stays NaN: the graph's
    imputer handles it, exactly as the sklearn pipeline does.
    """
    inputs = session.get_inputs()
    if len(inputs) == 1 and inputs[0].shape[-1] == len(TENSOR_COLUMNS):
        return {inputs[0].name: df.loc[:, list(TENSOR_COLUMNS)].to_numpy(np.float32)}
    feeds: dict[str, np.ndarray] = {}
    for inp in inputs:
        col = df[inp.name]
        if inp.type == "tensor(string)":
            feeds[inp.name] = col.astype(str).to_numpy(object).reshape(-1, 1)
        elif inp.type == "tensor(int64)":
            feeds[inp.name] = col.to_numpy(np.int64).reshape(-1, 1)
        else:
            feeds[inp.name] = col.to_numpy(np.float32).reshape(-1, 1)
    return feeds


def _ort_predict(onnx_bytes: bytes, df: pd.DataFrame) -> np.ndarray:
    """P(y=1) from an ONNX model, as an audit would compute it (zipmap off → 'probabilities')."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # deterministic and plenty fast for 25k rows
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    out = sess.run([names[1]], onnx_feeds(df, sess))[0]
    return np.asarray(out, dtype=np.float64)[:, 1]


# --------------------------------------------------------------------------------------------
# Metrics (REFERENCE.md definitions; self-contained so this script has no cohortaudit import)
# --------------------------------------------------------------------------------------------

Z = 1.959964


def _wilson(x: int, n: int) -> tuple[float, float, float]:
    p = x / n
    centre = (x + Z**2 / 2) / (n + Z**2)
    half = Z / (n + Z**2) * np.sqrt(x * (n - x) / n + Z**2 / 4)
    return p, centre - half, centre + half


def _oe(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    o, e = float(y.sum()), float(p.sum())
    r = o / e
    w = Z * np.sqrt(1.0 / o)
    return r, r * np.exp(-w), r * np.exp(w)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-8, 1 - 1e-8)
    return np.log(p / (1 - p))


def _logistic_fit(
    y: np.ndarray, x: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Newton-Raphson ML fit of logit P(y=1) = x @ beta + offset; returns beta and Wald SEs."""
    beta = np.zeros(x.shape[1])
    for _ in range(50):
        mu = 1.0 / (1.0 + np.exp(-(x @ beta + offset)))
        info = x.T @ (x * (mu * (1 - mu))[:, None])
        step = np.linalg.solve(info, x.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = 1.0 / (1.0 + np.exp(-(x @ beta + offset)))
    info = x.T @ (x * (mu * (1 - mu))[:, None])
    return beta, np.sqrt(np.diag(np.linalg.inv(info)))


def _citl(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """Calibration-in-the-large: intercept with logit(p) as offset (> 0 = under-prediction)."""
    b, se = _logistic_fit(y.astype(float), np.ones((len(y), 1)), _logit(p))
    return float(b[0]), float(b[0] - Z * se[0]), float(b[0] + Z * se[0])


def _slope(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    lp = _logit(p)
    b, se = _logistic_fit(
        y.astype(float), np.column_stack([np.ones_like(lp), lp]), np.zeros_like(lp)
    )
    return float(b[1]), float(b[1] - Z * se[1]), float(b[1] + Z * se[1])


def _auroc(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """AUROC with the DeLong CI (mid-rank form)."""
    pos, neg = p[y == 1], p[y == 0]
    m, k = len(pos), len(neg)
    r_all = stats.rankdata(np.concatenate([pos, neg]))
    r_pos, r_neg = stats.rankdata(pos), stats.rankdata(neg)
    auc = (r_all[:m].sum() - m * (m + 1) / 2) / (m * k)
    v10 = (r_all[:m] - r_pos) / k
    v01 = 1.0 - (r_all[m:] - r_neg) / m
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / k
    half = Z * np.sqrt(var)
    return float(auc), float(max(0.0, auc - half)), float(min(1.0, auc + half))


def _fmt(t: tuple[float, float, float], nd: int = 2) -> str:
    return f"{t[0]:.{nd}f} ({t[1]:.{nd}f}-{t[2]:.{nd}f})"


class Finding(NamedTuple):
    """One line of the verification table: a planted problem and what was measured.

    A NamedTuple rather than a dataclass so the file also loads through ``importlib`` without
    being registered in ``sys.modules`` (dataclasses look their module up there).
    """

    problem: str
    measure: str
    audit: str
    reference: str


def measure_planted_effects(
    audit: pd.DataFrame,
    p_audit: np.ndarray,
    dev: pd.DataFrame,
    p_dev: np.ndarray,
    *,
    p_audit_tensor: np.ndarray | None = None,
    p_dev_tensor: np.ndarray | None = None,
) -> list[Finding]:
    """Measure each planted problem in the audit cohort, next to the dev hold-out reference.

    The reference column shows the same number where the problem was *not* planted, so the
    reader can tell a planted effect from what the data would show anyway (e.g. women's lower
    risk alone already lowers their sensitivity at a fixed threshold).
    """
    ya, yd = audit["cvd_10y"].to_numpy(), dev["cvd_10y"].to_numpy()
    t = OPERATING_THRESHOLD
    rows: list[Finding] = []

    def sens(y: np.ndarray, p: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
        ev = (y == 1) & mask
        return _wilson(int((p[ev] >= t).sum()), int(ev.sum()))

    # 1 deprivation 5
    a5, d5 = audit["deprivation"].to_numpy() == 5, dev["deprivation"].to_numpy() == 5
    rows += [
        Finding(
            "1. Deprivation 5 under-predicted",
            "O/E, deprivation 5",
            _fmt(_oe(ya[a5], p_audit[a5])),
            _fmt(_oe(yd[d5], p_dev[d5])),
        ),
        Finding(
            "",
            "O/E, deprivation 1-4",
            _fmt(_oe(ya[~a5], p_audit[~a5])),
            _fmt(_oe(yd[~d5], p_dev[~d5])),
        ),
        Finding(
            "",
            "CITL, deprivation 5",
            _fmt(_citl(ya[a5], p_audit[a5])),
            _fmt(_citl(yd[d5], p_dev[d5])),
        ),
    ]
    # FI-Tampere's over-prediction pulls every pooled O/E down; show the contrast without it.
    a_ok = audit["site"].to_numpy(object) != PLANTED["unit_error_site"]
    d_ok = dev["site"].to_numpy(object) != PLANTED["unit_error_site"]
    rows.append(
        Finding(
            "",
            "O/E dep 5 / dep 1-4, excl. FI-Tampere",
            f"{_oe(ya[a5 & a_ok], p_audit[a5 & a_ok])[0]:.2f} / "
            f"{_oe(ya[~a5 & a_ok], p_audit[~a5 & a_ok])[0]:.2f}",
            f"{_oe(yd[d5 & d_ok], p_dev[d5 & d_ok])[0]:.2f} / "
            f"{_oe(yd[~d5 & d_ok], p_dev[~d5 & d_ok])[0]:.2f}",
        )
    )
    # 2 sex
    af, df_ = audit["sex"].to_numpy(object) == "F", dev["sex"].to_numpy(object) == "F"
    sa_f, sa_m = sens(ya, p_audit, af), sens(ya, p_audit, ~af)
    sd_f, sd_m = sens(yd, p_dev, df_), sens(yd, p_dev, ~df_)
    rows += [
        Finding(
            "2. Women: lower sensitivity", f"sensitivity at {t:.2f}, F", _fmt(sa_f), _fmt(sd_f)
        ),
        Finding("", f"sensitivity at {t:.2f}, M", _fmt(sa_m), _fmt(sd_m)),
        Finding("", "gap M - F", f"{sa_m[0] - sa_f[0]:.2f}", f"{sd_m[0] - sd_f[0]:.2f}"),
        Finding(
            "",
            "AUROC F / M",
            f"{_auroc(ya[af], p_audit[af])[0]:.3f} / {_auroc(ya[~af], p_audit[~af])[0]:.3f}",
            f"{_auroc(yd[df_], p_dev[df_])[0]:.3f} / {_auroc(yd[~df_], p_dev[~df_])[0]:.3f}",
        ),
        Finding("", "O/E, F", _fmt(_oe(ya[af], p_audit[af])), _fmt(_oe(yd[df_], p_dev[df_]))),
    ]
    # 3 site units
    site = PLANTED["unit_error_site"]
    afi, dfi = audit["site"].to_numpy(object) == site, dev["site"].to_numpy(object) == site
    rows += [
        Finding(
            f"3. {site}: total_chol in mg/dL",
            "median total_chol, site / others",
            f"{np.median(audit.loc[afi, 'total_chol']):.1f} / {np.median(audit.loc[~afi, 'total_chol']):.2f}",
            f"{np.median(dev.loc[dfi, 'total_chol']):.2f} / {np.median(dev.loc[~dfi, 'total_chol']):.2f}",
        ),
        Finding(
            "",
            "mean predicted vs observed risk",
            f"{p_audit[afi].mean():.3f} vs {ya[afi].mean():.3f}",
            f"{p_dev[dfi].mean():.3f} vs {yd[dfi].mean():.3f}",
        ),
        Finding(
            "", f"O/E, {site}", _fmt(_oe(ya[afi], p_audit[afi])), _fmt(_oe(yd[dfi], p_dev[dfi]))
        ),
        Finding(
            "",
            "O/E, other sites",
            _fmt(_oe(ya[~afi], p_audit[~afi])),
            _fmt(_oe(yd[~dfi], p_dev[~dfi])),
        ),
    ]
    if p_audit_tensor is not None and p_dev_tensor is not None:
        rows.append(
            Finding(
                "",
                "model_tensor.onnx: mean predicted vs observed",
                f"{p_audit_tensor[afi].mean():.3f} vs {ya[afi].mean():.3f}",
                f"{p_dev_tensor[dfi].mean():.3f} vs {yd[dfi].mean():.3f}",
            )
        )
    # 4 ethnicity
    asa = audit["ethnicity"].to_numpy(object) == "South Asian"
    awe = audit["ethnicity"].to_numpy(object) == "White European"
    dsa = dev["ethnicity"].to_numpy(object) == "South Asian"
    dwe = dev["ethnicity"].to_numpy(object) == "White European"
    rows += [
        Finding(
            "4. South Asian: lower AUROC",
            "AUROC, South Asian",
            _fmt(_auroc(ya[asa], p_audit[asa]), 3),
            _fmt(_auroc(yd[dsa], p_dev[dsa]), 3),
        ),
        Finding(
            "",
            "AUROC, White European",
            _fmt(_auroc(ya[awe], p_audit[awe]), 3),
            _fmt(_auroc(yd[dwe], p_dev[dwe]), 3),
        ),
    ]
    # data-quality facts the safety checks should pick up
    out_of_range = int(((audit["age"] < 40) | (audit["age"] >= 80)).sum())
    rows += [
        Finding(
            "Data quality",
            "age outside 40-79 (n)",
            str(out_of_range),
            str(int(((dev["age"] < 40) | (dev["age"] >= 80)).sum())),
        ),
        Finding(
            "",
            "bmi missing (n)",
            str(int(audit["bmi"].isna().sum())),
            str(int(dev["bmi"].isna().sum())),
        ),
        Finding("Overall", "AUROC", _fmt(_auroc(ya, p_audit), 3), _fmt(_auroc(yd, p_dev), 3)),
        Finding("", "O/E", _fmt(_oe(ya, p_audit)), _fmt(_oe(yd, p_dev))),
        Finding("", "n / events", f"{len(ya)} / {int(ya.sum())}", f"{len(yd)} / {int(yd.sum())}"),
    ]
    return rows


def _table(rows: list[Finding]) -> str:
    head = ("Planted problem", "Measure", "Audit cohort", "Dev hold-out (reference)")
    cells = [head] + [(r.problem, r.measure, r.audit, r.reference) for r in rows]
    w = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = [" | ".join(c[i].ljust(w[i]) for i in range(4)).rstrip() for c in cells]
    lines.insert(1, "-+-".join("-" * x for x in w))
    return "\n".join(lines)


def _markdown_table(rows: list[Finding]) -> str:
    out = [
        "| Planted problem | Measure | Audit cohort | Dev hold-out (reference) |",
        "|---|---|---|---|",
    ]
    out += [f"| {r.problem} | {r.measure} | {r.audit} | {r.reference} |" for r in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Model card metadata
# --------------------------------------------------------------------------------------------

#: Per-input documentation for the card (``init_card`` adds types and reference summaries).
INPUT_DOCS: dict[str, dict[str, Any]] = {
    # age: the intended population's range, not the development data's observed tails
    "age": {"unit": "years", "description": "age at baseline", "min": 40.0, "max": 79.9},
    "sbp": {"unit": "mmHg", "description": "systolic blood pressure"},
    "total_chol": {"unit": "mmol/L", "description": "total serum cholesterol"},
    "hdl": {"unit": "mmol/L", "description": "HDL cholesterol"},
    "bmi": {
        "unit": "kg/m2",
        "description": "body-mass index; missing allowed (median-imputed)",
        "required": False,
    },
    "sex": {"description": "sex recorded in the health record"},
    "smoking": {"description": "smoking status"},
    "diabetes": {"unit": "0/1", "description": "diagnosed diabetes (type 1 or 2)"},
}


def build_card_metadata(
    claimed: dict[str, Any],
    *,
    algorithm: str,
    params: dict[str, Any],
    tensor: bool,
    evaluated_on: dict[str, Any],
) -> dict[str, Any]:
    """Everything the owner knows that ``init_card`` cannot infer from the model and dev data.

    Follows ``cohortaudit/schemas/model_card.schema.json``: ``inputs`` is a mapping of column
    to overrides (``init_card`` builds the list, and adds ``order`` for tensor models).
    """
    columns = TENSOR_COLUMNS if tensor else NAMED_INPUTS
    return {
        **MODEL_METADATA,
        "name": MODEL_METADATA["name"] + ("-tensor" if tensor else ""),
        "intended_use": (
            "Estimate the 10-year risk of a first cardiovascular event in adults without known "
            "cardiovascular disease, to support (not replace) decisions on preventive treatment "
            "such as statins in primary care. Synthetic demonstration model: not for clinical use."
        ),
        "intended_population": {
            "description": (
                "Adults aged 40-79 without prior cardiovascular disease attending primary care "
                "in Germany, France, Spain and Finland."
            ),
            "age_min": 40,
            "age_max": 79,
            "setting": "primary care",
            "countries": ["DE", "FR", "ES", "FI"],
        },
        "outcome": {
            "definition": "first cardiovascular event (MI, stroke, CHD death) within 10 years",
            "horizon": "10 years",
        },
        "output": {
            "positive_class": 1,
            "meaning": "predicted probability of a first cardiovascular event within 10 years",
        },
        "thresholds": {"operating": OPERATING_THRESHOLD, "clinically_relevant_range": [0.05, 0.20]},
        "inputs": {c: dict(INPUT_DOCS[c]) for c in columns},
        "development_data": {
            "description": (
                f"Synthetic development population (n={DEV_N:,}, seed {DEV_SEED}); the model "
                f"was trained on {int(DEV_N * (1 - DEV_HOLDOUT_FRACTION)):,} patients. The "
                f"reference summaries below come from {DEV_EXTRACT_N:,} patients of the "
                f"hold-out; claimed metrics from the whole hold-out (n={evaluated_on['n']:,}, "
                f"events={evaluated_on['events']:,})."
            )
        },
        "claimed_metrics": claimed,
        "training": {
            "algorithm": algorithm,
            "parameters": params,
            "inputs_not_used": ["ethnicity", "deprivation", "site"],
            "data": f"synthetic development population, n={DEV_N}, seed {DEV_SEED}",
        },
        "x-claimed_metrics_evaluated_on": evaluated_on,
        "x-synthetic": True,
    }


def _claimed_metrics(y: np.ndarray, p: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """Owner-reported performance on the development hold-out (what the audit will check).

    Returns the card's ``claimed_metrics`` (number or ``{value, ci_low, ci_high}`` per key)
    and a description of where and how they were measured.
    """
    pos = p >= OPERATING_THRESHOLD

    def block(t: tuple[float, float, float], nd: int = 3) -> dict[str, float]:
        return {
            "value": round(float(t[0]), nd),
            "ci_low": round(float(t[1]), nd),
            "ci_high": round(float(t[2]), nd),
        }

    brier = float(np.mean((p - y) ** 2))
    claimed = {
        "auroc": block(_auroc(y, p)),
        "brier": round(brier, 4),
        "scaled_brier": round(float(1.0 - brier / (y.mean() * (1 - y.mean()))), 4),
        "oe_ratio": block(_oe(y, p)),
        "citl": block(_citl(y, p)),
        "calibration_slope": block(_slope(y, p)),
        "sensitivity": block(_wilson(int((pos & (y == 1)).sum()), int((y == 1).sum()))),
        "specificity": block(_wilson(int((~pos & (y == 0)).sum()), int((y == 0).sum()))),
    }
    evaluated_on = {
        "dataset": "development hold-out (synthetic)",
        "n": len(y),
        "events": int(y.sum()),
        "threshold_for_sensitivity_specificity": OPERATING_THRESHOLD,
        "ci_methods": {
            "auroc": "DeLong",
            "oe_ratio": "O/E*exp(+-1.96/sqrt(O))",
            "citl": "Wald, logistic fit with offset",
            "calibration_slope": "Wald, logistic fit",
            "sensitivity": "Wilson",
            "specificity": "Wilson",
        },
    }
    return claimed, evaluated_on


def write_cards(
    out_dir: Path = HERE,
    *,
    dev: pd.DataFrame | None = None,
    metadata: dict[str, dict[str, Any]] | None = None,
) -> list[Path]:
    """Write ``model.card.yaml`` and ``model_tensor.card.yaml`` with ``cohortaudit.card``.

    Separate from :func:`main` so it can be re-run on its own
    (``python sample_data/build_sample.py --cards-only``). Without arguments it reads the files
    this script wrote: ``development.csv`` and ``card_metadata.yaml``. Returns the paths
    written, or an empty list when ``cohortaudit.card`` is not importable.

    The tensor model cannot be loaded without a card (the card gives its column order), so a
    skeleton card with ``inputs[*].order`` is written first, loaded, and then replaced by the
    full card.

    Both cards carry synthetic test vectors. ``model.card.yaml``'s expected outputs come from
    ``model.skops`` (the owner's native pipeline), so writing it proves the ONNX conversion;
    the tensor model has no native file here, so its card records its own outputs.
    """
    import yaml

    try:
        from cohortaudit.card import card_from_dict, init_card, load_card, write_card
        from cohortaudit.io import load_model
        from cohortaudit.testvectors import make_test_vectors
    except ImportError as exc:
        print(f"cohortaudit.card not available ({exc}); cards not written.")
        return []
    if dev is None:
        dev = pd.read_csv(out_dir / "development.csv")
    if metadata is None:
        metadata = yaml.safe_load((out_dir / "card_metadata.yaml").read_text(encoding="utf-8"))
    written: list[Path] = []
    for stem, key, tensor in (
        ("model", "model.onnx", False),
        ("model_tensor", "model_tensor.onnx", True),
    ):
        meta = metadata[key]
        target = out_dir / f"{stem}.card.yaml"
        if tensor:
            skeleton = {
                "schema_version": "1.0",
                "name": meta["name"],
                "version": meta["version"],
                "output": {"positive_class": 1},
                "inputs": [
                    {"name": c, "type": "numeric", "order": i} for i, c in enumerate(TENSOR_COLUMNS)
                ],
            }
            write_card(skeleton, target)
            model = load_model(out_dir / key, card=load_card(target))
        else:
            model = load_model(out_dir / key)
        card = init_card(
            model,
            dev,
            label="cvd_10y",
            metadata=meta,
            operating_threshold=OPERATING_THRESHOLD,
        )
        reference = None
        if not tensor and (out_dir / "model.skops").is_file():
            reference = load_model(
                out_dir / "model.skops",
                card=card_from_dict(card),
                trusted_types=SKOPS_TRUSTED_TYPES,
            )
        card["test_vectors"] = make_test_vectors(card, model, reference=reference, dev=dev)
        write_card(card, target)
        written.append(target)
    return written


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def _check_agreement(name: str, p_ort: np.ndarray, p_skl: np.ndarray) -> float:
    diff = float(np.max(np.abs(p_ort - p_skl)))
    if not diff <= ONNX_TOLERANCE:
        raise AssertionError(
            f"{name}: ONNX Runtime and sklearn disagree by {diff:.2e} > {ONNX_TOLERANCE}"
        )
    return diff


def _opsets(onnx_bytes: bytes) -> dict[str, int]:
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    return {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def _skops_bytes(pipe: Pipeline, reference: pd.DataFrame) -> bytes:
    """``skops.io.dumps`` made reproducible, then checked by loading it back.

    skops names array files and ``__id__`` fields after ``id()`` of live objects and stamps
    the zip entries with the current time, so two dumps of the same model differ. Renumbering
    the ids in order of first appearance (a consistent renaming: shared objects stay shared)
    and fixing the timestamps makes the file byte-identical across runs, so a rebuild does
    not churn git.
    """
    import re
    import zipfile

    import skops.io as sio

    raw = zipfile.ZipFile(io.BytesIO(sio.dumps(pipe)))
    schema = raw.read("schema.json").decode("utf-8")
    mapping: dict[str, str] = {}
    for m in re.finditer(r'"__id__": (\d+)|"(\d+)\.npy"', schema):
        key = m.group(1) or m.group(2)
        mapping.setdefault(key, str(len(mapping)))

    def rename(m: re.Match[str]) -> str:
        if m.group(1):
            return f'"__id__": {mapping[m.group(1)]}'
        return f'"{mapping[m.group(2)]}.npy"'

    schema = re.sub(r'"__id__": (\d+)|"(\d+)\.npy"', rename, schema)
    entries = {"schema.json": schema.encode("utf-8")}
    for name in raw.namelist():
        if name.endswith(".npy"):
            stem = name[: -len(".npy")]
            if stem not in mapping:
                raise AssertionError(f"skops file {name} is not referenced by schema.json")
            entries[f"{mapping[stem]}.npy"] = raw.read(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, entries[name], compresslevel=9)
    data = buf.getvalue()
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    cols = list(NAMED_INPUTS)
    if not np.array_equal(
        loaded.predict_proba(reference.loc[:, cols]), pipe.predict_proba(reference.loc[:, cols])
    ):
        raise AssertionError("model.skops does not reproduce the fitted pipeline's predictions")
    return data


def main(argv: list[str] | None = None) -> int:
    """Rebuild every file in ``sample_data/`` and print the verification table."""
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir", type=Path, default=HERE, help="where to write (default: next to this script)"
    )
    parser.add_argument("--cards-only", action="store_true", help="only (re)write the model cards")
    parser.add_argument(
        "--algorithm",
        choices=("hgb", "lr"),
        default="hgb",
        help="named-input model; hgb falls back to lr if its ONNX is too big or inexact",
    )
    args = parser.parse_args(argv)
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    if args.cards_only:
        return 0 if write_cards(out) else 1

    dev = simulate_population(DEV_N, DEV_SEED, kind="development")
    audit = simulate_population(AUDIT_N, AUDIT_SEED, kind="audit")
    train, hold = train_test_split(
        dev, test_size=DEV_HOLDOUT_FRACTION, random_state=SPLIT_SEED, stratify=dev["cvd_10y"]
    )
    hold = hold.sort_index()
    y_train = train["cvd_10y"].to_numpy()

    # Named-input model: HGB if it exports small and exact, else logistic regression.
    algorithm, onnx_bytes, pipe, diff = "", b"", None, float("nan")
    for algo in ("hgb", "lr") if args.algorithm == "hgb" else ("lr",):
        pipe = build_named_pipeline(algo)  # type: ignore[arg-type]
        pipe.fit(train.loc[:, list(NAMED_INPUTS)], y_train)
        onnx_bytes = export_named_onnx(pipe)
        p_skl = pipe.predict_proba(audit.loc[:, list(NAMED_INPUTS)])[:, 1]
        p_ort = _ort_predict(onnx_bytes, audit)
        diff = float(np.max(np.abs(p_ort - p_skl)))
        if len(onnx_bytes) < ONNX_MAX_BYTES and diff <= ONNX_TOLERANCE:
            algorithm = algo
            break
        print(f"{algo}: ONNX {len(onnx_bytes)} bytes, max |ORT - sklearn| {diff:.2e}; trying next")
    assert pipe is not None and algorithm, "no named-input model exported within size/tolerance"
    _check_agreement(
        "model.onnx (audit cohort)",
        _ort_predict(onnx_bytes, audit),
        pipe.predict_proba(audit.loc[:, list(NAMED_INPUTS)])[:, 1],
    )
    _check_agreement(
        "model.onnx (dev hold-out)",
        _ort_predict(onnx_bytes, hold),
        pipe.predict_proba(hold.loc[:, list(NAMED_INPUTS)])[:, 1],
    )

    tensor = build_tensor_pipeline()
    tensor.fit(train.loc[:, list(TENSOR_COLUMNS)].to_numpy(np.float64), y_train)
    tensor_bytes = export_tensor_onnx(tensor)
    diff_t = _check_agreement(
        "model_tensor.onnx (audit cohort)",
        _ort_predict(tensor_bytes, audit),
        tensor.predict_proba(audit.loc[:, list(TENSOR_COLUMNS)].to_numpy(np.float64))[:, 1],
    )

    # Files. The dev extract comes from the hold-out so card statistics are not optimistic.
    extract = hold.sample(n=DEV_EXTRACT_N, random_state=SPLIT_SEED).sort_index()
    _write(out / "model.onnx", onnx_bytes)
    _write(out / "model_tensor.onnx", tensor_bytes)
    _write(out / "cohort.csv", _csv_bytes(audit))
    _write(out / "cohort.parquet", _parquet_bytes(audit))
    _write(out / "development.csv", _csv_bytes(extract.reset_index(drop=True)))
    _write(out / "model.skops", _skops_bytes(pipe, audit))

    # Measure what an audit should find, with the model as shipped (ONNX Runtime).
    p_audit = _ort_predict(onnx_bytes, audit)
    p_hold = _ort_predict(onnx_bytes, hold)
    p_hold_t = _ort_predict(tensor_bytes, hold)
    p_audit_t = _ort_predict(tensor_bytes, audit)
    findings = measure_planted_effects(
        audit, p_audit, hold, p_hold, p_audit_tensor=p_audit_t, p_dev_tensor=p_hold_t
    )
    y_hold = hold["cvd_10y"].to_numpy()
    claimed, evaluated_on = _claimed_metrics(y_hold, p_hold)
    claimed_t, _ = _claimed_metrics(y_hold, p_hold_t)
    auc_t_audit = _auroc(audit["cvd_10y"].to_numpy(), p_audit_t)

    algo_name = {"hgb": "HistGradientBoostingClassifier", "lr": "LogisticRegression"}[algorithm]
    numeric = "median imputation" + (" + standard scaling" if algorithm == "lr" else "")
    params: dict[str, Any] = {
        "preprocessing": f"{numeric} (numeric); one-hot (sex, smoking); diabetes passed through"
    }
    params.update(HGB_PARAMS if algorithm == "hgb" else LR_PARAMS)
    metadata = {
        "model.onnx": build_card_metadata(
            claimed, algorithm=algo_name, params=params, tensor=False, evaluated_on=evaluated_on
        ),
        "model_tensor.onnx": build_card_metadata(
            claimed_t,
            algorithm="LogisticRegression",
            params={"preprocessing": "median imputation + standard scaling", **LR_PARAMS},
            tensor=True,
            evaluated_on=evaluated_on,
        ),
    }
    (out / "card_metadata.yaml").write_text(
        "# Owner metadata for the sample model cards; written by build_sample.py.\n"
        + yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )

    facts = {
        "algorithm": algo_name,
        "onnx_size": len(onnx_bytes),
        "opsets": _opsets(onnx_bytes),
        "numeric_prep": numeric + (" (no scaling, see below)" if algorithm == "hgb" else ""),
        "onnx_diff": diff,
        "tensor_diff": diff_t,
        "auroc_hold": claimed["auroc"],
        "auroc_audit": _auroc(audit["cvd_10y"].to_numpy(), p_audit),
        "auroc_hold_tensor": claimed_t["auroc"],
        "auroc_audit_tensor": auc_t_audit,
        "dev_prevalence": float(dev["cvd_10y"].mean()),
        "audit_prevalence": float(audit["cvd_10y"].mean()),
        "sha256": {
            name: _sha256((out / name).read_bytes())
            for name in (
                "cohort.csv",
                "cohort.parquet",
                "development.csv",
                "model.onnx",
                "model.skops",
                "model_tensor.onnx",
            )
        },
        "counts": {
            c: audit[c].value_counts().sort_index().to_dict()
            for c in ("site", "ethnicity", "sex", "deprivation")
        },
    }
    (out / "README.md").write_text(_readme(findings, facts), encoding="utf-8")

    print(
        f"Named-input model: {algo_name}, ONNX {len(onnx_bytes):,} bytes, max |ORT - sklearn| = {diff:.1e}"
    )
    print(f"Tensor model: LogisticRegression, max |ORT - sklearn| = {diff_t:.1e}")
    print(
        f"AUROC dev hold-out {claimed['auroc']['value']:.3f} "
        f"({claimed['auroc']['ci_low']:.3f}-{claimed['auroc']['ci_high']:.3f}); "
        f"audit cohort {_fmt(facts['auroc_audit'], 3)}"
    )
    print()
    print(_table(findings))
    print()
    cards = write_cards(out, dev=extract.reset_index(drop=True), metadata=metadata)
    for c in cards:
        print(f"wrote {c.name}")
    if not cards:
        print(
            "Card metadata written to card_metadata.yaml; run `python sample_data/build_sample.py --cards-only` later."
        )
    return 0


def _readme(findings: list[Finding], facts: dict[str, Any]) -> str:
    """README generated from the same run, so its numbers can never drift from the data."""
    coef_rows = "\n".join(
        f"| `{k}` | {v:+.3f} | {np.exp(v):.2f} |"
        if k != "intercept"
        else f"| `{k}` | {v:+.3f} | - |"
        for k, v in RISK_COEFFICIENTS.items()
    )
    counts = facts["counts"]

    def count_line(col: str) -> str:
        return ", ".join(f"{k}: {v:,}" for k, v in counts[col].items())

    ah, aa = facts["auroc_hold"], facts["auroc_audit"]
    th, ta = facts["auroc_hold_tensor"], facts["auroc_audit_tensor"]
    sha = "\n".join(f"| `{k}` | `{v}` |" for k, v in facts["sha256"].items())
    return f"""# sample_data: a synthetic CVD-risk model and an audit cohort with known problems

**Everything here is synthetic. No real patient contributed any value.** The files are built
by one seeded script, [`build_sample.py`](build_sample.py); this README is written by the same
run, so every number below comes from the data next to it.

The setting is a 10-year cardiovascular risk score in the style of QRISK/SCORE2: the model
owner ("EuroHeart Prediction Consortium", fictional) shares **CardioRisk-EU 2.1.0**, and a third
party audits it on a held-out cohort from four European primary-care sites. Problems were
planted in the audit cohort on purpose, so an audit of this sample has a known right answer.

## Rebuild

```bash
python sample_data/build_sample.py                  # everything, ~30 s; prints the verification table
python sample_data/build_sample.py --cards-only     # only the two model cards (needs cohortaudit)
python sample_data/build_sample.py --algorithm lr   # named-input model as logistic regression
```

The build is deterministic: a re-run writes byte-identical CSV, Parquet, ONNX, skops, card and
README files, whatever `PYTHONHASHSEED` is (seeds: development {DEV_SEED}, audit {AUDIT_SEED}, split {SPLIT_SEED}). SHA-256 of this build:

| file | sha256 |
|---|---|
{sha}

## Files

| file | what it is |
|---|---|
| `cohort.csv`, `cohort.parquet` | the audit cohort: {AUDIT_N:,} patients, 4 sites, planted problems (same data twice) |
| `development.csv` | {DEV_EXTRACT_N:,} patients from the development hold-out (clean), for `cohortaudit card init` |
| `model.onnx` | the shared model: {facts["algorithm"]}, one named ONNX input per column, `zipmap` off |
| `model.skops` | the same sklearn pipeline, saved with `skops.io` (the owner's reference); load with `trusted=` the two types `skops.io.get_untrusted_types` lists (numpy.dtype, HGB TreePredictor) |
| `model_tensor.onnx` | a logistic-regression variant with one float tensor input `input` [N, 6] |
| `card_metadata.yaml` | what the owner knows that the model file cannot say (intended use, claims...) |
| `model.card.yaml`, `model_tensor.card.yaml` | model cards from `cohortaudit.card.init_card` (reference summaries from `development.csv`, claimed metrics from the whole hold-out); `model.card.yaml` also fits `model.skops` except for `model.sha256` |

## The model

- **`model.onnx` / `model.skops`**: sklearn `Pipeline` = `ColumnTransformer` [numeric `age, sbp,
  total_chol, hdl, bmi` → {facts["numeric_prep"]}; `sex, smoking` → one-hot
  (`handle_unknown="ignore"`); `diabetes` passed through] → {facts["algorithm"]}
  ({", ".join(f"{k}={v}" for k, v in (HGB_PARAMS if facts["algorithm"].startswith("Hist") else LR_PARAMS).items())}).
  ONNX inputs: `age, sbp, total_chol, hdl, bmi` float32 [N,1]; `sex, smoking` string [N,1];
  `diabetes` int64 [N,1]. Outputs: `label` and `probabilities` [N,2]; column 1 is P(`cvd_10y`=1).
  Converted with target opset {TARGET_OPSET}; skl2onnx keeps the lowest opsets the graph
  needs, so the file declares {facts["opsets"]}. {facts["onnx_size"]:,} bytes; ONNX Runtime
  matches sklearn to {facts["onnx_diff"]:.1e} on the audit cohort (asserted ≤ {ONNX_TOLERANCE:g}).
- **`model_tensor.onnx`**: `SimpleImputer(median)` → `StandardScaler` → `LogisticRegression`
  on a float32 tensor with columns in this order: {", ".join(f"{i} `{c}`" for i, c in enumerate(TENSOR_COLUMNS))}.
  ORT vs sklearn: {facts["tensor_diff"]:.1e}.
- The model does **not** use `ethnicity`, `deprivation` or `site`; they are there to be audited.
- Trained on {int(DEV_N * (1 - DEV_HOLDOUT_FRACTION)):,} development patients; the other {int(DEV_N * DEV_HOLDOUT_FRACTION):,} are the hold-out.
- **Why no StandardScaler in front of the trees:** trees do not need it, and it breaks ONNX
  exactness. HGB places split thresholds *on* data values when values tie; after scaling,
  ONNX Runtime computes the scaled value in float32 and lands on the other side of the split
  for ~10 % of patients (measured: |ORT − sklearn| up to 0.14). On raw values the float32
  threshold and the float32 input round identically. Logistic regression keeps the scaler.

| AUROC (DeLong 95% CI) | dev hold-out | audit cohort |
|---|---|---|
| `model.onnx` | {ah["value"]:.3f} ({ah["ci_low"]:.3f}-{ah["ci_high"]:.3f}) | {_fmt(aa, 3)} |
| `model_tensor.onnx` | {th["value"]:.3f} ({th["ci_low"]:.3f}-{th["ci_high"]:.3f}) | {_fmt(ta, 3)} |

Operating threshold 0.10 (positive iff risk ≥ 0.10); clinically relevant range 0.05-0.20.

## Columns

| column | type | unit / values | notes |
|---|---|---|---|
| `site` | string | DE-Berlin, FR-Lyon, ES-Valencia, FI-Tampere | audit: {count_line("site")} |
| `sex` | string | F, M | audit: {count_line("sex")} |
| `age` | float (1 decimal) | years | intended 40-79; audit has ~1 % aged 35-39 or 80-84 |
| `ethnicity` | string | White European, South Asian, Black African/Caribbean, Other | audit: {count_line("ethnicity")} |
| `deprivation` | int | quintile 1-5, 5 = most deprived | audit: {count_line("deprivation")} |
| `sbp` | int | mmHg | systolic blood pressure |
| `total_chol` | float | mmol/L (**mg/dL at FI-Tampere in the audit cohort**) | total cholesterol |
| `hdl` | float | mmol/L (everywhere) | HDL cholesterol |
| `bmi` | float (1 decimal) | kg/m² | ~1 % missing (empty) in the audit cohort, none in development |
| `smoking` | string | never, former, current | |
| `diabetes` | int | 0/1 | diagnosed diabetes |
| `cvd_10y` | int | 0/1 | first cardiovascular event (MI, stroke, CHD death) within 10 years; the label |

Prevalence of `cvd_10y`: development {facts["dev_prevalence"]:.3f}, audit {facts["audit_prevalence"]:.3f}.

## How it was simulated

Covariates are drawn with realistic dependencies: site → ethnicity mix (urban sites more
diverse); ethnicity → deprivation (minority groups more deprived); deprivation, sex, age →
smoking; deprivation, age, ethnicity → BMI; age, sex, BMI → SBP; BMI, age, sex → cholesterol
and HDL; age, BMI, ethnicity, deprivation → diabetes. The outcome is Bernoulli with

    logit P(cvd_10y = 1) = intercept + Σ coefficient × term

shared by both populations:

| term | coefficient (log-odds) | odds ratio |
|---|---|---|
{coef_rows}

Terms are centred (age − 60, SBP − 130, total_chol/HDL − 4, BMI − 27, deprivation − 3;
`chol_mmol_above_7_5` = max(total_chol − 7.5, 0), the familial-hypercholesterolaemia range).
Missing BMI enters the true risk at 27. The development population ({DEV_N:,} patients, seed
{DEV_SEED}) follows this equation exactly and has no planted problems; deprivation has only
its modest effect (OR {np.exp(RISK_COEFFICIENTS["deprivation_per_quintile_from_3"]):.2f} per quintile), which the model cannot see.

## Known problems built into the audit cohort

The audit cohort ({AUDIT_N:,} patients, seed {AUDIT_SEED}) uses the same covariate model and
risk equation, then:

1. **Under-prediction for the most deprived.** Deprivation quintile 5 gets an extra odds
   ratio of {PLANTED["deprivation5_extra_or"]} that the development data did not have → O/E > 1
   and CITL > 0 in that group.
2. **Lower sensitivity for women.** For women the measured risk factors matter less
   (their log-odds are shrunk towards logit 0.10 by a factor {PLANTED["female_attenuation"]}), and a
   binary factor the model never sees (think history of pre-eclampsia or an autoimmune
   inflammatory disease; prevalence {PLANTED["female_hidden_prevalence"]:.0%}, OR {np.exp(PLANTED["female_hidden_log_or"]):.1f}) drives
   their events, with a baseline shift ({PLANTED["female_baseline_shift"]:+}) that keeps women's overall
   calibration near 1. The damage is to discrimination: women with events get lower scores.
   Note that *some* F/M sensitivity gap exists in the clean development data too, because
   women's risk is lower at a fixed threshold; the planted part is the increase (see the
   reference column).
3. **Lab units at one site.** At FI-Tampere `total_chol` is recorded in mg/dL (× {CHOL_MMOL_TO_MGDL})
   instead of mmol/L; `hdl` stays in mmol/L. True risk used the mmol/L value. The tree model
   sees every Tampere patient as having extreme cholesterol, so risk is over-predicted there
   (a linear model such as `model_tensor.onnx` over-predicts far worse: risks near 1).
   FI-Tampere is the smallest site, so the other sites stay usable.
4. **(Optional extra) Weaker discrimination for South Asian patients.** Their log-odds are shrunk
   by {PLANTED["south_asian_attenuation"]} towards logit 0.10 and get unmeasured heterogeneity
   (normal noise, SD {PLANTED["south_asian_noise_sd"]}) → lower AUROC, calibration roughly kept.

Also for the safety checks: ages outside 40-79 and missing BMI appear only in the audit cohort.
Everything else is clean.

### Measured effects (model.onnx scored with ONNX Runtime; 95% CIs)

O/E with CI O/E·exp(±1.96/√O); CITL and calibration by logistic fit with offset; sensitivity
with Wilson CIs; AUROC with DeLong CIs. The reference column is the clean development hold-out
({int(DEV_N * DEV_HOLDOUT_FRACTION):,} patients) scored with the same model.

{_markdown_table(findings)}
"""


if __name__ == "__main__":
    sys.exit(main())

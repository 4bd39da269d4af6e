"""Benchmark: the audit engine against the naive fairlearn way, on a large synthetic cohort.

    .venv/bin/python bench/bench_engine.py                 # 1,000,000 rows, B = 1000
    .venv/bin/python bench/bench_engine.py --rows 200000 --naive-replicates 2

What it measures (each side in its own fresh child process, so peak RSS is clean):

* engine -- the real scores-mode path: ``validate_cohort`` on a DataFrame with a score column,
  then ``run_audit`` (point estimates, DeLong/Wilson CIs, the stratified bootstrap with B
  replicates for every partition: overall, each attribute, each pair, the triple intersection,
  then disclosure control, disparities and fairness summaries).
* naive -- what a user would write with fairlearn: one ``MetricFrame`` pass for the point
  estimates, then per replicate a stratified resample of patients (``numpy`` choice within each
  finest group) and ``MetricFrame`` again. Each pass builds four MetricFrames (the triple
  intersection and each single attribute; pairs are *not* included, so the naive side does less
  work than the engine). Only ``--naive-replicates`` replicates are timed; the total is
  extrapolated as ``point_pass + B * mean(replicate)``.

The point estimates of both sides are compared for every group (overall, each attribute value,
each intersection) and every metric; the run fails if any differs by more than 1e-9.
The last line is ``RESULT rows=... seconds=... peak_rss_mb=... ratio_vs_naive=...`` where
seconds is the engine total including validation and ratio is naive extrapolated / engine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

SENSITIVE = ("sex", "age_band", "region")
THRESHOLD = 0.2
TOLERANCE = 1e-9

#: The engine's metric keys (cohortaudit.metrics.subgroups.METRIC_KEYS), in display order.
METRICS = (
    "auroc",
    "auprc",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "fnr",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "selection_rate",
    "prevalence",
    "brier",
)


# ---------------------------------------------------------------------------- synthetic cohort


def make_cohort(rows: int, seed: int) -> pd.DataFrame:
    """Seeded cohort: sex (2) x age band (4) x region (3) = 24 intersections, ~10% prevalence.

    Risk depends on age, sex and region; the score is a continuous, imperfect and group-wise
    miscalibrated estimate of that risk (so metrics differ between groups).
    """
    rng = np.random.default_rng(seed)
    sex_levels = np.array(["F", "M"], dtype=object)
    age_levels = np.array(["18-39", "40-64", "65-79", "80+"], dtype=object)
    region_levels = np.array(["North", "South", "West"], dtype=object)
    sex = rng.choice(2, size=rows, p=[0.52, 0.48])
    age = rng.choice(4, size=rows, p=[0.35, 0.35, 0.2, 0.1])
    region = rng.choice(3, size=rows, p=[0.5, 0.3, 0.2])
    latent = rng.standard_normal(rows)
    logit = (
        -3.0
        + np.array([0.0, 0.3])[sex]
        + np.array([-0.6, 0.2, 0.9, 1.4])[age]
        + np.array([0.0, 0.15, -0.1])[region]
        + 1.1 * latent
    )
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    # the model sees the latent risk with noise and a region-dependent miscalibration
    score_logit = (
        0.9 * logit + np.array([0.0, -0.25, 0.3])[region] + 0.8 * rng.standard_normal(rows)
    )
    p = 1.0 / (1.0 + np.exp(-score_logit))
    return pd.DataFrame(
        {
            "sex": pd.Series(sex_levels[sex], dtype="str"),
            "age_band": pd.Series(age_levels[age], dtype="str"),
            "region": pd.Series(region_levels[region], dtype="str"),
            "y": y,
            "p": p,
        }
    )


def _label(attributes: dict[str, str]) -> str:
    if not attributes:
        return "overall"
    return " & ".join(f"{k}={attributes[k]}" for k in SENSITIVE if k in attributes)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# ---------------------------------------------------------------------------- engine (child)


def run_engine(args: argparse.Namespace) -> dict:
    from cohortaudit.audit import run_audit
    from cohortaudit.cohort import validate_cohort
    from cohortaudit.config import AuditConfig

    t0 = time.perf_counter()
    frame = make_cohort(args.rows, args.seed)
    t_gen = time.perf_counter() - t0
    rss_data = _current_rss_mb()
    peak_after_gen = _peak_rss_mb()

    config = AuditConfig(
        label="y",
        sensitive_features=SENSITIVE,
        score_column="p",
        n_boot=args.n_boot,
        seed=args.seed,
        threshold=THRESHOLD,
    )
    c0 = _cpu_seconds()
    t0 = time.perf_counter()
    cohort = validate_cohort(frame, config=config)
    t_validate = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_audit(cohort, None, config)
    t_audit = time.perf_counter() - t0
    cpu = _cpu_seconds() - c0
    peak = _peak_rss_mb()

    groups = {}
    for g in (result.overall, *result.subgroups):
        if g.suppressed:
            continue
        groups[_label(g.attributes)] = {
            "n": g.n,
            "events": g.events,
            "values": {m: g.metrics[m].value for m in METRICS if m in g.metrics},
            "ci": {
                m: (g.metrics[m].ci_low, g.metrics[m].ci_high) for m in METRICS if m in g.metrics
            },
        }
    return {
        "generate_seconds": t_gen,
        "validate_seconds": t_validate,
        "audit_seconds": t_audit,
        "cpu_seconds": cpu,
        "rss_after_data_mb": rss_data,
        "peak_rss_after_data_mb": peak_after_gen,
        "peak_rss_mb": peak,
        "n_groups": 1 + len(result.subgroups),
        "n_suppressed": sum(g.suppressed for g in result.subgroups),
        "groups": groups,
    }


# ---------------------------------------------------------------------------- naive (child)


def naive_metrics() -> dict:
    """The engine's metrics as a user would pass them to MetricFrame (y_pred = the scores)."""
    from fairlearn.metrics import (
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        balanced_accuracy_score,
        brier_score_loss,
        f1_score,
        precision_score,
        roc_auc_score,
    )

    def at(fn, **kw):
        return lambda yt, ys: fn(yt, (ys >= THRESHOLD).astype(np.int8), **kw)

    return {
        "auroc": roc_auc_score,
        "auprc": average_precision_score,
        "sensitivity": at(true_positive_rate),
        "specificity": at(true_negative_rate),
        "ppv": at(precision_score, zero_division=np.nan),
        "npv": at(precision_score, pos_label=0, zero_division=np.nan),
        "fpr": at(false_positive_rate),
        "fnr": at(false_negative_rate),
        "accuracy": at(accuracy_score),
        "balanced_accuracy": at(balanced_accuracy_score),
        "f1": at(f1_score, zero_division=np.nan),
        "selection_rate": at(selection_rate),
        "prevalence": lambda yt, ys: float(np.mean(yt)),
        "brier": brier_score_loss,
    }


def naive_pass(metrics: dict, y: np.ndarray, p: np.ndarray, groups: pd.DataFrame) -> dict:
    """Four MetricFrames: the intersection of all attributes, then each attribute alone."""
    from fairlearn.metrics import MetricFrame

    out: dict[str, dict[str, float]] = {}
    for features in (list(SENSITIVE), *([f] for f in SENSITIVE)):
        mf = MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=groups[features])
        if "overall" not in out:
            out["overall"] = {m: float(v) for m, v in mf.overall.items()}
        for key, row in mf.by_group.iterrows():
            key = key if isinstance(key, tuple) else (key,)
            out[_label(dict(zip(features, key, strict=True)))] = {
                m: float(v) for m, v in row.items()
            }
    return out


def run_naive(args: argparse.Namespace) -> dict:
    warnings.filterwarnings("ignore")
    frame = make_cohort(args.rows, args.seed)
    y = frame["y"].to_numpy()
    p = frame["p"].to_numpy()
    groups = frame[list(SENSITIVE)]
    metrics = naive_metrics()

    t0 = time.perf_counter()
    point = naive_pass(metrics, y, p, groups)
    t_point = time.perf_counter() - t0

    # stratified by the finest group: resample patients within each intersection
    codes, _ = pd.MultiIndex.from_frame(groups).factorize()
    strata = [np.flatnonzero(codes == c) for c in range(codes.max() + 1)]
    rng = np.random.default_rng(args.seed + 1)
    rep_seconds, rep_resample = [], []
    for _ in range(args.naive_replicates):
        t0 = time.perf_counter()
        idx = np.concatenate([rng.choice(s, size=len(s), replace=True) for s in strata])
        yb, pb = y[idx], p[idx]
        gb = groups.iloc[idx].reset_index(drop=True)
        t1 = time.perf_counter()
        naive_pass(metrics, yb, pb, gb)
        rep_seconds.append(time.perf_counter() - t0)
        rep_resample.append(t1 - t0)
    return {
        "point_seconds": t_point,
        "replicate_seconds": rep_seconds,
        "resample_seconds": rep_resample,
        "peak_rss_mb": _peak_rss_mb(),
        "groups": point,
    }


# ---------------------------------------------------------------------------- driver


def _child(role: str, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--role",
        role,
        "--rows",
        str(args.rows),
        "--n-boot",
        str(args.n_boot),
        "--naive-replicates",
        str(args.naive_replicates),
        "--seed",
        str(args.seed),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{role} child failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt_s(x: float) -> str:
    if x >= 3600:
        return f"{x / 3600:.2f} h"
    if x >= 60:
        return f"{x / 60:.1f} min"
    return f"{x:.2f} s"


def compare(engine: dict, naive: dict) -> tuple[float, str, int, list[str]]:
    worst, n_compared, problems = 0.0, 0, []
    worst_at = ""
    for label, ng in naive.items():
        eg = engine.get(label)
        if eg is None:
            problems.append(f"group {label!r} missing from the engine result")
            continue
        for m in METRICS:
            a, b = eg["values"].get(m), ng.get(m)
            a = math.nan if a is None else a
            if math.isnan(a) and math.isnan(b):
                n_compared += 1
                continue
            if math.isnan(a) or math.isnan(b):
                problems.append(f"{label} {m}: engine {a} vs naive {b}")
                continue
            d = abs(a - b)
            n_compared += 1
            if d > worst:
                worst, worst_at = d, f"{label} {m}"
    return worst, worst_at, n_compared, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--naive-replicates", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument(
        "--role", choices=("driver", "engine", "naive"), default="driver", help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)

    if args.role == "engine":
        print(json.dumps(run_engine(args)))
        return 0
    if args.role == "naive":
        print(json.dumps(run_naive(args)))
        return 0

    print(
        f"cohortaudit engine benchmark: rows={args.rows:,} B={args.n_boot} seed={args.seed} "
        f"cores={os.cpu_count()} threshold={THRESHOLD}"
    )
    print(f"sensitive features: {', '.join(SENSITIVE)} (2 x 4 x 3 = 24 intersections)")
    load = os.getloadavg()
    print(
        f"load average before start: {load[0]:.2f} (1 min) -- other work on the machine "
        f"inflates wall times; the CPU time row is less sensitive to it"
        + (
            f"; BLAS threads: OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
            if "OPENBLAS_NUM_THREADS" in os.environ
            else ""
        )
    )
    print("running the engine in a fresh process ...", flush=True)
    eng = _child("engine", args)
    print(
        f"running the naive fairlearn way in a fresh process "
        f"(point pass + {args.naive_replicates} replicates) ...",
        flush=True,
    )
    nai = _child("naive", args)

    engine_s = eng["validate_seconds"] + eng["audit_seconds"]
    reps = np.array(nai["replicate_seconds"])
    rep_mean = float(reps.mean()) if len(reps) else math.nan
    naive_total = nai["point_seconds"] + args.n_boot * rep_mean
    ratio = naive_total / engine_s
    worst, worst_at, n_compared, problems = compare(eng["groups"], nai["groups"])

    overall = eng["groups"]["overall"]
    print()
    print(
        f"cohort: n={overall['n']:,} events={overall['events']:,} "
        f"(prevalence {overall['events'] / overall['n']:.3f}); engine reports "
        f"{eng['n_groups']} groups ({eng['n_suppressed']} suppressed); "
        f"data generation {eng['generate_seconds']:.2f} s (not timed below)"
    )
    print()
    w = 46
    print(f"{'step':<{w}} {'wall time':>12} {'peak RSS':>12}")
    print("-" * (w + 26))
    print(f"{'engine: validate_cohort':<{w}} {_fmt_s(eng['validate_seconds']):>12} {'':>12}")
    print(
        f"{'engine: run_audit (B=' + str(args.n_boot) + ')':<{w}} "
        f"{_fmt_s(eng['audit_seconds']):>12} {'':>12}"
    )
    print(f"{'engine: total':<{w}} {_fmt_s(engine_s):>12} {eng['peak_rss_mb']:>9.0f} MB")
    print(f"{'  (CPU time, user + system)':<{w}} {_fmt_s(eng['cpu_seconds']):>12} {'':>12}")
    print(
        f"{'  (process RSS holding the cohort frame)':<{w}} {'':>12} "
        f"{eng['rss_after_data_mb']:>9.0f} MB"
    )
    print(f"{'naive: MetricFrame point pass':<{w}} {_fmt_s(nai['point_seconds']):>12} {'':>12}")
    print(
        f"{'naive: one replicate (mean of ' + str(len(reps)) + ')':<{w}} "
        f"{_fmt_s(rep_mean):>12} {nai['peak_rss_mb']:>9.0f} MB"
    )
    print(
        f"{'  of which stratified resampling':<{w}} "
        f"{_fmt_s(float(np.mean(nai['resample_seconds']))):>12} {'':>12}"
    )
    print(f"{'naive: extrapolated, point + B x replicate':<{w}} {_fmt_s(naive_total):>12} {'':>12}")
    print("-" * (w + 26))
    print(
        f"speed-up vs naive: {ratio:,.0f}x   "
        f"(replicates timed: {', '.join(f'{r:.1f} s' for r in reps)})"
    )
    print()

    # a readable slice of the results: every intersection, engine value (naive value)
    show = ("auroc", "sensitivity", "specificity", "ppv", "brier")
    print(f"{'intersection':<44} {'n':>7} " + " ".join(f"{m[:11]:>11}" for m in show))
    for label, g in sorted(eng["groups"].items()):
        if label.count("&") != len(SENSITIVE) - 1:
            continue
        vals = " ".join(f"{g['values'][m]:>11.4f}" for m in show)
        print(f"{label:<44} {g['n']:>7} {vals}")
    print()
    n_single = sum(g != "overall" and "&" not in g for g in nai["groups"])
    n_inter = sum("&" in g for g in nai["groups"])
    print(
        f"point estimates compared: {n_compared} values = {len(nai['groups'])} groups (overall, "
        f"{n_single} single-attribute, {n_inter} intersections) x {len(METRICS)} metrics"
    )
    print(
        f"max |engine - naive| = {worst:.3g} at {worst_at or '-'} (tolerance {TOLERANCE:g}; "
        "the engine's values are rounded to 12 significant digits)"
    )
    for line in problems[:10]:
        print("  mismatch: " + line)
    ok = worst <= TOLERANCE and not problems
    print(
        f"RESULT rows={args.rows} seconds={engine_s:.2f} peak_rss_mb={eng['peak_rss_mb']:.0f} "
        f"ratio_vs_naive={ratio:.0f}"
    )
    if not ok:
        print("FAILED: point estimates differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

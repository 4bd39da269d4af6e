"""Benchmark: the weak-slice search on a million patients, and SHAP explanations of the sample.

    .venv/bin/python bench/bench_safety.py                  # slices on 1,000,000 rows + explain
    .venv/bin/python bench/bench_safety.py --rows 200000 --skip-explain

* **Slice search** (issue 5 target: <= 30 s on 2 cores for 1M rows). A 1M-row audit cohort
  simulated exactly like the bundled sample (``sample_data/build_sample.py``, planted problems
  included), scored with ``sample_data/model.onnx``, then :func:`cohortaudit.safety.weak_slices`
  over what an audit searches: the 5 sensitive attributes (age in the sample's bands) plus the
  6 other model inputs, singles and pairs (66 combinations, ~2,000 slices, 3 tests each).
  Naive comparison: per slice, sklearn ``roc_auc_score`` on the slice and on the rest, plus
  sensitivity and O/E with boolean masks, timed on ``--naive-slices`` slices and extrapolated
  to the number of slices the search tested.
* **Explanations** (issue 4 target: <= 60 s on 2 cores): :func:`cohortaudit.explain.explain_model`
  on the sample (25,000 patients), 1000 explained rows x 100 background rows, in a fresh
  process so shap's numba kernels load (or compile) as they would for a CLI run.

Last lines: ``RESULT slices rows=... seconds=... tests=... ratio_vs_naive=...`` and
``RESULT explain rows=... seconds=... shap_seconds=...``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SENSITIVE = ("sex", "age", "ethnicity", "deprivation", "site")
AGE_EDGES = (40, 50, 60, 70, 80)
THRESHOLD = 0.2


def _build_sample_module():
    spec = importlib.util.spec_from_file_location("_build_sample", SAMPLE / "build_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_build_sample"] = module
    spec.loader.exec_module(module)
    return module


def _slice_inputs(rows: int, seed: int):
    """(y, p, frame) for the search, the frame built as cohortaudit.checks builds it."""
    import pandas as pd

    from cohortaudit.cohort import validate_cohort
    from cohortaudit.config import AuditConfig
    from cohortaudit.io import load_model
    from cohortaudit.scoring import score

    frame = _build_sample_module().simulate_population(rows, seed, kind="audit")
    config = AuditConfig(label="cvd_10y", sensitive_features=SENSITIVE, bins={"age": AGE_EDGES})
    model = load_model(SAMPLE / "model.onnx")
    cohort = validate_cohort(frame, config=config, model=model)
    p = score(model, cohort.features)
    slice_frame = cohort.groups[list(SENSITIVE)].astype(str).reset_index(drop=True)
    for col in cohort.features.columns:
        if col not in slice_frame.columns:
            slice_frame[col] = cohort.features[col].reset_index(drop=True)
    return np.asarray(cohort.y_true), p, pd.DataFrame(slice_frame)


def run_slices(args: argparse.Namespace) -> dict:
    from itertools import combinations

    from sklearn.metrics import roc_auc_score

    from cohortaudit import safety
    from cohortaudit.safety.slices import encode_levels

    y, p, frame = _slice_inputs(args.rows, args.seed)
    t0 = time.perf_counter()
    found = safety.weak_slices(y, p, frame, threshold=THRESHOLD, min_size=10, max_order=2)
    seconds = time.perf_counter() - t0

    # how many slices the search considered (every level of every single and pair)
    enc = encode_levels(frame)
    n_slices = sum(len(enc[j][2]) for j in range(len(enc))) + sum(
        len(enc[a][2]) * len(enc[b][2]) for a, b in combinations(range(len(enc)), 2)
    )
    # naive: boolean masks and sklearn per slice, on the first --naive-slices pair slices
    pred = p >= THRESHOLD
    t1 = time.perf_counter()
    done = 0
    for a, b in combinations(range(len(enc)), 2):
        for va in range(len(enc[a][2])):
            for vb in range(len(enc[b][2])):
                mask = (enc[a][1] == va) & (enc[b][1] == vb)
                rest = ~mask
                if y[mask].min(initial=1) == y[mask].max(initial=0):
                    continue
                roc_auc_score(y[mask], p[mask])
                roc_auc_score(y[rest], p[rest])
                _ = pred[mask & (y == 1)].mean(), pred[rest & (y == 1)].mean()
                _ = y[mask].sum() / p[mask].sum(), y[rest].sum() / p[rest].sum()
                done += 1
                if done >= args.naive_slices:
                    break
            if done >= args.naive_slices:
                break
        if done >= args.naive_slices:
            break
    per_slice = (time.perf_counter() - t1) / max(done, 1)
    by_metric: dict[str, int] = {}
    for w in found:
        by_metric[w.metric] = by_metric.get(w.metric, 0) + 1
    return {
        "rows": args.rows,
        "seconds": seconds,
        "slices": n_slices,
        "found": len(found),
        "found_by_metric": by_metric,
        "top": [w.description for w in found[:5]],
        "naive_per_slice": per_slice,
        "naive_seconds": per_slice * n_slices,
    }


def run_explain(args: argparse.Namespace) -> dict:
    from cohortaudit.config import AuditConfig
    from cohortaudit.explain import explain_model
    from cohortaudit.pipeline import load_inputs

    config = AuditConfig(label="cvd_10y", sensitive_features=SENSITIVE, bins={"age": AGE_EDGES})
    inputs = load_inputs(
        cohort_path=SAMPLE / "cohort.csv",
        config=config,
        model_path=SAMPLE / "model.onnx",
        card_path=SAMPLE / "model.card.yaml",
    )
    t0 = time.perf_counter()
    res = explain_model(
        inputs.model,
        inputs.cohort.features,
        groups=inputs.cohort.groups.astype(str),
        n_explain=args.explain_rows,
        seed=config.seed,
        n_boot=200,
    )
    return {
        "rows": args.explain_rows,
        "seconds": time.perf_counter() - t0,
        "shap_seconds": res.seconds_shap,
        "top": [g.feature for g in res.global_importance[:3]],
    }


def _child(role: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--role", role, "--rows", str(args.rows), "--seed",
           str(args.seed), "--naive-slices", str(args.naive_slices), "--explain-rows",
           str(args.explain_rows)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--naive-slices", type=int, default=30)
    ap.add_argument("--explain-rows", type=int, default=1000)
    ap.add_argument("--skip-explain", action="store_true")
    ap.add_argument("--role", choices=("driver", "slices", "explain"), default="driver")
    args = ap.parse_args(argv)
    if args.role == "slices":
        print(json.dumps(run_slices(args)))
        return 0
    if args.role == "explain":
        print(json.dumps(run_explain(args)))
        return 0
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    s = _child("slices", args)
    print(f"slice search, {s['rows']:,} rows, {s['slices']:,} slices x 3 metrics: "
          f"{s['seconds']:.1f} s; {s['found']} reported {s['found_by_metric']}")  # fmt: skip
    for line in s["top"]:
        print(f"  {line}")
    ratio = s["naive_seconds"] / s["seconds"]
    print(f"naive per-slice sklearn: {s['naive_per_slice'] * 1000:.0f} ms/slice -> "
          f"{s['naive_seconds']:.0f} s extrapolated; ratio {ratio:.0f}x")  # fmt: skip
    print(f"RESULT slices rows={s['rows']} seconds={s['seconds']:.2f} tests={s['slices'] * 3} "
          f"ratio_vs_naive={ratio:.1f} target_seconds=30")  # fmt: skip
    if not args.skip_explain:
        e = _child("explain", args)
        print(f"explanations, sample ONNX model, {e['rows']} rows x 100 background: "
              f"{e['seconds']:.1f} s ({e['shap_seconds']:.1f} s SHAP); top {e['top']}")  # fmt: skip
        print(f"RESULT explain rows={e['rows']} seconds={e['seconds']:.2f} "
              f"shap_seconds={e['shap_seconds']:.2f} target_seconds=60")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Exact tree SHAP vs the model-agnostic explainer on the bundled sample model (issue 18.5).

Both compute the interventional Shapley values of P(positive) over the raw inputs with the same
background. The tree path explains ``--rows`` patients; the model-agnostic path (shap's
ExactExplainer, as ``explain_model`` runs it: 2 threads of single-threaded ORT sessions) is
timed on ``--agnostic-rows`` patients only (it takes ~28 s per 1,000) and scaled linearly to
1,000 rows, which is what ``agnostic_s_per_1000`` reports. The values of the rows both explain
are compared (``max_abs_diff``). The tree path runs once first to load numba's cached kernel
(a fresh process compiles it once, ~5 s, then reads it from the cache).

    python bench/bench_shap.py [--rows 1000] [--background 100] [--agnostic-rows 100]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cohortaudit import explain as E
from cohortaudit.explain_treeshap import tree_shap_values
from cohortaudit.io import load_model

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--background", type=int, default=100)
    ap.add_argument("--agnostic-rows", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    model = load_model(SAMPLE / "model.onnx")
    features = pd.read_csv(SAMPLE / "cohort.csv")
    enc = E._build_encoding(model, features)
    fast = E._single_thread_model(model, enc)
    predict = E._predict_fn(fast, enc)
    X = enc.encode(features)
    rng = np.random.default_rng(0)
    bg = X[rng.choice(len(X), args.background, replace=False)]
    rows = X[rng.choice(len(X), args.rows, replace=False)]
    few = rows[: args.agnostic_rows]

    def tree() -> np.ndarray:
        return tree_shap_values(fast, enc.names, enc.decode, predict, bg, rows)[0]

    tree_shap_values(fast, enc.names, enc.decode, predict, bg, few[:2])  # load the kernel
    tree_s, agn_s = [], []
    for _ in range(args.repeats):  # alternate A/B
        t = time.perf_counter()
        phi_tree = tree()
        tree_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        phi_agn = E._shap_values(predict, bg, few, enc.names, seed=0)[0]
        agn_s.append(time.perf_counter() - t)
    diff = float(np.max(np.abs(phi_tree[: len(few)] - phi_agn)))
    t_tree = float(np.median(tree_s))
    t_agn = float(np.median(agn_s)) * 1000 / len(few)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"tree_s runs: {[round(x, 3) for x in tree_s]}; agnostic_s runs on {len(few)} rows: "
          f"{[round(x, 3) for x in agn_s]}; load average {load}")
    print(
        f"RESULT rows={args.rows} background={args.background} tree_s={t_tree:.3f} "
        f"agnostic_s_per_1000={t_agn:.2f} ratio={t_agn / t_tree * args.rows / 1000:.1f} "
        f"max_abs_diff={diff:.2e} agnostic_rows={len(few)} (scaled to 1000)"
    )


if __name__ == "__main__":
    main()

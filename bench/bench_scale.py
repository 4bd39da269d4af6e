"""Benchmark: full audits of 1e5, 1e6 and 1e7 patients, in memory and streamed from Parquet.

    .venv/bin/python bench/bench_scale.py                          # 1e5, 1e6, 1e7 (B = 1000)
    .venv/bin/python bench/bench_scale.py --sizes 100000 1000000   # skip the 10M run

What it measures, each run in its own fresh child process (so its peak RSS is its own):

* the cohort: the sample's synthetic population (``sample_data/build_sample.py``,
  ``simulate_population``, audit kind: planted problems, out-of-range ages, missing BMI),
  generated in blocks of 500,000 rows with per-block seeds and written to
  ``bench/.cache/cohort_<rows>.parquet`` in row groups of 500,000 (kept between runs);
* the audit: the sample model (ONNX, 8 named inputs) with its card (test vectors checked),
  sensitive features sex x age (bins 40/50/60/70/80) x site, every intersection
  (max order 3), B = 1000, calibration and curves included; no SHAP, no safety checks.
  ``memory`` = :func:`cohortaudit.pipeline.audit_files` (sizes up to 1e6), ``stream`` =
  :func:`cohortaudit.streaming.audit_stream` with 500,000-row chunks (every size);
  wall time from reading the file to the finished result, peak RSS (``ru_maxrss``);
* the naive way (as ``bench_engine.py``): a fairlearn ``MetricFrame`` pass over the triple
  intersection and each attribute with the same 14 metrics, then per replicate a stratified
  resample and the same pass. Timed on the 1e5 cohort only (a 1e6 replicate takes minutes) and
  extrapolated linearly in rows: ``(point + B x replicate) x rows / 1e5``.

Last lines: ``RESULT rows=... mode=... seconds=... peak_rss_mb=... ratio_vs_naive=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
MODEL = ROOT / "sample_data" / "model.onnx"
CARD = ROOT / "sample_data" / "model.card.yaml"
SENSITIVE = ("sex", "age", "site")
BINS = {"age": (40, 50, 60, 70, 80)}
BLOCK = 500_000
NAIVE_ROWS = 100_000


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cohort_path(rows: int, seed: int) -> Path:
    """Generate (once) the Parquet cohort of ``rows`` patients, block by block."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = CACHE / f"cohort_{rows}_{seed}.parquet"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    sys.path.insert(0, str(ROOT / "sample_data"))
    from build_sample import simulate_population

    tmp = path.with_suffix(".tmp")
    writer = None
    for i, start in enumerate(range(0, rows, BLOCK)):
        n = min(BLOCK, rows - start)
        table = pa.Table.from_pandas(
            simulate_population(n, seed + i, kind="audit"), preserve_index=False
        )
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=BLOCK)
    writer.close()
    tmp.rename(path)
    return path


def _config(n_boot: int, seed: int):
    from cohortaudit.config import AuditConfig

    return AuditConfig(
        label="cvd_10y",
        sensitive_features=SENSITIVE,
        bins=BINS,
        n_boot=n_boot,
        seed=seed,
        max_intersection_order=3,
        safety=False,
        explain=False,
    )


def run_audit_child(args: argparse.Namespace) -> dict:
    path = cohort_path(args.rows, args.seed)
    config = _config(args.n_boot, args.seed)
    t0 = time.perf_counter()
    if args.role == "memory":
        from cohortaudit.pipeline import audit_files

        result = audit_files(cohort_path=path, config=config, model_path=MODEL, card_path=CARD)
    else:
        from cohortaudit.streaming import audit_stream

        result = audit_stream(
            cohort_path=path, config=config, model_path=MODEL, card_path=CARD,
            chunk_rows=args.chunk_rows,
        )  # fmt: skip
    seconds = time.perf_counter() - t0
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu_seconds": r.ru_utime + r.ru_stime,
        "peak_rss_mb": _peak_rss_mb(),
        "n": result.overall.n,
        "events": result.overall.events,
        "groups": 1 + len(result.subgroups),
        "auroc": result.overall.metrics["auroc"].value,
    }


def run_naive_child(args: argparse.Namespace) -> dict:
    """MetricFrame point pass + replicates on the scored cohort (scoring not timed)."""
    import pandas as pd
    from fairlearn.metrics import MetricFrame

    sys.path.insert(0, str(HERE))
    from bench_engine import naive_metrics
    from cohortaudit.card import load_card
    from cohortaudit.cohort import validate_cohort
    from cohortaudit.io import load_cohort, load_model
    from cohortaudit.scoring import score

    warnings.filterwarnings("ignore")
    card = load_card(CARD)
    model = load_model(MODEL, card=card)
    frame, _ = load_cohort(cohort_path(args.rows, args.seed))
    cohort = validate_cohort(frame, config=_config(0, args.seed), model=model, card=card)
    y = np.asarray(cohort.y_true)
    p = score(model, cohort.features)
    groups = cohort.groups[list(SENSITIVE)].astype(str)
    metrics = naive_metrics()

    def naive_pass(yv, pv, g) -> None:
        for features in (list(SENSITIVE), *([f] for f in SENSITIVE)):
            MetricFrame(metrics=metrics, y_true=yv, y_pred=pv, sensitive_features=g[features])

    t0 = time.perf_counter()
    naive_pass(y, p, groups)
    point = time.perf_counter() - t0
    codes, _ = pd.MultiIndex.from_frame(groups).factorize()
    strata = [np.flatnonzero(codes == c) for c in range(codes.max() + 1)]
    rng = np.random.default_rng(args.seed + 1)
    reps = []
    for _ in range(args.naive_replicates):
        t0 = time.perf_counter()
        idx = np.concatenate([rng.choice(s, size=len(s), replace=True) for s in strata])
        naive_pass(y[idx], p[idx], groups.iloc[idx].reset_index(drop=True))
        reps.append(time.perf_counter() - t0)
    return {"point_seconds": point, "replicate_seconds": reps, "rows": int(len(y))}


def _child(role: str, rows: int, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable, os.path.abspath(__file__), "--role", role, "--rows", str(rows),
        "--n-boot", str(args.n_boot), "--seed", str(args.seed),
        "--chunk-rows", str(args.chunk_rows), "--naive-replicates", str(args.naive_replicates),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{role} child for {rows} rows failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--naive-replicates", type=int, default=1)
    ap.add_argument(
        "--memory-up-to",
        type=int,
        default=1_000_000,
        help="also run the in-memory path for sizes up to this",
    )
    ap.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument(
        "--role",
        default="driver",
        help=argparse.SUPPRESS,
        choices=("driver", "generate", "memory", "stream", "naive"),
    )
    args = ap.parse_args(argv)

    if args.role == "generate":
        t0 = time.perf_counter()
        path = cohort_path(args.rows, args.seed)
        print(
            json.dumps(
                {
                    "path": str(path),
                    "seconds": time.perf_counter() - t0,
                    "mb": path.stat().st_size / 2**20,
                }
            )
        )
        return 0
    if args.role in ("memory", "stream"):
        print(json.dumps(run_audit_child(args)))
        return 0
    if args.role == "naive":
        print(json.dumps(run_naive_child(args)))
        return 0

    load = os.getloadavg()[0]
    print(
        f"cohortaudit scale benchmark: sizes={args.sizes} B={args.n_boot} cores={os.cpu_count()} "
        f"chunk_rows={args.chunk_rows:,} load(1 min)={load:.2f}"
    )
    print(
        f"audit: sample model (ONNX) + card, sensitive {' x '.join(SENSITIVE)}, all "
        "intersections, calibration and curves; no SHAP, no safety checks"
    )
    for rows in args.sizes:
        g = _child("generate", rows, args)
        print(f"  cohort {rows:>12,} rows: {g['mb']:.0f} MB Parquet ({g['path']})", flush=True)
    print(
        f"naive fairlearn way on {NAIVE_ROWS:,} rows (point pass + "
        f"{args.naive_replicates} replicate(s)) ...",
        flush=True,
    )
    naive = _child("naive", NAIVE_ROWS, args)
    rep = float(np.mean(naive["replicate_seconds"]))
    naive_per_row = (naive["point_seconds"] + args.n_boot * rep) / naive["rows"]
    print(
        f"  point pass {naive['point_seconds']:.1f} s, one replicate {rep:.1f} s -> "
        f"{naive_per_row * 1e6 / 3600:.1f} h per million rows (extrapolated)"
    )
    print()
    print(
        f"{'rows':>12} {'mode':>7} {'wall':>9} {'CPU':>9} {'peak RSS':>10} {'s/Mrow':>8} "
        f"{'naive (extrap.)':>16} {'ratio':>9}"
    )
    results = []
    for rows in args.sizes:
        modes = ["memory", "stream"] if rows <= args.memory_up_to else ["stream"]
        for mode in modes:
            r = _child(mode, rows, args)
            naive_s = naive_per_row * r["n"]
            ratio = naive_s / r["seconds"]
            results.append((rows, mode, r, ratio))
            print(
                f"{rows:>12,} {mode:>7} {r['seconds']:>8.1f}s {r['cpu_seconds']:>8.1f}s "
                f"{r['peak_rss_mb']:>7.0f} MB {r['seconds'] / rows * 1e6:>8.1f} "
                f"{naive_s / 3600:>14.0f} h {ratio:>9,.0f}",
                flush=True,
            )
    print()
    for rows, mode, r, ratio in results:
        print(
            f"RESULT rows={rows} mode={mode} seconds={r['seconds']:.2f} "
            f"peak_rss_mb={r['peak_rss_mb']:.0f} ratio_vs_naive={ratio:.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

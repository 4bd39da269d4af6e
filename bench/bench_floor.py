"""Benchmark: the full ``cohortaudit audit`` against its physical floor (issue 18).

    .venv/bin/python bench/bench_floor.py                    # 1e6 rows, 3 alternating pairs
    .venv/bin/python bench/bench_floor.py --rows 10000000 --pairs 1   # 1e7 rows, streamed

The floor of an audit is reading the cohort and running the model once; everything the engine
adds (metrics, 1000-replicate intervals, calibration, curves, the JSON) is measured against it.
Both sides run as fresh child processes with the same layout, so interpreter start-up and
imports are counted on both sides, and the wall time, CPU time (user + system) and peak RSS
come from ``os.wait4`` on that child alone:

* **floor**: ``import pyarrow.parquet, onnxruntime``; read the Parquet cohort (the same file
  ``bench_scale.py`` builds: the sample's synthetic population, row groups of 500,000) and
  score every row once with a plain ``onnxruntime.InferenceSession`` with the engine's
  session options (2 intra-op threads, sequential, deterministic), in the engine's 250,000-row
  batches, the inputs cast to the model's declared types. Up to 2M rows it reads the whole
  table; above (as the audit, which streams Parquet above 2M rows) one row group at a time;
* **audit**: ``cohortaudit audit --model sample_data/model.onnx --card ...  --cohort ...
  --label cvd_10y --sensitive sex age site --bins age=40,50,60,70,80 --max-order 3
  --n-boot 1000 --no-explain --no-safety --format json`` (streams above 2M rows, 500,000-row
  chunks).

The runs alternate floor, audit, floor, audit...; the ratios use the medians. The load
average is printed before and after (the machine is shared).

Last line: ``RESULT rows=... floor_s=... audit_s=... ratio=... cpu_ratio=...`` (+ peak RSS).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL = ROOT / "sample_data" / "model.onnx"
CARD = ROOT / "sample_data" / "model.card.yaml"
STREAM_ABOVE = 2_000_000

_FLOOR = r"""
import sys
import numpy as np
import onnxruntime as ort
import pyarrow.parquet as pq

path, model, stream = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
opts = ort.SessionOptions()
opts.intra_op_num_threads = 2
opts.inter_op_num_threads = 1
opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
opts.use_deterministic_compute = True
opts.log_severity_level = 3
session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
inputs = session.get_inputs()
types = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}
out_name = session.get_outputs()[1].name
BATCH = 250_000


def score(table):
    parts = []
    for s in range(0, table.num_rows, BATCH):
        batch = table.slice(s, BATCH)
        feeds = {}
        for inp in inputs:
            col = batch.column(inp.name)
            if inp.type == "tensor(string)":
                values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
            else:
                values = col.to_numpy(zero_copy_only=False).astype(types[inp.type])
            feeds[inp.name] = values.reshape(-1, 1)
        parts.append(np.asarray(session.run([out_name], feeds)[0], dtype=np.float64)[:, 1])
    return np.concatenate(parts)


total = 0.0
n = 0
if stream:
    f = pq.ParquetFile(path)
    for i in range(f.num_row_groups):
        p = score(f.read_row_group(i))
        total += float(p.sum()); n += p.size
else:
    p = score(pq.read_table(path))
    total = float(p.sum()); n = p.size
print(n, total / n)
"""


def _audit_cmd(path: Path, rows: int, out: str, n_boot: int, seed: int) -> list[str]:
    cmd = [
        sys.executable, "-c", "import sys; from cohortaudit.cli import main; sys.exit(main())",
        "audit", "--model", str(MODEL), "--card", str(CARD), "--cohort", str(path),
        "--label", "cvd_10y", "--sensitive", "sex", "age", "site",
        "--bins", "age=40,50,60,70,80", "--max-order", "3", "--n-boot", str(n_boot),
        "--seed", str(seed), "--no-explain", "--no-safety", "--format", "json",
        "--out", out, "--quiet",
    ]  # fmt: skip
    if rows > STREAM_ABOVE:
        cmd += ["--chunk-rows", "500000"]
    return cmd


def _run(cmd: list[str], src: str | None = None) -> dict:
    """Run ``cmd`` as a child; its own wall, CPU (user + system) and peak RSS from wait4."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(err.decode()[-4000:])
        raise SystemExit(f"child failed (exit {proc.returncode}): {' '.join(cmd[:4])} ...")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024.0,
        "out": out.decode().strip(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument(
        "--baseline-src",
        help="also run the audit from this src/ folder (e.g. an older commit's) in every pair, "
        "for a before/after ratio in the same run",
    )
    ap.add_argument("--keep-json", type=Path, help="copy the last audit.json here")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(HERE))
    from bench_scale import cohort_path

    path = cohort_path(args.rows, args.seed)
    stream = args.rows > STREAM_ABOVE
    env_path = os.environ.get("PYTHONPATH", "")
    print(
        f"floor vs audit: rows={args.rows:,} B={args.n_boot} pairs={args.pairs} "
        f"{'streamed' if stream else 'in memory'} cores={os.cpu_count()} "
        f"load={Path('/proc/loadavg').read_text().strip()} PYTHONPATH={env_path}",
        flush=True,
    )
    floors, audits, bases = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench_floor_") as tmp:
        for i in range(args.pairs):
            f = _run([sys.executable, "-c", _FLOOR, str(path), str(MODEL), "1" if stream else "0"])
            floors.append(f)
            print(
                f"  pair {i + 1} floor: wall {f['wall']:6.2f} s  CPU {f['cpu']:6.2f} s  "
                f"peak RSS {f['rss_mb']:6.0f} MB  ({f['out']})",
                flush=True,
            )
            if args.baseline_src:
                b = _run(
                    _audit_cmd(path, args.rows, f"{tmp}/base{i}", args.n_boot, args.seed),
                    args.baseline_src,
                )
                bases.append(b)
                print(
                    f"  pair {i + 1} base : wall {b['wall']:6.2f} s  CPU {b['cpu']:6.2f} s  "
                    f"peak RSS {b['rss_mb']:6.0f} MB  (pair ratio {b['wall'] / f['wall']:.2f}x)",
                    flush=True,
                )
            a = _run(_audit_cmd(path, args.rows, f"{tmp}/out{i}", args.n_boot, args.seed))
            audits.append(a)
            print(
                f"  pair {i + 1} audit: wall {a['wall']:6.2f} s  CPU {a['cpu']:6.2f} s  "
                f"peak RSS {a['rss_mb']:6.0f} MB  (pair ratio {a['wall'] / f['wall']:.2f}x)",
                flush=True,
            )
        if args.keep_json:
            shutil.copy(f"{tmp}/out{args.pairs - 1}/audit.json", args.keep_json)
            if bases:
                shutil.copy(
                    f"{tmp}/base{args.pairs - 1}/audit.json",
                    args.keep_json.with_suffix(".base.json"),
                )
    fw = statistics.median(r["wall"] for r in floors)
    aw = statistics.median(r["wall"] for r in audits)
    fc = statistics.median(r["cpu"] for r in floors)
    ac = statistics.median(r["cpu"] for r in audits)
    if bases:
        bw = statistics.median(r["wall"] for r in bases)
        bc = statistics.median(r["cpu"] for r in bases)
        print(
            f"BASELINE rows={args.rows} base_s={bw:.2f} ratio={bw / fw:.2f} "
            f"cpu_ratio={bc / fc:.2f} base_rss_mb={max(r['rss_mb'] for r in bases):.0f} "
            f"audit_vs_base={aw / bw:.2f} cpu_vs_base={ac / bc:.2f}"
        )
    print(f"load after: {Path('/proc/loadavg').read_text().strip()}")
    print(
        f"RESULT rows={args.rows} floor_s={fw:.2f} audit_s={aw:.2f} ratio={aw / fw:.2f} "
        f"cpu_ratio={ac / fc:.2f} floor_cpu_s={fc:.2f} audit_cpu_s={ac:.2f} "
        f"floor_rss_mb={max(r['rss_mb'] for r in floors):.0f} "
        f"audit_rss_mb={max(r['rss_mb'] for r in audits):.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the time-to-event patient bootstrap (``cohortaudit.survival.bootstrap``).

    .venv/bin/python bench/bench_survival_bootstrap.py                    # 1e5 and 1e6 rows, B = 1000
    .venv/bin/python bench/bench_survival_bootstrap.py --rows 100000 --n-boot 200

Synthetic, seeded cohort: sex (2) x age band (5) x site (4) = 40 finest cells; partitions up to
pairs (overall, 3 attributes, 3 pairs: 50 groups), every group released. Follow-up in whole
days (administrative censoring at 4-12 years, loss to follow-up differing by site), horizon
10 years (3652 days), predicted 10-year risks continuous (so risks are binned: 256 bins), an
event rate of about 10% by the horizon. Prints the wall time of each size and the shape of
the sufficient statistics (entries, time slots); the last line per size is
``RESULT rows=... n_boot=... seconds=...`` (the bootstrap alone: the exact auc_t of every group,
which the engine's point pass already has, is timed apart). ``--continuous`` draws follow-up
on a continuous scale instead; ``--max-time-bins 0`` keeps every distinct event time as a time
slot of the replicates (exact, slower; see docs/TIME-TO-EVENT.md, "Bootstrap").
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from cohortaudit.metrics.subgroups import build_cells, build_partitions
from cohortaudit.survival import auc_t, harrell_c, uno_c
from cohortaudit.survival.bootstrap import DEFAULT_BOOT_TIME_BINS, survival_replicates

HORIZON = 3652.0
THRESHOLD = 0.1


def make_cohort(n: int, seed: int, continuous: bool):
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "age": rng.choice(["40-49", "50-59", "60-69", "70-79", "80+"], n),
            "site": rng.choice(["A", "B", "C", "D"], n),
        }
    )
    age_i = groups["age"].map({"40-49": 0, "50-59": 1, "60-69": 2, "70-79": 3, "80+": 4})
    lp = -3.2 + 0.45 * age_i.to_numpy() + 0.3 * (groups["sex"] == "M") + rng.normal(0, 0.6, n)
    risk = 1.0 - np.exp(-np.exp(lp))  # the model's 10-year risk
    true_rate = -np.log(1.0 - risk) / HORIZON * 0.9
    t_event = rng.exponential(1.0 / true_rate)
    admin = rng.uniform(4 * 365.25, 12 * 365.25, n)
    loss_rate = groups["site"].map({"A": 0.01, "B": 0.03, "C": 0.05, "D": 0.08}).to_numpy()
    t_loss = rng.exponential(365.25 / loss_rate)
    t = np.minimum.reduce([t_event, admin, t_loss])
    event = (t_event <= np.minimum(admin, t_loss)).astype(np.int8)
    t = t if continuous else np.maximum(np.ceil(t), 1.0)
    cell, keys, orders = build_cells(groups)
    parts = build_partitions(keys, tuple(groups.columns), max_order=2, orders=orders)
    return t, event, risk, cell, parts


def run(n: int, n_boot: int, seed: int, continuous: bool, max_time_bins) -> float:
    t, e, r, cell, parts = make_cohort(n, seed, continuous)
    released = [[True] * len(p.keys) for p in parts]
    case = (e == 1) & (t <= HORIZON)
    print(
        f"rows={n} cells={len(parts[0].cell_to_group)} partitions={len(parts)} "
        f"groups={sum(len(p.keys) for p in parts)} events_by_horizon={int(case.sum())} "
        f"distinct_event_times={np.unique(t[case]).size}"
    )
    # the engine has every group's exact auc_t from its point pass (survival.summarize); the
    # bootstrap centres its binned replicates on them. Timed apart: it is not bootstrap work.
    start = time.perf_counter()
    points = []
    for part in parts:
        group = part.cell_to_group[cell]
        values = {"auc_t": [], "harrell_c": [], "uno_c": []}
        for g in range(len(part.keys)):
            m = group == g
            for key, fn in (("auc_t", auc_t), ("harrell_c", harrell_c), ("uno_c", uno_c)):
                values[key].append(fn(t[m], e[m], r[m], horizon=HORIZON).value)
        points.append({k: np.array(v, dtype=float) for k, v in values.items()})
    print(f"  point auc_t, C of every group (engine's point pass): {time.perf_counter() - start:.2f}s")
    start = time.perf_counter()
    cpu = time.process_time()
    reps = survival_replicates(
        t, e, r, cell, parts, released,
        horizon=HORIZON, threshold=THRESHOLD, n_boot=n_boot, seed=seed, points=points,
        max_time_bins=max_time_bins,
    )  # fmt: skip
    wall = time.perf_counter() - start
    print(
        f"  entries={reps.n_entries} time_slots={reps.n_time_slots} "
        f"exact_time={reps.exact_time} risk_bins={reps.n_bins} grid_exact={reps.grid_exact} "
        f"wall={wall:.2f}s cpu={time.process_time() - cpu:.2f}s "
        f"auc_t_bin_error_bound(overall)={reps.auc_t_bin_error_bound[0][0]:.2e}"
    )
    if reps.c_bin_error_bound:
        c = reps.c_bin_error_bound[0]
        print(f"  C bin error bound (overall): harrell {c['harrell_c'][0]:.2e} uno {c['uno_c'][0]:.2e}")
    print(f"RESULT rows={n} n_boot={n_boot} seconds={wall:.2f}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--continuous", action="store_true")
    ap.add_argument(
        "--max-time-bins", type=int, default=DEFAULT_BOOT_TIME_BINS,
        help="time slots of the replicates (0: every distinct event time, exact)",
    )  # fmt: skip
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores shared)")
    for n in args.rows:
        run(n, args.n_boot, args.seed, args.continuous, args.max_time_bins or None)


if __name__ == "__main__":
    main()

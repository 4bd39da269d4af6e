"""Time-to-event audit vs the binary audit of the same patients, same groups, same B (issue 16).

Target: a 1,000,000-patient time-to-event audit within 2x the binary audit's time on the same
machine. Both sides run the real scores-mode path (``validate_cohort`` then ``run_audit``) in
fresh child processes, alternating binary / time-to-event ``--pairs`` times, on one seeded
cohort: sex (2) x age band (4) x region (3) = 24 finest cells, every partition up to the
triple intersection, B bootstrap replicates, no SHAP, no safety checks.

The binary side audits the 0/1 outcome "event by the horizon" of the uncensored event times
(what a binary cohort would hold); the time-to-event side audits the censored follow-up of the
same patients (administrative censoring 4-14 years plus loss to follow-up) at a 10-year horizon.

    .venv/bin/python bench/bench_survival.py                      # 1e6 rows, B = 1000, 2 pairs
    .venv/bin/python bench/bench_survival.py --rows 100000 --pairs 1   # quick check

Last line: ``RESULT rows=... binary_s=... survival_s=... ratio=... cpu_ratio=...`` (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import pandas as pd

SENSITIVE = ("sex", "age_band", "region")
HORIZON = 10.0
THRESHOLD = 0.2


def make_cohort(rows: int, seed: int) -> pd.DataFrame:
    """Seeded censored cohort with a 10-year risk score that is group-wise miscalibrated."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(2, size=rows, p=[0.52, 0.48])
    age = rng.choice(4, size=rows, p=[0.35, 0.35, 0.2, 0.1])
    region = rng.choice(3, size=rows, p=[0.5, 0.3, 0.2])
    latent = rng.standard_normal(rows)
    lp = (
        np.array([0.0, 0.3])[sex]
        + np.array([-0.6, 0.2, 0.9, 1.4])[age]
        + np.array([0.0, 0.15, -0.1])[region]
        + 0.8 * latent
    )
    rate = 0.012 * np.exp(lp)
    t_event = rng.exponential(1.0 / rate)
    admin = rng.uniform(4.0, 14.0, rows)
    lost = rng.exponential(40.0, rows)
    censor = np.minimum(admin, lost)
    time_ = np.maximum(np.round(np.minimum(t_event, censor), 3), 0.001)
    event = (t_event <= censor).astype(np.int8)
    true_risk = -np.expm1(-rate * HORIZON)
    score_lp = np.log(-np.log1p(-true_risk)) + np.array([0.0, -0.2, 0.25])[region]
    score_lp += 0.5 * rng.standard_normal(rows)
    score = -np.expm1(-np.exp(score_lp))
    return pd.DataFrame(
        {
            "sex": np.array(["F", "M"], dtype=object)[sex],
            "age_band": np.array(["18-39", "40-64", "65-79", "80+"], dtype=object)[age],
            "region": np.array(["North", "South", "West"], dtype=object)[region],
            "event_10y": (t_event <= HORIZON).astype(np.int8),
            "time": time_,
            "event": event,
            "p": np.clip(score, 1e-6, 1 - 1e-6),
        }
    )


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_side(kind: str, rows: int, n_boot: int, seed: int) -> dict:
    from cohortaudit.audit import run_audit
    from cohortaudit.config import AuditConfig
    from cohortaudit.intake.validate import validate_cohort

    frame = make_cohort(rows, seed)
    common = dict(
        sensitive_features=SENSITIVE,
        score_column="p",
        n_boot=n_boot,
        seed=seed,
        threshold=THRESHOLD,
        max_intersection_order=3,
        safety=False,
        explain=False,
    )
    if kind == "binary":
        config = AuditConfig(label="event_10y", **common)
    else:
        config = AuditConfig(
            time="time", event="event", horizon=HORIZON, time_unit="years", **common
        )
    c0, t0 = _cpu_seconds(), time.perf_counter()
    cohort = validate_cohort(frame, config=config)
    result = run_audit(cohort, None, config)
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    o = result.overall
    key = "auroc" if kind == "binary" else "auc_t"
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "groups": 1 + len(result.subgroups),
        "suppressed": sum(g.suppressed for g in result.subgroups),
        "overall": {key: o.metrics[key].value, "events": o.events},
    }


def _child(kind: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--role", kind]
    cmd += ["--rows", str(args.rows), "--n-boot", str(args.n_boot), "--seed", str(args.seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{kind} child failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--role", choices=("binary", "survival"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        print(json.dumps(run_side(args.role, args.rows, args.n_boot, args.seed)))
        return 0
    print(f"load average at start: {os.getloadavg()}")
    runs: dict[str, list[dict]] = {"binary": [], "survival": []}
    for i in range(args.pairs):
        for kind in ("binary", "survival") if i % 2 == 0 else ("survival", "binary"):
            r = _child(kind, args)
            runs[kind].append(r)
            print(
                f"pair {i + 1} {kind:<9} wall {r['wall']:7.2f} s  cpu {r['cpu']:7.2f} s  "
                f"peak RSS {r['peak_rss_mb']:6.0f} MB  groups {r['groups']} "
                f"({r['suppressed']} suppressed)  overall {r['overall']}",
                flush=True,
            )
    med = {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r["cpu"] for r in v) for k, v in runs.items()}
    ratio, cpu_ratio = med["survival"] / med["binary"], cpu["survival"] / cpu["binary"]
    print(f"load average at end: {os.getloadavg()}")
    print(
        f"RESULT rows={args.rows} n_boot={args.n_boot} binary_s={med['binary']:.2f} "
        f"survival_s={med['survival']:.2f} ratio={ratio:.2f} cpu_ratio={cpu_ratio:.2f} "
        f"target_ratio=2.0"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the dashboard's first sample audit and its re-render times after the audit.

Issue targets: the sample audit is on screen within 20 s of the server start, and after the
audit has run, changing the threshold, group or page re-renders in under 0.5 s (no bootstrap
recomputation). This drives the real app with Streamlit's AppTest (the same script run a
browser session gets, minus the websocket), so the figures are the app's own compute time;
tests/test_browser.py covers the real browser.

    .venv/bin/python bench/bench_app.py [--n-boot 1000] [--repeats 5]

Ends with one line: RESULT first_audit_seconds=... rerender_median_seconds=... rerender_max_seconds=...
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

import state  # noqa: E402  (app/state.py: widget keys and environment switches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ[state.ENV_N_BOOT] = str(args.n_boot)
    from streamlit.testing.v1 import AppTest

    load = os.getloadavg()[0]
    print(f"dashboard benchmark: sample audit with B={args.n_boot}; load average {load:.2f}")
    at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=600)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    print(f"  first load (sample audit + overview): {first:6.2f} s")

    timings: dict[str, list[float]] = {}

    def timed(name: str, action) -> None:
        t = time.perf_counter()
        action()
        timings.setdefault(name, []).append(time.perf_counter() - t)
        assert not at.exception, (name, [e.value for e in at.exception])

    pages = ["views/overview.py", "views/subgroups.py", "views/calibration.py",
             "views/utility.py", "views/report.py"]
    for _ in range(args.repeats):
        for page in pages:
            timed(f"page {page.split('/')[-1]}", lambda p=page: at.switch_page(p).run())
        at.switch_page("views/subgroups.py").run()
        for t in (0.2, 0.1):
            timed("threshold change",
                  lambda t=t: at.select_slider(key=state.K_THRESHOLD).set_value(t).run())
    all_times = []
    for name, values in timings.items():
        all_times.extend(values)
        print(f"  {name:<28} median {statistics.median(values):.3f} s  max {max(values):.3f} s")
    median, worst = statistics.median(all_times), max(all_times)
    print(f"RESULT first_audit_seconds={first:.2f} rerender_median_seconds={median:.3f} "
          f"rerender_max_seconds={worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

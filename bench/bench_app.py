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

import defaults  # noqa: E402  (app/defaults.py: the sample and environment switches)
import state  # noqa: E402  (app/state.py: widget keys and environment switches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ[defaults.ENV_N_BOOT] = str(args.n_boot)
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

    pages = [
        "views/overview.py",
        "views/subgroups.py",
        "views/calibration.py",
        "views/utility.py",
        "views/explanations.py",
        "views/safety.py",
        "views/sites.py",
        "views/report.py",
    ]
    # The Explanations page after its block exists: computed once here (the user's button),
    # outside the timings, with a small sample so that the benchmark stays short.
    os.environ.setdefault(defaults.ENV_EXPLAIN_ROWS, "100")
    at.switch_page("views/explanations.py").run()
    t = time.perf_counter()
    at.button(key=state.K_XAI_COMPUTE).click().run()
    assert not at.exception, [e.value for e in at.exception]
    print(
        f"  explanations on request ({os.environ[defaults.ENV_EXPLAIN_ROWS]} patients): "
        f"{time.perf_counter() - t:6.2f} s (not a re-render; the user's button)"
    )
    for _ in range(args.repeats):
        for page in pages:
            timed(f"page {page.split('/')[-1]}", lambda p=page: at.switch_page(p).run())
        at.switch_page("views/subgroups.py").run()
        for t in (0.2, 0.1):
            timed(
                "threshold change",
                lambda t=t: at.select_slider(key=state.K_THRESHOLD).set_value(t).run(),
            )
        at.switch_page("views/explanations.py").run()
        for attr in ("age", "sex"):
            timed(
                "explanations: attribute",
                lambda a=attr: at.selectbox(key=state.K_XAI_ATTR).set_value(a).run(),
            )
        for feat in ("sbp", "age"):
            timed(
                "explanations: input",
                lambda f=feat: at.selectbox(key=state.K_XAI_FEATURE).set_value(f).run(),
            )
        at.switch_page("views/safety.py").run()
        for attr in ("sex", "(all patients only)"):
            timed(
                "safety: robustness groups",
                lambda a=attr: at.selectbox(key=state.K_SAFETY_ROBUST_ATTR).set_value(a).run(),
            )
        for metric in ("oe", "auroc"):
            timed(
                "safety: slice metric",
                lambda m=metric: (
                    at.segmented_control(key=state.K_SAFETY_SLICE_METRIC).set_value(m).run()
                ),
            )
    all_times = []
    for name, values in timings.items():
        all_times.extend(values)
        print(f"  {name:<28} median {statistics.median(values):.3f} s  max {max(values):.3f} s")
    median, worst = statistics.median(all_times), max(all_times)
    print(
        f"RESULT first_audit_seconds={first:.2f} rerender_median_seconds={median:.3f} "
        f"rerender_max_seconds={worst:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

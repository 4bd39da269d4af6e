"""One concurrent writer: open the registry, wait for the common start, record N times.

Run as ``python registry_writer_worker.py URL OUT_DIR N START_EPOCH WRITER``; each record and
each comment event is its own transaction, so writers interleave.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cohortaudit.audit_registry import open_registry

url, out_dir, n, start, writer = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
with open_registry(url) as reg:
    while time.time() < start:
        time.sleep(0.005)
    for i in range(n):
        entry = reg.record(out_dir, auditor=writer, source="cli")
        reg.record_event(entry.entry_id, writer, "reviewer", "commented", f"{writer} #{i}")

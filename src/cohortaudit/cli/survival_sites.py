"""Time-to-event multi-site commands, kept apart so the lead can hook them into
:mod:`cohortaudit.cli.sites` once ``--time/--event/--horizon`` exist:

* ``cohortaudit pool`` on time-to-event site files: :func:`is_survival_site_file` on the first
  file, then :func:`run_survival_pool` (writes ``survival_pool.json``, prints a summary);
* ``cohortaudit site-export --time --event --horizon``: after scoring,
  :func:`cohortaudit.sites.survival_export.survival_export_from_cohort` builds the file and the
  existing ``write_site_file`` / signing code writes it unchanged.

Errors are :class:`~cohortaudit.errors.AuditError` and reach :func:`cohortaudit.cli.main`
(exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cohortaudit.textsafe import echo, for_terminal

__all__ = ["is_survival_site_file", "run_survival_pool", "POOLED_FILE"]

POOLED_FILE = "survival_pool.json"


def is_survival_site_file(path: str | Path) -> bool:
    """True when ``path`` is a time-to-event site file (by its ``format``), False otherwise;
    unreadable files are left to the full reader, which says what is wrong."""
    from cohortaudit.errors import InputError
    from cohortaudit.safeload import parse_json, read_limited
    from cohortaudit.sites.export import MAX_SITE_FILE_BYTES
    from cohortaudit.sites.survival_export import SURVIVAL_SITE_FORMAT

    try:
        raw = read_limited(
            Path(path), max_bytes=MAX_SITE_FILE_BYTES, what="The site file", error=InputError,
            hint="",
        )  # fmt: skip
        data = parse_json(raw, what="The site file", error=InputError, hint="")
    except (InputError, OSError):
        return False
    return isinstance(data, dict) and data.get("format") == SURVIVAL_SITE_FORMAT


def run_survival_pool(
    files: Sequence[Path],
    out: Path,
    *,
    min_cell: int | None = None,
    quiet: bool = False,
    public_keys: Mapping[str, Any] | None = None,
) -> int:
    """Pool time-to-event site files into ``OUT/survival_pool.json`` and print a summary;
    every site with a key in ``public_keys`` must have signed its file."""
    from cohortaudit.outputs import write_output
    from cohortaudit.sites.survival_pool import pool_survival_site_files

    keys = dict(public_keys or {})
    pooled = pool_survival_site_files(files, min_cell=min_cell, public_keys=keys)
    text = json.dumps(pooled.to_dict(), indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    path = write_output(out, POOLED_FILE, text)
    if quiet:
        echo(path)
        return 0
    whole = pooled.group().pooled
    lines = [f"Pooled {len(pooled.sites)} time-to-event sites: {', '.join(pooled.sites)}."]
    if whole is not None:
        oe = whole.oe_ratio
        lines.append(
            f"All patients: n={whole.n:,}, events by the horizon={whole.events:,}; observed "
            f"risk {whole.observed_risk.value:.3f}, expected {whole.expected_risk.value:.3f}, "
            f"O/E {oe.value:.3f}"
            + (f" ({oe.lower:.3f}-{oe.upper:.3f})" if oe.lower is not None else "")
            + " (site-stratified life-table Kaplan-Meier at the horizon)."
        )
    lines.append(
        "Not pooled (need patient-level data): " + ", ".join(k for k, _ in pooled.patient_level_only)
        + "."
    )  # fmt: skip
    if keys:
        lines.append("Signatures verified for: " + ", ".join(sorted(keys)) + ".")
    lines.append(f"Wrote {path}")
    echo("\n".join(for_terminal(line) for line in lines))
    return 0

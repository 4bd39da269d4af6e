"""The parser, the exit codes and the argument groups several commands share.

``audit`` and ``site-export`` read the same inputs (a cohort, its outcome and sensitive
attributes, the threshold, k, the intersection order); declaring them once keeps their names,
defaults and help the same in both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = [
    "EXIT_OK",
    "EXIT_POLICY_FAILED",
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL",
    "CliParser",
    "add_cohort",
    "add_outcome_and_groups",
    "add_time_to_event",
    "add_threshold",
    "add_min_cell",
    "add_max_order",
    "add_trust",
]

EXIT_OK, EXIT_POLICY_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class CliParser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"UsageError: {message}. Run '{self.prog} --help' for usage.\n")


def add_cohort(p: argparse.ArgumentParser) -> None:
    """``--cohort`` and ``--delimiter``."""
    p.add_argument("--cohort", type=Path, required=True, help="CSV or Parquet cohort file")
    p.add_argument(
        "--delimiter",
        metavar="CHAR",
        help="field delimiter of a CSV cohort, e.g. ';' or tab (default: ',' for .csv, tab "
        "for .tsv)",
    )


def add_outcome_and_groups(p: argparse.ArgumentParser, *, label_required: bool = True) -> None:
    """``--label``, ``--sensitive`` and ``--bins``: the outcome and what defines a subgroup.

    ``label_required=False`` where ``--event`` (:func:`add_time_to_event`) may replace it; the
    config then refuses neither or both, with a message naming the flags.
    """
    p.add_argument(
        "--label",
        required=label_required,
        help="binary outcome column (0/1)"
        + ("" if label_required else "; or --event for a time-to-event audit"),
    )
    p.add_argument(
        "--sensitive",
        action="extend",
        nargs="+",
        default=[],
        metavar="COL",
        help="sensitive attribute columns (repeatable)",
    )
    p.add_argument(
        "--bins",
        action="append",
        default=[],
        metavar="COL=E1,E2,...",
        help="bin edges for a continuous attribute, e.g. age=18,40,65,80",
    )


def add_time_to_event(p: argparse.ArgumentParser) -> None:
    """``--event``, ``--time``, ``--horizon``, ``--time-unit`` and ``--censored-as-event-free``."""
    g = p.add_argument_group(
        "time-to-event outcome",
        "for a model that predicts the risk of an event by a horizon, on a cohort with "
        "censored follow-up: --event COL --time COL --horizon T instead of --label",
    )
    g.add_argument(
        "--event",
        metavar="COL",
        help="event column (0/1, 1 = the event, 0 = censored); replaces --label",
    )
    g.add_argument(
        "--time",
        metavar="COL",
        help="follow-up time column (time to the event or to censoring, > 0). With --label: "
        "count the patients followed for less than the horizon, and refuse to treat them as "
        "event-free unless --censored-as-event-free",
    )
    g.add_argument(
        "--horizon",
        type=float,
        metavar="T",
        help="horizon of the predicted risk, in the unit of --time (default: the card's "
        "outcome.horizon; a different value is refused)",
    )
    g.add_argument(
        "--time-unit",
        metavar="UNIT",
        help="unit of --time and --horizon, e.g. years (default: the card's outcome.time_unit)",
    )
    g.add_argument(
        "--censored-as-event-free",
        action="store_true",
        help="binary audits: treat patients censored before the horizon as non-events, "
        "explicitly (the report carries a warning with their number)",
    )


def add_threshold(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threshold", type=float, help="operating threshold (default: the card's, else 0.5)"
    )


def add_min_cell(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--min-cell", type=int, default=10, help="disclosure-control minimum cell size k (10)"
    )


def add_max_order(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-order",
        type=int,
        default=3,
        help="largest intersection of sensitive attributes to audit (3)",
    )


def add_trust(p: argparse.ArgumentParser, *, what: str = "a skops file") -> None:
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help=f"trust this type in {what} (only if you trust the sender)",
    )

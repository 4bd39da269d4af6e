"""The ``cohortaudit`` command line: parse, call the library, print, exit.

One module per group of commands (``audit``, ``integrity``: verify and keygen, ``models``:
inspect and card init, ``sites``: site-export and pool, ``registry``: the audit registry and the
``--registry`` option of audit and pool); the argument groups they share, the
parser and the exit codes are in :mod:`cohortaudit.cli.arguments`.

Exit codes: 0 done; 2 bad input (one clear line on stderr, no traceback) or, for ``verify``,
any altered, missing or extra file or bad signature (one line each); 1 a failed audit policy
(``audit --policy``: outputs are written first, then one stderr line per failed rule); 4 for
``registry verify``, a broken hash chain (the first broken entry named).
Only :class:`AuditError` is caught as an expected failure; anything else is
a bug, reported in one line with a request to file it (set COHORTAUDIT_DEBUG=1 for the trace).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from cohortaudit import __version__
from cohortaudit.cli.arguments import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_POLICY_FAILED,
    CliParser,
)
from cohortaudit.cli.audit import add_audit_command, run_audit_command
from cohortaudit.cli.integrity import add_integrity_commands, run_keygen, run_verify
from cohortaudit.cli.models import add_model_commands, run_card_init, run_inspect
from cohortaudit.cli.registry import add_registry_commands, run_registry_command
from cohortaudit.cli.sites import SITE_COMMANDS, add_site_commands, run_site_command
from cohortaudit.errors import AuditError
from cohortaudit.textsafe import echo, for_terminal

__all__ = [
    "main",
    "build_parser",
    "EXIT_OK",
    "EXIT_POLICY_FAILED",
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL",
]


def build_parser() -> CliParser:
    parser = CliParser(
        prog="cohortaudit",
        description="Bias and safety audit of a shared medical AI model on a patient cohort.",
    )
    parser.add_argument("--version", action="version", version=f"cohortaudit {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=CliParser, required=True)
    add_audit_command(sub)
    add_integrity_commands(sub)  # verify, keygen
    add_model_commands(sub)  # inspect, card init
    add_site_commands(sub)  # site-export, pool (multi-site audit)
    add_registry_commands(sub)  # registry list|show|verify|trend (the audit registry)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: return, don't raise
        return int(exc.code or 0)
    try:
        if args.command == "audit":
            return run_audit_command(args)
        if args.command == "inspect":
            return run_inspect(args)
        if args.command == "verify":
            return run_verify(args)
        if args.command == "keygen":
            return run_keygen(args)
        if args.command == "card":
            return run_card_init(args)
        if args.command in SITE_COMMANDS:
            return run_site_command(args)
        if args.command == "registry":
            return run_registry_command(args)
    except AuditError as exc:
        echo(f"{type(exc).__name__}: {for_terminal(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        echo("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, no patient data, trace only on request
        if os.environ.get("COHORTAUDIT_DEBUG"):
            raise
        echo(
            f"InternalError: {type(exc).__name__} inside cohortaudit. This is a bug; please "
            "report it with the command you ran (set COHORTAUDIT_DEBUG=1 to see the trace).",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    parser.error(f"unknown command {args.command!r}")
    return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

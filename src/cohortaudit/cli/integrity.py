"""``cohortaudit verify`` and ``cohortaudit keygen``: an audit folder checked against its
manifest and signature, and the Ed25519 keys that sign it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cohortaudit.cli.arguments import EXIT_BAD_INPUT, EXIT_OK
from cohortaudit.textsafe import echo, for_terminal

__all__ = ["add_integrity_commands", "run_verify", "run_keygen"]


def add_integrity_commands(sub) -> None:
    """Add ``verify`` and ``keygen`` to the subparsers ``sub`` of the main parser."""
    verify = sub.add_parser(
        "verify", help="check an audit's output folder against its manifest and signature"
    )
    verify.add_argument("dir", type=Path, metavar="DIR", help="the --out folder of an audit")
    verify.add_argument(
        "--public-key", type=Path, metavar="PUB", help="Ed25519 public key (PEM) of the signer"
    )
    keygen = sub.add_parser("keygen", help="create an Ed25519 key pair for --sign / verify")
    keygen.add_argument(
        "--out", type=Path, required=True, metavar="PREFIX", help="writes PREFIX.key, PREFIX.pub"
    )


def run_verify(args: argparse.Namespace) -> int:
    from cohortaudit.errors import ReportError
    from cohortaudit.integrity import load_public_key, verify_dir

    key = load_public_key(args.public_key) if args.public_key else None
    report = verify_dir(args.dir, public_key=key)
    if not report.ok:
        for problem in report.problems:
            echo(f"{ReportError.__name__}: {for_terminal(problem)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    signature = {
        "valid": "signature valid",
        "self-consistent": "signature self-consistent (signer not verified: pass --public-key)",
        "not checked": "signature present but not checked (give --public-key)",
        "unsigned": "not signed",
    }[report.signature]
    echo(f"OK: {report.files_checked} files match manifest.json; {signature}.")
    return EXIT_OK


def run_keygen(args: argparse.Namespace) -> int:
    from cohortaudit.integrity import generate_keypair

    key, pub = generate_keypair(args.out)
    echo(
        f"Wrote private key {key} (keep it secret; sign with 'audit --sign {key}') and public "
        f"key {pub} (share it; check with 'verify DIR --public-key {pub}')."
    )
    return EXIT_OK

"""The ``cohortaudit`` command line: parse, call the library, print, exit.

Exit codes: 0 done; 2 bad input (one clear line on stderr, no traceback) or, for ``verify``,
any altered, missing or extra file or bad signature (one line each); 1 a failed audit policy
(``audit --policy``: outputs are written first, then one stderr line per failed rule).
Only :class:`AuditError` is caught as an expected failure; anything else is
a bug, reported in one line with a request to file it (set COHORTAUDIT_DEBUG=1 for the trace).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cohortaudit import __version__
from cohortaudit.errors import AuditError
from cohortaudit.textsafe import echo, for_terminal

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_POLICY_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"UsageError: {message}. Run '{self.prog} --help' for usage.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cohortaudit",
        description="Bias and safety audit of a shared medical AI model on a patient cohort.",
    )
    parser.add_argument("--version", action="version", version=f"cohortaudit {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    audit = sub.add_parser("audit", help="audit a model (or a score column) on a cohort")
    what = audit.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", type=Path, help="ONNX (.onnx) or skops (.skops) model file")
    what.add_argument("--score-column", help="audit predictions already in this cohort column")
    audit.add_argument("--cohort", type=Path, required=True, help="CSV or Parquet cohort file")
    audit.add_argument(
        "--delimiter",
        metavar="CHAR",
        help="field delimiter of a CSV cohort, e.g. ';' or tab (default: ',' for .csv, tab "
        "for .tsv)",
    )
    audit.add_argument("--label", required=True, help="binary outcome column (0/1)")
    audit.add_argument(
        "--sensitive",
        action="extend",
        nargs="+",
        default=[],
        metavar="COL",
        help="sensitive attribute columns (repeatable)",
    )
    audit.add_argument(
        "--bins",
        action="append",
        default=[],
        metavar="COL=E1,E2,...",
        help="bin edges for a continuous attribute, e.g. age=18,40,65,80",
    )
    audit.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="reference group, e.g. sex=F (default: the largest group)",
    )
    audit.add_argument("--card", type=Path, help="model card (YAML)")
    audit.add_argument(
        "--threshold", type=float, help="operating threshold (default: the card's, else 0.5)"
    )
    audit.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (1000)")
    audit.add_argument("--seed", type=int, default=20261123, help="random seed")
    audit.add_argument(
        "--min-cell", type=int, default=10, help="disclosure-control minimum cell size k (10)"
    )
    audit.add_argument(
        "--max-order",
        type=int,
        default=3,
        help="largest intersection of sensitive attributes to audit (3)",
    )
    audit.add_argument(
        "--explain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="SHAP explanations on a stratified sample (default on; about a minute for 1000 "
        "rows of a tree model on 2 cores; --no-explain to skip)",
    )
    audit.add_argument(
        "--explain-rows",
        type=int,
        default=1000,
        metavar="N",
        help="patients explained, a seeded sample stratified by the sensitive attributes (1000)",
    )
    audit.add_argument(
        "--safety",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="safety checks: shift vs the card, intended use, robustness, weak slices (on)",
    )
    audit.add_argument(
        "--slice-order",
        type=int,
        default=2,
        metavar="1-3",
        help="weak-slice search: largest combination of attributes (2)",
    )
    audit.add_argument(
        "--fdr",
        type=float,
        default=0.05,
        help="weak-slice search: Benjamini-Hochberg false discovery rate (0.05)",
    )
    audit.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="trust this type in a skops file (only if you trust the sender)",
    )
    audit.add_argument("--out", type=Path, required=True, help="output folder")
    audit.add_argument(
        "--format",
        default="json",
        metavar="FORMATS",
        help="comma-separated outputs: json, pdf, html, csv (default json); writes "
        "OUT/audit.json, OUT/audit.pdf, OUT/audit.html, OUT/tables/*.csv",
    )
    audit.add_argument(
        "--auditor", help="name of the auditor, for the report cover (default: not stated)"
    )
    audit.add_argument("--quiet", action="store_true", help="print only the output path")
    audit.add_argument(
        "--policy",
        type=Path,
        metavar="POLICY.yaml",
        help="audit policy (rules on metrics and CIs); exit 1 when any rule fails",
    )
    audit.add_argument(
        "--sign",
        type=Path,
        metavar="KEY",
        help="Ed25519 private key (PEM): sign OUT/manifest.json into OUT/manifest.sig",
    )
    # large cohorts (issue 8): routed by cohortaudit.engines.audit_with_engine
    audit.add_argument(
        "--chunk-rows",
        type=int,
        metavar="N",
        help="stream the cohort N rows at a time (same result, bounded memory; default: "
        "automatic for Parquet above 2M rows and CSV above 256 MB)",
    )
    audit.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="'dask' reads a Parquet file or dataset folder with dask.dataframe (local)",
    )
    audit.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: a dask.distributed scheduler (tcp://host:8786), or 'local' "
        "for a LocalCluster (default: threads in this process)",
    )

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

    inspect = sub.add_parser("inspect", help="show a model's inputs, outputs and card")
    inspect.add_argument("--model", type=Path, required=True)
    inspect.add_argument("--card", type=Path)
    inspect.add_argument("--trust", action="append", default=[], metavar="TYPE")

    card = sub.add_parser("card", help="model card tools")
    card_sub = card.add_subparsers(dest="card_command", parser_class=_Parser, required=True)
    init = card_sub.add_parser("init", help="write a card skeleton from a model and its data")
    init.add_argument("--model", type=Path, required=True)
    init.add_argument("--data", type=Path, required=True, help="development data (CSV/Parquet)")
    init.add_argument(
        "--delimiter", metavar="CHAR", help="field delimiter of a CSV --data file, e.g. ';'"
    )
    init.add_argument("--label", required=True)
    init.add_argument("--out", type=Path, required=True)
    init.add_argument(
        "--card", type=Path, help="an existing card whose metadata and input order to keep"
    )
    init.add_argument("--name")
    init.add_argument("--version", dest="model_version")
    init.add_argument("--threshold", type=float, help="operating threshold")
    init.add_argument(
        "--reference-model",
        type=Path,
        metavar="PATH",
        help="the owner's native model (.skops, or another .onnx): the card is "
        "refused when the model's outputs differ from it on the test vectors",
    )
    init.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest allowed absolute difference in probability (1e-4)",
    )
    init.add_argument(
        "--vectors",
        type=int,
        default=32,
        metavar="N",
        help="number of test vectors (32); 0 writes none",
    )
    init.add_argument(
        "--vectors-from-data",
        action="store_true",
        help="take the test vectors from rows of --data (real records: opt-in; "
        "default: synthetic rows that never equal a development row)",
    )
    init.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="trust this type in a skops file (model or reference model)",
    )
    from cohortaudit.cli_sites import add_site_commands

    add_site_commands(sub)  # site-export, pool (multi-site audit, issue 9)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: return, don't raise
        return int(exc.code or 0)
    try:
        if args.command == "audit":
            return _cmd_audit(args)
        if args.command == "inspect":
            return _cmd_inspect(args)
        if args.command == "verify":
            return _cmd_verify(args)
        if args.command == "keygen":
            return _cmd_keygen(args)
        if args.command == "card":
            return _cmd_card_init(args)
        if args.command in ("site-export", "pool"):
            from cohortaudit.cli_sites import run_site_command

            return run_site_command(args)
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


def _progress_bar(enabled: bool):
    """A tqdm bar on stderr over the audit's stages (auto-disabled when stderr is no terminal).

    Stage shares are rough wall-time shares of the sample audit with explanations on.
    """
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(
        total=100,
        desc="audit",
        unit="%",
        file=sys.stderr,
        disable=None,
        leave=False,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}",
    )
    state = {"stage": ""}

    def update(stage: str, fraction: float) -> None:
        weights = {
            "scoring": (0, 5),
            "bootstrap": (5, 35),
            "safety": (35, 40),
            "explanations": (40, 98),
            "done": (98, 100),
        }
        lo, hi = weights.get(stage, (0, 100))
        if stage != state["stage"]:
            bar.set_description(stage)
            state["stage"] = stage
        bar.n = int(lo + (hi - lo) * fraction)
        bar.refresh()

    return update, bar.close


def _cmd_audit(args: argparse.Namespace) -> int:
    from cohortaudit.config import AuditConfig, parse_bins, parse_reference
    from cohortaudit.engines import audit_with_engine
    from cohortaudit.integrity import load_private_key, write_manifest
    from cohortaudit.render.bundle import parse_formats, render_bundle, write_bundle
    from cohortaudit.render.text import summary_text

    formats = parse_formats(args.format)
    config = AuditConfig(
        label=args.label,
        sensitive_features=tuple(args.sensitive),
        bins=parse_bins(args.bins),
        reference=parse_reference(args.reference),
        threshold=args.threshold,
        score_column=args.score_column,
        n_boot=args.n_boot,
        seed=args.seed,
        min_cell=args.min_cell,
        max_intersection_order=args.max_order,
        safety=args.safety,
        slice_max_order=args.slice_order,
        slice_fdr=args.fdr,
        explain=args.explain and args.model is not None,
        explain_rows=args.explain_rows,
    )
    signing_key = load_private_key(args.sign) if args.sign else None  # fail before the audit
    progress, close = _progress_bar(not args.quiet)
    try:
        result = audit_with_engine(  # in memory, streamed (--chunk-rows) or --engine dask
            engine=args.engine,
            chunk_rows=args.chunk_rows,
            scheduler=args.scheduler,
            cohort_path=args.cohort,
            config=config,
            model_path=args.model,
            card_path=args.card,
            trusted_types=args.trust,
            progress=progress,
            policy_path=args.policy,
            delimiter=args.delimiter,
        )
    finally:
        close()
    # Render every file in memory first: a renderer that fails leaves nothing half-written.
    written = write_bundle(args.out, render_bundle(result, formats, auditor=args.auditor))
    if args.quiet:
        echo(written[0])
    else:
        echo(summary_text(result))
        echo("")
        for path in written:
            echo(f"Wrote {path}")
    # Keep this last: the manifest hashes every file in --out, so all outputs come before it.
    manifest = write_manifest(args.out, result, private_key=signing_key)
    if not args.quiet:
        echo(f"Wrote {manifest}" + (" and manifest.sig (signed)" if signing_key else ""))
    return _report_policy(result, quiet=args.quiet)


def _report_policy(result, *, quiet: bool) -> int:
    """Policy summary on stdout; one stderr line per verdict that fails the policy
    (``PolicyFailed``) or is insufficient data counted as a warning (``PolicyWarning``); exit 1
    on any fail, insufficient data under ``on_insufficient: fail`` included."""
    if not result.policy:
        return EXIT_OK
    from collections import Counter

    counts = Counter(v.status for v in result.policy)
    why = Counter(
        v.insufficient_reason or "unstated"
        for v in result.policy
        if v.status == "insufficient data"
    )
    as_ = Counter(v.outcome for v in result.policy if v.status == "insufficient data")
    rules = {v.rule_id for v in result.policy}
    failed = [v for v in result.policy if v.outcome == "fail"]
    warned = [v for v in result.policy if v.outcome == "warn"]
    if not quiet:
        detail = ""
        if counts["insufficient data"]:
            reasons = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(why.items()))
            effect = ", ".join(f"{n} as {k}" for k, n in sorted(as_.items()))
            detail = f" ({reasons}; counted {effect})"
        echo(
            f"Policy: {len(rules)} rules over {len(result.policy)} groups: "
            f"{counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['insufficient data']} insufficient data{detail}."
        )
    for label, verdicts in (("PolicyFailed", failed), ("PolicyWarning", warned)):
        for v in verdicts:
            where = " & ".join(f"{k}={x}" for k, x in v.group.items()) or "overall"
            what = (
                f"insufficient data ({(v.insufficient_reason or 'unstated').replace('_', ' ')}, "
                f"on_insufficient: {v.outcome}): "
                if v.status == "insufficient data"
                else ""
            )
            echo(
                for_terminal(f"{label}: rule '{v.rule_id}' for {where}: {what}{v.reason}"),
                file=sys.stderr,
            )
    return EXIT_POLICY_FAILED if failed else EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
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


def _cmd_keygen(args: argparse.Namespace) -> int:
    from cohortaudit.integrity import generate_keypair

    key, pub = generate_keypair(args.out)
    echo(
        f"Wrote private key {key} (keep it secret; sign with 'audit --sign {key}') and public "
        f"key {pub} (share it; check with 'verify DIR --public-key {pub}')."
    )
    return EXIT_OK


def _cmd_inspect(args: argparse.Namespace) -> int:
    from cohortaudit.card import check_card_matches, load_card
    from cohortaudit.io import load_model
    from cohortaudit.render.text import model_text
    from cohortaudit.testvectors import check_test_vectors

    card = load_card(args.card) if args.card else None
    model = load_model(args.model, card=card, trusted_types=args.trust)
    report = None
    if card is not None:
        check_card_matches(card, model)
        report = check_test_vectors(card, model)
    echo(model_text(model, card, test_vectors=report))
    return EXIT_OK


def _cmd_card_init(args: argparse.Namespace) -> int:
    from cohortaudit.card import card_from_dict, init_card, load_card, write_card
    from cohortaudit.errors import ConfigError
    from cohortaudit.io import load_cohort, load_model
    from cohortaudit.testvectors import make_test_vectors

    if args.vectors < 0:
        raise ConfigError(f"--vectors must be 0 or a positive int. Got {args.vectors} instead.")
    if not 0 < args.tolerance < 1:
        raise ConfigError(f"--tolerance must be a number in (0, 1). Got {args.tolerance} instead.")
    if args.vectors == 0 and (args.reference_model or args.vectors_from_data):
        raise ConfigError(
            "--vectors 0 writes no test vectors, so --reference-model / --vectors-from-data "
            "would be ignored. Drop one or the other."
        )
    base = load_card(args.card) if args.card else None
    model = load_model(args.model, card=base, trusted_types=args.trust)
    frame, _ = load_cohort(args.data, delimiter=args.delimiter)
    metadata = dict(base.raw) if base is not None else {}
    for key in ("inputs", "model", "development_data", "test_vectors"):
        metadata.pop(key, None)
    if args.name:
        metadata["name"] = args.name
    if args.model_version:
        metadata["version"] = args.model_version
    card = init_card(
        model, frame, label=args.label, metadata=metadata, operating_threshold=args.threshold
    )
    if any(spec.assumed for spec in model.inputs):  # skops: input types now come from the card
        model = load_model(args.model, card=card_from_dict(card), trusted_types=args.trust)
    note = ""
    if args.vectors:
        reference = None
        if args.reference_model is not None:
            reference = load_model(
                args.reference_model, card=card_from_dict(card), trusted_types=args.trust
            )
        card["test_vectors"] = make_test_vectors(
            card,
            model,
            reference=reference,
            dev=frame,
            n=args.vectors,
            tolerance=args.tolerance,
            from_data=args.vectors_from_data,
        )
        tv = card["test_vectors"]
        note = (
            f" {tv['n']} test vectors match the reference model '{reference.path.name}' "
            f"(largest difference {tv['max_abs_diff']:.3g}, tolerance {args.tolerance:g})."
            if reference is not None
            else f" {tv['n']} test vectors record this model's own outputs (no --reference-model)."
        )
    path = write_card(card, args.out)
    echo(f"Wrote model card skeleton {path}.{note} Fill in the fields marked TODO before sharing.")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

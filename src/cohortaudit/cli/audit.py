"""``cohortaudit audit``: one audit of a model (or a score column) on a cohort, its outputs,
its manifest and, with ``--policy``, the exit code of the gate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cohortaudit.cli.arguments import (
    EXIT_OK,
    EXIT_POLICY_FAILED,
    add_cohort,
    add_max_order,
    add_min_cell,
    add_outcome_and_groups,
    add_threshold,
    add_time_to_event,
    add_trust,
)
from cohortaudit.cli.registry import add_registry_option, check_registry_early, record_outputs
from cohortaudit.textsafe import echo, for_terminal

__all__ = ["add_audit_command", "run_audit_command"]


def add_audit_command(sub) -> None:
    """Add ``audit`` to the subparsers ``sub`` of the main parser."""
    audit = sub.add_parser("audit", help="audit a model (or a score column) on a cohort")
    what = audit.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", type=Path, help="ONNX (.onnx) or skops (.skops) model file")
    what.add_argument("--score-column", help="audit predictions already in this cohort column")
    add_cohort(audit)
    add_outcome_and_groups(audit, label_required=False)
    add_time_to_event(audit)
    audit.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="reference group, e.g. sex=F (default: the largest group)",
    )
    audit.add_argument("--card", type=Path, help="model card (YAML)")
    add_threshold(audit)
    audit.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (1000)")
    audit.add_argument("--seed", type=int, default=20261123, help="random seed")
    add_min_cell(audit)
    add_max_order(audit)
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
        "--metric",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION[@pred|@score]",
        help="your own sklearn-style metric(y_true, y_pred) for every group, e.g. "
        "sklearn.metrics:recall_score or my_metrics:net_cost@score (repeatable). @pred passes "
        "0/1 predictions at the threshold, @score the risks; without a suffix the function's "
        "second parameter decides (y_pred -> pred; y_score, y_prob, y_proba -> score). "
        "MODULE is imported from your Python environment or the current folder: its code runs",
    )
    add_trust(audit)
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
    add_registry_option(audit)
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


def run_audit_command(args: argparse.Namespace) -> int:
    from cohortaudit.config import AuditConfig, parse_bins, parse_reference
    from cohortaudit.engines import audit_with_engine
    from cohortaudit.integrity import load_private_key, write_manifest
    from cohortaudit.render.bundle import parse_formats, render_bundle
    from cohortaudit.render.text import summary_text
    from cohortaudit.resultio import write_bundle

    if args.engine == "dask":  # before any file is read: a missing extra costs a second
        from cohortaudit.engines.dask import require_dask

        require_dask()
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
        user_metrics=tuple(args.metric),
        time=args.time,
        event=args.event,
        horizon=args.horizon,
        time_unit=args.time_unit,
        censored_as_event_free=args.censored_as_event_free,
    )
    signing_key = load_private_key(args.sign) if args.sign else None  # fail before the audit
    check_registry_early(args)  # a bad --registry fails before the audit, too
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
        for line in _user_metric_lines(result):
            echo(line)
        echo("")
        for path in written:
            echo(f"Wrote {path}")
    # Keep this last: the manifest hashes every file in --out, so all outputs come before it.
    manifest = write_manifest(args.out, result, private_key=signing_key)
    if not args.quiet:
        echo(f"Wrote {manifest}" + (" and manifest.sig (signed)" if signing_key else ""))
    record_outputs(args, args.out, source="cli")  # after the manifest: it is recorded too
    return _report_policy(result, quiet=args.quiet)


def _user_metric_lines(result) -> list[str]:
    """The user-defined metrics (--metric) of the whole cohort, and how many groups have one."""
    view = result.user_metrics_view
    if view is None:
        return []
    lines = ["", "Your metrics (--metric), whole cohort:"]
    for m in view.metrics:
        v = (view.overall.get("values") or {}).get(m["key"]) or {}
        if v.get("value") is None:
            shown = v.get("status") or "not released"
        elif v.get("ci_low") is not None:
            shown = f"{v['value']:.3f} ({v['ci_low']:.3f} to {v['ci_high']:.3f})"
        else:
            shown = f"{v['value']:.3f} ({v.get('ci_note') or 'no CI'})"
        released = sum(
            1
            for g in view.groups
            if ((g.get("values") or {}).get(m["key"]) or {}).get("value") is not None
        )
        lines.append(
            for_terminal(
                f"  {m['key']} ({m['source']}, {m['kind']}): {shown}; "
                f"{released} of {len(view.groups)} groups released"
            )
        )
    return lines


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

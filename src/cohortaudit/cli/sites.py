"""The multi-site subcommands: ``cohortaudit site-export`` and ``cohortaudit pool``.

Errors are raised as :class:`AuditError` and reported by :func:`cohortaudit.cli.main` (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cohortaudit.cli.arguments import (
    add_cohort,
    add_max_order,
    add_min_cell,
    add_outcome_and_groups,
    add_threshold,
    add_time_to_event,
    add_trust,
)
from cohortaudit.cli.registry import add_registry_option, check_registry_early, record_outputs
from cohortaudit.errors import ConfigError
from cohortaudit.textsafe import echo, for_terminal

__all__ = ["SITE_COMMANDS", "add_site_commands", "run_site_command"]

SITE_COMMANDS = ("site-export", "pool")
_FORMATS = ("json", "pdf", "html")


def add_site_commands(sub) -> None:
    """Add ``site-export`` and ``pool`` to the subparsers ``sub`` of the main parser."""
    exp = sub.add_parser(
        "site-export",
        help="multi-site audit, at a site: write disclosure-safe aggregates to pool elsewhere",
        description=(
            "Score the cohort with the shared model and write only aggregate sufficient "
            "statistics (counts, score histograms whose every count is 0 or >= k, sums), with "
            "disclosure control applied before anything is written."
        ),
    )
    exp.add_argument("--model", type=Path, required=True, help="ONNX or skops model file")
    exp.add_argument("--card", type=Path, help="model card (YAML)")
    add_cohort(exp)
    add_outcome_and_groups(exp, label_required=False)
    add_time_to_event(exp)
    add_threshold(exp)
    add_min_cell(exp)
    add_max_order(exp)
    exp.add_argument("--site", required=True, help="name of this site, e.g. DE-Berlin")
    exp.add_argument(
        "--where", action="append", default=[], metavar="COL=VALUE",
        help="keep only the cohort rows where COL equals VALUE (e.g. site=DE-Berlin)",
    )  # fmt: skip
    add_trust(exp)
    exp.add_argument("--out", type=Path, required=True, help="the site file to write (.json)")
    exp.add_argument(
        "--sign", type=Path, metavar="KEY",
        help="Ed25519 private key (PEM, from 'cohortaudit keygen'): also write OUT.sig, a "
        "detached signature of the file's content, so the coordinator can check with "
        "'pool --public-key SITE=KEY.pub' that this site wrote it",
    )  # fmt: skip

    pool = sub.add_parser(
        "pool",
        help="multi-site audit, at the coordinator: pool site files into one audit",
        description=(
            "Check that the site files come from the same model and settings and are "
            "unaltered, that each file agrees with itself (totals = sums of their parts), "
            "releases no count below k and holds no patients another file holds, and that "
            "every site given a --public-key signed its file; then write the audit of the "
            "pooled cohort with per-site metrics and a random-effects meta-analysis. A file "
            "failing any check is refused, naming the file and what is wrong (exit 2)."
        ),
    )
    pool.add_argument("files", nargs="+", type=Path, metavar="SITE.json")
    pool.add_argument("--out", type=Path, required=True, help="output folder")
    pool.add_argument(
        "--format", default="json", metavar="FORMATS",
        help="comma-separated outputs: json, pdf, html (default json)",
    )  # fmt: skip
    pool.add_argument("--auditor", help="name of the auditor, for the report cover")
    pool.add_argument(
        "--min-cell", type=int, metavar="K",
        help="disclosure minimum cell k; a file releasing a count below max(K, its own k) is "
        "refused (default: the files' own k)",
    )  # fmt: skip
    pool.add_argument(
        "--public-key", action="append", default=[], metavar="SITE=PUB.pem",
        help="Ed25519 public key of a site (repeatable): that site's file must come with a "
        "valid signature FILE.sig (site-export --sign), else it is refused",
    )  # fmt: skip
    pool.add_argument("--quiet", action="store_true", help="print only the output path")
    add_registry_option(pool)


def run_site_command(args: argparse.Namespace) -> int:
    if args.command == "site-export":
        return _cmd_site_export(args)
    return _cmd_pool(args)


def _cmd_site_export(args: argparse.Namespace) -> int:
    from cohortaudit.config import AuditConfig, parse_bins
    from cohortaudit.integrity import load_private_key, public_key_sha256
    from cohortaudit.sites.export import export_site, parse_where, write_site_file
    from cohortaudit.sites.signature import remove_site_signature, write_site_signature

    key = load_private_key(args.sign) if args.sign else None  # a bad key fails before scoring
    config = AuditConfig(
        label=args.label,
        time=args.time,
        event=args.event,
        horizon=args.horizon,
        time_unit=args.time_unit,
        censored_as_event_free=args.censored_as_event_free,
        sensitive_features=tuple(args.sensitive),
        bins=parse_bins(args.bins),
        threshold=args.threshold,
        n_boot=0,
        min_cell=args.min_cell,
        max_intersection_order=args.max_order,
    )
    where = parse_where(args.where)
    if config.outcome_kind == "time_to_event":
        from cohortaudit.sites.survival_export import export_survival_site as export_site
    data = export_site(
        cohort_path=args.cohort,
        config=config,
        model_path=args.model,
        card_path=args.card,
        site=args.site,
        where=where,
        trusted_types=args.trust,
        delimiter=args.delimiter,
    )
    path = write_site_file(data, args.out)
    if key is not None:
        sig = write_site_signature(data, path, key)
        signed = (
            f"\nWrote {sig} (Ed25519 signature; public key SHA-256 "
            f"{public_key_sha256(key.public_key())[:16]}...)."
        )
    else:
        remove_site_signature(path)
        signed = ""
    overall = next(g for g in data["groups"] if not g["attributes"])
    released = sum(not g["suppressed"] for g in data["groups"])
    size = (
        "not released (fewer than k)"
        if overall["suppressed"]
        else (f"{overall['n']:,} patients, {overall['events']:,} events")
    )
    if config.min_cell == 0:
        from cohortaudit.results import NOT_CONTROLLED_BANNER

        echo(f"!! {NOT_CONTROLLED_BANNER.upper()} (--min-cell 0: nothing withheld) !!")
    echo(
        f"Site {for_terminal(data['site'])}: {size}; {released} of {len(data['groups'])} groups released, "
        f"{len(data['disclosure_log'])} disclosure-log entries.\n"
        f"Wrote {path} (aggregates only; content SHA-256 {data['content_sha256'][:16]}...)."
        + signed
    )
    return 0


def _cmd_pool(args: argparse.Namespace) -> int:
    from cohortaudit.cli.survival_sites import is_survival_site_file, run_survival_pool
    from cohortaudit.integrity import load_public_key
    from cohortaudit.render.bundle import parse_formats, render_bundle
    from cohortaudit.resultio import write_bundle
    from cohortaudit.sites.pool import pool_site_files
    from cohortaudit.sites.signature import parse_public_key_specs

    survival = bool(args.files) and is_survival_site_file(args.files[0])
    if survival and args.format != "json":
        raise ConfigError(
            "Time-to-event site files are pooled into survival_pool.json only: report formats "
            "other than json are not supported for them yet."
        )
    if survival and args.registry is not None:
        raise ConfigError(
            "A time-to-event pooled result (survival_pool.json) cannot be recorded in the "
            "audit registry yet; pool without --registry, or record the sites' own audits."
        )
    check_registry_early(args)  # a bad --registry fails before pooling
    wanted = parse_formats(args.format, allowed=_FORMATS)
    keys = {
        site: load_public_key(path)
        for site, path in parse_public_key_specs(args.public_key).items()
    }
    if survival:
        return run_survival_pool(
            args.files, args.out, min_cell=args.min_cell, quiet=args.quiet, public_keys=keys
        )
    result = pool_site_files(args.files, min_cell=args.min_cell, public_keys=keys)
    written = write_bundle(args.out, render_bundle(result, wanted, auditor=args.auditor))
    if args.quiet:
        echo(written[0])
        record_outputs(args, args.out, source="pool")
        return 0
    echo(_pool_summary(result))
    if keys:
        echo("Signatures verified for: " + ", ".join(map(for_terminal, sorted(keys))) + ".")
    for path in written:
        echo(f"Wrote {path}")
    record_outputs(args, args.out, source="pool")
    return 0


def _pool_summary(result) -> str:
    from cohortaudit.render.findings import format_estimate

    s = result.sites or {}
    o = result.overall
    lines = [f"!! {result.disclosure_banner.upper()} !!"] if result.disclosure_banner else []
    lines += [
        f"Pooled {s.get('n_sites', '?')} sites: "
        + ", ".join(
            f"{for_terminal(e['name'])} (n={e['n']:,})" if e["n"] else for_terminal(e["name"])
            for e in s["sites"]
        ),
    ]
    if not o.suppressed:
        bound = (s.get("pooled") or {}).get("auroc_bin_error_bound")
        lines.append(
            f"All patients: n={o.n:,}, events={o.events:,}; AUROC "
            f"{format_estimate(o.metrics['auroc'])} (bin error <= {bound:.4f}); O/E "
            f"{format_estimate(o.metrics['oe_ratio'])}; slope "
            f"{format_estimate(o.metrics['calibration_slope'])}."
        )
    for m in s.get("meta_analysis", []):
        est = m["estimate"]
        pi = m["prediction_interval"]
        if est["value"] is None:
            continue
        pi_text = (
            f"; 95% prediction interval {pi['low']:.3f}-{pi['high']:.3f}"
            if pi["low"] is not None
            else ""
        )
        lines.append(
            f"Random effects, {m['metric']}: {est['value']:.3f} ({est['ci_low']:.3f}-"
            f"{est['ci_high']:.3f}); tau^2 {m['tau2']:.4g}, I^2 {100 * m['i2']:.0f}%{pi_text}."
        )
    return "\n".join(for_terminal(line) for line in lines)

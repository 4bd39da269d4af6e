"""The audit-registry subcommands and the ``--registry`` option of ``audit`` and ``pool``.

``cohortaudit registry list|show|verify|trend``; ``audit ... --registry URL`` and
``pool ... --registry URL`` record the audit after its outputs (manifest and signature
included) are written. ``--registry`` without a URL, and the ``registry`` commands without
``--registry``, use ``$COHORTAUDIT_REGISTRY``. Exit codes: 0 done (``verify``: the chain is
intact), 2 bad input, 4 ``verify`` found a broken chain (the first broken entry is named).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cohortaudit.cli.arguments import EXIT_OK, CliParser
from cohortaudit.errors import ConfigError
from cohortaudit.textsafe import echo, for_terminal

__all__ = [
    "EXIT_CHAIN_BROKEN",
    "add_registry_option",
    "add_registry_commands",
    "check_registry_early",
    "record_outputs",
    "run_registry_command",
]

#: ``registry verify`` found an altered, missing or re-ordered entry or event.
EXIT_CHAIN_BROKEN = 4

_URL_HELP = (
    "audit registry: sqlite:///PATH (a local file) or postgresql://USER@HOST:PORT/DB "
    "(default: $COHORTAUDIT_REGISTRY)"
)


def add_registry_option(p: argparse.ArgumentParser) -> None:
    """``--registry [URL]`` of ``audit`` and ``pool``: record the audit there when given."""
    p.add_argument(
        "--registry", nargs="?", const="", default=None, metavar="URL",
        help="also record the audit (audit.json, manifest, signature; never patient rows) in "
        "this registry: sqlite:///PATH or postgresql://USER@HOST:PORT/DB; without URL, "
        "$COHORTAUDIT_REGISTRY",
    )  # fmt: skip


def _url(value: str | None) -> str | None:
    return value or None  # "" (the bare flag) and None both mean the configured default


def record_outputs(args: argparse.Namespace, out_dir: Path, *, source: str) -> None:
    """Record ``out_dir`` in ``args.registry`` when the flag was given; print one line."""
    if args.registry is None:
        return
    from cohortaudit.audit_registry import default_auditor, open_registry

    with open_registry(_url(args.registry)) as reg:
        entry = reg.record(out_dir, auditor=args.auditor or default_auditor(), source=source)
        where = reg.url
    if not getattr(args, "quiet", False):
        echo(f"Recorded as entry {entry.entry_id} in {for_terminal(where)} "
             f"(entry hash {entry.entry_hash[:16]}...).")  # fmt: skip


def check_registry_early(args: argparse.Namespace) -> None:
    """Open the registry before the audit runs, so a bad URL costs a second, not an audit."""
    if args.registry is None:
        return
    from cohortaudit.audit_registry import open_registry

    open_registry(_url(args.registry)).close()


def add_registry_commands(sub) -> None:
    reg = sub.add_parser(
        "registry",
        help="the audit registry: list, show, verify and trend recorded audits",
        description="Read the audit registry: one model's audits over time and across cohorts.",
    )
    cmds = reg.add_subparsers(dest="registry_command", required=True, parser_class=CliParser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--registry", metavar="URL", help=_URL_HELP)
        return p

    ls = command("list", "one line per recorded audit, oldest first")
    ls.add_argument("--model", metavar="SHA256", help="only the audits of this model")
    show = command("show", "one entry: index fields, stored files, audit trail")
    show.add_argument("entry_id", metavar="ID")
    command("verify", "recompute the hash chain; exit 0 intact, 4 with the first broken entry")
    trend = command("trend", "one metric in one group across a model's audits, with changes")
    trend.add_argument("--metric", required=True, metavar="KEY", help="metric key, e.g. auroc")
    trend.add_argument(
        "--group", action="append", default=[], metavar="COL=VALUE",
        help="the subgroup (repeat for an intersection); none: the whole cohort",
    )  # fmt: skip
    trend.add_argument(
        "--model", metavar="SHA256",
        help="the model (default: the only model in the registry; required when there are more)",
    )  # fmt: skip


def run_registry_command(args: argparse.Namespace) -> int:
    from cohortaudit.audit_registry import open_registry

    with open_registry(args.registry) as reg:
        if args.registry_command == "list":
            return _list(reg, args)
        if args.registry_command == "show":
            return _show(reg, args)
        if args.registry_command == "verify":
            return _verify(reg)
        return _trend(reg, args)


def _entry_line(e) -> str:
    cohort = e.site or e.cohort_name
    return (
        f"{e.entry_id:>4}  {e.recorded_at}  {e.model_name} {e.card_version}  "
        f"model {e.model_sha256[:12]}  cohort {cohort} ({e.cohort_sha256[:12]})  "
        f"{e.source}  by {e.auditor}  policy {e.policy_verdict}"
    )


def _list(reg, args) -> int:
    found = reg.entries(args.model)
    if not found:
        echo("The registry holds no audits" + (" of this model." if args.model else "."))
    for e in found:
        echo(for_terminal(_entry_line(e)))
    return EXIT_OK


def _show(reg, args) -> int:
    e = reg.get(args.entry_id)
    lines = [
        f"Entry {e.entry_id}, recorded {e.recorded_at} from {e.source} by {e.auditor}",
        f"  model        {e.model_name} {e.card_version}, SHA-256 {e.model_sha256}",
        f"  card         SHA-256 {e.card_sha256 or '-'}",
        f"  cohort       {e.cohort_name}, SHA-256 {e.cohort_sha256}",
        *([f"  sites        {e.site}"] if e.site else []),
        f"  outcome      {e.outcome_kind}; schema {e.schema_version}; policy {e.policy_verdict}",
        f"  prev hash    {e.prev_hash}",
        f"  entry hash   {e.entry_hash}",
        "  files",
        *(f"    {b.name:<14} {b.size:>10,} bytes  SHA-256 {b.sha256}" for b in e.blobs),
        "  audit trail",
        *(
            f"    {ev.at}  {ev.actor} ({ev.role}) {ev.action}"
            + (f": {ev.detail}" if ev.detail else "")
            for ev in reg.events(e.entry_id)
        ),
    ]
    echo("\n".join(for_terminal(line) for line in lines))
    return EXIT_OK


def _verify(reg) -> int:
    report = reg.verify()
    if report.intact:
        echo(
            f"Registry intact: {report.entries} entries, {report.events} events; head hash "
            f"{report.head_hash or '-'} (keep it elsewhere to detect a rewritten chain)."
        )
        return EXIT_OK
    echo(
        f"ChainBroken: {report.first_broken}: {report.reason}. The registry has been altered "
        "from there on; restore it from a backup and compare.",
        file=sys.stderr,
    )
    return EXIT_CHAIN_BROKEN


def _parse_groups(raw: list[str]) -> dict[str, str]:
    group: dict[str, str] = {}
    for item in raw:
        col, sep, value = item.partition("=")
        if not sep or not col.strip():
            raise ConfigError(f"--group takes COL=VALUE, e.g. --group sex=F; got {item!r}.")
        if col.strip() in group:
            raise ConfigError(f"--group names the column {col.strip()!r} twice.")
        group[col.strip()] = value.strip()
    return group


def _pick_model(reg, model: str | None) -> str:
    models = reg.models()
    if model:
        matches = [m for m in models if m.model_sha256.startswith(model.lower())]
        if len(matches) != 1:
            raise ConfigError(
                f"--model {model!r} matches {len(matches)} models in the registry; give more of "
                "its SHA-256 ('cohortaudit registry list' shows them)."
            )
        return matches[0].model_sha256
    if len(models) != 1:
        raise ConfigError(
            f"The registry holds {len(models)} models; choose one with --model SHA256."
        )
    return models[0].model_sha256


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _trend(reg, args) -> int:
    group = _parse_groups(args.group)
    t = reg.trend(_pick_model(reg, args.model), args.metric, group)
    where = ", ".join(f"{k} = {v}" for k, v in t.group) or "all patients"
    lines = [f"{args.metric} in {where}, model {t.model_sha256[:12]}: {len(t.points)} audits"]
    for p in t.points:
        cohort = p.site or p.cohort
        if p.withheld:
            shown = f"withheld ({p.note})"
        else:
            shown = f"{_fmt(p.value)} (95% CI {_fmt(p.ci_low)} to {_fmt(p.ci_high)})"
        n = f"n={p.n:,}" if p.n is not None else "n withheld"
        lines.append(f"{p.entry_id:>4}  {p.recorded_at}  {cohort}  {shown}  {n}")
    null = "1" if t.scale == "ratio" else "0"
    lines.append(f"Changes between consecutive audits ({t.scale}; flagged when the 95% CI "
                 f"excludes {null}; {t.method}):")  # fmt: skip
    for c in t.changes:
        mark = "FLAGGED" if c.flagged else "within noise"
        estimate = f"{c.estimate:.4f}" if c.scale == "ratio" else f"{c.estimate:+.4f}"
        lines.append(
            f"  {c.from_entry} -> {c.to_entry}: {c.scale} {estimate} "
            f"(95% CI {c.ci_low:.4f} to {c.ci_high:.4f})  {mark}"
        )
    if not t.changes:
        lines.append("  none (fewer than two audits with a value and a CI)")
    if t.policy_changes:
        lines.append("Policy rules that changed state:")
        for pc in t.policy_changes:
            grp = ", ".join(f"{k} = {v}" for k, v in pc.group) or "all patients"
            lines.append(
                f"  {pc.from_entry} -> {pc.to_entry}: {pc.rule_id} ({grp}): {pc.before} -> "
                f"{pc.after}"
            )
    echo("\n".join(for_terminal(line) for line in lines))
    return EXIT_OK


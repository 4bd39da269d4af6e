"""``cohortaudit inspect`` and ``cohortaudit card init``: what a model expects, and the
skeleton of its card written from the model and its development data."""

from __future__ import annotations

import argparse
from pathlib import Path

from cohortaudit.cli.arguments import EXIT_OK, CliParser
from cohortaudit.textsafe import echo

__all__ = ["add_model_commands", "run_inspect", "run_card_init"]


def add_model_commands(sub) -> None:
    """Add ``inspect`` and ``card init`` to the subparsers ``sub`` of the main parser."""
    inspect = sub.add_parser("inspect", help="show a model's inputs, outputs and card")
    inspect.add_argument("--model", type=Path, required=True)
    inspect.add_argument("--card", type=Path)
    inspect.add_argument("--trust", action="append", default=[], metavar="TYPE")

    card = sub.add_parser("card", help="model card tools")
    card_sub = card.add_subparsers(dest="card_command", parser_class=CliParser, required=True)
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


def run_inspect(args: argparse.Namespace) -> int:
    from cohortaudit.intake.card import check_card_matches, load_card
    from cohortaudit.intake.model import load_model
    from cohortaudit.intake.vectors import check_test_vectors
    from cohortaudit.render.text import model_text

    card = load_card(args.card) if args.card else None
    model = load_model(args.model, card=card, trusted_types=args.trust)
    report = None
    if card is not None:
        check_card_matches(card, model)
        report = check_test_vectors(card, model)
    echo(model_text(model, card, test_vectors=report))
    return EXIT_OK


def run_card_init(args: argparse.Namespace) -> int:
    from cohortaudit.errors import ConfigError
    from cohortaudit.intake.card import card_from_dict, init_card, load_card, write_card
    from cohortaudit.intake.model import load_model
    from cohortaudit.intake.tables import load_cohort
    from cohortaudit.intake.vectors import make_test_vectors

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

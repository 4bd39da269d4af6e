"""Old import path of :mod:`cohortaudit.intake.card` (the model card), kept for callers."""

from cohortaudit.intake.card import (
    CARD_SCHEMA_VERSION,
    CardInput,
    ModelCard,
    card_from_dict,
    card_schema,
    check_card_matches,
    init_card,
    load_card,
    validate_card_dict,
    write_card,
)

__all__ = [
    "CARD_SCHEMA_VERSION",
    "CardInput",
    "ModelCard",
    "card_from_dict",
    "card_schema",
    "check_card_matches",
    "init_card",
    "load_card",
    "validate_card_dict",
    "write_card",
]

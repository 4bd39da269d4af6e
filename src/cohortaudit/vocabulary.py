"""Words the audit and its renderers share, so a group or slice reads the same everywhere.

A leaf (it imports only :mod:`cohortaudit.textsafe`): the checks that write descriptions into
the result (safety's weak slices) and the renderers that word the same groups (report, charts,
dashboard) both import it, without the renderers importing the checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cohortaudit.textsafe import short_name

__all__ = ["UNIT_FACTORS", "slice_words"]

_RANGE = re.compile(r"\[\s*([^,\]\)]+?)\s*,\s*([^,\]\)]+?)\s*([\]\)])")


def slice_words(attributes: Mapping[str, str]) -> str:
    """A slice in words: ``{"sex": "F", "age": "> 80"}`` -> ``"sex = F, age > 80"``.

    Values that are ranges read as ranges ("age [40, 50)" -> "age 40 to under 50"); other
    values follow their attribute's name.
    """
    parts = []
    for name, value in attributes.items():
        attr, v = short_name(name), short_name(value)
        m = _RANGE.fullmatch(v)
        if m:
            lo, hi, closed = m.group(1), m.group(2), m.group(3) == "]"
            parts.append(f"{attr} {lo} to {hi}" if closed else f"{attr} {lo} to under {hi}")
        elif v[:1] in "<>≤≥":
            parts.append(f"{attr} {v}")
        else:
            parts.append(f"{attr} = {v}")
    return ", ".join(parts)


#: Known multiplicative unit conversions: (factor, what it usually means).
UNIT_FACTORS: tuple[tuple[float, str], ...] = (
    (2.2046, "lb vs kg"),
    (2.54, "cm vs inches"),
    (10.0, "a factor of 10, e.g. mg/L vs mg/dL or mm vs cm"),
    (18.016, "mg/dL vs mmol/L for glucose"),
    (38.67, "mg/dL vs mmol/L for cholesterol"),
    (88.4, "µmol/L vs mg/dL for creatinine, or mg/dL vs mmol/L for triglycerides"),
    (100.0, "percent vs fraction"),
    (1000.0, "a factor of 1000, e.g. g vs kg or mL vs L"),
)

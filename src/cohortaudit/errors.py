"""The one exception tree of cohortaudit.

Every error a user can cause is an :class:`AuditError`; the CLI and the app catch that base
class only and print ``ErrorType: message``. Nothing else in the package defines exceptions.

::

    AuditError
    ├── InputError (also ValueError)      the user's inputs are wrong
    │   ├── SchemaError                   the cohort does not fit the model / card / config
    │   ├── ConfigError                   an option is out of range or contradicts another
    │   └── CardError                     the model card is malformed or does not match the model
    ├── ModelLoadError                    the model file cannot be used
    │   ├── UnsafeModelFormatError        pickle/joblib, custom ops, external data, untrusted types
    │   └── ModelSignatureError           inputs/outputs the auditor cannot map to the cohort
    ├── ComputationError                  a computation failed in a way that is not the input's fault
    └── ReportError                       a report could not be rendered or verified
        └── OutputPathError               an output would be written through a link or outside --out

Messages follow one shape: what is wrong, where, what was expected, what was received, and what
to do next. They name columns, counts and types -- **never row values**, because rows may be
patient data. Statistical trouble (a small group, a one-class group) is not an exception: it
becomes a ``Caveat`` in the result.
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "InputError",
    "SchemaError",
    "ConfigError",
    "CardError",
    "ModelLoadError",
    "UnsafeModelFormatError",
    "ModelSignatureError",
    "ComputationError",
    "ReportError",
    "OutputPathError",
]


class AuditError(Exception):
    """Base class of every error cohortaudit raises on purpose."""


class InputError(AuditError, ValueError):
    """The user's inputs are wrong (also a ``ValueError`` so generic callers can catch it)."""


class SchemaError(InputError):
    """The cohort does not match what the model, card or configuration require."""


class ConfigError(InputError):
    """An audit option is out of range or contradicts another option."""


class CardError(InputError):
    """The model card is malformed, fails its schema, or does not describe this model."""


class ModelLoadError(AuditError):
    """The model file cannot be loaded or run."""


class UnsafeModelFormatError(ModelLoadError):
    """The model file could run arbitrary code or read outside its folder, so it is refused."""


class ModelSignatureError(ModelLoadError):
    """The model's declared inputs or outputs cannot be mapped to a binary risk score."""


class ComputationError(AuditError):
    """A computation failed for a reason that is not the user's input."""


class ReportError(AuditError):
    """A report could not be rendered, written or verified."""


class OutputPathError(ReportError):
    """An output cannot be written safely: a symbolic link or a non-file is in its way, or the
    folder is not writable. Raised before anything is written (see :mod:`cohortaudit.outputs`)."""

"""What every intake file shares: its SHA-256 and the size limits read before it is parsed.

A model and a cohort are both files handed over by someone else; both are hashed into the report
(so a reader can check they are the files they think) and both are refused above a size limit
that the person at the keyboard can raise with an environment variable.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

from cohortaudit.errors import ConfigError

__all__ = [
    "ENV_MAX_COHORT_MB",
    "ENV_MAX_MODEL_MB",
    "check_size",
    "human_size",
    "limit_from_env",
    "raise_hint",
    "sha256_file",
]

_CHUNK = 2**20


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB chunks.

    Streaming keeps memory flat for multi-GB cohorts; the hash goes into the report so a reader
    can check that the audited model and cohort are the files they think they are.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def human_size(n_bytes: int) -> str:
    """Human size for messages; bytes below 0.1 MB so tiny test limits still read sensibly."""
    return f"{n_bytes / 2**20:.1f} MB" if n_bytes >= 2**20 // 10 else f"{n_bytes} bytes"


#: Environment variables that raise (or lower) the size limits, in MiB, for CLI and dashboard
#: users who cannot pass ``max_bytes=``.
ENV_MAX_MODEL_MB = "COHORTAUDIT_MAX_MODEL_MB"
ENV_MAX_COHORT_MB = "COHORTAUDIT_MAX_COHORT_MB"


def limit_from_env(variable: str, default: int) -> int:
    """The size limit in bytes: ``variable`` (a positive number of MiB) if set, else ``default``.

    An environment variable is the one knob a CLI or dashboard user can turn without editing
    Python; a value that is not a positive number is refused rather than silently ignored.
    """
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        mb = float(raw)
    except ValueError:
        mb = math.nan
    if not (math.isfinite(mb) and mb > 0):
        raise ConfigError(
            f"The environment variable {variable} must be a positive number of megabytes "
            f"(MiB), e.g. {variable}=2000. Got {raw[:40]!r} instead."
        )
    return int(mb * 2**20)


def raise_hint(variable: str, needed: int) -> str:
    """How to raise a size limit: the environment variable first, ``max_bytes=`` for Python."""
    mb = math.ceil(needed * 1.1 / 2**20)
    return (
        f"If the file is genuine, raise the limit: set the environment variable "
        f"{variable}={mb} (megabytes) before running cohortaudit, e.g. "
        f"'{variable}={mb} cohortaudit audit ...' (in Python: max_bytes={int(needed * 1.1) + 1})."
    )


def check_size(
    path: Path, max_bytes: int, *, what: str, error: type[Exception], variable: str
) -> int:
    """The file's size in bytes; ``error`` (with how to raise the limit) when above ``max_bytes``.

    Checked before a byte is parsed, so an oversized model or cohort costs nothing to refuse.
    """
    size = path.stat().st_size
    if size > max_bytes:
        raise error(
            f"The {what} file '{path.name}' is {human_size(size)}, above the limit of {human_size(max_bytes)}. "
            + raise_hint(variable, size)
        )
    return size

"""Private workspaces of a shared deployment: each user's uploads and audit results.

Why this module: with sign-in on, a user's files must outlive a browser reload but never be
seen by another user, and must go when they ask or when the retention time has passed. Each
user has one folder, ``<workspace_root>/<User.id>/`` (a hash of issuer and subject, never a raw
claim), with ``uploads/`` (the files the Start page received) and ``results/`` (the audit.json of
each audit they ran, aggregates only). Nothing here is cached across sessions: listings are read
from the user's own folder on every run.

Without sign-in there is no workspace: uploads go to a per-session temporary folder, as before.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from cohortaudit.outputs import write_output

UPLOADS, RESULTS = "uploads", "results"


@dataclass(frozen=True)
class StoredFile:
    """A file in a workspace, as the workspace page lists it."""

    path: Path
    name: str
    size: int
    modified: float


def user_folder(root: Path, user_id: str) -> Path:
    """The user's folder (created, private to the server's account)."""
    if not user_id or not user_id.isalnum():  # ids are hex digests; anything else is a bug
        raise ValueError(f"A workspace needs a hexadecimal user id. Got {user_id!r}.")
    folder = Path(root) / user_id
    for sub in (UPLOADS, RESULTS):
        (folder / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in (Path(root), folder):
        os.chmod(path, 0o700)
    return folder


def save_result(folder: Path, stem: str, json_text: str) -> Path:
    """Keep an audit's JSON result in the user's ``results/`` (one file per audit run)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)[:80] or "audit"
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-audit.json"
    return write_output(folder / RESULTS, name, json_text.encode("utf-8"))


def list_files(folder: Path, sub: str) -> list[StoredFile]:
    """Files in ``uploads`` or ``results``, newest first."""
    base = Path(folder) / sub
    if not base.is_dir():
        return []
    files = []
    for path in base.iterdir():
        if path.is_file():
            st = path.stat()
            files.append(StoredFile(path, path.name, st.st_size, st.st_mtime))
    return sorted(files, key=lambda f: (-f.modified, f.name))


def delete_workspace(folder: Path) -> None:
    """Remove the user's folder and everything in it (on their request)."""
    shutil.rmtree(folder, ignore_errors=True)


def purge_expired(root: Path, retention_days: int, *, now: float | None = None) -> int:
    """Remove workspace files older than ``retention_days`` (0 keeps them); return how many.

    Age is the file's modification time: re-running an audit writes a new result, re-uploading a
    file rewrites it, so what is in use stays. Emptied user folders are removed too.
    """
    root = Path(root)
    if retention_days <= 0 or not root.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    removed = 0
    for user in root.iterdir():
        if not user.is_dir():
            continue
        for sub in (UPLOADS, RESULTS):
            base = user / sub
            if not base.is_dir():
                continue
            for path in base.iterdir():
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        if not any(p.is_file() for p in user.rglob("*")):
            shutil.rmtree(user, ignore_errors=True)
    return removed

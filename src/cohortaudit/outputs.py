"""The one function that writes an output file, and the folder it writes into.

An audit's outputs go into a folder the user names (``--out``), but what is already inside that
folder is not the user's to vouch for: on a shared machine, in a synced or unpacked folder, a
pre-existing symbolic link such as ``out/audit.json -> ~/.bashrc`` or ``out/tables -> /etc``
would make a plain ``open(path, "w")`` write somewhere else entirely. So every output, in every
format and from every command, is written by :func:`write_output` (or
:meth:`OutputFolder.write`), which:

- refuses a relative name that is absolute, empty, or contains ``..`` (nothing leaves the
  folder by construction);
- walks the folder one component at a time with ``O_NOFOLLOW | O_DIRECTORY`` directory
  descriptors, so a symbolic link anywhere below the folder is refused *before* anything is
  written, and a link swapped in during the run cannot redirect the write (the checks and the
  write use the same descriptors, not the path string again);
- refuses to replace a symbolic link or anything that is not a regular file;
- writes to a temporary file in the destination folder and renames it over the target, so a
  reader (or ``verify``) never sees a half-written file and a crash leaves the old file intact.

The folder itself (the ``--out`` path the user typed) is resolved once, as the user meant it.

Written by hand rather than with a library: the standard library has the primitives
(``os.open`` with ``dir_fd``, ``os.replace`` with ``src_dir_fd``/``dst_dir_fd``) but no
"write inside this folder, never outside" helper, and the well-known packages for atomic writes
follow symbolic links in the path.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from cohortaudit.errors import OutputPathError

__all__ = ["OutputFolder", "write_output", "write_outputs"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _parts(relative: str | os.PathLike[str]) -> tuple[str, ...]:
    text = os.fspath(relative)
    path = PurePosixPath(text.replace(os.sep, "/"))
    parts = path.parts
    if not parts or path.is_absolute() or any(p in ("..", ".", "") for p in parts):
        raise OutputPathError(
            f"The output name {text!r} is not a plain relative path inside the output folder "
            "(it is empty, absolute or contains '..'). This is a bug in the caller; please "
            "report it."
        )
    if any("\x00" in p for p in parts):
        raise OutputPathError("An output name contains a NUL character; refusing to write it.")
    return parts


class OutputFolder:
    """A folder that outputs are written into and never out of (see the module docstring).

    ``OutputFolder(path)`` creates the folder if needed. Its subfolders are created on demand by
    :meth:`write`; none of them, nor any file replaced, may be a symbolic link.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputPathError(
                f"Could not create the output folder '{self.root}': {exc.strerror}. Choose a "
                "writable --out folder."
            ) from None
        if not self.root.is_dir():
            raise OutputPathError(
                f"The output folder '{self.root}' exists but is not a folder. Choose another "
                "--out path."
            )

    # -- the folder walk ---------------------------------------------------------------------
    def _open_dir(self, parts: tuple[str, ...], *, create: bool) -> int:
        """A descriptor of root/parts[0]/.../parts[-1], refusing links at every step."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        try:
            for i, part in enumerate(parts):
                where = "/".join(parts[: i + 1])
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if not create:
                        raise
                    # made meanwhile? the O_NOFOLLOW open below still checks it
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, mode=0o777, dir_fd=fd)
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    raise OutputPathError(_link_message(self.root, where))
                if not stat.S_ISDIR(st.st_mode):
                    raise OutputPathError(
                        f"'{where}' in the output folder '{self.root}' is a file, but a folder "
                        "of that name is needed. Move it away or choose another --out folder."
                    )
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:  # ELOOP: a link swapped in after the stat
                    raise OutputPathError(_link_message(self.root, where)) from exc
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def check(self, relative: str | os.PathLike[str]) -> Path:
        """Refuse, before anything is written, a name that could not be written safely."""
        parts = _parts(relative)
        try:
            fd = self._open_dir(parts[:-1], create=False)
        except FileNotFoundError:
            return self.root.joinpath(*parts)  # its folder will be created by write()
        except OSError as exc:
            raise _os_error(self.root, "/".join(parts), exc) from None
        try:
            _check_target(fd, parts, self.root)
        finally:
            os.close(fd)
        return self.root.joinpath(*parts)

    def write(self, relative: str | os.PathLike[str], data: bytes | str) -> Path:
        """Write ``data`` to ``relative`` inside the folder, atomically; return its path."""
        parts = _parts(relative)
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        try:
            fd = self._open_dir(parts[:-1], create=True)
        except OSError as exc:
            raise _os_error(self.root, "/".join(parts), exc) from None
        name = parts[-1]
        tmp = f".{name[:100]}.{secrets.token_hex(6)}.tmp"
        try:
            _check_target(fd, parts, self.root)
            try:
                out = os.open(
                    tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o666,
                    dir_fd=fd,
                )
                with os.fdopen(out, "wb") as fh:
                    fh.write(payload)
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=fd)
                raise _os_error(self.root, "/".join(parts), exc) from None
        finally:
            os.close(fd)
        return self.root.joinpath(*parts)

    def remove(self, relative: str | os.PathLike[str]) -> None:
        """Remove a file (or a link, which is never followed) if it is there."""
        parts = _parts(relative)
        try:
            fd = self._open_dir(parts[:-1], create=False)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _os_error(self.root, "/".join(parts), exc) from None
        try:
            os.unlink(parts[-1], dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _os_error(self.root, "/".join(parts), exc) from None
        finally:
            os.close(fd)


def _check_target(dir_fd: int, parts: tuple[str, ...], root: Path) -> None:
    try:
        st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    where = "/".join(parts)
    if stat.S_ISLNK(st.st_mode):
        raise OutputPathError(_link_message(root, where))
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(
            f"'{where}' in the output folder '{root}' exists and is not a regular file. Move it "
            "away or choose another --out folder."
        )


def _link_message(root: Path, where: str) -> str:
    return (
        f"'{where}' in the output folder '{root}' is a symbolic link; cohortaudit never writes "
        "through a link (it could point outside the folder). Remove the link or choose an "
        "empty --out folder."
    )


def _os_error(root: Path, where: str, exc: OSError) -> OutputPathError:
    return OutputPathError(
        f"Could not write '{where}' in the output folder '{root}': "
        f"{exc.strerror or type(exc).__name__}. Choose a writable --out folder."
    )


def write_output(folder: str | os.PathLike[str], relative: str, data: bytes | str) -> Path:
    """Write one output file safely (see the module docstring); return its path."""
    return OutputFolder(folder).write(relative, data)


def write_outputs(
    folder: str | os.PathLike[str],
    files: Mapping[str, bytes | str],
    *,
    remove_first: Iterable[str] = (),
) -> list[Path]:
    """Write several outputs as one step: all names are checked before the first write, the
    names in ``remove_first`` (e.g. a stale manifest) are removed before it, and if a write
    fails half-way the files already written by this call are removed again, so a failed run
    never leaves a set of outputs that looks complete."""
    out = OutputFolder(folder)
    for name in files:
        out.check(name)
    for name in remove_first:
        out.remove(name)
    written: list[Path] = []
    try:
        for name, data in files.items():
            written.append(out.write(name, data))
    except BaseException:
        for name in list(files)[: len(written)]:
            with contextlib.suppress(OutputPathError):
                out.remove(name)
        raise
    return written

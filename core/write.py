"""The one writer of generated files: atomic, and only when the content changed.

Output paths are checked before any work starts (check_output_dir, check_output_file):
a file where a folder should be, a folder where a file should be, or a place that
cannot be written is bad input (exit 2) naming the path. A write that fails all the
same says which path and why: a path problem is bad input, anything else (a full
disk, an I/O error) a tool failure (exit 3).
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from core.errors import BadInput, ToolFailure

# errno values a user fixes by choosing another path
_PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR, errno.EEXIST,
                errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP}


class OutputPathError(BadInput):
    """An output path that cannot be used: `PATH: error: ...`, exit 2."""


class WriteFailed(ToolFailure):
    """Writing an output failed for a reason other than its path (disk full, I/O error): exit 3."""


def write_error(path: Path, exc: OSError, what: str = "write") -> BadInput | ToolFailure:
    """The contract's error for an OSError met while writing `path`."""
    reason = (exc.strerror or str(exc)).rstrip(".")
    if exc.errno in _PATH_ERRNOS:
        return OutputPathError(f"{path}: error: cannot {what} it: {reason}; choose a writable location")
    return WriteFailed(f"{path}: cannot {what} it: {reason}")


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _probe_writable(folder: Path, shown: Path) -> None:
    """Create and remove a temporary file in `folder` (the real test: root ignores mode bits, /proc does not)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tlsfit-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise write_error(shown, exc, "write in") from None


def check_output_dir(path: Path, what: str = "output folder") -> None:
    """Raise OutputPathError unless `path` is (or can be created as) a writable folder. Creates nothing."""
    try:
        if os.path.lexists(path):
            if not path.is_dir():
                raise OutputPathError(f"{path}: error: the {what} is a file, not a folder; "
                                      "give a folder (or remove the file)")
            _probe_writable(path, path)
            return
        ancestor = _existing_ancestor(path)
        if not ancestor.is_dir():
            raise OutputPathError(f"{path}: error: cannot create the {what}: {ancestor} is not a folder")
        _probe_writable(ancestor, path)
    except OSError as exc:  # ELOOP, ENAMETOOLONG, EACCES on stat
        raise write_error(path, exc, f"use as the {what}") from None


def check_output_file(path: Path, what: str = "output file", devices: bool = False) -> None:
    """Raise OutputPathError unless `path` can be written as a file (its folder is created when needed).

    `devices`: also accept a character device such as /dev/stdout (for appended output only)."""
    try:
        if os.path.lexists(path):
            if path.is_dir():
                raise OutputPathError(f"{path}: error: the {what} is a folder; give a file name")
            mode = os.stat(path).st_mode
            if not stat.S_ISREG(mode) and not (devices and stat.S_ISCHR(mode)):
                raise OutputPathError(f"{path}: error: the {what} is not a regular file; give a file name")
    except OSError as exc:
        raise write_error(path, exc, f"use as the {what}") from None
    check_output_dir(path.parent, f"folder of the {what}")


def _umask() -> int:
    """The process umask, read without changing it (Linux /proc; 0o022 where it cannot be read)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` to `path` atomically; return False (and touch nothing) if it is already there."""
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise OutputPathError(f"{path}: error: is a folder; cannot write a file there") from None
    except OSError:
        pass  # unreadable: replaced below (or the write says why)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp creates 0600; a written file gets what open() would give it: 0666 less the umask
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True

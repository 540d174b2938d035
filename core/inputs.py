"""Reading the files a user names (profiles, CA files, reports, baselines, limits): checked first.

One reader for every input file, so each one gets the same refusals, said the
same way (`PATH: error: ...`, exit 2) and never a hang or a traceback:

- only regular files: a directory says "is a directory", a FIFO, socket or
  device "is not a regular file" (checked with os.stat before opening, and the
  open is non-blocking, so a FIFO never hangs);
- a size cap per kind of file (the caller's `max_bytes`, stated in the message);
- symlink loops, missing files, unreadable files and over-long paths, each by name;
- UTF-8 text, with the line and column of the first bad byte.

Messages never quote a file's content: at most `excerpt()` of a value, short and
printable.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from core.errors import LocatedError

MIB = 1 << 20


class InputFileError(LocatedError):
    """An input file tlsfit cannot use: `PATH[:LINE]: error: message`, exit 2."""


def excerpt(value: object, limit: int = 40) -> str:
    """A short, printable quotation of a value for an error message (never the whole of it)."""
    text = repr(value)
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    if len(text) <= limit:
        return text
    return text[:limit - 4] + ("...'" if text[0] == "'" else "...")


def size_text(n: int) -> str:
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n:,} bytes"


_ERRNO_TEXT = {
    errno.ENOENT: "no such file",
    errno.ELOOP: "symbolic link loop (too many levels of symbolic links)",
    errno.ENAMETOOLONG: "path too long",
    errno.EACCES: "permission denied",
    errno.ENOTDIR: "a component of the path is not a directory",
}


def os_error_text(exc: OSError) -> str:
    return _ERRNO_TEXT.get(exc.errno or 0, exc.strerror or str(exc)).rstrip(".")


def check_regular(path: Path, what: str, max_bytes: int) -> os.stat_result:
    """os.stat of `path` (following links) if it is a regular file within the cap; else InputFileError."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputFileError(path, None, f"cannot read {what}: {os_error_text(exc)}; check the path") from None
    except ValueError:  # an embedded NUL byte in the path
        raise InputFileError(excerpt(str(path)), None, f"{what} path holds a NUL byte") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(path, None, f"{what} is a directory; give a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(path, None, f"{what} is not a regular file (a FIFO, socket or device); "
                             "give a file")
    if st.st_size > max_bytes:
        raise InputFileError(path, None, f"{what} is {st.st_size:,} bytes; a {what} is at most "
                             f"{size_text(max_bytes)}")
    return st


def read_bytes(path: Path, what: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (see check_regular)."""
    check_regular(path, what, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputFileError(path, None, f"cannot read {what}: {os_error_text(exc)}; check the path") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO since the stat
            raise InputFileError(path, None, f"{what} is not a regular file; give a file")
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 16, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise InputFileError(path, None, f"cannot read {what}: {os_error_text(exc)}") from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise InputFileError(path, None, f"{what} is more than {size_text(max_bytes)}; a {what} is at most "
                             f"{size_text(max_bytes)}")
    return b"".join(chunks)


def decode_utf8(data: bytes, path: Path, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise InputFileError(path, line, f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
                             f"{column}); save it as UTF-8") from None


def read_text(path: Path, what: str, max_bytes: int) -> str:
    """A regular UTF-8 text file of at most `max_bytes`, or InputFileError naming the path (and line)."""
    return decode_utf8(read_bytes(path, what, max_bytes), path, what)

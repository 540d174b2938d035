"""What can go wrong, by who must act: the four kinds every stage raises.

The CLI turns each kind into the contract's exit code (cli/main.py); library
callers such as a tuning search catch `Infeasible` as a normal outcome.

    BadInput     the user's input is wrong (profile, board, argument, mbedTLS tree): exit 2
    Infeasible   the input is well formed but asks for a build mbedTLS cannot make: exit 2,
                 and for a search simply "this candidate does not exist", with its reason
    ToolFailure  a tool around the handshake failed (compiler, QEMU, server, network): exit 3
    TlsfitBug    tlsfit contradicted itself (knowledge base, generated header): exit 3
"""
from __future__ import annotations

from pathlib import Path


class TlsfitError(Exception):
    """Base of every error tlsfit reports without a traceback."""


class BadInput(TlsfitError):
    """The user's input is wrong; the message says where and how to fix it."""


class LocatedError(BadInput):
    """Bad input in a file: printed as `FILE[:LINE]: error: message`."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: error: {message}")


class Infeasible(BadInput):
    """A well-formed request that mbedTLS cannot satisfy (a conflict, an option tlsfit never sets)."""


class ToolFailure(TlsfitError):
    """A tool tlsfit drives failed or is missing; the message names it and what to do."""


class TlsfitBug(TlsfitError):
    """tlsfit contradicted itself: please report it."""

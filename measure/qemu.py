"""Run a board firmware in QEMU, its transport UART connected to a host server."""
from __future__ import annotations

import signal
import subprocess
import time
from typing import TYPE_CHECKING, Callable

from measure import children
from measure.boards import Board
from measure.model import Firmware, MeasureError

if TYPE_CHECKING:
    from measure.proxy import WireProxy

RESULT_MARK = "TLSFIT-RESULT "
HANDSHAKE_MARK = "TLSFIT-HANDSHAKE "   # printed before the application exchange (harness_result.py)
TAIL_CHARS = 2000
POLL_S = 0.05
# After the wire proxy saw the session end abnormally: how long the firmware gets to
# print its result on its own (it may still be reading the server's last alert).
# On a board the UART never reports a closed connection, so without this the
# firmware would wait for the next byte until the timeout.
ABORT_GRACE_S = 2.0
NO_RESULT = "no result line from the firmware"


class RunTimeout(MeasureError):
    """The run did not end within its timeout; the message says how far it got.
    `console`: what the firmware printed (a TLSFIT-HANDSHAKE line keeps the handshake's figures)."""

    def __init__(self, message: str, console: str = ""):
        super().__init__(message)
        self.console = console


class RunAborted(MeasureError):
    """The run was stopped early because its connection failed (see `reason`);
    a handshake failure (exit 1), not a tool failure. `console` as for RunTimeout."""

    def __init__(self, message: str, reason: str, console: str = ""):
        super().__init__(message)
        self.reason = reason
        self.console = console


def printed(console: str) -> str:
    """How far the firmware's console got, for a run that ended without its result."""
    if RESULT_MARK in console:
        return "its result line was cut"
    if HANDSHAKE_MARK in console:
        return "the handshake had succeeded; the application exchange did not finish"
    return "the firmware printed no result" if console.strip() else "the firmware printed nothing"


def _tail(text: str) -> str:
    """The console's end for a message, without the machine-readable handshake line
    (its figures go into the report)."""
    lines = [ln for ln in text.replace("\r", "").splitlines() if not ln.startswith(HANDSHAKE_MARK)]
    return "\n".join(lines)[-TAIL_CHARS:].strip()


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def run_process(argv: list[str], timeout_s: float, what: str, *,
                abort: Callable[[], str | None] | None = None,
                progress: Callable[[], str | None] | None = None,
                abort_grace_s: float = ABORT_GRACE_S) -> tuple[int, str, str]:
    """Run argv in its own process group (registered in measure.children) and return
    (exit code, stdout, stderr).

    abort() is polled while it runs: once it returns a reason, the process gets
    abort_grace_s to end by itself, then its group is killed and RunAborted is raised.
    On timeout the group is killed and RunTimeout says whether a result line was
    printed and what progress() (e.g. the wire proxy's last handshake message) says.
    ToolMissing if argv[0] is not installed.
    """
    proc = children.popen(argv, what=what, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    abort_reason: str | None = None
    abort_deadline = 0.0
    try:
        while True:
            now = time.monotonic()
            limit = deadline if abort_reason is None else min(deadline, abort_deadline)
            try:
                out, err = proc.communicate(timeout=max(0.0, min(POLL_S, limit - now)))
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if abort_reason is None and abort is not None:
                abort_reason = abort()
                if abort_reason is not None:
                    abort_deadline = now + abort_grace_s
            if abort_reason is not None and now >= abort_deadline:
                children.stop(proc, grace_s=0)
                out, err = proc.communicate()
                console = _decode(out)
                raise RunAborted(
                    f"{what} stopped: {abort_reason}; {printed(console)}"
                    + (f"\nconsole tail:\n{_tail(console)}" if _tail(console) else ""),
                    abort_reason, console)
            if now >= deadline:
                children.stop(proc, grace_s=0)
                out, err = proc.communicate()
                raise RunTimeout(_timeout_message(what, timeout_s, _decode(out), _decode(err),
                                                  progress() if progress is not None else None),
                                 _decode(out))
    finally:
        if proc.poll() is None:
            children.stop(proc, grace_s=0)
        children.release(proc)
    return proc.returncode, _decode(out), _decode(err)


def _timeout_message(what: str, timeout_s: float, console: str, err: str,
                     progress: str | None) -> str:
    state = ("a result line was printed but did not end" if RESULT_MARK in console
             else NO_RESULT + " (the handshake had succeeded; the application exchange did not finish)"
             if HANDSHAKE_MARK in console else NO_RESULT)
    text = f"{what} timed out after {timeout_s:g} s: {state}"
    if progress:
        text += f"; {progress}"
    if _tail(console):
        text += f"\nconsole tail:\n{_tail(console)}"
    if _tail(err):
        text += f"\nstderr tail:\n{_tail(err)}"
    return text


# QEMU's TCP chardev option that turns Nagle off. With Nagle on, the firmware's last bytes
# (its fatal alert after a failed certificate check: 1 byte goes out, the other 6 wait for
# the relay's delayed ACK) are still in QEMU's send queue when the firmware exits; QEMU
# closes its socket with the server's unread bytes in its receive queue, the kernel sends
# RST and drops the queued bytes, and the alert never reaches the relay or the server
# (measured: "15" relayed, "03 03 00 02 02 30" lost; openssl then answers decode_error).
TCP_NODELAY_OPTION = "nodelay=on"


def qemu_argv(fw: Firmware, board: Board, transport_port: int) -> list[str]:
    """board.yaml's QEMU command line with the ELF and the transport port filled in,
    and TCP_NODELAY_OPTION on every tcp: character device (the transport to the relay)."""
    if not board.qemu_argv:
        raise MeasureError(f"target {board.name} has no QEMU command line in its board.yaml")
    argv = [arg.format(elf=fw.elf, port=transport_port) for arg in board.qemu_argv]
    return [_with_nodelay(arg) for arg in argv]


def _with_nodelay(arg: str) -> str:
    if not arg.startswith("tcp:") or "nodelay" in arg:
        return arg
    return f"{arg},{TCP_NODELAY_OPTION}"


def run_qemu(fw: Firmware, board: Board, transport_port: int, timeout_s: float,
             proxy: WireProxy | None = None) -> tuple[int, str]:
    """(exit code, console text). The server (or `proxy`) must already listen on
    transport_port: QEMU connects to it as a TCP client at start-up.

    With `proxy` (the WireProxy listening on transport_port), a connection fault it
    sees (server unreachable, closed, reset, silent) stops QEMU within
    ABORT_GRACE_S (RunAborted), and a timeout names the last handshake message seen.
    """
    argv = qemu_argv(fw, board, transport_port)
    code, console, err = run_process(
        argv, timeout_s, "QEMU",
        abort=proxy.abort_reason if proxy is not None else None,
        progress=proxy.progress if proxy is not None else None)
    if RESULT_MARK not in console:
        raise RunEnded(silent_end("QEMU", code, console, err, proxy), console)
    return code, console


class RunEnded(MeasureError):
    """The process ended by itself without a result line; the message says how (a crash,
    an exit code, the server's side closed first). `console` as for RunTimeout."""

    def __init__(self, message: str, console: str = ""):
        super().__init__(message)
        self.console = console


def silent_end(what: str, code: int, console: str, err: str, proxy: WireProxy | None) -> str:
    """One message for a run that ended without a TLSFIT-RESULT line: whether it crashed
    (a signal), exited with a code, or the server's side had closed first, then what the
    firmware and QEMU printed."""
    if code < 0:
        how = f"{what} crashed (killed by {_signal_name(-code)})"
    elif "terminating on signal" in err:   # QEMU's own words when another process stops it
        how = f"{what} was stopped by another process ({err.strip().splitlines()[-1].strip()}) and exited {code}"
    else:
        how = f"{what} exited {code}"
    text = f"{how} without a result: {printed(console)}"
    fault = proxy.fault if proxy is not None else None
    if fault is not None:
        text += f"; the server's side ended first: {fault.message}"
    elif proxy is not None:
        text += f"; {proxy.progress()}"
    if _tail(err):
        text += f"\nstderr tail:\n{_tail(err)}"
    if _tail(console):
        text += f"\nconsole tail:\n{_tail(console)}"
    return text


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"

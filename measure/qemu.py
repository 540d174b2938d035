"""Run a board firmware in QEMU, its transport UART connected to a host server."""
from __future__ import annotations

import os
import signal
import subprocess

from measure.boards import Board
from measure.model import Firmware, MeasureError

RESULT_MARK = "TLSFIT-RESULT "
TAIL_CHARS = 2000


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the process group we created for this run (never by name)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_process(argv: list[str], timeout_s: float, what: str) -> tuple[int, str, str]:
    """Run argv in its own process group; on timeout kill the group and raise."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise MeasureError(f"{what}: cannot start {argv[0]}: {exc}") from exc
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        console = out.decode("utf-8", "replace")
        raise MeasureError(f"{what} timed out after {timeout_s:g}s: console tail:\n"
                           f"{console[-TAIL_CHARS:]}\n{err.decode('utf-8', 'replace')[-TAIL_CHARS:]}")
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def qemu_argv(fw: Firmware, board: Board, transport_port: int) -> list[str]:
    """board.yaml's QEMU command line with the ELF and the transport port filled in."""
    if not board.qemu_argv:
        raise MeasureError(f"target {board.name} has no QEMU command line in its board.yaml")
    return [arg.format(elf=fw.elf, port=transport_port) for arg in board.qemu_argv]


def run_qemu(fw: Firmware, board: Board, transport_port: int, timeout_s: float) -> tuple[int, str]:
    """(exit code, console text). The server must already listen on transport_port:
    QEMU connects to it as a TCP client at start-up."""
    code, console, err = run_process(qemu_argv(fw, board, transport_port), timeout_s, "QEMU")
    if RESULT_MARK not in console and code != 0:
        # QEMU itself failed (bad argument, nobody listening): not a handshake result
        raise MeasureError(f"QEMU exited {code} without a result: {err.strip()[-TAIL_CHARS:]}"
                           f"\nconsole tail:\n{console[-TAIL_CHARS:]}")
    return code, console

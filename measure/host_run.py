"""Run the host build of the harness (ports/host) against a server."""
from __future__ import annotations

from typing import TYPE_CHECKING

from measure.model import Firmware
from measure.qemu import RESULT_MARK, RunEnded, run_process, silent_end

if TYPE_CHECKING:
    from measure.proxy import WireProxy


def run_host(fw: Firmware, host: str, port: int, timeout_s: float,
             proxy: WireProxy | None = None) -> tuple[int, str]:
    """(exit code, console text) of one harness run on this machine.

    The host harness sees a closed connection itself (recv returns 0); `proxy`
    (the WireProxy on host:port) still stops a run whose server went silent, and
    names the last handshake message in a timeout."""
    code, console, err = run_process(
        [str(fw.elf), host, str(port)], timeout_s, "host harness",
        abort=proxy.abort_reason if proxy is not None else None,
        progress=proxy.progress if proxy is not None else None)
    if RESULT_MARK not in console:
        raise RunEnded(silent_end("host harness", code, console, err, proxy), console)
    return code, console

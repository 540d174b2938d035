"""Run the host build of the harness (ports/host) against a server."""
from __future__ import annotations

from measure.model import Firmware, MeasureError
from measure.qemu import RESULT_MARK, TAIL_CHARS, run_process


def run_host(fw: Firmware, host: str, port: int, timeout_s: float) -> tuple[int, str]:
    """(exit code, console text) of one harness run on this machine."""
    code, console, err = run_process([str(fw.elf), host, str(port)], timeout_s, "host harness")
    if RESULT_MARK not in console:
        raise MeasureError(f"host harness exited {code} without a result: "
                           f"{err.strip()[-TAIL_CHARS:]}\nconsole tail:\n{console[-TAIL_CHARS:]}")
    return code, console

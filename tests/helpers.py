"""Helpers only the tests use (moved out of the production modules: nothing in tlsfit calls them).

    run_openssl_client   a real TLS client (openssl s_client) sending one line, reading one reply
    expected_reply       what a reference server answers to one line
    require_ok           raise unless the wire proxy could relay
    echo_kind            how the server answered the firmware's echo line
    error_name           an mbedTLS error code's name(s), as error.c spells them
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from measure import children
from measure.harness_result import result_fields
from measure.model import MeasureError
from measure.proxy import FAULT_NO_CLIENT, FAULT_UPSTREAM_UNREACHABLE, WireProxy
from measure.server import POLL_S, STOP_TIMEOUT_S, RunningServer
from reports.mbedtls_errors import describe, load_error_table

# s_server -rev answers each line reversed; gnutls-serv --echo as it came.
REPLY_TRANSFORMS = {
    "openssl": lambda line: line.rstrip(b"\r\n")[::-1] + line[len(line.rstrip(b"\r\n")):],
    "gnutls": lambda line: line,
}
RELAY_FAULTS = frozenset({FAULT_NO_CLIENT, FAULT_UPSTREAM_UNREACHABLE})


def expected_reply(server: RunningServer, line: bytes) -> bytes:
    """What the server answers to one line (s_server -rev reverses it)."""
    return REPLY_TRANSFORMS[server.impl](line)


def require_ok(proxy: WireProxy) -> None:
    """Raise if the proxy could not relay (as opposed to a TLS failure it relayed:
    a server that closed, reset or went silent is the latter)."""
    fault = proxy.fault
    if fault is not None and fault.kind in RELAY_FAULTS:
        raise MeasureError(f"wire proxy: {fault.message}")


def echo_kind(console_text: str) -> str:
    """'same' | 'reversed' | 'none': how the server answered the message line."""
    return str(result_fields(console_text)["echo"])


def error_name(code: int, mbedtls_dir: Path) -> str:
    """E.g. "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED", or "MBEDTLS_ERR_PK_X + MBEDTLS_ERR_MPI_Y" for a combined code."""
    parts = describe(code, load_error_table(mbedtls_dir))
    return " + ".join(part.name for part in parts) if parts else "OK"


@dataclass(frozen=True)
class ClientResult:
    ok: bool           # a full reply line came back
    reply: bytes
    log: str           # s_client's stderr (handshake errors, alerts)


def run_openssl_client(port: int, extra_args: list[str], message: bytes = b"tlsfit ping\n",
                       timeout: float = 10.0, host: str = "127.0.0.1") -> ClientResult:
    """Connect with `openssl s_client -quiet`, send one line, read one reply line.

    s_client never exits on its own after a good exchange (-quiet implies
    -ign_eof), so it is stopped by PID once the line is back.
    """
    args = ["openssl", "s_client", "-connect", f"{host}:{port}", "-quiet", *extra_args]
    proc = children.popen(args, what="openssl s_client", stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    reply = b""
    try:
        proc.stdin.write(message)
        proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while b"\n" not in reply and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], POLL_S * 5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                reply += chunk
            elif proc.poll() is not None:
                break
    except BrokenPipeError:
        pass  # s_client died early (handshake refused): its stderr says why
    finally:
        if proc.poll() is None:
            children.signal_group(proc.pid, signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            children.signal_group(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=STOP_TIMEOUT_S)
        children.release(proc)
    return ClientResult(ok=reply.endswith(b"\n"), reply=reply, log=err.decode(errors="replace"))

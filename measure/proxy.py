"""A one-connection TCP relay that records both directions of a TLS session.

QEMU's UART1 (or the host harness) connects to the proxy, the proxy connects
to the reference server; what passed is parsed by measure.tls_wire.
"""
from __future__ import annotations

import select
import socket
import threading
from dataclasses import dataclass
from types import TracebackType

from measure import tls_wire
from measure.model import MeasureError, WireSummary

LISTEN_HOST = "127.0.0.1"
POLL_S = 0.05          # how often the relay loop looks at the stop flag
CHUNK = 65536
CONNECT_TIMEOUT_S = 10.0

CLIENT_TO_SERVER = "client"  # direction named by who sent it
SERVER_TO_CLIENT = "server"


@dataclass(frozen=True)
class Chunk:
    sender: str   # CLIENT_TO_SERVER | SERVER_TO_CLIENT
    data: bytes


class WireProxy:
    """Context manager: listens on 127.0.0.1:.port, relays ONE connection upstream."""

    def __init__(self, upstream_host: str, upstream_port: int,
                 accept_timeout: float = 120.0, session_timeout: float = 300.0):
        self.upstream = (upstream_host, upstream_port)
        self.accept_timeout = accept_timeout
        self.session_timeout = session_timeout
        self._lock = threading.Lock()
        self._chunks: list[Chunk] = []
        self._done = threading.Event()
        self._stop = threading.Event()
        self._error: str | None = None
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LISTEN_HOST, 0))
        self._listener.listen(1)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=f"wire-proxy-{self.port}",
                                        daemon=True)

    # -- lifecycle -------------------------------------------------------
    def start(self) -> WireProxy:
        self._thread.start()
        return self

    def __enter__(self) -> WireProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._listener.close()

    def wait(self, timeout: float) -> bool:
        """Wait until the relayed connection ended; False on timeout."""
        return self._done.wait(timeout)

    @property
    def error(self) -> str | None:
        """Why relaying failed (no client, upstream refused...), None if it did not."""
        with self._lock:
            return self._error

    # -- recorded data ---------------------------------------------------
    def chunks(self) -> tuple[Chunk, ...]:
        with self._lock:
            return tuple(self._chunks)

    def stream(self, sender: str) -> bytes:
        return b"".join(c.data for c in self.chunks() if c.sender == sender)

    def summary(self) -> WireSummary:
        return summarize(self.chunks())

    # -- relay thread ----------------------------------------------------
    def _fail(self, message: str) -> None:
        with self._lock:
            if self._error is None:
                self._error = message

    def _run(self) -> None:
        try:
            client = self._accept()
            if client is None:
                return
            with client:
                try:
                    upstream = socket.create_connection(self.upstream, timeout=CONNECT_TIMEOUT_S)
                except OSError as exc:
                    self._fail(f"cannot connect to upstream {self.upstream[0]}:"
                               f"{self.upstream[1]}: {exc}")
                    return
                with upstream:
                    self._relay(client, upstream)
        finally:
            self._done.set()

    def _accept(self) -> socket.socket | None:
        self._listener.settimeout(POLL_S)
        waited = 0.0
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
                conn.settimeout(None)
                return conn
            except TimeoutError:
                waited += POLL_S
                if waited >= self.accept_timeout:
                    self._fail(f"no client connected within {self.accept_timeout:.0f} s")
                    return None
            except OSError as exc:  # listener closed by stop()
                self._fail(f"accept failed: {exc}")
                return None
        self._fail("stopped before a client connected")
        return None

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: (upstream, CLIENT_TO_SERVER), upstream: (client, SERVER_TO_CLIENT)}
        open_readers = [client, upstream]
        waited = 0.0
        while open_readers and not self._stop.is_set():
            readable, _, _ = select.select(open_readers, [], [], POLL_S)
            if not readable:
                waited += POLL_S
                if waited >= self.session_timeout:
                    self._fail(f"session idle for {self.session_timeout:.0f} s")
                    return
                continue
            waited = 0.0
            for sock in readable:
                other, sender = peers[sock]
                try:
                    data = sock.recv(CHUNK)
                except OSError:  # reset: treat like a close
                    data = b""
                if data:
                    with self._lock:
                        self._chunks.append(Chunk(sender, data))
                    try:
                        other.sendall(data)
                    except OSError:
                        return  # the other side is gone; nothing more can pass
                else:
                    open_readers.remove(sock)
                    try:  # half-close: the other side sees EOF, can still answer
                        other.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass


def summarize(chunks: tuple[Chunk, ...]) -> WireSummary:
    """Byte counts, negotiated version/group and first alert of a recorded session."""
    streams = {s: b"".join(c.data for c in chunks if c.sender == s)
               for s in (CLIENT_TO_SERVER, SERVER_TO_CLIENT)}
    server_stream = streams[SERVER_TO_CLIENT]
    hello = tls_wire.parse_server_hello(server_stream)
    return WireSummary(
        bytes_client_to_server=len(streams[CLIENT_TO_SERVER]),
        bytes_server_to_client=len(server_stream),
        group=tls_wire.negotiated_group(server_stream),
        version=hello.version if hello else None,
        alert=_first_alert(chunks, streams),
    )


def _chunk_index(chunks: tuple[Chunk, ...], sender: str, offset: int) -> int:
    """Index in arrival order of the chunk holding byte `offset` of `sender`'s stream."""
    seen = 0
    for i, chunk in enumerate(chunks):
        if chunk.sender != sender:
            continue
        seen += len(chunk.data)
        if offset < seen:
            return i
    return len(chunks)


def _first_alert(chunks: tuple[Chunk, ...], streams: dict[str, bytes]) -> str | None:
    found: list[tuple[int, str, tls_wire.Alert]] = []
    for sender, stream in streams.items():
        alert = tls_wire.flow_info(stream).first_alert
        if alert is not None:
            found.append((_chunk_index(chunks, sender, alert.offset), sender, alert))
    if not found:
        return None
    _, sender, alert = min(found, key=lambda f: f[0])
    return tls_wire.describe_alert(alert, sender)


def require_ok(proxy: WireProxy) -> None:
    """Raise if the proxy could not relay (as opposed to a TLS failure it relayed)."""
    if proxy.error is not None:
        raise MeasureError(f"wire proxy: {proxy.error}")

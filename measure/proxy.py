"""A one-connection TCP relay that records both directions of a TLS session.

QEMU's UART1 (or the host harness) connects to the proxy, the proxy connects
to the server; what passed is parsed by measure.tls_wire.

The proxy also notices when the server side goes wrong (unreachable, closed,
reset, silent) and records it as `fault`; a board's UART cannot report a
closed connection, so the QEMU runner polls `abort_reason()` and stops the run.
"""
from __future__ import annotations

import errno
import math
import select
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from measure import tls_wire
from measure.model import MeasureError, WireSummary

LISTEN_HOST = "127.0.0.1"
POLL_S = 0.05          # how often the relay loop looks at the stop flag
CHUNK = 65536
CONNECT_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 10.0  # server silent this long while it owes bytes: a fault
LINGER_S = 2.0         # after the server side ended: how long the board side may still talk
ALERT_END_S = 2.5      # after the server ended the session behind an alert: how long the
                       # firmware gets to end by itself before abort_reason() says so (the
                       # runner adds its own grace: a run ends within 5 s of a fatal alert)
DRAIN_S = 1.0          # stop(): how long the relay may still read what the firmware sent before
                       # it exited (its last alert), until its side of the connection ends
PREFLIGHT_TIMEOUT_S = 5.0

CLIENT_TO_SERVER = "client"  # direction named by who sent it
SERVER_TO_CLIENT = "server"

# ProxyFault.kind
FAULT_NO_CLIENT = "no_client"                        # the firmware never connected
FAULT_UPSTREAM_UNREACHABLE = "upstream_unreachable"  # connect to the server failed
FAULT_SERVER_CLOSED = "server_closed"                # server sent FIN while the client was on
FAULT_SERVER_RESET = "server_reset"                  # server reset the connection
FAULT_SERVER_SILENT = "server_silent"                # server owed bytes, sent none for idle_timeout
FAULT_SESSION_TIMEOUT = "session_timeout"            # nothing passed either way for session_timeout


@dataclass(frozen=True)
class Chunk:
    sender: str   # CLIENT_TO_SERVER | SERVER_TO_CLIENT
    data: bytes


@dataclass(frozen=True)
class ProxyFault:
    """Why the relayed session ended abnormally, as the proxy saw it.

    It explains a run that printed no result; when the harness printed one,
    that result is the truth (a server closing after its alert is also a fault here)."""
    kind: str                         # FAULT_*
    message: str                      # one line naming the server address, e.g.
                                      # "server 127.0.0.1:4433 silent for 10 s after ServerHello"
    last_from_server: str | None      # tls_wire.FlowPosition.last of the server's stream
    last_from_client: str | None      # same for the firmware's stream


def connect_error_text(exc: BaseException, timeout_s: float) -> str:
    """'connection refused' / 'timed out after 5 s' / the OS's words, lower case."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def check_server_reachable(host: str, port: int, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Open and close one TCP connection to host:port (a pre-flight for --server).

    Raises MeasureError (exit 3): "cannot resolve host 'nosuch.invalid'",
    "cannot connect to 127.0.0.1:4999: connection refused", "... timed out after 5 s".
    """
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise MeasureError(f"cannot resolve host {host!r}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from exc
    last: OSError | None = None
    for family, socktype, proto, _, address in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(timeout_s)
            sock.connect(address)
            return
        except OSError as exc:
            last = exc
        finally:
            sock.close()
    assert last is not None
    raise MeasureError(f"cannot connect to {shown}: {connect_error_text(last, timeout_s)}") from last


class RelayBase:
    """What both relays share: a one-connection listener on 127.0.0.1 for the board's UART
    (QEMU connects to it), a relay thread, and the fault that ended the session.
    Subclasses set their own state first, then call this __init__, and implement _run()."""

    def __init__(self, upstream_host: str, upstream_port: int, thread_name: str):
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._fault: ProxyFault | None = None
        self._connected = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LISTEN_HOST, 0))
        self._listener.listen(1)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=f"{thread_name}-{self.port}", daemon=True)

    accept_timeout: float          # set by the subclass before this __init__

    def _run(self) -> None:
        raise NotImplementedError

    def _fail(self, kind: str, message: str) -> None:
        raise NotImplementedError

    def _accept(self) -> socket.socket | None:
        """The board's connection (QEMU's UART), or None with a FAULT_NO_CLIENT fault."""
        self._listener.settimeout(POLL_S)
        deadline = time.monotonic() + self.accept_timeout
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
                conn.settimeout(None)
                return conn
            except TimeoutError:
                if time.monotonic() >= deadline:
                    self._fail(FAULT_NO_CLIENT,
                               f"no client connected within {self.accept_timeout:g} s")
                    return None
            except OSError as exc:  # listener closed by stop()
                self._fail(FAULT_NO_CLIENT, f"accept failed: {exc}")
                return None
        self._fail(FAULT_NO_CLIENT, "stopped before a client connected")
        return None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> Self:
        self._thread.start()
        return self

    def __enter__(self) -> Self:
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
    def ended(self) -> bool:
        """The relayed session is over (both sides closed, or a fault)."""
        return self._done.is_set()

    @property
    def fault(self) -> ProxyFault | None:
        """Why the session ended abnormally (see ProxyFault), None if it did not (yet)."""
        with self._lock:
            return self._fault

    @property
    def error(self) -> str | None:
        """fault.message (no client, upstream refused, server closed/silent...), or None."""
        fault = self.fault
        return fault.message if fault is not None else None

    def abort_reason(self) -> str | None:
        """For measure.qemu.run_process(abort=...): the fault message once there is one."""
        return self.error


class WireProxy(RelayBase):
    """Context manager: listens on 127.0.0.1:.port, relays ONE connection upstream.

    idle_timeout: the server sending nothing for this long while it owes bytes
    (the client spoke last, or the server stopped inside a flight) ends the
    session with a FAULT_SERVER_SILENT fault; None: never.
    """

    def __init__(self, upstream_host: str, upstream_port: int,
                 accept_timeout: float = 120.0, session_timeout: float = 300.0,
                 idle_timeout: float | None = IDLE_TIMEOUT_S):
        if idle_timeout is not None and not (idle_timeout > 0 and math.isfinite(idle_timeout)):
            raise ValueError(f"idle_timeout must be positive and finite, not {idle_timeout!r}")
        self.accept_timeout = accept_timeout
        self.session_timeout = session_timeout
        self.idle_timeout = idle_timeout
        self._chunks: list[Chunk] = []
        self._client_ended = threading.Event()  # the firmware's side closed (or never came)
        self._server_gone: tuple[float, str] | None = None  # (when, what) the server ended behind an alert
        # the firmware's connection once the server's side is over: kept open until stop(),
        # because a board reads its UART only when it wants the next bytes, and closing
        # this socket while the server's last bytes (its alert) wait unread in QEMU's socket
        # lets QEMU's next write draw a reset that drops them (the firmware would then wait
        # for ever for bytes it was sent)
        self._held: socket.socket | None = None
        super().__init__(upstream_host, upstream_port, "wire-proxy")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop relaying, once the bytes the firmware sent before it ended are recorded: the
        run is over when QEMU exits, but its last bytes (a fatal alert) may not be read yet."""
        if self._connected and self._thread.is_alive():
            self._client_ended.wait(min(timeout, DRAIN_S))
        super().stop(timeout)
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            held.close()

    def abort_reason(self) -> str | None:
        """The fault message once there is one; also when the server ended the session
        behind an alert (its own, or the firmware's it answered by closing) and the
        firmware has not ended ALERT_END_S later (it did not take the alert in)."""
        fault = self.error
        if fault is not None:
            return fault
        with self._lock:
            gone = self._server_gone
        if gone is not None and time.monotonic() - gone[0] >= ALERT_END_S:
            return f"{gone[1]}; the firmware had not ended {ALERT_END_S:g} s later"
        return None

    @property
    def address(self) -> str:
        host, port = self.upstream
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def progress(self) -> str:
        """How far the session got, for a timeout message, e.g. "the server's last
        message was ServerHello, the firmware's ClientHello"."""
        if not self._connected and not self.chunks():
            return "the firmware never connected to the wire proxy"
        server = tls_wire.flow_position(self.stream(SERVER_TO_CLIENT), "server").last
        client = tls_wire.flow_position(self.stream(CLIENT_TO_SERVER), "client").last
        text = (f"the server's last message was {server}" if server
                else "the server sent nothing")
        text += f", the firmware's {client}" if client else ", the firmware sent nothing"
        fault = self.fault
        if fault is not None:
            text += f" ({fault.message})"
        return text

    # -- recorded data ---------------------------------------------------
    def chunks(self) -> tuple[Chunk, ...]:
        with self._lock:
            return tuple(self._chunks)

    def stream(self, sender: str) -> bytes:
        return b"".join(c.data for c in self.chunks() if c.sender == sender)

    def summary(self) -> WireSummary:
        return summarize(self.chunks())

    # -- relay thread ----------------------------------------------------
    def _positions(self) -> tuple[tls_wire.FlowPosition, tls_wire.FlowPosition]:
        return (tls_wire.flow_position(self.stream(SERVER_TO_CLIENT), "server"),
                tls_wire.flow_position(self.stream(CLIENT_TO_SERVER), "client"))

    def _fail(self, kind: str, message: str) -> None:
        server, client = self._positions()
        with self._lock:
            if self._fault is None:
                self._fault = ProxyFault(kind, message, server.last, client.last)

    def _after_server(self) -> str:
        last = self._positions()[0].last
        return f"after {last}" if last else "before sending anything"

    def _run(self) -> None:
        try:
            client = self._accept()
            if client is None:
                return
            self._connected = True
            _no_delay(client)
            try:
                try:
                    upstream = socket.create_connection(self.upstream, timeout=CONNECT_TIMEOUT_S)
                except OSError as exc:
                    self._fail(FAULT_UPSTREAM_UNREACHABLE,
                               f"cannot connect to {self.address}: "
                               f"{connect_error_text(exc, CONNECT_TIMEOUT_S)}")
                    _close_towards(client)  # the firmware sees the connection close at once
                    return
                upstream.settimeout(None)
                _no_delay(upstream)
                with upstream:
                    self._relay(client, upstream)
            finally:
                with self._lock:
                    if self._held is not client:
                        client.close()
        finally:
            self._client_ended.set()
            self._done.set()

    def _record(self, sender: str, data: bytes) -> None:
        with self._lock:
            self._chunks.append(Chunk(sender, data))

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: (upstream, CLIENT_TO_SERVER), upstream: (client, SERVER_TO_CLIENT)}
        open_readers = [client, upstream]
        now = time.monotonic()
        last_any = now                     # any byte either way (session_timeout)
        last_sender: str | None = None     # who sent the latest chunk
        last_time = {CLIENT_TO_SERVER: now, SERVER_TO_CLIENT: now}
        client_closed = False
        upstream_reset = False             # a send to the server failed with ECONNRESET
        while open_readers and not self._stop.is_set():
            readable, _, _ = select.select(open_readers, [], [], POLL_S)
            now = time.monotonic()
            if not readable:
                if now - last_any >= self.session_timeout:
                    self._fail(FAULT_SESSION_TIMEOUT,
                               f"session with {self.address} idle for {self.session_timeout:g} s")
                    _close_towards(client)
                    return
                if upstream in open_readers and not client_closed:
                    silent = self._server_silent_for(last_sender, last_time, now)
                    if silent is not None:
                        self._fail(FAULT_SERVER_SILENT,
                                   f"server {self.address} silent for {silent:g} s "
                                   f"{self._after_server_silent()}")
                        _close_towards(client)
                        return
                continue
            last_any = now
            for sock in readable:
                other, sender = peers[sock]
                reset = False
                try:
                    data = sock.recv(CHUNK)
                except OSError as exc:
                    data, reset = b"", exc.errno in (errno.ECONNRESET, errno.EPIPE)
                if not data and sock is upstream:
                    reset = reset or upstream_reset
                if data:
                    self._record(sender, data)
                    last_sender, last_time[sender] = sender, now
                    try:
                        other.sendall(data)
                    except OSError as exc:
                        if sock is upstream:  # the firmware is gone; nothing more can pass
                            return
                        # the server is gone: its EOF is read next round, but a reset
                        # is only reported once, here
                        upstream_reset = upstream_reset or exc.errno == errno.ECONNRESET
                    continue
                open_readers.remove(sock)
                if sock is client:
                    client_closed = True
                    self._client_ended.set()
                    try:  # half-close: the server sees EOF, can still answer
                        upstream.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                # the server side ended while the firmware may still wait for it; after
                # an alert (the server's, or the firmware's own fatal one, which a server
                # answers by closing) that is a TLS result the firmware reports itself
                server_pos, client_pos = self._positions()
                after_alert = "alert" in (server_pos.last or "") or "alert" in (client_pos.last or "")
                if not client_closed and not (reset is False and after_alert):
                    what = "reset" if reset else "closed"
                    self._fail(FAULT_SERVER_RESET if reset else FAULT_SERVER_CLOSED,
                               f"server {self.address} {what} the connection "
                               f"{self._after_server()}")
                elif not client_closed:
                    alert = _alert_name(self.stream(SERVER_TO_CLIENT))
                    gone = (now, f"server {self.address} " + (f"sent alert {alert} and " if alert else "")
                            + f"closed the connection {self._after_server()}")
                    with self._lock:   # (not held above: stream() takes it)
                        self._server_gone = gone
                self._linger(client)
                if not client_closed:
                    with self._lock:
                        self._held = client   # closed by stop(), once the run is over
                return

    def _server_silent_for(self, last_sender: str | None, last_time: dict[str, float],
                           now: float) -> float | None:
        """idle_timeout if the server owes bytes and sent none for that long, else None."""
        if self.idle_timeout is None:
            return None
        server, client = self._positions()
        if last_sender == CLIENT_TO_SERVER and not client.incomplete:
            waiting_since = last_time[CLIENT_TO_SERVER]
        elif last_sender == SERVER_TO_CLIENT and server.incomplete:
            waiting_since = last_time[SERVER_TO_CLIENT]
        else:
            # the firmware's turn (it may be computing a signature), or nobody spoke
            # yet: the run's own timeout covers it
            return None
        if now - waiting_since >= self.idle_timeout:
            return self.idle_timeout
        return None

    def _after_server_silent(self) -> str:
        last = self._positions()[0].last
        if last:
            return f"after {last}"
        client = self._positions()[1].last
        return ("after accepting the connection (it sent nothing"
                + (f"; the firmware sent {client})" if client else ")"))

    def _linger(self, client: socket.socket) -> None:
        """The server side is over: give the firmware EOF, record what it still sends
        (its alert) for up to LINGER_S, then return (the connection stays open until stop())."""
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:
            return
        deadline = time.monotonic() + LINGER_S
        while not self._stop.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([client], [], [], POLL_S)
            if not readable:
                continue
            try:
                data = client.recv(CHUNK)
            except OSError:
                return
            if not data:
                return
            self._record(CLIENT_TO_SERVER, data)


def _no_delay(sock: socket.socket) -> None:
    """Relay each chunk at once (no Nagle): a firmware's last small record must not wait
    for an ACK while its side is closing."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def _close_towards(client: socket.socket) -> None:
    """End the firmware's side now: FIN after what was already relayed."""
    try:
        client.shutdown(socket.SHUT_RDWR)
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
        alert_sent=_alert_name(streams[CLIENT_TO_SERVER]),
        alert_received=_alert_name(server_stream),
        certificate_request=tls_wire.certificate_requested(server_stream),
    )


def _alert_name(stream: bytes) -> str | None:
    """The first alert in one direction, e.g. "unknown_ca" (", warning" added when not fatal)."""
    alert = tls_wire.flow_info(stream).first_alert
    if alert is None:
        return None
    if alert.level == "encrypted":
        return "encrypted alert"
    return alert.description if alert.level == "fatal" else f"{alert.description} ({alert.level})"


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

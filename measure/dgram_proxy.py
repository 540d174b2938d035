"""A one-session relay between a board's framed UART stream and a DTLS server over UDP.

The board (QEMU's UART1 chardev, or the host harness) connects over TCP and
writes each datagram as a 2-byte big-endian length and the datagram
(ports/common/harness.c, transport: udp); the relay sends each one as a UDP
datagram to the server and frames the server's datagrams back the same way.
It records every datagram, can drop, duplicate or reorder chosen ones (a
LossPlan, `tlsfit measure --loss`), and parses the DTLS records it saw for the
report (measure.dtls_wire). Same surface as measure.proxy.WireProxy, so the
runners (measure.qemu, measure.host_run) take either.
"""
from __future__ import annotations

import errno
import re
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from core.errors import BadInput
from measure import dtls_wire
from measure.model import WireSummary
from measure.proxy import (CLIENT_TO_SERVER, FAULT_SERVER_CLOSED, FAULT_UPSTREAM_UNREACHABLE, POLL_S,
                           SERVER_TO_CLIENT, ProxyFault, RelayBase)

FRAME_HEADER = 2           # bytes of big-endian length before each datagram on the UART
MAX_DATAGRAM = 0xFFFF
CHUNK = 65536
ACTIONS = ("drop", "dup", "reorder")
_TARGET = re.compile(r"^([sca])([1-9][0-9]{0,3})$")
# a LossPlan sender counting only the server's datagrams that start with an application_data record
SERVER_APP_DATA = "server-app"
_LETTERS = {"s": SERVER_TO_CLIENT, "c": CLIENT_TO_SERVER, "a": SERVER_APP_DATA}


@dataclass(frozen=True)
class LossPlan:
    """Which datagrams the relay mistreats: (action, sender, 1-based index of that sender's datagram).

    drop: never delivered; dup: delivered twice (a replay); reorder: held back and delivered
    after the same sender's next datagram. Sender SERVER_APP_DATA counts the server's
    application-data datagrams only (after the handshake: `dup=a1` replays the first answer)."""
    rules: tuple[tuple[str, str, int], ...] = ()

    def action(self, sender: str, index: int) -> str | None:
        for action, who, n in self.rules:
            if who == sender and n == index:
                return action
        return None

    def __str__(self) -> str:
        letter = {sender: ch for ch, sender in _LETTERS.items()}
        return ",".join(f"{a}={letter[w]}{n}" for a, w, n in self.rules)


def retransmit_schedule_s(min_ms: int, max_ms: int) -> float:
    """Seconds mbedTLS waits in all before a DTLS handshake whose flights go unanswered
    ends in MBEDTLS_ERR_SSL_TIMEOUT: the timer starts at min_ms and doubles (capped at
    max_ms) after each expiry, and the handshake fails when a timer of max_ms expires
    (ssl_double_retransmit_timeout). 1 s .. 60 s: 1+2+4+8+16+32+60 = 123 s."""
    total, current = 0, max(1, min_ms)
    while True:
        total += current
        if current >= max_ms:
            return total / 1000
        current = min(current * 2, max_ms)


def parse_loss(text: str) -> LossPlan:
    """`drop=s2`, `dup=s5,reorder=c1`, `dup=a1`: s = the server's datagrams, c = the firmware's,
    a = the server's application-data datagrams, counted from 1."""
    rules: list[tuple[str, str, int]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        action, sep, target = item.partition("=")
        match = _TARGET.match(target.strip())
        if not sep or action.strip() not in ACTIONS or match is None:
            raise BadInput(f"--loss {text!r}: expected ACTION=TARGET[,...] with ACTION one of "
                           f"{', '.join(ACTIONS)} and TARGET s<N> (server's N-th datagram), c<N> "
                           "(firmware's) or a<N> (server's N-th application-data datagram), e.g. drop=s2")
        sender = _LETTERS[match.group(1)]
        index = int(match.group(2))
        clash = next((a for a, w, n in rules if w == sender and n == index), None)
        if clash is not None:
            # one datagram, one fate: the relay would apply only the first rule
            raise BadInput(f"--loss {text!r}: {target.strip()} is named twice ({clash}= and "
                           f"{action.strip()}=); give each datagram one action")
        rules.append((action.strip(), sender, index))
    if not rules:
        raise BadInput(f"--loss {text!r}: name at least one datagram, e.g. drop=s2")
    return LossPlan(tuple(rules))


@dataclass(frozen=True)
class Datagram:
    sender: str              # CLIENT_TO_SERVER | SERVER_TO_CLIENT
    data: bytes
    fate: str = "delivered"  # delivered | dropped | duplicated | reordered


@dataclass
class _Direction:
    count: int = 0
    app_count: int = 0       # datagrams starting with an application_data record
    held: bytes | None = None
    pending: bytearray = field(default_factory=bytearray)


class DatagramProxy(RelayBase):
    """Context manager: listens on 127.0.0.1:.port (TCP, framed), relays to UDP upstream."""

    def __init__(self, upstream_host: str, upstream_port: int, loss: LossPlan | None = None,
                 accept_timeout: float = 120.0, session_timeout: float = 300.0):
        self.loss = loss or LossPlan()
        self.accept_timeout = accept_timeout
        self.session_timeout = session_timeout
        self._datagrams: list[Datagram] = []
        super().__init__(upstream_host, upstream_port, "dgram-proxy")

    @property
    def address(self) -> str:
        return f"{self.upstream[0]}:{self.upstream[1]} (udp)"

    def progress(self) -> str:
        if not self._connected and not self.datagrams():
            return "the firmware never connected to the datagram relay"
        flights = dtls_wire.summarize(self.datagrams())
        server = flights.last_server or "nothing"
        client = flights.last_client or "nothing"
        return (f"the server's last message was {server}, the firmware's {client} "
                f"({flights.datagrams_client} datagrams from the firmware, {flights.datagrams_server} "
                "from the server)")

    # -- recorded data ---------------------------------------------------
    def datagrams(self) -> tuple[Datagram, ...]:
        with self._lock:
            return tuple(self._datagrams)

    def dtls(self) -> dtls_wire.DtlsSummary:
        return dtls_wire.summarize(self.datagrams())

    def summary(self) -> WireSummary:
        d = self.dtls()
        return WireSummary(bytes_client_to_server=d.bytes_client, bytes_server_to_client=d.bytes_server,
                           group=d.group, version=d.version, alert=d.alert)

    # -- relay thread ----------------------------------------------------
    def _fail(self, kind: str, message: str) -> None:
        with self._lock:
            if self._fault is None:
                self._fault = ProxyFault(kind, message, None, None)

    def _record(self, sender: str, data: bytes, fate: str) -> None:
        with self._lock:
            self._datagrams.append(Datagram(sender, data, fate))

    def _run(self) -> None:
        try:
            client = self._accept()
            if client is None:
                return
            self._connected = True
            with client, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.connect(self.upstream)
                self._relay(client, udp)
        finally:
            self._done.set()

    def _deliver(self, sender: str, state: _Direction, data: bytes, send: Callable[[bytes], None]) -> None:
        """Apply the loss plan to the sender's next datagram and pass on what survives."""
        state.count += 1
        action = self.loss.action(sender, state.count)
        if sender == SERVER_TO_CLIENT and data[:1] == bytes([dtls_wire.CT_APPLICATION_DATA]):
            state.app_count += 1
            action = action or self.loss.action(SERVER_APP_DATA, state.app_count)
        if action == "drop":
            self._record(sender, data, "dropped")
            return
        if action == "reorder" and state.held is None:
            self._record(sender, data, "reordered")
            state.held = data
            return
        self._record(sender, data, "duplicated" if action == "dup" else "delivered")
        send(data)
        if action == "dup":
            send(data)
        if state.held is not None:
            held, state.held = state.held, None
            send(held)

    def _relay(self, client: socket.socket, udp: socket.socket) -> None:
        directions = {CLIENT_TO_SERVER: _Direction(), SERVER_TO_CLIENT: _Direction()}

        heard = [False]   # a datagram came from the server

        def refused() -> None:
            """An ICMP port unreachable came back (the connected socket's ECONNREFUSED):
            nothing listens there, a fact retransmitting cannot change. End the session now."""
            if heard[0]:
                self._fail(FAULT_SERVER_CLOSED, f"server {self.address} stopped listening "
                           "(ICMP port unreachable) during the session")
            else:
                self._fail(FAULT_UPSTREAM_UNREACHABLE, f"cannot reach {self.address}: nothing listens "
                           "there (ICMP port unreachable)")
            try:
                client.shutdown(socket.SHUT_RDWR)   # the host harness sees the end at once
            except OSError:
                pass

        def to_server(data: bytes) -> None:
            try:
                udp.send(data)
            except ConnectionRefusedError:
                refused()
            except OSError:
                pass  # UDP loses it; DTLS retransmits

        def to_client(data: bytes) -> None:
            client.sendall(len(data).to_bytes(FRAME_HEADER, "big") + data)

        deadline = time.monotonic() + self.session_timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            ready, _, _ = select.select([client, udp], [], [], POLL_S)
            if client in ready:
                try:
                    data = client.recv(CHUNK)
                except OSError:
                    data = b""
                if not data:
                    return  # the firmware ended (QEMU exited)
                pending = directions[CLIENT_TO_SERVER].pending
                pending += data
                while len(pending) >= FRAME_HEADER:
                    size = int.from_bytes(pending[:FRAME_HEADER], "big")
                    if len(pending) < FRAME_HEADER + size:
                        break
                    datagram = bytes(pending[FRAME_HEADER:FRAME_HEADER + size])
                    del pending[:FRAME_HEADER + size]
                    self._deliver(CLIENT_TO_SERVER, directions[CLIENT_TO_SERVER], datagram, to_server)
                if self.fault is not None:
                    return
            if udp in ready:
                try:
                    datagram = udp.recv(MAX_DATAGRAM)
                except OSError as exc:
                    if exc.errno == errno.ECONNREFUSED:
                        refused()
                        return
                    continue
                heard[0] = True
                try:
                    self._deliver(SERVER_TO_CLIENT, directions[SERVER_TO_CLIENT], datagram, to_client)
                except OSError:
                    return


"""Misbehaving TCP servers on 127.0.0.1, for fault tests: each IS the fault.

FakeServer(behaviour) accepts any number of connections (the CLI's pre-flight
check makes one too) and treats each the same way:
  silent        reads and never answers
  close         reads the first bytes (the ClientHello), then closes (FIN)
  reset         reads the first bytes, then resets (SO_LINGER 0: RST)
  server_hello  reads the ClientHello, answers with one TLS 1.2 ServerHello, then stalls
"""
from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType

BEHAVIOURS = ("silent", "close", "reset", "server_hello")
READ_TIMEOUT_S = 5.0
TLS_PSK_WITH_AES_128_CCM_8 = 0xC0A8


def server_hello_record(suite: int = TLS_PSK_WITH_AES_128_CCM_8) -> bytes:
    """A TLS 1.2 ServerHello (no session id, no extensions) in one handshake record."""
    body = b"\x03\x03" + bytes(range(32)) + b"\x00" + suite.to_bytes(2, "big") + b"\x00"
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(handshake).to_bytes(2, "big") + handshake


class FakeServer:
    def __init__(self, behaviour: str):
        if behaviour not in BEHAVIOURS:
            raise ValueError(behaviour)
        self.behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.accepted = 0
        self.received = bytearray()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                conn.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _read_some(self, conn: socket.socket) -> bytes:
        conn.settimeout(READ_TIMEOUT_S)
        try:
            data = conn.recv(65536)
        except OSError:
            return b""
        with self._lock:
            self.received.extend(data)
        return data

    def _handle(self, conn: socket.socket) -> None:
        if self.behaviour == "silent":
            while not self._stop.is_set() and self._read_some(conn):
                pass
            return
        if not self._read_some(conn):
            return  # a pre-flight connect: it closes without sending
        if self.behaviour == "close":
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        elif self.behaviour == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        else:  # server_hello
            conn.sendall(server_hello_record())
            while not self._stop.is_set() and self._read_some(conn):
                pass

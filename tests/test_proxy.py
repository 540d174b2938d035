"""measure/proxy.py + measure/tls_wire.py on byte streams captured from real
openssl s_client <-> s_server sessions relayed by the WireProxy."""
from __future__ import annotations

import dataclasses
import socket
import threading
import time

import pytest

from conftest import make_profile
from fake_servers import FakeServer, server_hello_record
from helpers import ClientResult, require_ok, run_openssl_client
from generator.model import ChainShape, Profile
from measure import tls_wire
from measure.model import MeasureError
from measure.pki import TestPki, make_test_pki
from measure.proxy import (
    CLIENT_TO_SERVER, FAULT_NO_CLIENT, FAULT_SERVER_CLOSED, FAULT_SERVER_RESET,
    FAULT_SERVER_SILENT, FAULT_UPSTREAM_UNREACHABLE, SERVER_TO_CLIENT, Chunk, WireProxy,
    check_server_reachable, summarize,
)
from measure.server import start_reference_server

HOST = "wire.example.com"


def profile(**changes: object) -> Profile:
    return make_profile(HOST, 443, **changes)


@dataclasses.dataclass(frozen=True)
class Capture:
    result: ClientResult
    chunks: tuple[Chunk, ...]
    client: bytes
    server: bytes


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(ChainShape("secp256r1", (), "secp256r1"), HOST, None,
                         tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def captures(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Capture]:
    """One real session per scenario, recorded by the proxy."""
    other = make_test_pki(ChainShape("secp256r1", (), "secp256r1"), HOST, None,
                          tmp_path_factory.mktemp("other"))
    trust = ["-CAfile", str(pki.root_file), "-servername", HOST, "-verify_return_error"]
    scenarios = {
        "tls12": (profile(), trust),
        "tls13": (profile(versions=("1.3",), ciphersuites=("TLS_AES_128_GCM_SHA256",),
                          groups=("x25519",)), trust),
        # client's first key share is x25519, the server only takes P-256: HelloRetryRequest
        "hrr": (profile(versions=("1.3",), ciphersuites=("TLS_AES_128_GCM_SHA256",)),
                trust + ["-groups", "x25519:secp256r1"]),
        "unknown_ca": (profile(), ["-CAfile", str(other.root_file), "-servername", HOST,
                                   "-verify_return_error"]),
        "no_shared_suite": (profile(), trust + ["-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"]),
    }
    workdir = tmp_path_factory.mktemp("servers")
    out: dict[str, Capture] = {}
    for name, (prof, args) in scenarios.items():
        with start_reference_server(prof, pki, "openssl", workdir) as server:
            with WireProxy("127.0.0.1", server.port) as proxy:
                result = run_openssl_client(proxy.port, args)
                assert proxy.wait(5), name
                require_ok(proxy)
        out[name] = Capture(result, proxy.chunks(), proxy.stream(CLIENT_TO_SERVER),
                            proxy.stream(SERVER_TO_CLIENT))
    return out


# ---------------------------------------------------------------- tls_wire on real bytes


def test_records_cover_whole_streams(captures: dict[str, Capture]) -> None:
    for name, cap in captures.items():
        for stream in (cap.client, cap.server):
            if not stream:
                continue
            records, truncated = tls_wire.split_records(stream)
            assert not truncated, name
            assert sum(5 + len(r.fragment) for r in records) == len(stream)
            assert records[0].content_type in (tls_wire.CT_HANDSHAKE, tls_wire.CT_ALERT)


def test_tls12_server_hello_and_key_exchange(captures: dict[str, Capture]) -> None:
    cap = captures["tls12"]
    assert cap.result.ok
    hello = tls_wire.parse_server_hello(cap.server)
    assert hello is not None
    assert hello.version == "TLS 1.2"
    assert hello.cipher_suite == 0xC02B  # TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    assert hello.key_share_group is None and not hello.hello_retry
    assert tls_wire.tls12_key_exchange_group(cap.server) == "secp256r1"
    # ServerHello, Certificate, ServerKeyExchange, ServerHelloDone in the clear
    assert tls_wire.flow_info(cap.server).handshake_types == (2, 11, 12, 14)
    assert tls_wire.flow_info(cap.client).handshake_types[:2] == (1, 16)


def test_tls13_server_hello(captures: dict[str, Capture]) -> None:
    cap = captures["tls13"]
    assert cap.result.ok
    hello = tls_wire.parse_server_hello(cap.server)
    assert hello is not None
    assert (hello.version, hello.cipher_suite, hello.key_share_group) == \
        ("TLS 1.3", 0x1301, "x25519")
    info = tls_wire.flow_info(cap.server)
    assert info.handshake_types == (2,)  # the rest is encrypted
    assert info.application_data_records >= 1
    assert tls_wire.negotiated_group(cap.server) == "x25519"


def test_hello_retry_request(captures: dict[str, Capture]) -> None:
    cap = captures["hrr"]
    assert cap.result.ok, cap.result.log
    hello = tls_wire.parse_server_hello(cap.server)
    assert hello is not None
    assert hello.hello_retry and hello.hrr_group == "secp256r1"
    assert hello.key_share_group == "secp256r1" and hello.version == "TLS 1.3"


def test_truncated_stream_is_tolerated(captures: dict[str, Capture]) -> None:
    server = captures["tls12"].server
    for cut in (3, 7, 60, len(server) // 2):
        records, truncated = tls_wire.split_records(server[:cut])
        assert truncated
        tls_wire.flow_info(server[:cut])
        tls_wire.parse_server_hello(server[:cut])
        tls_wire.negotiated_group(server[:cut])
    assert tls_wire.parse_server_hello(server[:60]) is None


def test_alerts_from_real_failures(captures: dict[str, Capture]) -> None:
    assert summarize(captures["unknown_ca"].chunks).alert == "unknown_ca (from client)"
    assert summarize(captures["no_shared_suite"].chunks).alert == "handshake_failure (from server)"
    assert summarize(captures["tls12"].chunks).alert is None
    assert summarize(captures["tls13"].chunks).alert is None


def test_alerts_by_direction(captures: dict[str, Capture]) -> None:
    refused = summarize(captures["unknown_ca"].chunks)   # the client gave up
    assert (refused.alert_sent, refused.alert_received) == ("unknown_ca", None)
    no_suite = summarize(captures["no_shared_suite"].chunks)  # the server gave up
    assert (no_suite.alert_sent, no_suite.alert_received) == (None, "handshake_failure")
    ok = summarize(captures["tls12"].chunks)
    assert (ok.alert_sent, ok.alert_received) == (None, None)


# ---------------------------------------------------------------- proxy summary


def test_summary_counts_and_negotiation(captures: dict[str, Capture]) -> None:
    for name, version, group in (("tls12", "TLS 1.2", "secp256r1"), ("tls13", "TLS 1.3", "x25519"),
                                 ("hrr", "TLS 1.3", "secp256r1")):
        cap = captures[name]
        summary = summarize(cap.chunks)
        assert summary.bytes_client_to_server == len(cap.client) > 200
        assert summary.bytes_server_to_client == len(cap.server) > 500
        assert (summary.version, summary.group) == (version, group), name


def test_proxy_relays_both_ways_and_half_closes() -> None:
    """A plain echo upstream: bytes pass both ways and the client's EOF reaches it."""
    upstream = socket.create_server(("127.0.0.1", 0))
    received = bytearray()

    def echo_once() -> None:
        conn, _ = upstream.accept()
        with conn:
            while data := conn.recv(4096):
                received.extend(data)
            conn.sendall(b"got " + bytes(received))  # only after the client half-closed

    thread = threading.Thread(target=echo_once, daemon=True)
    thread.start()
    with WireProxy("127.0.0.1", upstream.getsockname()[1]) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(b"hello")
            sock.shutdown(socket.SHUT_WR)
            reply = b""
            while data := sock.recv(4096):
                reply += data
        assert proxy.wait(5)
    thread.join(5)
    upstream.close()
    assert reply == b"got hello"
    assert proxy.stream(CLIENT_TO_SERVER) == b"hello"
    assert proxy.stream(SERVER_TO_CLIENT) == b"got hello"
    summary = proxy.summary()
    assert (summary.bytes_client_to_server, summary.bytes_server_to_client) == (5, 9)
    assert summary.version is None and summary.group is None and proxy.error is None


def _closed_port() -> int:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return port


def test_proxy_reports_refused_upstream() -> None:
    port = _closed_port()
    with WireProxy("127.0.0.1", port) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01")
            assert sock.recv(10) == b""  # the board side is closed at once
        assert proxy.wait(5)
    assert proxy.error == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert proxy.fault is not None and proxy.fault.kind == FAULT_UPSTREAM_UNREACHABLE
    assert proxy.abort_reason() == proxy.error
    with pytest.raises(MeasureError, match="wire proxy"):
        require_ok(proxy)


def test_proxy_accept_timeout() -> None:
    with WireProxy("127.0.0.1", 9, accept_timeout=0.2) as proxy:
        assert proxy.wait(5)
    assert proxy.error is not None and "no client connected" in proxy.error
    assert proxy.fault is not None and proxy.fault.kind == FAULT_NO_CLIENT


# ---------------------------------------------------------------- tls_wire edge cases (hand-made)


def test_dhe_and_psk_server_key_exchange() -> None:
    ffdhe_like = b"\xff" * 8 + bytes(range(240)) + b"\xff" * 8  # 2048-bit, RFC 7919 shape
    dh_params = (len(ffdhe_like).to_bytes(2, "big") + ffdhe_like + b"\x00\x01\x02"
                 + b"\x00\x04" + b"\x01\x02\x03\x04")
    assert tls_wire.server_key_exchange_group(dh_params) == "ffdhe2048"
    other_prime = b"\xc0" + bytes(127)  # 1024-bit, not RFC 7919
    plain_dh = b"\x00\x80" + other_prime + b"\x00\x01\x02" + b"\x00\x01\x07"
    assert tls_wire.server_key_exchange_group(plain_dh) == "dhe1024"
    ecdhe = b"\x03\x00\x1d\x20" + bytes(32)
    assert tls_wire.server_key_exchange_group(ecdhe) == "x25519"
    assert tls_wire.server_key_exchange_group(b"\x00\x04hint" + ecdhe) == "x25519"  # ECDHE_PSK
    assert tls_wire.server_key_exchange_group(b"\x00\x03abc") is None  # plain PSK hint


def test_alert_text_and_unknown_ids() -> None:
    alert_record = bytes([tls_wire.CT_ALERT, 3, 3, 0, 2, 2, 42])
    alert = tls_wire.flow_info(alert_record).first_alert
    assert alert is not None
    assert tls_wire.describe_alert(alert, "client") == "bad_certificate (from client)"
    close_notify = bytes([tls_wire.CT_ALERT, 3, 3, 0, 2, 1, 0])
    assert tls_wire.flow_info(close_notify).first_alert is None
    assert tls_wire.group_name(0x0017) == "secp256r1"
    assert tls_wire.group_name(0x1234) == "group_0x1234"
    assert tls_wire.version_name(0x0304) == "TLS 1.3"


# ---------------------------------------------------------------- faults on the server side

def _client_hello_like() -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\xc0\xa8" + b"\x01\x00"
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def _session_through(proxy: WireProxy) -> tuple[bytes, float]:
    """Connect like the firmware, send a ClientHello, read until the proxy closes;
    returns (bytes received, seconds it took)."""
    start = time.monotonic()
    got = b""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
        sock.sendall(_client_hello_like())
        try:
            while data := sock.recv(4096):
                got += data
        except ConnectionResetError:
            pass
    assert proxy.wait(30), "the proxy did not end the session"
    return got, time.monotonic() - start


@pytest.mark.parametrize("behaviour, kind, words", [
    ("close", FAULT_SERVER_CLOSED, "closed the connection before sending anything"),
    ("reset", FAULT_SERVER_RESET, "reset the connection before sending anything"),
])
def test_server_close_and_reset_close_the_board_side(behaviour: str, kind: str,
                                                     words: str) -> None:
    with FakeServer(behaviour) as server, WireProxy("127.0.0.1", server.port) as proxy:
        got, took = _session_through(proxy)
    assert got == b""
    assert took < 30, "did not hang until the idle timeout"
    fault = proxy.fault
    assert fault is not None and fault.kind == kind
    assert fault.message == f"server 127.0.0.1:{server.port} {words}"
    assert fault.last_from_server is None and fault.last_from_client == "ClientHello"
    assert server.received == _client_hello_like()  # the ClientHello got through first


def test_silent_server_is_a_fault_after_idle_timeout() -> None:
    with FakeServer("silent") as server, \
            WireProxy("127.0.0.1", server.port, idle_timeout=0.5) as proxy:
        got, took = _session_through(proxy)
    assert got == b"" and took < 30
    fault = proxy.fault
    assert fault is not None and fault.kind == FAULT_SERVER_SILENT
    assert fault.message == (f"server 127.0.0.1:{server.port} silent for 0.5 s after accepting "
                             "the connection (it sent nothing; the firmware sent ClientHello)")


def test_stall_after_server_hello_names_it() -> None:
    with FakeServer("server_hello") as server, \
            WireProxy("127.0.0.1", server.port, idle_timeout=0.5) as proxy:
        got, _ = _session_through(proxy)
    assert got == server_hello_record()  # relayed before the proxy gave up
    assert proxy.fault is not None and proxy.fault.kind == FAULT_SERVER_SILENT
    assert proxy.error == f"server 127.0.0.1:{server.port} silent for 0.5 s after ServerHello"
    assert proxy.progress().startswith(
        "the server's last message was ServerHello, the firmware's ClientHello")


def test_quiet_server_is_no_fault_when_it_is_the_clients_turn() -> None:
    """A complete server flight followed by silence is the firmware's turn (it may be
    computing): the idle timeout must not blame the server."""
    done = bytes([22, 3, 3, 0, 4, 14, 0, 0, 0])  # ServerHelloDone

    upstream = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = upstream.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(server_hello_record() + done)
            conn.recv(4096)  # until the client closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with WireProxy("127.0.0.1", upstream.getsockname()[1], idle_timeout=0.3) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(_client_hello_like())
            got = b""
            while len(got) < len(server_hello_record() + done):
                got += sock.recv(4096)
            time.sleep(1.0)  # three idle timeouts of "client computing"
            assert proxy.fault is None
        assert proxy.wait(5)
    thread.join(5)
    upstream.close()
    assert proxy.fault is None


def test_idle_timeout_must_be_positive() -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            WireProxy("127.0.0.1", 9, idle_timeout=bad)


# ---------------------------------------------------------------- pre-flight


def test_check_server_reachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        check_server_reachable("127.0.0.1", listening.getsockname()[1])
    port = _closed_port()
    with pytest.raises(MeasureError) as refused:
        check_server_reachable("127.0.0.1", port)
    assert str(refused.value) == f"cannot connect to 127.0.0.1:{port}: connection refused"
    with pytest.raises(MeasureError, match=r"^cannot resolve host 'nosuch\.invalid'"):
        check_server_reachable("nosuch.invalid", 443)


def _handshake_record(*types: int) -> bytes:
    body = b"".join(bytes([t, 0, 0, 1, 0]) for t in types)
    return bytes([tls_wire.CT_HANDSHAKE, 3, 3]) + len(body).to_bytes(2, "big") + body


def test_flow_position_says_who_owes_bytes(captures: dict[str, Capture]) -> None:
    pos = tls_wire.flow_position
    assert pos(b"", "server") == tls_wire.FlowPosition(None, False)
    assert pos(server_hello_record(), "server") == tls_wire.FlowPosition("ServerHello", True)
    assert pos(server_hello_record()[:20], "server") == \
        tls_wire.FlowPosition("part of ServerHello", True)
    # a real TLS 1.2 server flight ends with ServerHelloDone: the client's turn
    first_flight = captures["tls12"].server
    records, _ = tls_wire.split_records(first_flight)
    ccs = next(r.offset for r in records if r.content_type == tls_wire.CT_CHANGE_CIPHER_SPEC)
    assert pos(first_flight[:ccs], "server") == tls_wire.FlowPosition("ServerHelloDone", False)
    # the client between its messages may be computing: it still owes bytes
    assert pos(_handshake_record(1), "client") == tls_wire.FlowPosition("ClientHello", False)
    assert pos(_handshake_record(11), "client").incomplete  # Certificate, then the rest
    assert pos(_handshake_record(16), "client").incomplete  # ClientKeyExchange
    assert pos(_handshake_record(16) + bytes([20, 3, 3, 0, 1, 1]), "client") == \
        tls_wire.FlowPosition("ChangeCipherSpec", True)
    assert pos(bytes([21, 3, 3, 0, 2, 2, 40]), "server") == \
        tls_wire.FlowPosition("alert handshake_failure", False)
    assert pos(b"SSH-2.0-x\r\n", "server") == tls_wire.FlowPosition("11 bytes that are not TLS", False)


UNKNOWN_CA_ALERT = b"\x15\x03\x03\x00\x02\x02\x30"


def test_stop_keeps_the_firmwares_last_alert() -> None:
    """The firmware refuses the server, sends its alert and exits at once (QEMU does), with
    the server's bytes unread (so its side resets); the run ends and stop() follows at once:
    the alert is still recorded."""
    for _ in range(5):  # a race when broken: try it a few times
        with FakeServer("server_hello") as server:
            proxy = WireProxy("127.0.0.1", server.port).start()
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                # as QEMU's chardev with measure.qemu.TCP_NODELAY_OPTION: with Nagle on, the
                # kernel drops the alert's last 6 bytes itself when the reset comes
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(_client_hello_like())
                deadline = time.monotonic() + 5
                while not proxy.stream(SERVER_TO_CLIENT) and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.05)  # the ServerHello waits, unread, in the firmware's socket
                sock.sendall(UNKNOWN_CA_ALERT[:1])
                sock.sendall(UNKNOWN_CA_ALERT[1:])
            proxy.stop()
        assert proxy.stream(CLIENT_TO_SERVER).endswith(UNKNOWN_CA_ALERT)
        summary = proxy.summary()
        assert (summary.alert, summary.alert_sent) == ("unknown_ca (from client)", "unknown_ca")
        assert proxy.fault is None

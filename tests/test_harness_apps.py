"""The harness after the handshake (app none | echo | mqtt | http) and what its result line
reports apart from mbedTLS's figures (allocator work, harness stack, verdicts).

Real firmware in QEMU (mps2-an386) and on the host, against real servers on
127.0.0.1: openssl s_server, and Debian's mosquitto and nginx when installed.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from measure.boards import load_board
from measure.build import build_firmware
from measure.firmware_data import render_harness_data
from measure.harness_result import parse_result
from measure.host_run import run_host
from measure.qemu import run_qemu
from test_ports import (MBEDTLS, PORTS, RUN_TIMEOUT_S, TLS12_CONFIG, SServer, harness_input,
                        free_port, make_pki)

pytestmark = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")

SERVER_START_S = 15.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "tlsfit-apps-ca")


def _firmware(pki, cache, board, **kw):
    return build_firmware(TLS12_CONFIG, render_harness_data(harness_input(pki, **kw)), board,
                          MBEDTLS, cache)


def _symbols(elf: Path) -> set[str]:
    with elf.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return {s.name for s in symtab.iter_symbols()}


def _qemu_against_s_server(fw, board, pki):
    server = SServer(pki, "-tls1_2")
    try:
        return run_qemu(fw, board, server.port, RUN_TIMEOUT_S)
    finally:
        server.stop()


# ---- what is linked --------------------------------------------------------------

def test_unused_calls_are_not_linked(pki, cache, an386, tmp_path):
    """No client certificate: no pk_parse_key / conf_own_cert; app echo: no MQTT/HTTP code."""
    symbols = _symbols(_firmware(pki, cache, an386).elf)
    assert "mbedtls_ssl_handshake_step" in symbols
    assert "mbedtls_pk_parse_key" not in symbols
    assert "mbedtls_ssl_conf_own_cert" not in symbols
    assert "mbedtls_ssl_conf_alpn_protocols" not in symbols  # no ALPN in the profile
    assert "mbedtls_ssl_conf_groups" not in symbols          # no group list given
    with_groups = _symbols(_firmware(pki, cache, an386, group_ids=(23,)).elf)
    assert "mbedtls_ssl_conf_groups" in with_groups


def test_client_certificate_links_the_key_parser(pki, cache, an386):
    symbols = _symbols(_firmware(pki, cache, an386, client_cert_der=(b"\x30\x00",),
                                 client_key_der=b"\x30\x00").elf)
    assert {"mbedtls_pk_parse_key", "mbedtls_ssl_conf_own_cert"} <= symbols


@pytest.mark.parametrize("app", ["none", "echo", "mqtt", "http"])
def test_only_the_selected_app_is_compiled(pki, cache, an386, app):
    fw = _firmware(pki, cache, an386, app=app, app_client_id="dev", app_host="localhost")
    owner = _exchange_owner(fw.map_file.read_text())
    assert Path(owner).name == ("" if app == "none" else f"app_{app}.o")
    assert ("tlsfit_app_write_all" in _symbols(fw.elf)) == (app != "none")


def _exchange_owner(map_text: str) -> str:
    """The object file that defines tlsfit_app_exchange in the link ('' when none does)."""
    lines = map_text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(".text.tlsfit_app_exchange"):
            rest = line + " " + (lines[i + 1] if i + 1 < len(lines) else "")
            return rest.split()[-1]
    return ""


def test_static_ram_split_counts_the_contexts_with_mbedtls(pki, cache, an386):
    from measure.figures import read_footprint
    fw = _firmware(pki, cache, an386)
    figures = read_footprint(fw.elf, fw.map_file)
    with fw.elf.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        contexts = next(s for s in symtab.iter_symbols() if s.name == "tlsfit_app_ctx")["st_size"]
    assert figures.ram_static_mbedtls + figures.ram_static_harness == figures.ram_static
    assert figures.ram_static_mbedtls >= contexts > 500  # ssl + conf + drbg + entropy + CA chain
    assert figures.ram_static_harness > 0


# ---- QEMU: echo and none -------------------------------------------------------------

def test_qemu_echo_reports_app_and_harness_shares(pki, cache, an386):
    code, console = _qemu_against_s_server(_firmware(pki, cache, an386), an386, pki)
    run = parse_result(console)
    assert code == 0 and run.ok, console
    assert run.handshake_ok and run.app == "echo" and run.app_ok
    assert run.app_detail == "echo reversed"
    message_len = len(b"tlsfit ping\n")
    assert run.app_bytes_sent == run.app_bytes_received == message_len
    # the application records and close_notify come after the handshake's bytes
    assert 0 < run.handshake_bytes_sent < run.bytes_sent
    assert 0 < run.handshake_bytes_received < run.bytes_received
    # the allocator's work is reported apart, not in the handshake figure
    assert run.allocations > 1000
    assert run.allocator_instructions > 100 * run.allocations  # first-fit: hundreds per call
    assert 0 < run.probe_instructions < run.allocator_instructions
    assert run.instructions == sum(s.instructions for s in run.states)
    # harness frames under mbedTLS's calls: main, harness_run, a helper
    assert 0 < run.stack_harness < run.stack_peak


def test_qemu_app_none_is_handshake_and_close_notify(pki, cache, an386):
    fw = _firmware(pki, cache, an386, app="none")
    code, console = _qemu_against_s_server(fw, an386, pki)
    run = parse_result(console)
    assert code == 0 and run.ok, console
    assert run.handshake_ok and run.app == "none" and run.app_ok is None
    assert (run.app_bytes_sent, run.app_bytes_received) == (0, 0)
    assert run.app_detail is None
    # after the handshake only close_notify went out: one alert record
    alert_record = 5 + 2 + 8 + 16  # header + alert + GCM explicit nonce + tag
    assert run.bytes_sent - run.handshake_bytes_sent == alert_record


# ---- host: a failed close_notify counts ------------------------------------------------

def test_failed_close_notify_fails_the_run(pki, cache, monkeypatch):
    host = load_board("host", PORTS)
    fw = _firmware(pki, cache, host)
    server = SServer(pki, "-tls1_2")
    try:
        _, console = run_host(fw, "127.0.0.1", server.port, RUN_TIMEOUT_S)
    finally:
        server.stop()
    good = parse_result(console)
    assert good.ok and good.app_ok
    # same run, but the transport refuses the last record: close_notify
    monkeypatch.setenv("TLSFIT_TEST_SEND_LIMIT", str(good.bytes_sent - 1))
    server = SServer(pki, "-tls1_2")
    try:
        code, console = run_host(fw, "127.0.0.1", server.port, RUN_TIMEOUT_S)
    finally:
        server.stop()
    run = parse_result(console)
    assert code == 1, console
    assert not run.ok and run.handshake_ok and not run.app_ok
    assert run.error_stage == "close" and run.error_code == -0x004E
    assert run.app_detail == "echo reversed"  # the exchange itself was fine


# ---- real servers: mosquitto and nginx ------------------------------------------------

class _Daemon:
    """A server process in its own process group, stopped by killing that group."""

    def __init__(self, argv: list[str], port: int, log: Path):
        self.port = port
        self.log = log
        self._log_handle = log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log_handle, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"{argv[0]} exited: {log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{argv[0]} did not listen: {log.read_text(errors='replace')}")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self._log_handle.close()


@pytest.fixture
def mosquitto(pki, tmp_path):
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if exe is None:
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    # user root: as root, mosquitto otherwise drops to 'mosquitto' and cannot read the temp PKI
    conf.write_text(f"user root\npersistence false\nlog_dest file {tmp_path / 'broker.log'}\n"
                    f"log_type all\nlistener {port} 127.0.0.1\n"
                    f"allow_anonymous true\ncafile {pki['ca_der'].with_name('ca.pem')}\n"
                    f"certfile {pki['cert']}\nkeyfile {pki['key']}\n")
    daemon = _Daemon([exe, "-c", str(conf)], port, tmp_path / "mosquitto.log")
    daemon.broker_log = tmp_path / "broker.log"
    yield daemon
    daemon.stop()


@pytest.fixture
def nginx(pki, tmp_path):
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if exe is None:
        pytest.skip("nginx not installed (apt-get install nginx-light)")
    port = free_port()
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for d in temp.values():
        d.mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off;
master_process off;
pid {tmp_path / 'nginx.pid'};
error_log {tmp_path / 'error.log'};
events {{ worker_connections 16; }}
http {{
    access_log off;
    client_body_temp_path {temp['body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {pki['cert']};
        ssl_certificate_key {pki['key']};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ return 200 "tlsfit\\n"; }}
        location /missing {{ return 404; }}
    }}
}}
""")
    daemon = _Daemon([exe, "-e", str(tmp_path / "early.log"), "-p", str(tmp_path), "-c", str(conf)],
                     port, tmp_path / "nginx.log")
    yield daemon
    daemon.stop()


def test_qemu_mqtt_connect_to_mosquitto(pki, cache, an386, mosquitto):
    fw = _firmware(pki, cache, an386, app="mqtt", app_client_id="tlsfit-device-1")
    code, console = run_qemu(fw, an386, mosquitto.port, RUN_TIMEOUT_S)
    run = parse_result(console)
    assert code == 0 and run.ok, console + mosquitto.broker_log.read_text(errors="replace")
    assert run.app == "mqtt" and run.app_ok and run.app_detail == "CONNACK rc=0"
    assert run.app_bytes_received == 4  # the CONNACK, nothing more read
    assert run.app_bytes_sent == 2 + 10 + 2 + len("tlsfit-device-1") + 2  # CONNECT + DISCONNECT
    # the broker saw this client id connect (its log is written line by line)
    assert " as tlsfit-device-1 " in mosquitto.broker_log.read_text(errors="replace")


def test_qemu_http_get_from_nginx(pki, cache, an386, nginx):
    fw = _firmware(pki, cache, an386, app="http", app_host="localhost")
    code, console = run_qemu(fw, an386, nginx.port, RUN_TIMEOUT_S)
    run = parse_result(console)
    assert code == 0 and run.ok, console
    assert run.app == "http" and run.app_ok and run.app_detail == "HTTP/1.1 200 OK"


def test_host_http_status_line_is_reported_as_is(pki, cache, nginx):
    host = load_board("host", PORTS)
    fw = _firmware(pki, cache, host, app="http", app_host="localhost", app_path="/missing")
    code, console = run_host(fw, "127.0.0.1", nginx.port, RUN_TIMEOUT_S)
    run = parse_result(console)
    # a 404 is still a well-formed HTTP answer: the exchange worked
    assert code == 0 and run.app_ok, console
    assert run.app_detail == "HTTP/1.1 404 Not Found"

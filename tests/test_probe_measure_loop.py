"""The loop closes: `tlsfit probe` writes a profile for a live server, then `tlsfit measure --server`
proves the generated build against that same server in QEMU.

Four servers nobody here wrote, each restricted by the test and started on 127.0.0.1:
openssl s_server, gnutls-serv, Debian's mosquitto (MQTT CONNECT/CONNACK after the
handshake) and nginx-light (GET / and its status line). Each is stopped by process
group, and its PIDs are checked gone.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from generator.model import ChainShape
from measure.pki import TestPki, make_test_pki
from real_servers import RealServer, _start, start_mosquitto, start_nginx
from measure.server import free_port

ROOT = Path(__file__).resolve().parent.parent
HOST = "device-server.test"
CLI_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> TestPki:
    """An ECDSA chain with one intermediate, as public CAs serve."""
    return make_test_pki(ChainShape(root="secp384r1", intermediates=("secp256r1",), leaf="secp256r1"),
                         HOST, None, tmp_path_factory.mktemp("loop-pki"))


@pytest.fixture(scope="module")
def flat_pki(tmp_path_factory) -> TestPki:
    """Root and leaf only: the mosquitto helper serves its leaf certificate file alone."""
    return make_test_pki(ChainShape(root="secp256r1", intermediates=(), leaf="secp256r1"),
                         HOST, None, tmp_path_factory.mktemp("flat-pki"))


def tlsfit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "tlsfit"), *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def probe_then_measure(server: RealServer, pki: TestPki, tmp_path: Path, *measure_args: str) -> tuple[dict, dict]:
    """(the profile probe wrote, the report measure wrote); both commands must exit 0."""
    profile = tmp_path / "probed" / "server.yaml"
    profile.parent.mkdir(parents=True)
    probed = tlsfit("probe", server.address, "--sni", HOST, "--ca", str(pki.root_file), "-o", str(profile))
    assert probed.returncode == 0, probed.stderr
    out = tmp_path / "report"
    measured = tlsfit("measure", str(profile), "--server", server.address, "-o", str(out), *measure_args)
    assert measured.returncode == 0, measured.stdout + measured.stderr + server.log_text()[-2000:]
    assert "Traceback" not in measured.stderr
    return yaml.safe_load(profile.read_text()), json.loads((out / "report.json").read_text())


def _srv_dir(tmp_path: Path) -> Path:
    (tmp_path / "srv").mkdir(exist_ok=True)
    return tmp_path / "srv"


def _stopped(server: RealServer) -> None:
    pids = server.stop()
    assert pids and not server.group_pids()


def test_openssl_s_server_tls12_with_intermediate(pki: TestPki, tmp_path: Path) -> None:
    port = free_port()
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-rev", "-quiet", "-tls1_2",
            "-cert", str(pki.server_cert_file), "-key", str(pki.server_key_file),
            "-cert_chain", str(pki.server_chain_file),
            "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305", "-groups", "x25519:secp256r1"]
    server = _start("openssl", argv, port, _srv_dir(tmp_path), _srv_dir(tmp_path) / "log")
    try:
        profile, report = probe_then_measure(server, pki, tmp_path, "--app", "echo")
    finally:
        _stopped(server)
    assert profile["tls"]["ciphersuites"] == ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
    assert profile["trust"]["chain"] == {"root": "secp384r1", "intermediates": ["secp256r1"], "leaf": "secp256r1"}
    assert report["handshake"]["ok"] and report["handshake"]["version"] == "TLS 1.2"
    assert report["app"] == {**report["app"], "protocol": "echo", "ok": True}
    assert report["server"]["kind"] == "external" and report["server"]["address"] == server.address


def test_gnutls_serv_tls13_only(pki: TestPki, tmp_path: Path) -> None:
    port = free_port()
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pki.server_chain_pem)
    argv = ["gnutls-serv", "--port", str(port), "--echo", "--x509certfile", str(chain),
            "--x509keyfile", str(pki.server_key_file),
            "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:-GROUP-ALL:+GROUP-SECP256R1"]
    server = _start("gnutls-serv", argv, port, _srv_dir(tmp_path), _srv_dir(tmp_path) / "log")
    try:
        profile, report = probe_then_measure(server, pki, tmp_path, "--app", "echo")
    finally:
        _stopped(server)
    assert profile["tls"]["versions"] == ["1.3"]
    assert profile["tls"]["ciphersuites"] == ["TLS_AES_128_GCM_SHA256"]
    assert report["handshake"]["version"] == "TLS 1.3" and report["handshake"]["group"] == "secp256r1"
    assert report["app"]["ok"] is True


def test_mosquitto_mqtt_connack_with_mfl(flat_pki: TestPki, tmp_path: Path) -> None:
    server = start_mosquitto(flat_pki, tmp_path / "mosquitto")
    try:
        profile, report = probe_then_measure(server, flat_pki, tmp_path, "--app", "mqtt")
    finally:
        _stopped(server)
    # OpenSSL (inside mosquitto) honours max_fragment_length: probe sets it, the build uses it
    assert profile["tls"]["max_fragment_length"] in (512, 1024, 2048, 4096)
    assert report["handshake"]["ok"]
    assert report["app"]["protocol"] == "mqtt" and report["app"]["ok"] is True
    assert report["app"]["detail"] == "CONNACK rc=0"


def test_nginx_http_status_line(pki: TestPki, tmp_path: Path) -> None:
    server = start_nginx(pki, HOST, tmp_path / "nginx")
    try:
        _, report = probe_then_measure(server, pki, tmp_path, "--app", "http")
        # and with nothing after the handshake: handshake + close_notify only
        none = tlsfit("measure", str(tmp_path / "probed" / "server.yaml"), "--server", server.address,
                      "--app", "none", "-o", str(tmp_path / "none"))
    finally:
        _stopped(server)
    assert report["app"]["protocol"] == "http" and report["app"]["ok"] is True
    assert report["app"]["detail"].startswith("HTTP/1.1 200")
    assert none.returncode == 0, none.stderr
    assert json.loads((tmp_path / "none" / "report.json").read_text())["app"]["protocol"] == "none"

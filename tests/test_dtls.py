"""DTLS 1.2 (transport: udp): profile checks, the resolved options, and real handshakes in QEMU
(mps2-an386) through the framed-UART datagram relay against openssl s_server -dtls1_2 on 127.0.0.1."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.knowledge import knowledge_for
from generator.model import ProfileError
from generator.profile import load_profile
from generator.resolve import resolve
from measure.dgram_proxy import LossPlan, parse_loss
from measure.dtls_wire import summarize
from measure.dgram_proxy import Datagram
from generator.cores import find_core

# the default target's core (mps2-an386 runs the shipped profiles)
M4 = find_core("cortex-m4")

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
TLSFIT = ROOT / "tlsfit"
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def kb():
    return knowledge_for("3.6.6")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


BASE = """name: d
transport: udp
server: {host: coap.example.com, port: 5684}
tls:
  versions: ["1.3"]
  ciphersuites: [TLS_AES_128_GCM_SHA256]
  groups: [secp256r1]
  psk: {identity: a, key: "00112233445566778899aabbccddeeff"}
"""


def test_tls13_only_over_udp_is_refused_at_the_versions_line(tmp_path, kb):
    path = _write(tmp_path, BASE)
    with pytest.raises(ProfileError) as exc:
        load_profile(path, kb)
    assert str(exc.value).startswith(f"{path}:5: error: transport: udp")


def test_dtls_settings_need_transport_udp(tmp_path, kb):
    text = BASE.replace("transport: udp\n", "").replace('["1.3"]', '["1.2"]').replace(
        "TLS_AES_128_GCM_SHA256", "TLS_PSK_WITH_AES_128_CCM_8") + "  mtu: 512\n"
    path = _write(tmp_path, text)
    with pytest.raises(ProfileError) as exc:
        load_profile(path, kb)
    assert str(exc.value).startswith(f"{path}:8: error: tls.mtu is a DTLS setting")


def test_udp_profile_adds_the_dtls_roles_and_its_tls_twin_does_not(kb):
    dtls = resolve(load_profile(PROFILES / "dtls-psk-coap.yaml", kb), kb, M4)
    tls = resolve(load_profile(PROFILES / "tls12-psk.yaml", kb), kb, M4)
    for role in ("dtls", "dtls_anti_replay"):
        assert dtls.has(kb.option(role)) and not tls.has(kb.option(role))
    assert not dtls.has(kb.option("dtls_connection_id"))


def test_loss_plan_parsing():
    assert parse_loss("drop=s2,dup=c1") == LossPlan((("drop", "server", 2), ("dup", "client", 1)))
    with pytest.raises(Exception):
        parse_loss("lose=s2")


def test_dtls_wire_counts_a_retransmitted_handshake_fragment():
    # DTLS 1.2 record: type 22, version fefd, epoch 0, seq, length; handshake header with message_seq 0
    body = bytes([1]) + (4).to_bytes(3, "big") + (0).to_bytes(2, "big") + (0).to_bytes(3, "big") + \
        (4).to_bytes(3, "big") + b"\xfe\xfd\x00\x00"
    rec = bytes([22]) + b"\xfe\xfd" + b"\x00\x00" + (0).to_bytes(6, "big") + len(body).to_bytes(2, "big") + body
    s = summarize([Datagram("client", rec), Datagram("client", rec)])
    assert s.datagrams_client == 2 and s.retransmits_client == 1
    assert s.handshake == ("client ClientHello",)


def _measure(profile: Path, out: Path, *extra: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, str(TLSFIT), "measure", str(profile), "-o", str(out), "-q", *extra],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").is_file() else {}
    assert report, done.stderr
    return done.returncode, report


def test_psk_ccm8_dtls_handshake_in_qemu_against_openssl(tmp_path):
    code, report = _measure(PROFILES / "dtls-psk-coap.yaml", tmp_path)
    assert code == 0, report["handshake"]
    assert report["handshake"]["version"] == "DTLS 1.2"
    assert report["handshake"]["ciphersuite"] == "TLS_PSK_WITH_AES_128_CCM_8"
    assert report["transport"] == "udp"
    assert report["dtls"]["version"] == "DTLS 1.2"
    assert report["dtls"]["hello_verify"] is True       # s_server -dtls1_2 asks for a cookie
    assert report["dtls"]["epochs"] == [0, 1]


def test_dtls_handshake_recovers_from_a_dropped_server_datagram(tmp_path):
    code, report = _measure(PROFILES / "dtls-psk-coap.yaml", tmp_path, "--loss", "drop=s2")
    assert code == 0, report["handshake"]
    dtls = report["dtls"]
    assert dtls["datagrams"]["dropped"] == 1 and dtls["loss"] == "drop=s2"
    # the lost flight came again: by a server or a firmware timer
    assert dtls["retransmits"]["server"] + dtls["firmware_retransmits"] > 0


def test_loss_on_a_tcp_profile_is_bad_input(tmp_path):
    done = subprocess.run([sys.executable, str(TLSFIT), "measure", str(PROFILES / "tls12-psk.yaml"),
                           "-o", str(tmp_path), "--loss", "drop=s2"],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 2 and "transport: udp" in done.stderr


def test_ecdhe_ecdsa_dtls_handshake_in_qemu_against_openssl(tmp_path):
    code, report = _measure(PROFILES / "dtls-ecdhe-ecdsa.yaml", tmp_path)
    assert code == 0, report["handshake"]
    assert report["handshake"]["ciphersuite"] == "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"
    assert report["handshake"]["group"] == "secp256r1"
    assert "server Certificate" in report["dtls"]["handshake"]


# ---- faults end fast, or at mbedTLS's own timeout (issue 23 item 9) ---------------------------

def _free_udp_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_closed_udp_port_is_unreachable_at_once(tmp_path):
    """Nothing bound to the port: the kernel answers the ClientHello with ICMP port unreachable,
    which ends the run as a tool failure (exit 3, no report) in seconds, not at the timeout."""
    port = _free_udp_port()
    done = subprocess.run([sys.executable, str(TLSFIT), "measure", str(PROFILES / "dtls-psk-coap.yaml"),
                           "-o", str(tmp_path / "out"), "--server", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert f"cannot reach 127.0.0.1:{port} (udp): nothing listens there (ICMP port unreachable)" in done.stderr
    run_line = [ln for ln in done.stderr.splitlines() if "running the handshake" in ln and " in " in ln]
    assert run_line and float(run_line[-1].rsplit(" in ", 1)[1].split()[0]) < 20, done.stderr
    assert not (tmp_path / "out" / "report.json").exists()


@pytest.mark.parametrize("text", ["drop=s2,dup=s2", "dup=c1,reorder=c1", "drop=a3,drop=a3"])
def test_conflicting_loss_rules_are_refused(text, tmp_path):
    with pytest.raises(Exception) as exc:
        parse_loss(text)
    assert "named twice" in str(exc.value)
    done = subprocess.run([sys.executable, str(TLSFIT), "measure", str(PROFILES / "dtls-psk-coap.yaml"),
                           "-o", str(tmp_path), "--loss", text],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert done.returncode == 2, done.stderr
    assert "named twice" in done.stderr and "Traceback" not in done.stderr


def test_retransmit_schedule_is_mbedtls_doubling():
    from measure.dgram_proxy import retransmit_schedule_s
    assert retransmit_schedule_s(1000, 60000) == 123.0      # 1+2+4+8+16+32+60
    assert retransmit_schedule_s(250, 1000) == 1.75         # 0.25+0.5+1
    assert retransmit_schedule_s(1000, 1000) == 1.0


def test_default_timeout_covers_the_shipped_dtls_schedule(kb):
    from pipeline.stages import DEFAULT_TIMEOUT_S, run_timeout_s
    dtls = load_profile(PROFILES / "dtls-psk-coap.yaml", kb)
    assert run_timeout_s(dtls) >= 2 * 123.0 + 10
    assert run_timeout_s(load_profile(PROFILES / "tls12-psk.yaml", kb)) == DEFAULT_TIMEOUT_S


@pytest.mark.slow
def test_shipped_dtls_profile_against_another_psk_ends_in_mbedtls_timeout(tmp_path):
    """The shipped 1 s .. 60 s schedule (123 s) against a server holding another key (it drops
    the firmware's Finished): the default timeout lets mbedTLS give up by itself."""
    port = _free_udp_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-dtls1_2", "-nocert",
                               "-psk", "0f" * 16, "-psk_identity", "device-1", "-cipher",
                               "PSK-AES128-CCM8:@SECLEVEL=0"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done = subprocess.run([sys.executable, str(TLSFIT), "measure", str(PROFILES / "dtls-psk-coap.yaml"),
                               "-o", str(tmp_path), "-q", "--server", f"127.0.0.1:{port}", "--app", "none"],
                              capture_output=True, text=True, timeout=600, check=False)
    finally:
        server.kill()
        server.wait()
    report = json.loads((tmp_path / "report.json").read_text())
    assert done.returncode == 1, done.stderr
    assert report["handshake"]["ok"] is False
    assert report["handshake"]["error"]["code"] == -0x6800, report["handshake"]["error"]  # MBEDTLS_ERR_SSL_TIMEOUT
    assert report["dtls"]["firmware_retransmits"] >= 6

"""CoAP over DTLS (app coap) and DTLS security, for real: the firmware in QEMU (mps2-an386)
through the datagram relay against Debian libcoap3-bin's coap-server-openssl / coap-server-gnutls
(PSK) and openssl s_server -dtls1_2 (certificates), all on 127.0.0.1."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.knowledge import knowledge_for
from generator.model import ChainShape, ProfileError
from generator.profile import load_profile
from measure.dgram_proxy import SERVER_APP_DATA, parse_loss
from measure.firmware_data import coap_get_request
from measure.pki import TestPki, make_test_pki
from measure.server import start_reference_server
from real_servers import start_coap_server

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
TLSFIT = ROOT / "tlsfit"
RUN_TIMEOUT_S = 300
KB = knowledge_for("3.6.6")
# dtls-psk-coap.yaml's key is the hex of this text (coap-server -k takes the key as text)
COAP_PSK_TEXT = "tlsfit-coap-psk1"
X509_CERT_VERIFY_FAILED = -0x2700
SSL_TIMEOUT = -0x6800
DEVICE_HOST = "coap.tlsfit.test"
CHAIN = ChainShape(root="secp256r1", intermediates=(), leaf="secp256r1")


def _measure(profile: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    done = subprocess.run([sys.executable, str(TLSFIT), "measure", str(profile), "-o", str(out), "-q", *extra],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").is_file() else {}
    return done.returncode, report, done.stderr


# ---- the request bytes and the profile rules -------------------------------------------------

def test_coap_get_request_bytes_follow_rfc7252():
    # ver 1, CON, TKL 8 | GET | message id | token | Uri-Path ".well-known" (delta 11) | "core" (delta 0)
    assert coap_get_request("/.well-known/core") == (
        bytes([0x48, 0x01, 0x7F, 0x01]) + b"tlsfit01" + bytes([0xBB]) + b".well-known" + bytes([0x04]) + b"core")
    assert coap_get_request("/") == bytes([0x48, 0x01, 0x7F, 0x01]) + b"tlsfit01"
    # a 13-byte segment needs the 1-byte extended length
    assert coap_get_request("/abcdefghijklm")[12:14] == bytes([0xBD, 0x00])


def test_loss_target_a_counts_the_servers_application_data_datagrams():
    plan = parse_loss("dup=a1,drop=s2")
    assert plan.rules == (("dup", SERVER_APP_DATA, 1), ("drop", "server", 2)) and str(plan) == "dup=a1,drop=s2"


def test_app_coap_over_tcp_is_refused_at_its_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text((PROFILES / "tls12-psk.yaml").read_text() + "\napp: coap\n")
    with pytest.raises(ProfileError) as exc:
        load_profile(path, KB)
    line = path.read_text().splitlines().index("app: coap") + 1
    assert str(exc.value).startswith(f"{path}:{line}: error: app: coap is CoAP over DTLS")


def test_app_coap_without_server_is_bad_input(tmp_path):
    # the reference DTLS server (openssl s_server -dtls1_2) cannot answer CoAP
    code, _, err = _measure(PROFILES / "dtls-psk-coap.yaml", tmp_path, "--app", "coap")
    assert code == 2 and "--server" in err


# ---- against a real CoAP server --------------------------------------------------------------

@pytest.fixture
def coap_server(tmp_path, request):
    impl = getattr(request, "param", "openssl")
    server = start_coap_server(COAP_PSK_TEXT, tmp_path / "coap", impl=impl)
    yield server
    server.stop()


@pytest.mark.parametrize("coap_server", ["openssl", "gnutls"], indirect=True)
def test_psk_ccm8_coap_get_answered_2_05_by_libcoap(tmp_path, coap_server):
    code, report, err = _measure(PROFILES / "dtls-psk-coap.yaml", tmp_path / "out", "--server", coap_server.address)
    assert code == 0, (err, report.get("handshake"), coap_server.log_text())
    assert report["handshake"]["version"] == "DTLS 1.2"
    assert report["handshake"]["ciphersuite"] == "TLS_PSK_WITH_AES_128_CCM_8"
    assert report["app"]["protocol"] == "coap" and report["app"]["ok"] is True
    assert report["app"]["detail"] == "2.05 Content"
    # two GETs of /.well-known/core (29 bytes each), two answers in application_data records
    assert report["app"]["bytes_sent"] == 2 * len(coap_get_request("/.well-known/core"))
    assert report["dtls"]["datagrams"]["server_application_data"] == 2


def test_replayed_coap_answer_is_dropped_by_anti_replay(tmp_path, coap_server):
    # The relay delivers the server's first application-data datagram (the first 2.05) twice.
    # The copy reaches the firmware while it waits for the second answer: without DTLS
    # anti-replay mbedTLS would decrypt it (same keys, same record) and hand it to the CoAP
    # client, which reports it as "1 stray ignored"; with anti-replay it never arrives.
    code, report, err = _measure(PROFILES / "dtls-psk-coap.yaml", tmp_path / "out", "--server",
                                 coap_server.address, "--loss", "dup=a1")
    assert code == 0, (err, report.get("handshake"))
    assert report["dtls"]["loss"] == "dup=a1" and report["dtls"]["datagrams"]["duplicated"] == 1
    assert report["app"]["detail"] == "2.05 Content"


def test_wrong_psk_fails_the_handshake(tmp_path):
    # The server holds another key: it cannot check the firmware's Finished and, as DTLS
    # servers do with a record that fails authentication, drops it; the firmware's
    # retransmissions run out (a short range keeps this test fast).
    profile = tmp_path / "short.yaml"
    profile.write_text((PROFILES / "dtls-psk-coap.yaml").read_text().replace(
        "min_ms: 1000, max_ms: 60000", "min_ms: 250, max_ms: 1000"))
    server = start_coap_server("another-psk-0000", tmp_path / "coap")
    try:
        code, report, err = _measure(profile, tmp_path / "out", "--server", server.address)
    finally:
        server.stop()
    assert code == 1, err
    assert report["handshake"]["ok"] is False and report["app"]["ok"] is not True
    assert report["handshake"]["error"]["code"] == SSL_TIMEOUT
    assert report["dtls"]["firmware_retransmits"] > 0


# ---- certificates over DTLS: openssl s_server -dtls1_2 with another PKI -----------------------

@pytest.fixture(scope="module")
def trusted_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(CHAIN, DEVICE_HOST, None, tmp_path_factory.mktemp("trusted"))


def _cert_profile(tmp_path: Path, ca_file: Path) -> Path:
    path = tmp_path / "dtls-cert.yaml"
    path.write_text(f"""name: dtls-cert
transport: udp
server: {{host: {DEVICE_HOST}, port: 5684}}
tls:
  versions: ["1.2"]
  ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8]
  groups: [secp256r1]
  signature_algorithms: [ecdsa_secp256r1_sha256]
trust:
  ca_files: [{ca_file}]
app: none
""")
    return path


def _run_against(tmp_path: Path, trusted_root: Path, server_pki: TestPki) -> tuple[int, dict]:
    profile_path = _cert_profile(tmp_path, trusted_root)
    with start_reference_server(load_profile(profile_path, KB), server_pki, impl="openssl",
                                workdir=tmp_path / "srv") as srv:
        code, report, err = _measure(profile_path, tmp_path / "out", "--server", f"127.0.0.1:{srv.port}")
    assert report, err
    return code, report


def test_dtls_server_certificate_from_another_ca_is_refused(tmp_path, trusted_pki):
    rogue = make_test_pki(CHAIN, DEVICE_HOST, None, tmp_path / "rogue-ca", tag="rogue")
    code, report = _run_against(tmp_path, trusted_pki.root_file, rogue)
    assert code == 1 and report["handshake"]["ok"] is False
    assert report["handshake"]["error"]["code"] == X509_CERT_VERIFY_FAILED
    assert report["transport"] == "udp"


def test_dtls_certificate_for_another_host_name_is_refused(tmp_path):
    other = make_test_pki(CHAIN, "other.tlsfit.test", None, tmp_path / "other-host")
    code, report = _run_against(tmp_path, other.root_file, other)
    assert code == 1 and report["handshake"]["ok"] is False
    assert report["handshake"]["error"]["code"] == X509_CERT_VERIFY_FAILED

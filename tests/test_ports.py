"""The on-target harness against real servers: QEMU (mps2-an386) and the host port.

Builds real firmware (arm-none-eabi-gcc, host gcc), runs real handshakes
against `openssl s_server` on 127.0.0.1 with a test PKI made here.
"""
from __future__ import annotations

import re
import select
import socket
import subprocess
import time
from pathlib import Path

import pytest
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from measure.boards import load_board
from measure.build import build_firmware
from measure.firmware_data import render_harness_data
from helpers import echo_kind
from measure.harness_result import iana_suite_name, parse_result
from measure.host_run import run_host
from measure.model import HarnessInput, MeasureError
from measure.qemu import run_qemu

ROOT = Path(__file__).resolve().parent.parent
PORTS = ROOT / "ports"
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
RUN_TIMEOUT_S = 60.0
MBEDTLS_ERR_X509_CERT_VERIFY_FAILED = -0x2700

pytestmark = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")

# Hand-written client configs (the generator's output is tested elsewhere):
# bare-metal, client only, entropy through the harness's hardware hook.
_BASE = """
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_AES_C
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_GCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA224_C
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ALPN
#define MBEDTLS_SSL_IN_CONTENT_LEN 4096
#define MBEDTLS_SSL_OUT_CONTENT_LEN 2048
"""
TLS12_CONFIG = "/* test: TLS 1.2 ECDHE-ECDSA P-256 AES-128-GCM */" + _BASE + """
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_CIPHERSUITES MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
"""
TLS13_CONFIG = "/* test: TLS 1.3 AES-128-GCM P-256 */" + _BASE + """
#define MBEDTLS_HKDF_C
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_SSL_CIPHERSUITES MBEDTLS_TLS1_3_AES_128_GCM_SHA256
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_pki(directory: Path, ca_name: str) -> dict[str, Path]:
    """ECDSA P-256 CA + leaf for localhost. Returns paths: ca_der, cert, key."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", f"/CN={ca_name}", cwd=directory)
    _openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost",
             cwd=directory)
    (directory / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "leaf.pem", "-days", "30", "-extfile", "ext.cnf",
             cwd=directory)
    _openssl("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der", cwd=directory)
    return {"ca_der": directory / "ca.der", "cert": directory / "leaf.pem",
            "key": directory / "leaf.key"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SServer:
    """openssl s_server -rev for one connection; stopped by PID."""

    def __init__(self, pki: dict[str, Path], *args: str):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-naccept", "1", "-rev",
             "-cert", str(pki["cert"]), "-key", str(pki["key"]), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        seen = b""
        while b"ACCEPT" not in seen:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"s_server did not start: {seen!r}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                seen += self.proc.stdout.read1(4096)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def harness_input(pki: dict[str, Path], **kw) -> HarnessInput:
    base = dict(server_name="localhost", verify=True, ca_der=(pki["ca_der"].read_bytes(),),
                client_cert_der=(), client_key_der=None, psk_identity=None, psk_key=None,
                alpn=(), max_fragment_length=None)
    base.update(kw)
    return HarnessInput(**base)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "tlsfit-test-ca")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("other-pki"), "some-other-ca")


@pytest.fixture(scope="module")
def host_board():
    return load_board("host", PORTS)


@pytest.fixture(scope="module")
def fw12(pki, cache, an386):
    return build_firmware(TLS12_CONFIG, render_harness_data(harness_input(pki)), an386,
                          MBEDTLS, cache)


@pytest.fixture(scope="module")
def host12(pki, cache, host_board):
    return build_firmware(TLS12_CONFIG, render_harness_data(harness_input(pki)), host_board,
                          MBEDTLS, cache)


def qemu_handshake(fw, board, pki, *server_args):
    server = SServer(pki, *server_args)
    try:
        return run_qemu(fw, board, server.port, RUN_TIMEOUT_S)
    finally:
        server.stop()


# ---- result line parsing -------------------------------------------------

LINE = ('TLSFIT-RESULT {"ok":1,"err":0,"stage":"","version":"TLSv1.2",'
        '"suite":"TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256","sent":296,"recv":763,'
        '"instr":102136140,"heap_peak":9947,"heap_overhead":293,"stack_peak":1500,'
        '"echo":"reversed","states":[["CLIENT_HELLO",9123],["SERVER_KEY_EXCHANGE",34854244]]}')


def test_parse_result_maps_names_and_numbers():
    run = parse_result("boot noise\r\n" + LINE + "\r\n")
    assert run.ok and run.error_code == 0 and run.error_stage is None
    assert run.version == "TLS 1.2"
    assert run.ciphersuite == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    assert (run.bytes_sent, run.bytes_received, run.instructions) == (296, 763, 102136140)
    assert (run.heap_peak, run.heap_overhead_peak, run.stack_peak) == (9947, 293, 1500)
    assert [(s.state, s.instructions) for s in run.states] == [
        ("CLIENT_HELLO", 9123), ("SERVER_KEY_EXCHANGE", 34854244)]
    assert echo_kind(LINE) == "reversed"


def test_parse_result_host_has_no_instructions_and_failure_fields():
    line = LINE.replace('"instr":102136140', '"instr":-1').replace('"ok":1,"err":0,"stage":""',
                                                                   '"ok":0,"err":-9984,"stage":"handshake"')
    run = parse_result(line)
    assert run.instructions is None and run.states == ()
    assert not run.ok and run.error_code == -0x2700 and run.error_stage == "handshake"


def test_parse_result_old_line_leaves_new_fields_unset():
    run = parse_result(LINE)
    assert (run.allocator_instructions, run.allocations, run.stack_harness) == (None, None, None)
    assert (run.handshake_ok, run.app, run.app_ok, run.app_detail) == (None, None, None, None)


NEW_KEYS = (',"hs_ok":1,"hs_sent":233,"hs_recv":841,"app":"mqtt","app_ok":0,"app_sent":31,'
            '"app_recv":4,"app_detail":"CONNACK rc=5","close_ok":1,"alloc_instr":80802115,'
            '"allocs":153646,"frees":153644,"probe_instr":20742078,"clock_read_instr":26,'
            '"stack_harness":168')


def test_parse_result_reads_verdicts_and_harness_shares():
    run = parse_result(LINE.replace(',"states"', NEW_KEYS + ',"states"').replace('"ok":1', '"ok":0'))
    assert not run.ok and run.handshake_ok is True and run.app_ok is False
    assert (run.app, run.app_detail) == ("mqtt", "CONNACK rc=5")
    assert (run.app_bytes_sent, run.app_bytes_received) == (31, 4)
    assert (run.handshake_bytes_sent, run.handshake_bytes_received) == (233, 841)
    assert (run.allocator_instructions, run.allocations, run.probe_instructions) == (
        80802115, 153646, 20742078)
    assert run.stack_harness == 168
    none = parse_result(LINE.replace(',"states"', NEW_KEYS.replace('"app_ok":0', '"app_ok":-1')
                                     .replace('"app_detail":"CONNACK rc=5"', '"app_detail":""')
                                     + ',"states"'))
    assert none.app_ok is None and none.app_detail is None
    host = parse_result(LINE.replace('"instr":102136140', '"instr":-1')
                        .replace(',"states"', NEW_KEYS.replace('"alloc_instr":80802115', '"alloc_instr":-1')
                                 .replace('"probe_instr":20742078', '"probe_instr":-1') + ',"states"'))
    assert host.allocator_instructions is None and host.probe_instructions is None
    assert host.allocations == 153646


def test_parse_result_without_line_raises_with_console_tail():
    with pytest.raises(MeasureError, match="(?s)no TLSFIT-RESULT.*HardFault here"):
        parse_result("booting\nHardFault here\n")


@pytest.mark.parametrize("mbedtls_name, iana", [
    ("TLS1-3-AES-128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"),
    ("TLS1-3-CHACHA20-POLY1305-SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
    ("TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    ("TLS-PSK-WITH-AES-128-CCM-8", "TLS_PSK_WITH_AES_128_CCM_8"),
])
def test_iana_suite_name_examples(mbedtls_name, iana):
    assert iana_suite_name(mbedtls_name) == iana


def test_iana_suite_name_matches_every_mbedtls_suite():
    """mbedTLS pairs each suite's ID macro (IANA spelling) with its name string."""
    source = (MBEDTLS / "library" / "ssl_ciphersuites.c").read_text()
    pairs = re.findall(r'\{\s*MBEDTLS_(TLS\w+),\s*"([^"]+)"', source)
    assert len(pairs) > 100
    for macro, name in pairs:
        assert iana_suite_name(name) == macro.replace("TLS1_3_", "TLS_"), name


# ---- builds ----------------------------------------------------------------

def test_board_image_layout(fw12, an386):
    """-Werror build links; arena and stack are NOLOAD; the map attributes per object."""
    with open(fw12.elf, "rb") as f:
        elf = ELFFile(f)
        sections = {s.name: s for s in elf.iter_sections()}
        for name in (".heap_arena", ".stack"):
            assert sections[name]["sh_type"] == "SHT_NOBITS"
        assert sections[".heap_arena"]["sh_size"] == 64 * 1024
        rom = sum(s["sh_size"] for s in elf.iter_sections()
                  if s["sh_flags"] & SH_FLAGS.SHF_ALLOC and s["sh_type"] == "SHT_PROGBITS")
    assert 20_000 < rom < an386.flash_limit
    assert "libmbedtls.a(ssl_tls.o)" in fw12.map_file.read_text()


def test_host_builds(host12):
    assert host12.elf.is_file() and host12.map_file.is_file()


# ---- real handshakes ----------------------------------------------------------

def test_qemu_tls12_handshake(fw12, an386, pki):
    code, console = qemu_handshake(fw12, an386, pki, "-tls1_2")
    run = parse_result(console)
    assert code == 0, console
    assert run.ok and run.error_code == 0
    assert run.version == "TLS 1.2"
    assert run.ciphersuite == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    assert echo_kind(console) == "reversed"
    # P-256 ECDHE + ECDSA verify with window 2: ~100 M guest instructions
    assert 30_000_000 < run.instructions < 400_000_000
    # in/out record buffers (4096 + 2048 + overheads) are live at the peak
    assert 4096 + 2048 < run.heap_peak < 64 * 1024
    assert 0 < run.heap_overhead_peak < run.heap_peak
    assert 256 < run.stack_peak < 16 * 1024
    assert run.bytes_sent > 200 and run.bytes_received > 500
    states = {s.state: s.instructions for s in run.states}
    assert states["SERVER_KEY_EXCHANGE"] > 1_000_000  # ECDSA verify of the ServerKeyExchange
    assert abs(sum(states.values()) - run.instructions) < run.instructions * 0.001


def test_qemu_is_deterministic(fw12, an386, pki):
    runs = [parse_result(qemu_handshake(fw12, an386, pki, "-tls1_2")[1]) for _ in range(2)]
    a, b = runs
    assert a.ok and b.ok
    assert (a.heap_peak, a.stack_peak) == (b.heap_peak, b.stack_peak)
    # only the server's randomness varies (ECDSA signature 70-72 bytes)
    assert abs(a.instructions - b.instructions) <= 0.005 * a.instructions


def test_qemu_rejects_server_from_other_ca(fw12, an386, other_pki):
    code, console = qemu_handshake(fw12, an386, other_pki, "-tls1_2")
    run = parse_result(console)
    assert code == 1
    assert not run.ok
    assert run.error_stage == "handshake"
    assert run.error_code == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED


def test_host_negotiates_same_suite_as_qemu(host12, fw12, an386, pki):
    server = SServer(pki, "-tls1_2")
    try:
        code, console = run_host(host12, "127.0.0.1", server.port, RUN_TIMEOUT_S)
    finally:
        server.stop()
    host_run = parse_result(console)
    qemu_run = parse_result(qemu_handshake(fw12, an386, pki, "-tls1_2")[1])
    assert code == 0 and host_run.ok
    assert host_run.instructions is None
    assert (host_run.version, host_run.ciphersuite) == (qemu_run.version, qemu_run.ciphersuite)
    assert host_run.stack_peak > 0 and host_run.heap_peak > 4096 + 2048


def test_qemu_tls13_handshake(pki, cache, an386):
    fw = build_firmware(TLS13_CONFIG, render_harness_data(harness_input(pki)), an386, MBEDTLS, cache)
    code, console = qemu_handshake(fw, an386, pki, "-tls1_3", "-num_tickets", "0")
    run = parse_result(console)
    assert code == 0, console
    assert run.version == "TLS 1.3" and run.ciphersuite == "TLS_AES_128_GCM_SHA256"
    assert run.instructions > 10_000_000


def test_qemu_mutual_tls_with_alpn_and_mfl(pki, cache, an386, tmp_path):
    """Client certificate (DER key through mbedtls_pk_parse_key), ALPN and MFL all on the wire."""
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", *ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=device-1",
             cwd=client_dir)
    _openssl("x509", "-req", "-in", "client.csr", "-CA", str(pki["ca_der"].with_name("ca.pem")),
             "-CAkey", str(pki["ca_der"].with_name("ca.key")), "-CAcreateserial",
             "-out", "client.pem", "-days", "30", cwd=client_dir)
    _openssl("x509", "-in", "client.pem", "-outform", "DER", "-out", "client.der", cwd=client_dir)
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", "client.key", "-outform", "DER",
             "-out", "client.key.der", cwd=client_dir)
    inp = harness_input(pki, client_cert_der=((client_dir / "client.der").read_bytes(),),
                        client_key_der=(client_dir / "client.key.der").read_bytes(),
                        alpn=("x-tlsfit",), max_fragment_length=1024)
    fw = build_firmware(TLS12_CONFIG, render_harness_data(inp), an386, MBEDTLS, cache)
    server = SServer(pki, "-tls1_2", "-Verify", "1", "-CAfile",
                     str(pki["ca_der"].with_name("ca.pem")), "-alpn", "x-tlsfit", "-msg")
    try:
        code, console = run_qemu(fw, an386, server.port, RUN_TIMEOUT_S)
    finally:
        server.stop()
        log = server.proc.stdout.read().decode(errors="replace")
    run = parse_result(console)
    assert code == 0 and run.ok, console
    assert "Peer certificate: CN = device-1" in log, log
    assert "ALPN protocols advertised by the client: x-tlsfit" in log, log
    states = {s.state: s.instructions for s in run.states}
    assert states["CERTIFICATE_VERIFY"] > 1_000_000  # the client signs with its ECDSA key


def test_qemu_verify_none_accepts_other_ca(pki, other_pki, cache, an386):
    """verify=0 (profiles with verify: none) sets authmode NONE: a foreign CA passes."""
    fw = build_firmware(TLS12_CONFIG, render_harness_data(harness_input(pki, verify=False)),
                        an386, MBEDTLS, cache)
    run = parse_result(qemu_handshake(fw, an386, other_pki, "-tls1_2")[1])
    assert run.ok and run.error_code == 0


def test_qemu_psk_without_x509(cache, an386, pki):
    from test_build import PSK_CONFIG, PSK_INPUT  # pytest puts tests/ on sys.path
    fw = build_firmware(PSK_CONFIG, render_harness_data(PSK_INPUT), an386, MBEDTLS, cache)
    server = SServer(pki, "-tls1_2", "-nocert", "-psk", PSK_INPUT.psk_key.hex(),
                     "-psk_identity", PSK_INPUT.psk_identity.decode(), "-cipher", "PSK-AES128-CCM")
    try:
        code, console = run_qemu(fw, an386, server.port, RUN_TIMEOUT_S)
    finally:
        server.stop()
    run = parse_result(console)
    assert code == 0 and run.ok, console
    assert run.ciphersuite == "TLS_PSK_WITH_AES_128_CCM"
    assert 0 < run.instructions < 5_000_000  # no public-key operations at all


def test_qemu_timeout_kills_and_raises(fw12, an386):
    """A server that accepts and never answers: QEMU is killed at the timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        start = time.monotonic()
        with pytest.raises(MeasureError, match="QEMU timed out after 2 ?s"):
            run_qemu(fw12, an386, listener.getsockname()[1], 2.0)
        assert time.monotonic() - start < 10


def test_qemu_without_server_is_a_tool_error(fw12, an386):
    with pytest.raises(MeasureError, match="QEMU exited"):
        run_qemu(fw12, an386, free_port(), 20.0)

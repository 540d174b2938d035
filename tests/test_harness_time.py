"""Certificate dates (profiles with clock: rtc): the port's tlsfit_time_now() reaches mbedTLS.

The config a clock: rtc profile needs (the generator emits it):
MBEDTLS_HAVE_TIME, MBEDTLS_HAVE_TIME_DATE, MBEDTLS_PLATFORM_TIME_ALT,
MBEDTLS_PLATFORM_GMTIME_R_ALT and MBEDTLS_PLATFORM_MS_TIME_ALT
(ports/common/app_time.c). In QEMU the board's
time is the host's, through semihosting SYS_TIME.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from measure.boards import load_board
from measure.build import build_firmware
from measure.firmware_data import render_harness_data
from measure.harness_result import parse_result
from measure.host_run import run_host
from measure.qemu import run_qemu
from measure.server import free_port
from real_servers import _start
from test_ports import (MBEDTLS, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, PORTS, RUN_TIMEOUT_S,
                        TLS12_CONFIG, SServer, harness_input, make_pki)

pytestmark = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")

TIME_CONFIG = TLS12_CONFIG.replace("/* test: TLS 1.2", "/* test: clock rtc, TLS 1.2") + """
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_PLATFORM_TIME_ALT
#define MBEDTLS_PLATFORM_GMTIME_R_ALT
#define MBEDTLS_PLATFORM_MS_TIME_ALT
"""

CA_CONF = """[ca]
default_ca = test_ca
[test_ca]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _dated_leaf(pki, work: Path, start: str, end: str) -> dict[str, Path]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "ca.cnf").write_text(CA_CONF)
    (work / "index.txt").write_text("")
    (work / "serial").write_text("2000\n")
    (work / "ext.cnf").write_text("subjectAltName=DNS:localhost\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost", cwd=work)
    _openssl("ca", "-batch", "-config", "ca.cnf", "-cert", str(pki["ca_der"].with_name("ca.pem")),
             "-keyfile", str(pki["ca_der"].with_name("ca.key")), "-in", "leaf.csr", "-out", "leaf.pem",
             "-startdate", start, "-enddate", end, "-extfile", "ext.cnf", "-notext", cwd=work)
    return {"ca_der": pki["ca_der"], "cert": work / "leaf.pem", "key": work / "leaf.key"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), "tlsfit-time-ca")


@pytest.fixture(scope="module")
def expired_pki(pki, tmp_path_factory):
    """A leaf from the same CA, valid 2020-2021 only (openssl ca takes explicit dates)."""
    return _dated_leaf(pki, tmp_path_factory.mktemp("expired"), "20200101000000Z", "20210101000000Z")


def _qemu(fw, board, server_pki):
    server = SServer(server_pki, "-tls1_2")
    try:
        return run_qemu(fw, board, server.port, RUN_TIMEOUT_S)
    finally:
        server.stop()


def test_qemu_with_clock_accepts_a_valid_certificate(pki, cache, an386):
    fw = build_firmware(TIME_CONFIG, render_harness_data(harness_input(pki)), an386, MBEDTLS, cache)
    code, console = _qemu(fw, an386, pki)
    run = parse_result(console)
    assert code == 0 and run.ok, console


def test_qemu_with_clock_rejects_an_expired_certificate(pki, expired_pki, cache, an386):
    fw = build_firmware(TIME_CONFIG, render_harness_data(harness_input(pki)), an386, MBEDTLS, cache)
    code, console = _qemu(fw, an386, expired_pki)
    run = parse_result(console)
    assert code == 1 and not run.ok
    assert run.error_stage == "handshake" and run.error_code == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED


def test_qemu_without_clock_does_not_check_dates(pki, expired_pki, cache, an386):
    """The control: the same expired chain passes when the config has no time."""
    fw = build_firmware(TLS12_CONFIG, render_harness_data(harness_input(pki)), an386, MBEDTLS, cache)
    run = parse_result(_qemu(fw, an386, expired_pki)[1])
    assert run.ok


def test_host_with_clock_rejects_an_expired_certificate(pki, expired_pki, cache):
    host = load_board("host", PORTS)
    fw = build_firmware(TIME_CONFIG, render_harness_data(harness_input(pki)), host, MBEDTLS, cache)
    for server_pki, ok in ((pki, True), (expired_pki, False)):
        server = SServer(server_pki, "-tls1_2")
        try:
            code, console = run_host(fw, "127.0.0.1", server.port, RUN_TIMEOUT_S)
        finally:
            server.stop()
        run = parse_result(console)
        assert run.ok is ok, console
        if not ok:
            assert run.error_code == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED


# ---- end to end: a profile with clock: rtc, measured with --server ----------

def _rtc_profile(pki, directory: Path, clock: str) -> Path:
    path = directory / f"dates-{clock}.yaml"
    path.write_text(f"""name: dates-{clock}
server: {{host: localhost, port: 4433}}
tls:
  versions: ["1.2"]
  ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  groups: [secp256r1]
  signature_algorithms: [ecdsa_secp256r1_sha256]
trust:
  ca_files: [{pki["ca_der"].with_name("ca.pem")}]
clock: {clock}
""")
    return path


@pytest.mark.parametrize("dates", [("20200101000000Z", "20210101000000Z"),     # expired
                                   ("20990101000000Z", "21000101000000Z")],    # not yet valid
                         ids=["expired", "not-yet-valid"])
def test_measure_with_clock_rtc_refuses_a_certificate_out_of_its_dates(pki, tmp_path, dates):
    root = Path(__file__).resolve().parent.parent
    leaf = _dated_leaf(pki, tmp_path / "leaf", *dates)
    results = {}
    port = free_port()
    # no -naccept: measure's pre-flight reachability check is a connection too
    server = _start("openssl", ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-rev", "-tls1_2",
                                "-cert", str(leaf["cert"]), "-key", str(leaf["key"])],
                    port, tmp_path, tmp_path / "server.log")
    try:
        for clock in ("rtc", "none"):
            results[clock] = subprocess.run(
                [str(root / "tlsfit"), "measure", str(_rtc_profile(pki, tmp_path, clock)),
                 "--server", f"127.0.0.1:{port}", "--app", "echo", "-o", str(tmp_path / clock)],
                capture_output=True, text=True, timeout=300)
    finally:
        server.stop()
    rtc, none = results["rtc"], results["none"]
    assert rtc.returncode == 1, rtc.stderr
    assert "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED" in rtc.stderr
    # the control: without a clock the same certificate passes, with the warning
    assert none.returncode == 0, none.stderr
    assert "certificate validity dates (notBefore/notAfter) are NOT checked" in none.stderr

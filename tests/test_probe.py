"""tlsfit probe against real servers on 127.0.0.1 (openssl s_server, gnutls-serv), cross-checked with sslscan.

Every server is started by the test on a free port and killed with its
process group afterwards; nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from generator.knowledge import knowledge_for
from generator.model import ChainShape
from measure.pki import make_test_pki
from probe import ProbeError
from measure.server import parse_openssl_stdnames as parse_stdnames
from probe.scan import Target, openssl_cipher_names, parse_openssl_output, scan

ROOT = Path(__file__).resolve().parent.parent
HOST = "probe.test"
START_TIMEOUT_S = 15
CLI_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def server(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server in its own process group, wait until it listens, always kill the group."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        for _ in range(START_TIMEOUT_S * 10):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode(errors='replace') if proc.stderr else ''}")
            if _listening(port):
                break
            threading.Event().wait(0.1)
        else:
            raise RuntimeError(f"server did not listen on {port}: {argv}")
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "tlsfit"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S)


@pytest.fixture(scope="module")
def kb():
    return knowledge_for("3.6.6")


@pytest.fixture(scope="module")
def ec_pki(tmp_path_factory):
    return make_test_pki(ChainShape(root="secp384r1", intermediates=("secp384r1",), leaf="secp256r1"),
                         HOST, None, tmp_path_factory.mktemp("ec-pki"))


@pytest.fixture(scope="module")
def rsa_pki(tmp_path_factory):
    return make_test_pki(ChainShape(root="rsa2048", intermediates=(), leaf="rsa2048"),
                         HOST, None, tmp_path_factory.mktemp("rsa-pki"))


def openssl_server(pki, port: int, *extra: str) -> list[str]:
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.server_cert_file),
            "-key", str(pki.server_key_file), "-rev", "-quiet"]
    if pki.server_chain_file is not None:
        argv += ["-cert_chain", str(pki.server_chain_file)]
    return argv + list(extra)


RESTRICTED_TLS12 = ("-tls1_2", "-serverpref",
                    "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
                    "-groups", "secp384r1:x25519")


# ---------------------------------------------------------------- finding what the server accepts

def test_openssl_tls12_restricted_scan_and_profile(tmp_path, kb, ec_pki):
    port = free_port()
    with server(openssl_server(ec_pki, port, *RESTRICTED_TLS12), port):
        found = scan(Target("127.0.0.1", port, HOST), kb, openssl_cipher_names())
        out = tmp_path / "prof" / "server.yaml"
        out.parent.mkdir()
        done = run_cli("probe", f"127.0.0.1:{port}", "--sni", HOST, "--ca", str(ec_pki.root_file), "-o", str(out))
    assert found.versions == ("1.2",)
    assert found.suites["1.2"] == ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                                   "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
    assert found.server_order["1.2"] is True
    assert set(found.groups["1.2"]) == {"secp384r1", "x25519"}
    assert "ecdsa_secp256r1_sha256" in found.sigalgs["1.2"]
    assert not any(found.sigalgs["1.2"][i].startswith("rsa") for i in range(len(found.sigalgs["1.2"])))
    assert len(found.certificates) == 2  # leaf + one intermediate

    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(out.read_text())
    assert data["name"] == "server"          # the -o file's stem (issue 18 item 8), not the SNI
    assert data["server"] == {"host": HOST, "port": port}
    assert data["tls"]["versions"] == ["1.2"]
    assert data["tls"]["ciphersuites"] == ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
    # the chain already links P-384: that group adds no curve code; x25519 is named as the trade-off
    assert data["tls"]["groups"] == ["secp384r1"]
    assert "x25519 also accepted" in out.read_text()
    assert data["trust"]["chain"] == {"root": "secp384r1", "intermediates": ["secp384r1"], "leaf": "secp256r1"}
    root_copy = out.parent / data["trust"]["ca_files"][0]
    assert root_copy.read_bytes().strip() == ec_pki.root_pem.strip()
    # every other accepted choice is named in the comments
    assert "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" in out.read_text()
    assert not list(out.parent.glob(".*tmp*")) and not list(out.parent.glob(".*check*"))

    gen = run_cli("gen", str(out), "-o", str(tmp_path / "gen"))
    assert gen.returncode == 0, gen.stderr
    assert (tmp_path / "gen" / "mbedtls_config.h").is_file()


def test_openssl_mfl_is_found(kb, ec_pki):
    port = free_port()
    with server(openssl_server(ec_pki, port, *RESTRICTED_TLS12), port):
        found = scan(Target("127.0.0.1", port, HOST), kb, openssl_cipher_names())
    assert found.mfl == (512, 1024, 2048, 4096)  # OpenSSL 3.0 servers honour RFC 6066
    assert found.tickets is True                 # s_server issues tickets unless -no_ticket
    assert found.max_handshake_message > 512     # the two-certificate chain


@pytest.mark.skipif(shutil.which("gnutls-serv") is None, reason="gnutls-bin not installed")
def test_gnutls_tls13_one_suite(kb, ec_pki, tmp_path):
    port = free_port()
    chain = tmp_path / "chain.pem"
    chain.write_bytes(ec_pki.server_chain_pem)
    argv = ["gnutls-serv", "--port", str(port), "--echo", "--x509certfile", str(chain),
            "--x509keyfile", str(ec_pki.server_key_file),
            "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM"]
    with server(argv, port):
        found = scan(Target("127.0.0.1", port, HOST), kb, openssl_cipher_names())
    assert found.versions == ("1.3",)
    assert found.suites == {"1.3": ("TLS_AES_128_GCM_SHA256",)}
    assert "x25519" in found.groups["1.3"] and "secp256r1" in found.groups["1.3"]
    assert "ecdsa_secp256r1_sha256" in found.sigalgs["1.3"]
    assert "ecdsa_secp384r1_sha384" not in found.sigalgs["1.3"]  # TLS 1.3 binds ECDSA to the leaf's curve
    assert found.record_size_limit is True  # gnutls speaks RFC 8449
    assert found.mfl == ()


@pytest.mark.skipif(shutil.which("sslscan") is None, reason="sslscan not installed")
def test_suites_agree_with_sslscan(kb, rsa_pki):
    port = free_port()
    with server(openssl_server(rsa_pki, port, "-tls1_2", "-cipher", "AESGCM:CHACHA20:AES128-SHA256:@SECLEVEL=0"), port):
        found = scan(Target("127.0.0.1", port, HOST), kb, openssl_cipher_names())
        done = subprocess.run(["sslscan", "--no-colour", "--no-fallback", "--no-renegotiation", "--no-heartbleed",
                               f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=120)
    names = openssl_cipher_names()
    to_iana = {v: k for k, v in names.items()}
    theirs = set()
    for line in done.stdout.splitlines():
        fields = line.split()
        if fields[:1] in (["Accepted"], ["Preferred"]) and fields[1] == "TLSv1.2":
            theirs.add(to_iana.get(fields[4], fields[4]))
    theirs &= set(kb.suites)
    assert theirs, done.stdout
    assert set(found.suites["1.2"]) == theirs


# ---------------------------------------------------------------- errors

def test_connection_refused_exit_3(tmp_path):
    port = free_port()  # nothing listens there
    done = run_cli("probe", f"127.0.0.1:{port}", "-o", str(tmp_path / "p.yaml"))
    assert done.returncode == 3
    assert done.stderr.startswith("tlsfit: error: ")
    assert f"127.0.0.1:{port}" in done.stderr and "connection refused" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "p.yaml").exists()


@contextmanager
def garbage_server() -> Iterator[int]:
    """A plain TCP server that answers anything with an HTTP error (not TLS)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nnot tls here\r\n")
                except OSError:
                    pass
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


def test_not_tls_exit_3(tmp_path):
    with garbage_server() as port:
        done = run_cli("probe", f"127.0.0.1:{port}", "-o", str(tmp_path / "p.yaml"))
    assert done.returncode == 3, done.stderr
    assert "does not speak TLS" in done.stderr
    assert not (tmp_path / "p.yaml").exists()


def test_nothing_mbedtls_can_do_exit_3(tmp_path, kb):
    assert "TLS_ECDH_anon_WITH_AES_128_CBC_SHA" not in kb.suites  # the premise
    port = free_port()
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-nocert", "-tls1_2",
            "-cipher", "AECDH-AES128-SHA:@SECLEVEL=0", "-rev", "-quiet"]
    with server(argv, port):
        done = run_cli("probe", f"127.0.0.1:{port}", "-o", str(tmp_path / "p.yaml"))
    assert done.returncode == 3, done.stderr
    assert "mbedTLS 3.6" in done.stderr and "TLS_ECDH_anon_WITH_AES_128_CBC_SHA (TLS 1.2)" in done.stderr
    assert not (tmp_path / "p.yaml").exists()


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "host name:443", ":443"])
def test_bad_address_exit_2(address, tmp_path):
    done = run_cli("probe", address, "-o", str(tmp_path / "p.yaml"))
    assert done.returncode == 2
    assert done.stderr.startswith("tlsfit: error: ")
    assert "HOST:PORT" in done.stderr or "out of range" in done.stderr
    assert "Traceback" not in done.stderr


def test_name_from_output_stem_or_name_option_always_a_string(tmp_path, ec_pki):
    """-o 2024.yaml names the profile "2024" (a string, quoted in the YAML); --name overrides the stem."""
    port = free_port()
    with server(openssl_server(ec_pki, port, *RESTRICTED_TLS12), port):
        numeric = run_cli("probe", f"::ffff:127.0.0.1:{port}", "--sni", HOST, "--ca", str(ec_pki.root_file),
                          "-o", str(tmp_path / "2024.yaml"))
        named = run_cli("probe", f"127.0.0.1:{port}", "--sni", HOST, "--ca", str(ec_pki.root_file),
                        "-o", str(tmp_path / "other.yaml"), "--name", "broker-eu")
    assert numeric.returncode == 0, numeric.stderr
    assert yaml.safe_load((tmp_path / "2024.yaml").read_text())["name"] == "2024"
    assert named.returncode == 0, named.stderr
    assert yaml.safe_load((tmp_path / "other.yaml").read_text())["name"] == "broker-eu"
    gen = run_cli("gen", str(tmp_path / "2024.yaml"), "-o", str(tmp_path / "gen"), "--no-validate")
    assert gen.returncode == 0, gen.stderr


def test_inputs_refused_before_the_scan(tmp_path):
    """Nothing listens on port 1: a scan would exit 3; every bad input exits 2 first."""
    for args, says in ((("-o", "/proc/p.yaml"), "/proc"),                 # an unwritable folder
                       (("--ca", "/dev/zero"), "not a regular file"),     # a device through the bounded reader
                       (("--name", "bad name"), "--name"),
                       (("-o", str(tmp_path / "p.yaml"), "--name", "-x"), "--name")):
        done = run_cli("probe", "127.0.0.1:1", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert says in done.stderr and "Traceback" not in done.stderr
    fifo = tmp_path / "ca.fifo"
    os.mkfifo(fifo)
    done = run_cli("probe", "127.0.0.1:1", "--ca", str(fifo), "-o", str(tmp_path / "p.yaml"))
    assert done.returncode == 2 and "not a regular file" in done.stderr
    assert not (tmp_path / "p.yaml").exists() and not (tmp_path / "certs").exists()


def test_bad_inputs_exit_2(tmp_path):
    missing_dir = run_cli("probe", "127.0.0.1:443", "-o", str(tmp_path / "nope" / "p.yaml"))
    assert missing_dir.returncode == 2 and "does not exist" in missing_dir.stderr
    unreadable = run_cli("probe", "127.0.0.1:443", "--ca", str(tmp_path / "missing.pem"))
    assert unreadable.returncode == 2 and "--ca" in unreadable.stderr


def test_root_not_found_asks_for_ca(tmp_path, ec_pki):
    port = free_port()
    with server(openssl_server(ec_pki, port, *RESTRICTED_TLS12), port):
        done = run_cli("probe", f"127.0.0.1:{port}", "--sni", HOST, "-o", str(tmp_path / "p.yaml"))
    assert done.returncode == 3, done.stderr
    assert "--ca" in done.stderr and "tlsfit test intermediate CA 0" in done.stderr
    assert not (tmp_path / "p.yaml").exists() and not (tmp_path / "certs").exists()


# ---------------------------------------------------------------- parsers (pure)

def test_parse_output_records_and_alert():
    text = ("CONNECTED(00000003)\n>>> TLS 1.0, RecordHeader [length 0005]\n    16 03 01 00 aa\n"
            ">>> TLS 1.2, Handshake [length 00aa], ClientHello\n"
            "<<< TLS 1.2, RecordHeader [length 0005]\n    16 03 03 04 3a\n"
            "<<< TLS 1.2, Handshake [length 0436], Certificate\n"
            "<<< TLS 1.2, Alert [length 0002], fatal handshake_failure\n"
            "New, (NONE), Cipher is (NONE)\n")
    run = parse_openssl_output(text)
    assert not run.ok and not run.client_failed and run.got_reply and not run.not_tls
    assert run.server_alert == "handshake_failure"
    assert run.max_record == 0x43a and run.max_handshake_message == 0x436


def test_parse_stdnames():
    listing = ("TLS_AES_128_GCM_SHA256 - TLS_AES_128_GCM_SHA256 TLSv1.3 Kx=any\n"
               "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 - ECDHE-ECDSA-AES128-GCM-SHA256 TLSv1.2 Kx=ECDH\n")
    assert parse_stdnames(listing)["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"] == "ECDHE-ECDSA-AES128-GCM-SHA256"


def test_unreachable_library_error_names_address(kb):
    port = free_port()
    with pytest.raises(ProbeError, match=f"127.0.0.1:{port}.*connection refused"):
        scan(Target("127.0.0.1", port, None), kb, {})

"""measure/server.py: real openssl s_server / gnutls-serv, restricted to a profile,
probed with a real openssl s_client (through the WireProxy where it matters)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import make_profile
from helpers import expected_reply, run_openssl_client
from generator.model import ChainShape, ClientCertificate, Profile, Psk
from measure.model import MeasureError
from measure.pki import TestPki, make_test_pki
from measure.proxy import WireProxy
from measure.server import (
    ServerUnsupported, gnutls_priority, gnutls_suite_parts, openssl_args, openssl_suite_names,
    ServerFiles, start_reference_server,
)

HOST = "iot.example.com"
PSK_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")


def profile(**changes: object) -> Profile:
    return make_profile(HOST, 8883, **changes)


TLS13 = dict(versions=("1.3",), ciphersuites=("TLS_AES_128_GCM_SHA256",), groups=("x25519",))
PSK12 = dict(ciphersuites=("TLS_PSK_WITH_AES_128_CCM_8",), groups=(), signature_algorithms=(),
             psk=Psk("device-1", PSK_KEY), chain=None)
MTLS = dict(client_certificate=ClientCertificate("secp256r1"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(ChainShape("secp256r1", ("secp384r1",), "secp256r1"), HOST, "secp256r1",
                         tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A second, unrelated CA: for negative tests."""
    return make_test_pki(ChainShape("secp256r1", (), "secp256r1"), HOST, "secp256r1",
                         tmp_path_factory.mktemp("other-pki"))


def verify_args(pki: TestPki, host: str = HOST) -> list[str]:
    return ["-CAfile", str(pki.root_file), "-servername", host, "-verify_return_error",
            "-verify_hostname", host]


def client(port: int, *args: str):
    return run_openssl_client(port, list(args), timeout=10.0)


# ---------------------------------------------------------------- openssl


def test_openssl_tls12_ecdhe_ecdsa_works_through_proxy(pki: TestPki, tmp_path: Path) -> None:
    with start_reference_server(profile(), pki, "openssl", tmp_path) as server:
        assert server.info.impl == "openssl s_server"
        assert server.info.version.startswith("OpenSSL 3.")
        assert server.info.address == f"127.0.0.1:{server.port}"
        with WireProxy("127.0.0.1", server.port) as proxy:
            result = client(proxy.port, *verify_args(pki), "-tls1_2")
            assert proxy.wait(5)
        assert result.ok, result.log
        assert result.reply == expected_reply(server, b"tlsfit ping\n") == b"gnip tifslt\n"
        summary = proxy.summary()
        assert (summary.version, summary.group, summary.alert) == ("TLS 1.2", "secp256r1", None)


@pytest.mark.parametrize("bad_args, why", [
    (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"), "suite outside the profile"),
    (("-tls1_2", "-groups", "secp384r1"), "group outside the profile"),
    (("-tls1_2", "-sigalgs", "ecdsa_secp384r1_sha384"), "signature algorithm outside"),
    (("-tls1_3",), "version outside the profile"),
])
def test_openssl_refuses_what_profile_excludes(pki: TestPki, tmp_path: Path,
                                               bad_args: tuple[str, ...], why: str) -> None:
    with start_reference_server(profile(), pki, "openssl", tmp_path) as server:
        good = client(server.port, *verify_args(pki), "-tls1_2")
        assert good.ok, good.log
        bad = client(server.port, "-CAfile", str(pki.root_file), "-servername", HOST, *bad_args)
        assert not bad.ok, why
        assert "alert" in bad.log or "error" in bad.log


def test_openssl_wrong_sni_is_fatal(pki: TestPki, other_pki: TestPki, tmp_path: Path) -> None:
    flat = other_pki  # no intermediates: s_server can check SNI
    with start_reference_server(profile(), flat, "openssl", tmp_path) as server:
        assert server.warnings == ()
        assert client(server.port, *verify_args(flat)).ok
        bad = client(server.port, "-CAfile", str(flat.root_file),
                     "-servername", "wrong.example.com")
        assert not bad.ok
        assert "unrecognized name" in bad.log
    with start_reference_server(profile(), pki, "openssl", tmp_path) as server:
        assert any("SNI" in w for w in server.warnings)


def test_openssl_tls13_profile(pki: TestPki, tmp_path: Path) -> None:
    with start_reference_server(profile(**TLS13), pki, "openssl", tmp_path) as server:
        assert client(server.port, *verify_args(pki)).ok
        assert not client(server.port, *verify_args(pki), "-tls1_2").ok
        assert not client(server.port, *verify_args(pki),
                          "-ciphersuites", "TLS_AES_256_GCM_SHA384").ok
        assert not client(server.port, *verify_args(pki), "-groups", "secp256r1").ok


def test_openssl_both_versions(pki: TestPki, tmp_path: Path) -> None:
    both = profile(versions=("1.2", "1.3"),
                   ciphersuites=("TLS_AES_128_GCM_SHA256",
                                 "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"))
    with start_reference_server(both, pki, "openssl", tmp_path) as server:
        for version in ("-tls1_2", "-tls1_3"):
            with WireProxy("127.0.0.1", server.port) as proxy:
                assert client(proxy.port, *verify_args(pki), version).ok
                proxy.wait(5)
            assert proxy.summary().version == ("TLS 1.2" if version == "-tls1_2" else "TLS 1.3")


def test_openssl_psk_only(tmp_path: Path) -> None:
    with start_reference_server(profile(**PSK12), None, "openssl", tmp_path) as server:
        assert "-nocert" in server.args
        ok = client(server.port, "-tls1_2", "-psk", PSK_KEY.hex(), "-psk_identity", "device-1",
                    "-cipher", "PSK-AES128-CCM8")
        assert ok.ok, ok.log
        wrong_key = client(server.port, "-tls1_2", "-psk", "ff" * 16, "-psk_identity", "device-1",
                           "-cipher", "PSK-AES128-CCM8")
        assert not wrong_key.ok
        # s_server accepts a wrong identity (a known limit, so it must be warned
        # about; if this starts failing, openssl enforces it and the warning goes)
        wrong_id = client(server.port, "-tls1_2", "-psk", PSK_KEY.hex(), "-psk_identity", "nope",
                          "-cipher", "PSK-AES128-CCM8")
        assert wrong_id.ok
        assert any("PSK identity" in w for w in server.warnings)


@pytest.mark.parametrize("impl", ["openssl", "gnutls"])
def test_tls13_psk(impl: str) -> None:
    with_dhe = profile(versions=("1.3",), ciphersuites=("TLS_AES_128_GCM_SHA256",),
                       groups=("x25519",), signature_algorithms=(),
                       psk=Psk("device-1", PSK_KEY), chain=None)
    with start_reference_server(with_dhe, None, impl) as server:
        workdir = server.log_file.parent
        with WireProxy("127.0.0.1", server.port) as proxy:
            ok = client(proxy.port, "-tls1_3", "-psk", PSK_KEY.hex(), "-psk_identity", "device-1")
            proxy.wait(5)
        assert ok.ok, ok.log + server.log_text()
        assert (proxy.summary().version, proxy.summary().group) == ("TLS 1.3", "x25519")
        assert not client(server.port, "-tls1_3", "-psk", "ee" * 16,
                          "-psk_identity", "device-1").ok
    assert not workdir.exists()  # temporary work dir removed on stop


def test_openssl_mutual_tls(pki: TestPki, other_pki: TestPki, tmp_path: Path) -> None:
    with start_reference_server(profile(**MTLS), pki, "openssl", tmp_path) as server:
        good = client(server.port, *verify_args(pki), "-cert", str(pki.client_cert_file),
                      "-key", str(pki.client_key_file))
        assert good.ok, good.log
        assert not client(server.port, *verify_args(pki)).ok  # no client cert
        foreign = client(server.port, *verify_args(pki), "-cert", str(other_pki.client_cert_file),
                         "-key", str(other_pki.client_key_file))
        assert not foreign.ok


def test_client_trusting_another_ca_fails(pki: TestPki, other_pki: TestPki, tmp_path: Path) -> None:
    with start_reference_server(profile(), pki, "openssl", tmp_path) as server:
        assert not client(server.port, *verify_args(other_pki)).ok
        assert client(server.port, *verify_args(pki)).ok


def test_server_is_killed_on_exit_and_naccept(pki: TestPki, tmp_path: Path) -> None:
    with start_reference_server(profile(), pki, "openssl", tmp_path) as server:
        pid = server.process.pid
        assert server.alive()
    assert server.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with start_reference_server(profile(), pki, "openssl", tmp_path, naccept=1) as once:
        assert client(once.port, *verify_args(pki)).ok
        deadline = time.monotonic() + 5
        while once.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not once.alive()


def test_start_failure_reports_server_log(pki: TestPki, tmp_path: Path) -> None:
    bad = profile(signature_algorithms=("no_such_sigalg",))
    with pytest.raises(MeasureError, match="SSL_CONF_cmd"):
        start_reference_server(bad, pki, "openssl", tmp_path)


def test_missing_pki_and_unknown_impl(tmp_path: Path) -> None:
    with pytest.raises(MeasureError, match="needs a server certificate"):
        start_reference_server(profile(), None, "openssl", tmp_path)
    with pytest.raises(ServerUnsupported, match="unknown server implementation"):
        start_reference_server(profile(), None, "wolfssl", tmp_path)


def test_openssl_args_restrict_everything(pki: TestPki) -> None:
    prof = profile(versions=("1.2", "1.3"), alpn=("mqtt", "x-amzn-mqtt-ca"),
                   ciphersuites=("TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
                   groups=("x25519", "secp256r1"),
                   signature_algorithms=("ecdsa_secp256r1_sha256", "ecdsa_sha1"),
                   client_certificate=ClientCertificate("secp256r1"))
    files = ServerFiles(pki.server_cert_file, pki.server_chain_file, pki.server_key_file,
                        pki.root_file, None, None)
    args = openssl_args(prof, files, 4433, openssl_suite_names(), None)
    joined = " ".join(args)
    assert "-min_protocol TLSv1.2 -max_protocol TLSv1.3" in joined
    assert "-cipher ECDHE-ECDSA-AES128-CCM:@SECLEVEL=0" in joined
    assert "-ciphersuites TLS_AES_128_GCM_SHA256" in joined
    assert "-groups x25519:secp256r1" in joined
    assert "-sigalgs ecdsa_secp256r1_sha256:ECDSA+SHA1" in joined
    assert "-alpn mqtt,x-amzn-mqtt-ca" in joined
    assert "-no_ticket -num_tickets 0" in joined
    assert "-Verify" in args and "-cert_chain" in args
    with pytest.raises(ServerUnsupported, match="lists no TLS 1.3 ciphersuite"):
        openssl_args(profile(versions=("1.2", "1.3"), ciphersuites=("TLS_ECDHE_ECDSA_WITH_AES_128_CCM",)),
                     files, 4433, openssl_suite_names(), None)


def test_openssl_suite_names_come_from_openssl() -> None:
    names = openssl_suite_names()
    assert names["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"] == "ECDHE-RSA-AES128-GCM-SHA256"
    assert names["TLS_PSK_WITH_AES_128_CCM_8"] == "PSK-AES128-CCM8"
    assert len(names) > 100


def test_openssl_dhe_pins_profile_ffdhe_group(tmp_path: Path) -> None:
    rsa = make_test_pki(ChainShape("rsa2048", (), "rsa2048"), HOST, None, tmp_path / "pki")
    prof = profile(ciphersuites=("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",), groups=("ffdhe3072",),
                   signature_algorithms=("rsa_pss_rsae_sha256",))
    with start_reference_server(prof, rsa, "openssl", tmp_path) as server:
        with WireProxy("127.0.0.1", server.port) as proxy:
            result = client(proxy.port, *verify_args(rsa))
            proxy.wait(5)
    assert result.ok, result.log
    assert proxy.summary().group == "ffdhe3072"


# ---------------------------------------------------------------- gnutls


def test_gnutls_tls12_works_and_restricts(pki: TestPki, tmp_path: Path) -> None:
    with start_reference_server(profile(), pki, "gnutls", tmp_path) as server:
        assert server.info.impl == "gnutls-serv"
        assert server.info.version.startswith("gnutls-serv 3.")
        with WireProxy("127.0.0.1", server.port) as proxy:
            good = client(proxy.port, *verify_args(pki))
            proxy.wait(5)
        assert good.ok, good.log + server.log_text()
        assert good.reply == expected_reply(server, b"tlsfit ping\n") == b"tlsfit ping\n"
        assert (proxy.summary().version, proxy.summary().group) == ("TLS 1.2", "secp256r1")
        assert not client(server.port, *verify_args(pki),
                          "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384").ok
        assert not client(server.port, *verify_args(pki), "-groups", "x25519").ok
        assert not client(server.port, *verify_args(pki), "-tls1_3").ok
        assert not client(server.port, *verify_args(pki, "wrong.example.com")).ok


def test_gnutls_tls13(pki: TestPki, tmp_path: Path) -> None:
    with start_reference_server(profile(**TLS13), pki, "gnutls", tmp_path) as server:
        assert client(server.port, *verify_args(pki)).ok
        assert not client(server.port, *verify_args(pki),
                          "-ciphersuites", "TLS_AES_256_GCM_SHA384").ok


def test_gnutls_psk_and_mtls(pki: TestPki, other_pki: TestPki, tmp_path: Path) -> None:
    with start_reference_server(profile(**PSK12), None, "gnutls", tmp_path) as server:
        assert client(server.port, "-tls1_2", "-psk", PSK_KEY.hex(),
                      "-psk_identity", "device-1", "-cipher", "PSK-AES128-CCM8").ok
        assert not client(server.port, "-tls1_2", "-psk", "ff" * 16,
                          "-psk_identity", "device-1", "-cipher", "PSK-AES128-CCM8").ok
        assert not client(server.port, "-tls1_2", "-psk", PSK_KEY.hex(),
                          "-psk_identity", "nope", "-cipher", "PSK-AES128-CCM8").ok
    with start_reference_server(profile(**MTLS), pki, "gnutls", tmp_path) as server:
        good = client(server.port, *verify_args(pki), "-cert", str(pki.client_cert_file),
                      "-key", str(pki.client_key_file))
        assert good.ok, good.log
        assert not client(server.port, *verify_args(pki)).ok
        assert not client(server.port, *verify_args(pki), "-cert", str(other_pki.client_cert_file),
                          "-key", str(other_pki.client_key_file)).ok


def test_gnutls_suite_grammar() -> None:
    cases = {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": ("ECDHE-ECDSA", "AES-128-GCM", "AEAD"),
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": ("ECDHE-RSA", "AES-256-CBC", "SHA384"),
        "TLS_RSA_WITH_AES_128_CBC_SHA": ("RSA", "AES-128-CBC", "SHA1"),
        "TLS_PSK_WITH_AES_128_CCM_8": ("PSK", "AES-128-CCM-8", "AEAD"),
        "TLS_ECDHE_ECDSA_WITH_AES_128_CCM": ("ECDHE-ECDSA", "AES-128-CCM", "AEAD"),
        "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256": ("ECDHE-PSK", "CHACHA20-POLY1305", "AEAD"),
        "TLS_AES_256_GCM_SHA384": (None, "AES-256-GCM", "AEAD"),
    }
    for name, want in cases.items():
        parts = gnutls_suite_parts(name)
        assert (parts.kx, parts.cipher, parts.mac) == want, name
    for unsupported in ("TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256",
                        "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"):
        with pytest.raises(ServerUnsupported):
            gnutls_suite_parts(unsupported)


def test_gnutls_priority_reports_cross_terms_and_refuses_brainpool() -> None:
    exact, warnings = gnutls_priority(profile())
    assert exact == ("NONE:+VERS-TLS1.2:+ECDHE-ECDSA:+AES-128-GCM:+AEAD:+SIGN-ECDSA-SHA256:"
                     "+SIGN-ECDSA-SECP256R1-SHA256:+GROUP-SECP256R1:+COMP-NULL")
    assert warnings == ()
    _, crossed = gnutls_priority(profile(ciphersuites=(
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")))
    assert crossed == ("gnutls priority also allows TLS 1.2 ECDHE-ECDSA AES-256-GCM AEAD",
                       "gnutls priority also allows TLS 1.2 ECDHE-RSA AES-128-GCM AEAD")
    with pytest.raises(ServerUnsupported, match="brainpoolP256r1"):
        gnutls_priority(profile(groups=("brainpoolP256r1",)))

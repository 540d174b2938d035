"""Mutual TLS on the first try: probe sees the CertificateRequest, sizes for the client's Certificate
message, and the profile plus the device's identity handshakes with the real server.

The server is openssl s_server asking for a client certificate (-Verify 1) from its own CA; the
device certificate is made here with openssl, as an engineer's PKI would make it.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import yaml

from test_probe import free_port, server
from test_probe_chain_limits import HOST, _chain, _openssl

ROOT = Path(__file__).resolve().parent.parent


def tlsfit(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "tlsfit"), *map(str, argv)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def _device(d: Path, root_key: Path, root: Path) -> tuple[Path, Path]:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "device.key",
             "-out", "device.csr", "-subj", "/CN=device-1", cwd=d)
    _openssl("x509", "-req", "-in", "device.csr", "-CA", str(root), "-CAkey", str(root_key), "-CAcreateserial",
             "-out", "device.pem", "-days", "30", cwd=d)
    return d / "device.pem", d / "device.key"


def test_probe_notes_the_client_certificate_and_the_profile_handshakes_with_the_identity(tmp_path: Path) -> None:
    root, chain, leaf, key = _chain(tmp_path, intermediates=1, san_names=0)
    port = free_port()
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-tls1_2", "-cert", str(leaf), "-key", str(key),
            "-cert_chain", str(chain), "-Verify", "1", "-CAfile", str(root), "-rev", "-quiet"]
    out = tmp_path / "p" / "broker.yaml"
    out.parent.mkdir()
    with server(argv, port):
        probed = tlsfit("probe", f"127.0.0.1:{port}", "--sni", HOST, "--ca", root, "-o", out)
        assert probed.returncode == 0, probed.stdout + probed.stderr
        text = out.read_text()
        tls = yaml.safe_load(text)["tls"]
        assert tls["client_certificate"] == {"key": "secp256r1"}
        assert "CN = limit root" in text                         # the CAs the server accepts, named
        assert tls["max_fragment_length"] >= 1024 and tls["buffers"]["out"] >= 1024   # ~669-byte Certificate
        assert "ecdsa_secp256r1_sha256" in tls["signature_algorithms"]
        # against the real server the device's identity is required: bad input, before any build
        no_identity = tlsfit("measure", out, "--server", f"127.0.0.1:{port}", "--target", "host", "-o",
                             tmp_path / "refused")
        assert no_identity.returncode == 2 and "needs the device's own certificate and private key" \
            in no_identity.stderr, no_identity.stdout + no_identity.stderr
        # the engineer adds only the identity; the private key stays out of the repository (an environment
        # variable names it), the certificate (public) sits beside the profile
        cert, device_key = _device(out.parent, tmp_path / "ca0.key", root)
        hidden = tmp_path / "secrets" / "device.key"
        hidden.parent.mkdir()
        device_key.rename(hidden)
        out.write_text(text.replace("client_certificate: {key: secp256r1}",
                                    f"client_certificate: {{key: secp256r1, cert: {cert.name}, "
                                    "key_file: \"${TLSFIT_TEST_DEVICE_KEY}\"}"))
        unset = tlsfit("measure", out, "--server", f"127.0.0.1:{port}", "--target", "host", "-o", tmp_path / "u")
        assert unset.returncode == 2 and "${TLSFIT_TEST_DEVICE_KEY}, which is not set" in unset.stderr, unset.stderr
        done = subprocess.run([str(ROOT / "tlsfit"), "measure", str(out), "--server", f"127.0.0.1:{port}",
                               "--target", "host", "--app", "echo", "-o", str(tmp_path / "m")], cwd=ROOT,
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "TLSFIT_TEST_DEVICE_KEY": str(hidden)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "handshake         ok" in done.stdout
    # CI without the key: the reference server's test identity, same profile file
    reference = tlsfit("measure", out, "--target", "host", "-o", tmp_path / "ref")
    assert reference.returncode == 0, reference.stdout + reference.stderr


def _profile(tmp_path: Path, tls_extra: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nserver: {host: broker.example.com}\ntls:\n  versions: ['1.2']\n"
                    "  ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  groups: [secp256r1]\n"
                    "  signature_algorithms: [ecdsa_secp256r1_sha256]\n"
                    "  client_certificate: {key: secp256r1}\n" + tls_extra +
                    "trust:\n  chain: {root: secp256r1, intermediates: [], leaf: secp256r1}\n")
    return path


def test_fragment_length_too_small_for_the_client_certificate_is_refused(tmp_path: Path) -> None:
    path = _profile(tmp_path, "  max_fragment_length: 512\n")
    done = tlsfit("gen", path, "-o", tmp_path / "out")
    assert done.returncode == 2 and f"{path}:9: error: max_fragment_length 512 cannot carry the client Certificate " \
        "message" in done.stderr and "use 1024 or more" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_out_buffer_too_small_for_the_client_certificate_is_refused(tmp_path: Path) -> None:
    path = _profile(tmp_path, "  buffers: {in: 16384, out: 512}\n")
    done = tlsfit("gen", path, "-o", tmp_path / "out")
    assert done.returncode == 2 and f"{path}:9: error: tls.buffers.out 512 cannot carry the client Certificate " \
        "message" in done.stderr and "make it at least 1024" in done.stderr, done.stderr


def test_a_missing_client_certificate_is_named_as_the_cause_within_seconds(tmp_path: Path) -> None:
    root, chain, leaf, key = _chain(tmp_path, intermediates=0, san_names=0)
    port = free_port()
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-tls1_2", "-cert", str(leaf), "-key", str(key),
            "-Verify", "1", "-CAfile", str(root), "-rev", "-quiet"]
    profile = tmp_path / "no-identity.yaml"
    profile.write_text(f"""name: no-identity
server: {{host: {HOST}, port: {port}}}
tls:
  versions: ["1.2"]
  ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  groups: [secp256r1]
  signature_algorithms: [ecdsa_secp256r1_sha256]
trust:
  ca_files: [{root}]
""")
    with server(argv, port):
        started = time.monotonic()
        done = tlsfit("measure", profile, "--server", f"127.0.0.1:{port}", "--app", "none", "-o", tmp_path / "m")
        seconds = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cause: the server asks for a client certificate (mutual TLS) and this profile gives none" \
        in done.stdout + done.stderr
    report = json.loads((tmp_path / "m" / "report.json").read_text())
    assert "client certificate" in report["handshake"]["error"]["message"]
    print(f"missing client certificate: exit 1 after {seconds:.1f} s (build included)")

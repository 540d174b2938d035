"""measure/pki.py: a real openssl-made PKI, checked with openssl itself."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.model import ChainShape
from measure.model import MeasureError
from measure.pki import make_test_pki, signature_hash

HOST = "device.example.net"
SHAPE = ChainShape(root="secp384r1", intermediates=("rsa2048",), leaf="secp256r1")


def openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, timeout=30,
                          check=False)


def cert_text(path: Path) -> str:
    done = openssl("x509", "-in", str(path), "-noout", "-text")
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    return make_test_pki(SHAPE, HOST, "secp256r1", tmp_path_factory.mktemp("pki"))


def test_chain_verifies_for_host(pki) -> None:
    done = openssl("verify", "-CAfile", str(pki.root_file),
                   "-untrusted", str(pki.server_chain_file),
                   "-verify_hostname", HOST, "-purpose", "sslserver", str(pki.server_cert_file))
    assert done.returncode == 0, done.stderr + done.stdout


def test_chain_does_not_verify_for_other_host(pki) -> None:
    done = openssl("verify", "-CAfile", str(pki.root_file),
                   "-untrusted", str(pki.server_chain_file),
                   "-verify_hostname", "other.example.net", str(pki.server_cert_file))
    assert done.returncode != 0


def test_leaf_names_and_extensions(pki) -> None:
    text = cert_text(pki.server_cert_file)
    assert f"DNS:{HOST}" in text
    assert f"CN = {HOST}" in text
    assert "CA:FALSE" in text
    assert "TLS Web Server Authentication" in text
    # issued by the RSA-2048 intermediate: sha256
    assert "sha256WithRSAEncryption" in text
    assert "prime256v1" in text or "P-256" in text


def test_ca_levels_and_hash_matched_to_signer(pki, tmp_path: Path) -> None:
    root = cert_text(pki.root_file)
    assert "CA:TRUE" in root and "Certificate Sign" in root
    assert "ecdsa-with-SHA384" in root  # self-signed by P-384
    intermediate = cert_text(pki.directory / "int0.pem")
    assert "CA:TRUE" in intermediate and "Certificate Sign" in intermediate
    assert "ecdsa-with-SHA384" in intermediate  # signed by the P-384 root


def test_server_chain_pem_is_leaf_then_intermediate(pki) -> None:
    pems = pki.server_chain_pem.split(b"-----END CERTIFICATE-----")
    assert len([p for p in pems if b"BEGIN CERTIFICATE" in p]) == 2
    assert pki.server_chain_pem.startswith(pki.server_cert_file.read_bytes())


def test_root_der_matches_pem(pki) -> None:
    done = openssl("x509", "-inform", "DER", "-outform", "PEM", stdin=pki.root_der)
    assert done.returncode == 0
    assert done.stdout == pki.root_pem
    assert pki.root_der[0] == 0x30


def test_client_cert_and_pkcs8_der_key(pki, tmp_path: Path) -> None:
    client = tmp_path / "client.pem"
    client.write_bytes(pki.client_cert_pem)
    done = openssl("verify", "-CAfile", str(pki.root_file), "-purpose", "sslclient", str(client))
    assert done.returncode == 0, done.stdout + done.stderr
    parsed = openssl("asn1parse", "-inform", "DER", stdin=pki.client_key_der)
    assert b"id-ecPublicKey" in parsed.stdout and b"prime256v1" in parsed.stdout  # PKCS#8
    # key and cert belong together
    pub_from_key = openssl("pkey", "-inform", "DER", "-pubout", stdin=pki.client_key_der).stdout
    pub_from_cert = openssl("x509", "-pubkey", "-noout", "-in", str(client)).stdout
    assert pub_from_key == pub_from_cert
    assert pki.client_ca_pem == pki.root_pem


def test_cache_reuses_same_shape(pki) -> None:
    mtime = pki.root_file.stat().st_mtime_ns
    again = make_test_pki(SHAPE, HOST, "secp256r1", pki.directory)
    assert again == pki
    assert pki.root_file.stat().st_mtime_ns == mtime


def test_cache_rebuilds_on_other_host_and_other_dir_gives_other_ca(tmp_path: Path) -> None:
    shape = ChainShape("secp256r1", (), "secp256r1")
    first = make_test_pki(shape, "a.example", None, tmp_path / "a")
    renamed = make_test_pki(shape, "b.example", None, tmp_path / "a")
    assert renamed.root_der != first.root_der
    assert "DNS:b.example" in cert_text(renamed.server_cert_file)
    other = make_test_pki(shape, "b.example", None, tmp_path / "b")
    assert other.root_der != renamed.root_der
    assert renamed.client_cert_der is None and renamed.server_chain_file is None
    # the leaf of one PKI does not verify under the other's root
    done = openssl("verify", "-CAfile", str(other.root_file), str(renamed.server_cert_file))
    assert done.returncode != 0


def test_incomplete_cache_is_rebuilt(tmp_path: Path) -> None:
    shape = ChainShape("secp256r1", (), "secp256r1")
    first = make_test_pki(shape, "a.example", None, tmp_path)
    first.server_key_file.unlink()
    again = make_test_pki(shape, "a.example", None, tmp_path)
    assert again.server_key_file.is_file()
    assert again.root_der != first.root_der


def test_rsa_leaf_key_usage_allows_key_exchange(tmp_path: Path) -> None:
    pki = make_test_pki(ChainShape("rsa2048", (), "rsa2048"), "r.example", None, tmp_path)
    text = cert_text(pki.server_cert_file)
    assert "Digital Signature, Key Encipherment" in text
    assert "sha256WithRSAEncryption" in text


def test_signature_hash_table_and_unknown_key() -> None:
    assert [signature_hash(k) for k in ("secp256r1", "secp384r1", "secp521r1", "rsa2048")] == \
        ["sha256", "sha384", "sha512", "sha256"]
    with pytest.raises(MeasureError, match="unknown key type"):
        signature_hash("dsa1024")


def test_unknown_key_type_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(MeasureError, match="unknown key type 'ed25519x'"):
        make_test_pki(ChainShape("ed25519x", (), "secp256r1"), "x.example", None, tmp_path)

"""Test PKI for the reference server: root -> intermediates -> leaf, plus a client cert.

Made with the openssl CLI and cached in a directory keyed by a manifest hash,
so one profile keeps the same certificates (and the firmware that embeds the
root DER stays byte-identical) from run to run.
"""
from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import secrets
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from core.errors import BadInput
from generator.model import ChainShape
from generator.profile import host_problem
from core.write import write_error, write_if_changed
from measure.model import MeasureError

OPENSSL_TIMEOUT_S = 60  # RSA-4096 key generation can take several seconds
VALIDITY_DAYS = 3650    # the cache outlives many runs; certs must not expire under it
MANIFEST_NAME = "manifest.json"
PKI_FORMAT = 2          # bump when the generated files change meaning
MAX_COMMON_NAME = 64    # X.509 ub-common-name (RFC 5280): openssl refuses a longer CN
LONG_HOST_CN = "tlsfit test server"  # the leaf's CN when the host does not fit; the SAN carries the host

# openssl genpkey arguments per key type.
KEY_GEN_ARGS: dict[str, tuple[str, ...]] = {
    "rsa2048": ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
    "rsa3072": ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"),
    "rsa4096": ("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"),
    "secp256r1": ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-pkeyopt", "ec_param_enc:named_curve"),
    "secp384r1": ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384",
                  "-pkeyopt", "ec_param_enc:named_curve"),
    "secp521r1": ("-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521",
                  "-pkeyopt", "ec_param_enc:named_curve"),
}

# Hash a key signs certificates with. EC: the curve's security level.
# RSA: sha256 for every size, as public CAs do (ISRG Root X1 is RSA-4096/sha256),
# so a bigger RSA root does not silently pull SHA-512 into the client.
SIGNATURE_HASH: dict[str, str] = {
    "rsa2048": "sha256",
    "rsa3072": "sha256",
    "rsa4096": "sha256",
    "secp256r1": "sha256",
    "secp384r1": "sha384",
    "secp521r1": "sha512",
}

# keyUsage a leaf needs per key family: RSA also for static-RSA key exchange,
# EC also for static ECDH suites.
LEAF_KEY_USAGE: dict[str, str] = {
    "rsa": "critical,digitalSignature,keyEncipherment",
    "ec": "critical,digitalSignature,keyAgreement",
}


def key_family(key_type: str) -> str:
    return "rsa" if key_type.startswith("rsa") else "ec"


def signature_hash(signer_key_type: str) -> str:
    """Hash used in certificates signed by a key of this type."""
    try:
        return SIGNATURE_HASH[signer_key_type]
    except KeyError:
        raise MeasureError(f"unknown key type {signer_key_type!r}; "
                           f"known: {', '.join(sorted(SIGNATURE_HASH))}") from None


@dataclass(frozen=True)
class TestPki:
    """Files and bytes of one test PKI. Paths are inside `directory`."""
    directory: Path
    host: str
    root_pem: bytes
    root_der: bytes
    root_file: Path                 # PEM; CAfile for clients and for client-cert checks
    server_cert_file: Path          # leaf only (PEM)
    server_chain_file: Path | None  # intermediates, leaf's issuer first (PEM); None if none
    server_chain_pem: bytes         # leaf then intermediates, leaf's issuer first
    server_key_file: Path
    server_key_pem: bytes
    client_cert_file: Path | None
    client_cert_pem: bytes | None
    client_cert_der: bytes | None
    client_key_file: Path | None
    client_key_pem: bytes | None
    client_key_der: bytes | None    # PKCS#8 DER, read by mbedtls_pk_parse_key
    client_ca_pem: bytes | None     # CA that issued the client cert (the root)

    __test__ = False  # "Test" prefix: keep pytest from collecting this class


def _openssl(args: list[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    cmd = ["openssl", *args]
    try:
        done = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True,
                              timeout=OPENSSL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MeasureError(f"openssl timed out: {' '.join(cmd)}") from exc
    if done.returncode != 0:
        raise MeasureError(f"openssl failed ({done.returncode}): {' '.join(cmd)}\n"
                           f"{done.stderr.decode(errors='replace')}")
    return done.stdout


def _gen_key(key_type: str, path: Path) -> None:
    if key_type not in KEY_GEN_ARGS:
        raise MeasureError(f"unknown key type {key_type!r}; "
                           f"known: {', '.join(sorted(KEY_GEN_ARGS))}")
    _openssl(["genpkey", *KEY_GEN_ARGS[key_type], "-out", str(path)], path.parent)


def _ext_config(common_name: str, extensions: dict[str, str]) -> str:
    # Only names tlsfit checked reach this text (host_problem: letters, digits, '-', '.', ':').
    for text in (common_name, *extensions.values()):
        if any(c in text for c in "\n\r\0$\\\"'#[]"):
            raise MeasureError(f"refusing openssl config text {text[:60]!r}: a tlsfit bug")
    lines = ["[req]", "distinguished_name = dn", "prompt = no", "[dn]",
             f"CN = {common_name}", "O = tlsfit test PKI", "[ext]"]
    lines += [f"{name} = {value}" for name, value in extensions.items()]
    return "\n".join(lines) + "\n"


def _make_cert(*, name: str, common_name: str, key_type: str, extensions: dict[str, str],
               issuer: tuple[Path, Path, str] | None, out_dir: Path) -> tuple[Path, Path]:
    """Key + certificate `name`.key/.pem; issuer = (cert, key, key type), None = self-signed."""
    key = out_dir / f"{name}.key"
    cert = out_dir / f"{name}.pem"
    cfg = out_dir / f"{name}.cnf"
    _gen_key(key_type, key)
    cfg.write_text(_ext_config(common_name, extensions))
    serial = str(secrets.randbits(63) | 1)
    if issuer is None:
        _openssl(["req", "-x509", "-new", "-key", str(key), "-config", str(cfg),
                  "-extensions", "ext", "-days", str(VALIDITY_DAYS),
                  f"-{signature_hash(key_type)}", "-set_serial", serial, "-out", str(cert)],
                 out_dir)
    else:
        issuer_cert, issuer_key, issuer_type = issuer
        csr = out_dir / f"{name}.csr"
        _openssl(["req", "-new", "-key", str(key), "-config", str(cfg), "-out", str(csr)],
                 out_dir)
        _openssl(["x509", "-req", "-in", str(csr), "-CA", str(issuer_cert),
                  "-CAkey", str(issuer_key), "-set_serial", serial,
                  "-days", str(VALIDITY_DAYS), f"-{signature_hash(issuer_type)}",
                  "-extfile", str(cfg), "-extensions", "ext", "-out", str(cert)], out_dir)
        csr.unlink()
    return cert, key


CA_EXTENSIONS = {
    "basicConstraints": "critical,CA:TRUE",
    "keyUsage": "critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier": "hash",
}


def _manifest_key(chain: ChainShape, host: str, client_key: str | None, tag: str) -> str:
    data = {"format": PKI_FORMAT, "root": chain.root, "intermediates": list(chain.intermediates),
            "leaf": chain.leaf, "host": host, "client_key": client_key, "tag": tag}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _file_names(n_intermediates: int, with_client: bool) -> list[str]:
    names = ["root.pem", "root.key", "leaf.pem", "leaf.key"]
    names += [f"int{i}.pem" for i in range(n_intermediates)]
    if n_intermediates:
        names.append("chain.pem")
    if with_client:
        names += ["client.pem", "client.key", "client.key.der"]
    return names


def subject_alt_name(host: str) -> str:
    """The leaf's SAN: IP:addr for an IP literal, DNS:name otherwise."""
    try:
        return f"IP:{ipaddress.ip_address(host)}"
    except ValueError:
        return f"DNS:{host}"


def leaf_common_name(host: str) -> str:
    """The host itself when it fits a CN (as every committed test PKI has it), else a short fixed name.

    The client checks the name against the SAN (mbedTLS ignores the CN when a SAN is present)."""
    return host if len(host) <= MAX_COMMON_NAME else LONG_HOST_CN


@contextmanager
def _locked_dir(directory: Path) -> Iterator[None]:
    """One writer per PKI folder: an flock on the folder itself (no lock file left in a committed folder)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def make_test_pki(chain: ChainShape, host: str, client_key: str | None, out_dir: Path,
                  tag: str = "") -> TestPki:
    """Create (or reuse from `out_dir`) a PKI of this shape for `host`.

    `tag` makes an otherwise identical PKI distinct (e.g. "wrong-ca" for
    negative tests); a different `out_dir` always gives a different CA.
    Concurrent callers for one `out_dir` are serialised by a lock: one generates, the others reuse.
    """
    problem = host_problem(host)
    if problem is not None:
        raise BadInput(f"test PKI host {host[:60]!r} is not valid: {problem}")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(out_dir, exc, "create the test PKI folder") from None
    with _locked_dir(out_dir):
        return _make_or_reuse(chain, host, client_key, out_dir, tag)


def _make_or_reuse(chain: ChainShape, host: str, client_key: str | None, out_dir: Path, tag: str) -> TestPki:
    key = _manifest_key(chain, host, client_key, tag)
    manifest = out_dir / MANIFEST_NAME
    names = _file_names(len(chain.intermediates), client_key is not None)
    try:
        cached = (manifest.is_file() and json.loads(manifest.read_text()).get("key") == key
                  and all((out_dir / n).is_file() for n in names))
    except (ValueError, AttributeError):  # a damaged manifest: make the PKI again
        cached = False
    if not cached:
        manifest.unlink(missing_ok=True)  # a half-written PKI never looks complete
        _generate(chain, host, client_key, out_dir)
        write_if_changed(manifest, json.dumps({"key": key, "host": host, "client_key": client_key,
                                        "chain": {"root": chain.root,
                                                  "intermediates": list(chain.intermediates),
                                                  "leaf": chain.leaf},
                                        "tag": tag}, indent=1) + "\n")
    return _load(out_dir, host, len(chain.intermediates), client_key is not None)


def _generate(chain: ChainShape, host: str, client_key: str | None, out_dir: Path) -> None:
    root = _make_cert(name="root", common_name="tlsfit test root CA", key_type=chain.root,
                      extensions=CA_EXTENSIONS, issuer=None, out_dir=out_dir)
    issuer = (root[0], root[1], chain.root)
    for i, int_type in enumerate(chain.intermediates):
        cert, k = _make_cert(name=f"int{i}", common_name=f"tlsfit test intermediate CA {i}",
                             key_type=int_type, extensions=CA_EXTENSIONS, issuer=issuer,
                             out_dir=out_dir)
        issuer = (cert, k, int_type)
    _make_cert(name="leaf", common_name=leaf_common_name(host), key_type=chain.leaf, issuer=issuer, out_dir=out_dir,
               extensions={"basicConstraints": "critical,CA:FALSE",
                           "keyUsage": LEAF_KEY_USAGE[key_family(chain.leaf)],
                           "extendedKeyUsage": "serverAuth",
                           "subjectAltName": subject_alt_name(host)})
    if chain.intermediates:
        # Leaf's issuer first: the order a server sends them in.
        pems = [(out_dir / f"int{i}.pem").read_bytes()
                for i in reversed(range(len(chain.intermediates)))]
        (out_dir / "chain.pem").write_bytes(b"".join(pems))
    if client_key is not None:
        _make_cert(name="client", common_name="tlsfit test client", key_type=client_key,
                   issuer=(root[0], root[1], chain.root), out_dir=out_dir,
                   extensions={"basicConstraints": "critical,CA:FALSE",
                               "keyUsage": "critical,digitalSignature",
                               "extendedKeyUsage": "clientAuth"})
        der = _openssl(["pkcs8", "-topk8", "-nocrypt", "-in", "client.key", "-outform", "DER"],
                      out_dir)
        (out_dir / "client.key.der").write_bytes(der)


def _pem_to_der(pem_file: Path) -> bytes:
    return _openssl(["x509", "-in", str(pem_file), "-outform", "DER"], pem_file.parent)


def _load(out_dir: Path, host: str, n_intermediates: int, with_client: bool) -> TestPki:
    root_file = out_dir / "root.pem"
    leaf_file = out_dir / "leaf.pem"
    chain_file = out_dir / "chain.pem" if n_intermediates else None
    chain_pem = leaf_file.read_bytes() + (chain_file.read_bytes() if chain_file else b"")
    client_cert = out_dir / "client.pem" if with_client else None
    client_key = out_dir / "client.key" if with_client else None
    return TestPki(
        directory=out_dir, host=host,
        root_pem=root_file.read_bytes(), root_der=_pem_to_der(root_file), root_file=root_file,
        server_cert_file=leaf_file, server_chain_file=chain_file, server_chain_pem=chain_pem,
        server_key_file=out_dir / "leaf.key", server_key_pem=(out_dir / "leaf.key").read_bytes(),
        client_cert_file=client_cert,
        client_cert_pem=client_cert.read_bytes() if client_cert else None,
        client_cert_der=_pem_to_der(client_cert) if client_cert else None,
        client_key_file=client_key,
        client_key_pem=client_key.read_bytes() if client_key else None,
        client_key_der=(out_dir / "client.key.der").read_bytes() if with_client else None,
        client_ca_pem=root_file.read_bytes() if with_client else None,
    )

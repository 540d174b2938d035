"""The served certificate chain: what each certificate is, and the root that anchors it.

Certificates are read with `openssl x509 -text` (no PyPI X.509 library on the
target machines). The root is looked up by the last served certificate's
issuer name and authority key identifier, first in the user's --ca file, then
in a trust store folder (Debian's /usr/share/ca-certificates/mozilla/).
"""
from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.x509 import key_type_from_text
from generator.knowledge import Knowledge
from probe import ProbeError
from probe.scan import run_client

SYSTEM_TRUST_STORE = Path("/usr/share/ca-certificates/mozilla")
OPENSSL_TIMEOUT_S = 10
PARALLEL_READS = 2

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.S)
# OpenSSL signature algorithm name -> (key kind, hash), hash as in KB sigalg names.
_CERT_SIGNATURES = {
    "ecdsa-with-SHA1": ("ec", "sha1"), "ecdsa-with-SHA256": ("ec", "sha256"),
    "ecdsa-with-SHA384": ("ec", "sha384"), "ecdsa-with-SHA512": ("ec", "sha512"),
    "sha1WithRSAEncryption": ("rsa", "sha1"), "sha256WithRSAEncryption": ("rsa", "sha256"),
    "sha384WithRSAEncryption": ("rsa", "sha384"), "sha512WithRSAEncryption": ("rsa", "sha512"),
    "rsassaPss": ("rsa-pss", "sha256"),
}


@dataclass(frozen=True)
class CertInfo:
    pem: str
    subject: str                 # RFC 2253
    issuer: str                  # RFC 2253
    common_name: str
    key_algorithm: str           # OpenSSL name: rsaEncryption, id-ecPublicKey, ED25519, ...
    key_bits: int
    key_type: str | None         # KB key type (rsa2048, secp256r1, ...) or None if mbedTLS/tlsfit has none
    signature: str               # OpenSSL signature algorithm name
    signature_hash: str | None   # sha256, ... (None: unknown)
    subject_key_id: str | None   # hex, upper case, colon separated
    authority_key_id: str | None

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer and (self.authority_key_id in (None, self.subject_key_id))

    @property
    def key_label(self) -> str:
        return self.key_type or f"{self.key_algorithm} {self.key_bits} bit"


@dataclass(frozen=True)
class ChainInfo:
    leaf: CertInfo
    intermediates: tuple[CertInfo, ...]   # served, leaf's issuer first (a served root is not one)
    root: CertInfo
    root_source: str                      # "--ca FILE" | "trust store FILE"
    served_root: bool                     # the server also sent the root itself


def split_pems(text: str) -> list[str]:
    return [m.group(0).strip() + "\n" for m in _PEM.finditer(text)]


def parse_certificate(pem: str, kb: Knowledge) -> CertInfo:
    """Read one PEM certificate with openssl; ProbeError if openssl cannot."""
    try:
        done = run_client(["openssl", "x509", "-noout", "-subject", "-issuer", "-nameopt", "RFC2253", "-text"],
                          OPENSSL_TIMEOUT_S, input=pem, text=True)
    except subprocess.TimeoutExpired as exc:
        raise ProbeError("openssl x509 timed out reading a certificate") from exc
    if done.returncode != 0:
        raise ProbeError(f"openssl cannot read a served certificate: {done.stderr.strip()}")
    return parse_x509_text(pem, done.stdout, kb)


def parse_x509_text(pem: str, text: str, kb: Knowledge) -> CertInfo:
    """CertInfo from `openssl x509 -noout -subject -issuer -nameopt RFC2253 -text` output (pure)."""
    def first(pattern: str) -> str | None:
        m = re.search(pattern, text, re.M)
        return m.group(1).strip() if m else None

    subject = first(r"^subject=(.*)$") or ""
    issuer = first(r"^issuer=(.*)$") or ""
    cn = re.search(r"(?:^|,)CN=((?:[^,\\]|\\.)*)", subject)
    key_alg = first(r"Public Key Algorithm: (\S+)") or "unknown"
    bits = int(first(r"Public-Key: \((\d+) bit\)") or 0)
    named = key_type_from_text(text)
    key_type = named if named in kb.key_types else None
    signature = first(r"^\s+Signature Algorithm: (\S+)") or "unknown"
    sig_hash = _CERT_SIGNATURES.get(signature, (None, None))[1]
    if signature == "rsassaPss":
        h = first(r"Hash Algorithm: (sha\d+)")
        sig_hash = h or sig_hash
    ski = first(r"X509v3 Subject Key Identifier:\s*\n\s*([0-9A-F:]+)")
    aki = first(r"X509v3 Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)")
    return CertInfo(pem=pem, subject=subject, issuer=issuer, common_name=cn.group(1) if cn else subject,
                    key_algorithm=key_alg, key_bits=bits, key_type=key_type, signature=signature,
                    signature_hash=sig_hash, subject_key_id=ski, authority_key_id=aki)


def issued_by(cert: CertInfo, ca: CertInfo) -> bool:
    """Name (and, when both are present, key identifier) match: `ca` may have issued `cert`."""
    if cert.issuer != ca.subject:
        return False
    return cert.authority_key_id is None or ca.subject_key_id is None or cert.authority_key_id == ca.subject_key_id


def _read_file_certs(path: Path, kb: Knowledge) -> list[CertInfo]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for pem in split_pems(text):
        try:
            out.append(parse_certificate(pem, kb))
        except ProbeError:
            continue
    return out


def find_root(last: CertInfo, kb: Knowledge, ca_file: Path | None,
              trust_store: Path | None = SYSTEM_TRUST_STORE) -> tuple[CertInfo, str] | None:
    """The CA certificate that issued `last`: from ca_file first, then the trust store folder."""
    if ca_file is not None:
        for cert in _read_file_certs(ca_file, kb):
            if issued_by(last, cert) or (last.self_signed and cert.subject == last.subject
                                         and cert.subject_key_id == last.subject_key_id):
                return cert, f"--ca {ca_file}"
    if trust_store is None or not trust_store.is_dir():
        return None
    files = sorted(p for p in trust_store.iterdir() if p.suffix in (".crt", ".pem"))
    with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
        for path, certs in zip(files, pool.map(lambda p: _read_file_certs(p, kb), files)):
            for cert in certs:
                if issued_by(last, cert) or (last.self_signed and cert.subject == last.subject
                                             and cert.subject_key_id == last.subject_key_id):
                    return cert, f"trust store {path}"
    return None


def analyse_chain(pems: tuple[str, ...], kb: Knowledge, ca_file: Path | None,
                  trust_store: Path | None = SYSTEM_TRUST_STORE) -> ChainInfo:
    """Parse the served chain (leaf first) and find its root; ProbeError if none is found."""
    if not pems:
        raise ProbeError("the server sent no certificate (PSK-only servers cannot be probed without the key)")
    certs = [parse_certificate(p, kb) for p in pems]
    served_root = len(certs) > 1 and certs[-1].self_signed
    chain = certs[:-1] if served_root else certs
    found = find_root(chain[-1], kb, ca_file, trust_store)
    if found is None:
        where = f"--ca {ca_file} nor in " if ca_file else ""
        raise ProbeError(f"root CA of the served chain not found in {where}the trust store {trust_store} "
                         f"(the last served certificate '{chain[-1].common_name}' was issued by "
                         f"'{chain[-1].issuer}'); pass the root certificate with --ca FILE")
    root, source = found
    return ChainInfo(leaf=chain[0], intermediates=tuple(chain[1:]), root=root, root_source=source,
                     served_root=served_root)


def certificate_sigalg(cert: CertInfo, signer: CertInfo, kb: Knowledge) -> str | None:
    """KB signature scheme that verifies `cert`'s signature made by `signer`'s key (None: none fits)."""
    kind, _ = _CERT_SIGNATURES.get(cert.signature, (None, None))
    h = cert.signature_hash
    if kind is None or h is None:
        return None
    if kind == "rsa":
        name = f"rsa_pkcs1_{h}"
    elif kind == "rsa-pss":
        name = f"rsa_pss_rsae_{h}"
    else:
        signer_curve = signer.key_type if signer.key_type and signer.key_type.startswith("secp") else None
        exact = f"ecdsa_{signer_curve}_{h}" if signer_curve else None
        if exact in kb.signature_algorithms:
            return exact
        candidates = [a.name for a in kb.signature_algorithms.values()
                      if a.key == "ec" and kb.hashes[a.hash].label.replace("-", "").lower() == h]
        name = candidates[0] if candidates else ""
    return name if name in kb.signature_algorithms else None

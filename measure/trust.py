"""What the harness trusts and presents: test PKI for the reference server, the profile's files otherwise."""
from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

from core.errors import BadInput
from generator.knowledge import Knowledge
from generator.model import Profile, ResolvedConfig
from measure.model import HarnessInput, MeasureError
from measure.pki import TestPki


def pem_certificates_to_der(path: Path) -> tuple[bytes, ...]:
    """Every certificate in a PEM file (or the one in a DER file), as DER."""
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return (data,)
    text = data.decode("ascii", errors="replace")
    blocks = text.split("-----END CERTIFICATE-----")[:-1]
    return tuple(ssl.PEM_cert_to_DER_cert(b[b.index("-----BEGIN CERTIFICATE-----"):] + "-----END CERTIFICATE-----\n")
                 for b in blocks)


def private_key_to_der(path: Path) -> bytes:
    """A PEM or DER private key as PKCS#8 DER, which mbedtls_pk_parse_key reads without the PEM parser."""
    proc = subprocess.run(["openssl", "pkey", "-in", str(path), "-outform", "DER"],
                          capture_output=True, timeout=30)
    if proc.returncode != 0:
        raise MeasureError(f"{path}: cannot read private key: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _common(profile: Profile, resolved: ResolvedConfig, kb: Knowledge) -> dict:
    """What every run sets the same way; the groups are exactly what the resolver chose to offer."""
    psk = profile.psk
    return dict(
        server_name=profile.host,
        verify=profile.verify != "none",
        psk_identity=psk.identity.encode() if psk else None,
        psk_key=psk.key if psk else None,
        alpn=profile.alpn,
        max_fragment_length=profile.max_fragment_length,
        group_ids=tuple(kb.groups[g].id for g in resolved.offered_groups),
    )


def harness_input_for_reference(profile: Profile, resolved: ResolvedConfig, kb: Knowledge,
                                pki: TestPki | None) -> HarnessInput:
    """The firmware trusts the test PKI's root, shaped like the real server's chain."""
    client = pki is not None and pki.client_cert_der is not None
    return HarnessInput(
        ca_der=(pki.root_der,) if pki is not None else (),
        client_cert_der=(pki.client_cert_der,) if client else (),
        client_key_der=pki.client_key_der if client else None,
        **_common(profile, resolved, kb))


def harness_input_for_external(profile: Profile, resolved: ResolvedConfig, kb: Knowledge) -> HarnessInput:
    """The firmware trusts the profile's own CA files (a real or user-run server)."""
    ca_der = tuple(der for path in profile.ca_files for der in pem_certificates_to_der(path))
    cc = profile.client_certificate
    if cc is not None and (cc.cert_file is None or cc.key_file is None):
        raise BadInput(f"{profile.path}: error: tls.client_certificate has no 'cert:' and 'key_file:': a real "
                       "server (--server) needs the device's own certificate and private key; add both (the "
                       "reference server, without --server, uses a test identity of the key type)")
    return HarnessInput(
        ca_der=ca_der,
        client_cert_der=pem_certificates_to_der(cc.cert_file) if cc else (),
        client_key_der=private_key_to_der(cc.key_file) if cc else None,
        **_common(profile, resolved, kb))

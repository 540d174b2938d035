"""The one reader of a certificate's key type from `openssl x509 -text` output.

"rsa2048", "secp256r1", ...: the names the knowledge base's key_types use (OpenSSL's curve
names mapped to the TLS group names); None for a key tlsfit has no name for.
"""
from __future__ import annotations

import re

# OpenSSL's ASN1 OID names of the curves -> TLS group / key-type names
CURVE_NAMES = {"prime256v1": "secp256r1", "secp256r1": "secp256r1", "secp384r1": "secp384r1",
               "secp521r1": "secp521r1"}


def key_type_from_text(text: str) -> str | None:
    """rsa<bits> for an RSA key, the curve's name for an EC key on a known curve, else None."""
    bits = re.search(r"Public-Key: \((\d+) bit\)", text)
    if "rsaEncryption" in text and bits:
        return f"rsa{bits.group(1)}"
    curve = re.search(r"ASN1 OID: (\S+)", text)
    return CURVE_NAMES.get(curve.group(1)) if curve else None

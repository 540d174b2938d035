"""mbedTLS error code -> name, read from the mbedTLS headers the firmware was built with.

mbedTLS combines a high-level code (SSL, X509, PK, ...: bits 0xFF80) with a
low-level one (bignum, AES, ...: bits 0x007F) by addition; this module splits
them the way library/error.c's mbedtls_strerror() does. PSA status codes
(-128..-255), which TLS 1.3 paths sometimes pass through, are matched exactly
first since they would otherwise be split into meaningless halves.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HIGH_MASK = 0xFF80
_LOW_MASK = 0x007F

_DOC_COMMENT = r"(?:/\*\*(?P<doc>(?:(?!\*/).)*?)\*/\s*)?"
_MBEDTLS_DEFINE = re.compile(_DOC_COMMENT + r"#define\s+(?P<name>MBEDTLS_ERR_\w+)\s+-0x(?P<hex>[0-9A-Fa-f]+)\b", re.S)
_PSA_DEFINE = re.compile(_DOC_COMMENT + r"#define\s+(?P<name>PSA_ERROR_\w+)\s+\(\(psa_status_t\)\s*-(?P<dec>\d+)\)", re.S)


@dataclass(frozen=True)
class ErrorDef:
    name: str                      # e.g. "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED"
    code: int                      # negative
    description: str               # first sentence of the header's doc comment, "" if none


@dataclass(frozen=True)
class ErrorTable:
    mbedtls: dict[int, ErrorDef]
    psa: dict[int, ErrorDef]


def _description(doc: str | None) -> str:
    if not doc:
        return ""
    # First paragraph only: some codes carry a page of advice after it.
    paragraph: list[str] = []
    for line in doc.splitlines():
        words = line.strip().lstrip("*").strip()
        if not words and paragraph:
            break
        paragraph.append(words)
    return " ".join(" ".join(paragraph).split())


def load_error_table(mbedtls_dir: Path) -> ErrorTable:
    """All MBEDTLS_ERR_* and PSA_ERROR_* codes defined in mbedtls_dir/include."""
    include = mbedtls_dir / "include"
    headers = sorted((include / "mbedtls").glob("*.h")) + sorted((include / "psa").glob("*.h"))
    if not headers:
        raise FileNotFoundError(f"{include}: no mbedTLS headers found")
    mbedtls: dict[int, ErrorDef] = {}
    psa: dict[int, ErrorDef] = {}
    for header in headers:
        text = header.read_text(encoding="utf-8", errors="replace")
        for match in _MBEDTLS_DEFINE.finditer(text):
            code = -int(match["hex"], 16)
            mbedtls.setdefault(code, ErrorDef(match["name"], code, _description(match["doc"])))
        for match in _PSA_DEFINE.finditer(text):
            code = -int(match["dec"])
            psa.setdefault(code, ErrorDef(match["name"], code, _description(match["doc"])))
    return ErrorTable(mbedtls=mbedtls, psa=psa)


def split_code(code: int) -> tuple[int, int]:
    """(high, low) parts of a combined mbedTLS error code, each negative or 0."""
    magnitude = -code if code < 0 else code
    return -(magnitude & _HIGH_MASK), -(magnitude & _LOW_MASK)


def describe(code: int, table: ErrorTable) -> list[ErrorDef]:
    """The definitions a code is made of: one for an exact match, up to two for a combination."""
    if code == 0:
        return []
    if code in table.mbedtls:
        return [table.mbedtls[code]]
    if code in table.psa:
        return [table.psa[code]]
    parts = [part for part in split_code(code) if part]
    return [table.mbedtls.get(part) or ErrorDef(f"UNKNOWN({hex_code(part)})", part, "") for part in parts]


def hex_code(code: int) -> str:
    """mbedTLS's own spelling: -0x2700."""
    return f"-0x{-code:04X}" if code < 0 else f"0x{code:04X}"


# ---- certificate verification flags (mbedtls_ssl_get_verify_result) ----------------------

_VERIFY_FLAG_DEFINE = re.compile(
    r"#define\s+(?P<name>MBEDTLS_X509_BAD(?:CERT|CRL)_\w+)\s+0x(?P<hex>[0-9A-Fa-f]+)\b"
    r"[ \t]*(?:/\*\*<(?P<doc>(?:(?!\*/).)*)\*/)?")
VERIFY_FLAGS_HEADER = Path("include") / "mbedtls" / "x509.h"


@dataclass(frozen=True)
class VerifyFlag:
    name: str                      # e.g. "MBEDTLS_X509_BADCERT_NOT_TRUSTED"
    value: int                     # its bit, e.g. 0x08
    description: str               # the header's comment, e.g. "The certificate is not correctly
                                   # signed by the trusted CA.", "" if none

    @property
    def short(self) -> str:
        """E.g. "BADCERT_NOT_TRUSTED"."""
        return self.name.removeprefix("MBEDTLS_X509_")


def load_verify_flags(mbedtls_dir: Path) -> tuple[VerifyFlag, ...]:
    """The MBEDTLS_X509_BADCERT_* / BADCRL_* bits of mbedtls_dir's x509.h, by value."""
    header = mbedtls_dir / VERIFY_FLAGS_HEADER
    text = header.read_text(encoding="utf-8", errors="replace")
    flags = {int(m["hex"], 16): VerifyFlag(m["name"], int(m["hex"], 16), " ".join((m["doc"] or "").split()))
             for m in _VERIFY_FLAG_DEFINE.finditer(text)}
    if not flags:
        raise FileNotFoundError(f"{header}: no MBEDTLS_X509_BADCERT_* flags found")
    return tuple(flags[v] for v in sorted(flags))


def describe_verify_flags(flags: int, table: tuple[VerifyFlag, ...]) -> list[VerifyFlag]:
    """The flags set in a verification result, lowest bit first; a bit x509.h does not
    define shows as UNKNOWN(0x...)."""
    known = {f.value: f for f in table}
    out: list[VerifyFlag] = []
    bit = 1
    while bit <= flags:
        if flags & bit:
            out.append(known.get(bit) or VerifyFlag(f"UNKNOWN(0x{bit:x})", bit, ""))
        bit <<= 1
    return out

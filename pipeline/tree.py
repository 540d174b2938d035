"""The mbedTLS source tree a run builds against, and the knowledge base for its version."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import ToolFailure
from generator.knowledge import Knowledge, knowledge_for
from generator.pin import PIN

_VERSION_NUMBER = re.compile(r"#define\s+MBEDTLS_VERSION_NUMBER\s+0x([0-9A-Fa-f]{8})")


class SetupError(ToolFailure):
    """tlsfit's dependencies are not in place; the message says how to fix it."""


@dataclass(frozen=True)
class MbedtlsTree:
    dir: Path
    version: str                   # "3.6.6", from MBEDTLS_VERSION_NUMBER in the tree
    knowledge: Knowledge           # the knowledge base covering that version


def read_version(mbedtls_dir: Path) -> str:
    """MAJOR.MINOR.PATCH from include/mbedtls/build_info.h (MBEDTLS_VERSION_NUMBER 0xMMNNPP00)."""
    header = mbedtls_dir / "include" / "mbedtls" / "build_info.h"
    try:
        text = header.read_text(encoding="utf-8", errors="replace")
    except OSError:
        raise SetupError(f"{mbedtls_dir}: no mbedTLS source tree here (no include/mbedtls/build_info.h); "
                         "run `tlsfit setup` (`make setup` in a checkout: fetches the pinned mbedTLS) "
                         f"or set MBEDTLS_DIR=/path/to/mbedtls-{PIN.version}") from None
    match = _VERSION_NUMBER.search(text)
    if not match:
        raise SetupError(f"{header}: no MBEDTLS_VERSION_NUMBER; is this an mbedTLS 3.x tree?")
    number = int(match.group(1), 16)
    return f"{number >> 24}.{(number >> 16) & 0xFF}.{(number >> 8) & 0xFF}"


def open_mbedtls(mbedtls_dir: Path) -> MbedtlsTree:
    """The tree at mbedtls_dir with its knowledge base; refused (exit 2) when no knowledge base covers it."""
    version = read_version(mbedtls_dir)
    return MbedtlsTree(dir=mbedtls_dir.resolve(), version=version,
                       knowledge=knowledge_for(version, where=str(mbedtls_dir)))


def knowledge_without_build(mbedtls_dir: Path) -> Knowledge:
    """The knowledge base for commands that compile nothing (probe, gen --no-validate): the tree's
    when there is one at mbedtls_dir, else the pinned release's (generator/pin.py)."""
    try:
        version = read_version(mbedtls_dir)
    except SetupError:
        return knowledge_for(PIN.version)
    return knowledge_for(version, where=str(mbedtls_dir))

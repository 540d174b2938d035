"""No mbedTLS option name in tlsfit's Python: option knowledge lives in generator/data/ only.

A later mbedTLS that renames an option must need a new knowledge-base file, not code changes.
Allowed: names that are not configuration options (the tree's version macros, the
config-file macro given to the compiler, error codes, tlsfit's own MBEDTLS_DIR variable).
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_DIRS = ("cli", "core", "generator", "measure", "reports", "pipeline", "probe", "scripts")
NAME = re.compile(r"\b(?:MBEDTLS|PSA_WANT)_[A-Z0-9_]*[A-Z0-9]\b")
NOT_OPTIONS = re.compile(r"^MBEDTLS_(DIR|VERSION_NUMBER|VERSION_STRING|CONFIG_FILE|ERR_\w*|X509_BAD\w*|ARCHIVES|STATE_OBJECTS)$")


def python_files() -> list[Path]:
    return sorted(f for d in PYTHON_DIRS if (ROOT / d).is_dir() for f in (ROOT / d).rglob("*.py"))


def test_python_names_no_mbedtls_option() -> None:
    found = [f"{f.relative_to(ROOT)}:{n}: {m}"
             for f in python_files()
             for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             for m in NAME.findall(line) if not NOT_OPTIONS.match(m)]
    assert not found, "mbedTLS option names in Python (move them to the knowledge base):\n" + "\n".join(found)


def test_the_check_would_see_one() -> None:
    assert NAME.findall('b.add("MBEDTLS_ECDSA_C", why)') == ["MBEDTLS_ECDSA_C"]
    assert not NOT_OPTIONS.match("MBEDTLS_ECDSA_C")

"""The knowledge base cannot drift from mbedTLS: its suite table is checked against mbedTLS's own source."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from generator.knowledge import DATA_FILE, KnowledgeError, load_knowledge

ROOT = Path(__file__).resolve().parent.parent
MBEDTLS = Path(os.environ.get("MBEDTLS_DIR") or ROOT / "build/deps/mbedtls-3.6.6")
VERSION = {"MBEDTLS_SSL_VERSION_TLS1_2": "1.2", "MBEDTLS_SSL_VERSION_TLS1_3": "1.3"}

pytestmark = pytest.mark.skipif(not (MBEDTLS / "library/ssl_ciphersuites.c").is_file(),
                                reason="mbedTLS source not set up (make setup)")


def _mbedtls_suites() -> dict[str, dict[str, object]]:
    source = (MBEDTLS / "library/ssl_ciphersuites.c").read_text()
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    body = source[source.index("ciphersuite_definitions[]"):]
    body = body[:body.index("{ 0, \"\"")]
    header = (MBEDTLS / "include/mbedtls/ssl_ciphersuites.h").read_text()
    ids = {m: int(v, 16) for m, v in re.findall(r"#define\s+(MBEDTLS_TLS\w+)\s+(0x[0-9A-Fa-f]+)", header)}
    entry = re.compile(r"\{\s*(MBEDTLS_TLS\w+)\s*,\s*\"[^\"]+\"\s*,\s*(MBEDTLS_CIPHER_\w+)\s*,\s*(MBEDTLS_MD_\w+)\s*,"
                       r"\s*(MBEDTLS_KEY_EXCHANGE_\w+)\s*,\s*([^,]+?)\s*,\s*(MBEDTLS_SSL_VERSION_\w+)\s*,"
                       r"\s*(MBEDTLS_SSL_VERSION_\w+)\s*\}")
    out = {}
    for macro, cipher, md, kx, flags, lo, hi in entry.findall(body):
        out[macro] = {"id": ids[macro], "cipher": cipher, "mac": md, "key_exchange": kx,
                      "short_tag": "SHORT_TAG" in flags,
                      "versions": tuple(dict.fromkeys((VERSION[lo], VERSION[hi])))}
    return out


def test_parser_sees_the_whole_table() -> None:
    # Guard the cross-check itself: entries opening with '{ MBEDTLS_TLS' must all parse.
    body = (MBEDTLS / "library/ssl_ciphersuites.c").read_text()
    assert len(_mbedtls_suites()) == len(re.findall(r"\{\s*MBEDTLS_TLS\w*_WITH_\w+|\{\s*MBEDTLS_TLS1_3_\w+", body))
    assert len(_mbedtls_suites()) > 150


def test_suite_table_matches_mbedtls_source() -> None:
    kb = load_knowledge()
    theirs = _mbedtls_suites()
    ours = {s.macro: {"id": s.id, "cipher": s.cipher, "mac": s.mac, "key_exchange": s.key_exchange,
                      "short_tag": s.short_tag, "versions": s.versions} for s in kb.suites.values()}
    assert sorted(set(theirs) - set(ours)) == [], "suites mbedTLS defines that the knowledge base lacks"
    assert sorted(set(ours) - set(theirs)) == [], "suites in the knowledge base that mbedTLS does not define"
    for macro, fields in theirs.items():
        assert ours[macro] == fields, macro


def test_iana_names_follow_macros() -> None:
    for suite in load_knowledge().suites.values():
        tail = suite.macro.removeprefix("MBEDTLS_TLS1_3_").removeprefix("MBEDTLS_TLS_")
        assert suite.name == f"TLS_{tail}"


def test_every_option_named_by_a_rule_exists_in_mbedtls() -> None:
    kb = load_knowledge()
    include = MBEDTLS / "include"
    text = "\n".join(p.read_text() for p in include.rglob("*.h")) + \
        "\n".join(p.read_text() for p in (MBEDTLS / "library").glob("*.[ch]"))
    names = set(kb.options) | set(kb.never)
    for rule in kb.options.values():
        names |= set(rule.requires) | set(rule.conflicts) | {o for g in rule.requires_any for o in g}
    missing = sorted(n for n in names if not re.search(rf"\b{n}\b", text))
    assert missing == []


def test_key_exchange_options_match_mbedtls_check_config() -> None:
    check = (MBEDTLS / "include/mbedtls/check_config.h").read_text()
    kb = load_knowledge()
    for kx in kb.key_exchanges.values():
        assert kx.option in check, kx.option


def test_requirements_mirror_check_config() -> None:
    # Spot checks of rules lifted from check_config.h; a typo in the data shows here.
    kb = load_knowledge()
    assert "MBEDTLS_SSL_KEEP_PEER_CERTIFICATE" in kb.options["MBEDTLS_SSL_PROTO_TLS1_3"].requires
    assert "MBEDTLS_BASE64_C" in kb.options["MBEDTLS_PEM_PARSE_C"].requires
    assert "MBEDTLS_CIPHER_MODE_CBC" in kb.options["MBEDTLS_BLOCK_CIPHER_NO_DECRYPT"].conflicts
    assert {"MBEDTLS_CHACHA20_C", "MBEDTLS_POLY1305_C"} <= set(kb.options["MBEDTLS_CHACHAPOLY_C"].requires)


def test_rules_carry_their_data_file_line() -> None:
    kb = load_knowledge()
    lines = DATA_FILE.read_text().splitlines()
    for rule in kb.options.values():
        assert f"name: {rule.name}," in lines[rule.line - 1]


def test_inconsistent_knowledge_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "kb.yaml"
    bad.write_text(DATA_FILE.read_text().replace(
        "requires: [MBEDTLS_CHACHA20_C, MBEDTLS_POLY1305_C]", "requires: [MBEDTLS_CHACHA20_C, MBEDTLS_POLY1306_C]"))
    with pytest.raises(KnowledgeError, match="MBEDTLS_POLY1306_C, which has no rule"):
        load_knowledge(bad)

"""The knowledge base cannot drift from mbedTLS: its suite table is checked against mbedTLS's own source."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from generator.knowledge import KnowledgeError, load_knowledge
from generator.knowledge import knowledge_for

KB = knowledge_for("3.6.6")  # the pinned mbedTLS's knowledge base

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
    kb = KB
    theirs = _mbedtls_suites()
    ours = {s.macro: {"id": s.id, "cipher": s.cipher, "mac": s.mac, "key_exchange": s.key_exchange,
                      "short_tag": s.short_tag, "versions": s.versions} for s in kb.suites.values()}
    assert sorted(set(theirs) - set(ours)) == [], "suites mbedTLS defines that the knowledge base lacks"
    assert sorted(set(ours) - set(theirs)) == [], "suites in the knowledge base that mbedTLS does not define"
    for macro, fields in theirs.items():
        assert ours[macro] == fields, macro


def test_iana_names_follow_macros() -> None:
    for suite in KB.suites.values():
        tail = suite.macro.removeprefix("MBEDTLS_TLS1_3_").removeprefix("MBEDTLS_TLS_")
        assert suite.name == f"TLS_{tail}"


def test_every_option_named_by_a_rule_exists_in_mbedtls() -> None:
    kb = KB
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
    kb = KB
    for kx in kb.key_exchanges.values():
        assert kx.option in check, kx.option


def test_requirements_mirror_check_config() -> None:
    # Spot checks of rules lifted from check_config.h; a typo in the data shows here.
    kb = KB
    assert "MBEDTLS_SSL_KEEP_PEER_CERTIFICATE" in kb.options["MBEDTLS_SSL_PROTO_TLS1_3"].requires
    assert "MBEDTLS_BASE64_C" in kb.options["MBEDTLS_PEM_PARSE_C"].requires
    assert "MBEDTLS_CIPHER_MODE_CBC" in kb.options["MBEDTLS_BLOCK_CIPHER_NO_DECRYPT"].conflicts
    assert {"MBEDTLS_CHACHA20_C", "MBEDTLS_POLY1305_C"} <= set(kb.options["MBEDTLS_CHACHAPOLY_C"].requires)


def test_rules_carry_their_data_file_line() -> None:
    kb = KB
    lines = KB.source.read_text().splitlines()
    for rule in kb.options.values():
        assert f"name: {rule.name}," in lines[rule.line - 1]


def test_inconsistent_knowledge_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "kb.yaml"
    bad.write_text(KB.source.read_text().replace(
        "requires: [MBEDTLS_CHACHA20_C, MBEDTLS_POLY1305_C]", "requires: [MBEDTLS_CHACHA20_C, MBEDTLS_POLY1306_C]"))
    with pytest.raises(KnowledgeError, match="MBEDTLS_POLY1306_C, which has no rule"):
        load_knowledge(bad)


def test_a_tree_of_another_mbedtls_version_is_refused_with_exit_2(tmp_path: Path) -> None:
    """A 3.5 tree must not silently get 3.6 rules: exit 2 before anything is built."""
    import os
    import subprocess
    root = Path(__file__).resolve().parent.parent
    real = root / "build" / "deps" / "mbedtls-3.6.6" / "include" / "mbedtls" / "build_info.h"
    fake = tmp_path / "mbedtls-3.5.0" / "include" / "mbedtls"
    fake.mkdir(parents=True)
    (fake / "build_info.h").write_text(real.read_text().replace("0x03060600", "0x03050000"))
    proc = subprocess.run([str(root / "tlsfit"), "measure", str(root / "profiles" / "tls12-psk.yaml"),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MBEDTLS_DIR": str(tmp_path / "mbedtls-3.5.0")})
    assert proc.returncode == 2, proc.stderr
    assert f"tlsfit: error: mbedTLS 3.5.0 in {tmp_path / 'mbedtls-3.5.0'}: this tlsfit knows 3.6.x" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_knowledge_is_chosen_by_minor_version() -> None:
    from generator.knowledge import UnsupportedMbedtls, knowledge_for
    assert knowledge_for("3.6.0") is knowledge_for("3.6.6")
    with pytest.raises(UnsupportedMbedtls, match=r"mbedTLS 4.0.0: this tlsfit knows 3.6.x"):
        knowledge_for("4.0.0")


def test_the_cached_knowledge_base_cannot_be_changed() -> None:
    """One instance is shared by every caller (functools.cache): its tables are read-only all the way."""
    kb = knowledge_for("3.6.6")
    suite = next(iter(kb.suites))
    mutations = [
        lambda: kb.suites.__setitem__("x", kb.suites[suite]),
        lambda: kb.suites.pop(suite),
        lambda: kb.options.clear(),
        lambda: kb.never.__setitem__("MBEDTLS_X", "why"),
        lambda: kb.limits.__setitem__("max_intermediate_ca", 99),
        lambda: kb.knobs["drbg"].choices.__setitem__("x", "y"),
        lambda: kb.tuning[0].levels.__setitem__("size", "1"),
        lambda: kb.driver_builds[0].replace.__setitem__("x", ()),
        lambda: kb.roles.update({}),
        lambda: kb.suites[suite].versions.append("1.0"),
        lambda: setattr(kb, "null_cipher", "x"),
        lambda: setattr(kb.suites[suite], "cipher", "x"),
    ]
    for mutate in mutations:
        with pytest.raises((TypeError, AttributeError)):
            mutate()
    assert knowledge_for("3.6.6") is kb and suite in kb.suites


def test_the_knowledge_base_pickles_for_worker_processes() -> None:
    import pickle
    kb = knowledge_for("3.6.6")
    copy = pickle.loads(pickle.dumps(kb))
    assert copy == kb and copy is not kb
    with pytest.raises(TypeError):
        copy.options["x"] = copy.options[next(iter(copy.options))]  # type: ignore[index]


def test_a_misspelt_table_is_named_with_its_line(tmp_path: Path) -> None:
    text = knowledge_for("3.6.6").source.read_text()
    path = tmp_path / "mbedtls-3.6.yaml"
    path.write_text(text.replace("\nnever:", "\nnevr:"))
    line = text[:text.index("\nnever:") + 1].count("\n") + 1
    with pytest.raises(KnowledgeError, match=rf"mbedtls-3.6.yaml:{line}: unknown key 'nevr'; did you mean 'never'\?"):
        load_knowledge(path)

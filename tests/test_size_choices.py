"""Size choices keyed on `optimize`: the option sets differ as intended, never at security's cost.

Pure resolver tests (fast), plus a compile check of every shipped profile at
balanced and speed against mbedTLS's own check_config.h (size is checked by
tests/test_cli_gen.py). Figures (ROM, instructions) are measured by
`./tlsfit measure`, not asserted here.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from generator.profile import load_profile
from generator.render import render_config
from generator.resolve import offered_groups, resolve
from generator.validate import validate_config
from measure.boards import load_board
from generator.knowledge import knowledge_for
from generator.cores import find_core

# the default target's core (mps2-an386 runs the shipped profiles)
M4 = find_core("cortex-m4")

KB = knowledge_for("3.6.6")  # the pinned mbedTLS's knowledge base

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
SHIPPED = sorted(PROFILES.glob("*.yaml"))
LEVELS = ("size", "balanced", "speed")
MBEDTLS = Path(os.environ.get("MBEDTLS_DIR", ROOT / "build" / "deps" / "mbedtls-3.6.6"))


def _at(level: str, name: str, **knobs: str):
    """The shipped profile `name` at optimize `level`, resolved (as `--optimize level` does)."""
    profile = dataclasses.replace(load_profile(PROFILES / f"{name}.yaml", KB), optimize=level)
    return profile, resolve(profile, KB, M4, knobs=knobs or None)


def _names(rc) -> set[str]:
    return {o.name for o in rc.options}


def test_ecdsa_profile_trades_rom_for_speed_by_level() -> None:
    # the built-in ECP at every level (balanced and speed take p256-m by default on TLS 1.2 P-256)
    _, size = _at("size", "tls12-ecdhe-ecdsa", driver="legacy")
    _, balanced = _at("balanced", "tls12-ecdhe-ecdsa", driver="legacy")
    _, speed = _at("speed", "tls12-ecdhe-ecdsa", driver="legacy")
    # size: smallest code and tables
    for must in ("MBEDTLS_HAVE_ASM", "MBEDTLS_SHA256_SMALLER", "MBEDTLS_AES_FEWER_TABLES", "MBEDTLS_HMAC_DRBG_C",
                 "MBEDTLS_AES_ONLY_128_BIT_KEY_LENGTH", "MBEDTLS_BLOCK_CIPHER_NO_DECRYPT"):
        assert size.has(must), must
    assert not size.has("MBEDTLS_ECP_NIST_OPTIM") and not size.has("MBEDTLS_CTR_DRBG_C")
    assert (size.value("MBEDTLS_ECP_WINDOW_SIZE"), size.value("MBEDTLS_ECP_FIXED_POINT_OPTIM")) == ("2", "0")
    # balanced: NIST reduction (the big instruction win) but still compact tables, hash and DRBG
    assert balanced.has("MBEDTLS_ECP_NIST_OPTIM") and balanced.has("MBEDTLS_AES_FEWER_TABLES")
    assert balanced.has("MBEDTLS_HMAC_DRBG_C") and not balanced.has("MBEDTLS_CTR_DRBG_C")
    assert balanced.has("MBEDTLS_SHA256_SMALLER") and not speed.has("MBEDTLS_SHA256_SMALLER")
    # AES-128 suites only: CTR_DRBG runs on AES-128 too, so no AES-256 key schedule at any level
    assert speed.has("MBEDTLS_CTR_DRBG_C") and speed.has("MBEDTLS_CTR_DRBG_USE_128_BIT_KEY")
    assert speed.has("MBEDTLS_AES_ONLY_128_BIT_KEY_LENGTH")
    assert (balanced.value("MBEDTLS_ECP_WINDOW_SIZE"), balanced.value("MBEDTLS_ECP_FIXED_POINT_OPTIM")) == ("3", "0")
    # speed: big windows, fixed-point tables, full AES tables
    assert speed.has("MBEDTLS_ECP_NIST_OPTIM") and not speed.has("MBEDTLS_AES_FEWER_TABLES")
    assert (speed.value("MBEDTLS_ECP_WINDOW_SIZE"), speed.value("MBEDTLS_ECP_FIXED_POINT_OPTIM")) == ("4", "1")
    assert speed.value("MBEDTLS_MPI_WINDOW_SIZE") == "3" and size.value("MBEDTLS_MPI_WINDOW_SIZE") == "1"
    # HAVE_ASM is smaller and faster: on at every level
    assert all(rc.has("MBEDTLS_HAVE_ASM") for rc in (size, balanced, speed))
    # the protocol surface does not move with the level
    for rc in (balanced, speed):
        assert rc.value("MBEDTLS_SSL_CIPHERSUITES") == size.value("MBEDTLS_SSL_CIPHERSUITES")


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_no_level_weakens_security(path: Path, level: str) -> None:
    profile, rc = _at(level, path.stem)
    kb = KB
    names = _names(rc)
    if "1.2" in profile.versions:
        assert "MBEDTLS_SSL_EXTENDED_MASTER_SECRET" in names
    if any(kb.ciphers[kb.suites[s].cipher].mode == "CBC" for s in profile.ciphersuites):
        assert "MBEDTLS_SSL_ENCRYPT_THEN_MAC" in names
    else:
        assert "MBEDTLS_SSL_ENCRYPT_THEN_MAC" not in names  # only CBC suites need it
    if profile.chain is not None:
        assert "MBEDTLS_X509_CRT_PARSE_C" in names
    assert rc.value("MBEDTLS_SSL_CIPHERSUITES") == ",".join(kb.suites[s].macro for s in profile.ciphersuites)
    assert "MBEDTLS_ERROR_C" not in names and "MBEDTLS_SSL_SRV_C" not in names
    # a TLS 1.2-only client keeps a digest of the peer certificate, not the certificate
    assert ("MBEDTLS_SSL_KEEP_PEER_CERTIFICATE" in names) == ("1.3" in profile.versions)
    # offered groups: never empty when the profile lists some, always a subset of what the server accepts
    groups = offered_groups(profile, kb)
    assert set(groups) <= set(profile.groups) and (bool(groups) == bool(profile.groups))
    # AES-128-only key schedule never meets a suite that needs AES-256, and a CTR_DRBG then
    # says it runs on AES-128 (128-bit security strength, as every suite)
    if "MBEDTLS_AES_ONLY_128_BIT_KEY_LENGTH" in names:
        assert ("MBEDTLS_CTR_DRBG_C" in names) == ("MBEDTLS_CTR_DRBG_USE_128_BIT_KEY" in names)
        assert all("_128_" in kb.suites[s].cipher for s in profile.ciphersuites)
    else:
        assert "MBEDTLS_CTR_DRBG_USE_128_BIT_KEY" not in names


def test_one_group_offered_the_one_the_chain_already_needs(tmp_path: Path) -> None:
    kb = KB
    for level in LEVELS:
        profile, _ = _at(level, "letsencrypt-ecdsa")
        assert profile.groups == ("secp256r1", "x25519")
        assert offered_groups(profile, kb) == ("secp256r1",)  # the P-256 leaf links that curve anyway
    path = tmp_path / "x25519-first.yaml"
    path.write_text((PROFILES / "tls13-only.yaml").read_text().replace("[secp256r1, x25519]", "[x25519, secp256r1]"))
    assert offered_groups(load_profile(path, KB), kb) == ("secp256r1",)
    path.write_text((PROFILES / "aws-iot-core.yaml").read_text().replace("[secp256r1]", "[x25519, secp256r1]")
                    .replace("certs/", str(PROFILES / "certs") + "/"))
    assert offered_groups(load_profile(path, KB), kb) == ("x25519",)  # RSA chain: the first listed group


def test_p256m_only_for_one_tls_version_and_p256_only(tmp_path: Path) -> None:
    mixed_groups = tmp_path / "mixed.yaml"
    mixed_groups.write_text((PROFILES / "tls13-only.yaml").read_text().replace("[secp256r1, x25519]", "[x25519]"))
    x25519 = resolve(load_profile(mixed_groups, KB), KB, M4)
    _, mixed = _at("size", "letsencrypt-ecdsa")  # TLS 1.2 and 1.3: no driver build covers both
    _, rsa = _at("size", "tls12-ecdhe-rsa")       # an RSA chain keeps bignum anyway
    for level in LEVELS:  # p256-m is smaller and faster than the built-in ECP: every level
        for name in ("tls13-only", "tls12-ecdhe-ecdsa"):
            _, rc = _at(level, name)
            assert rc.has("MBEDTLS_PSA_P256M_DRIVER_ENABLED") and not rc.has("MBEDTLS_ECP_C"), (name, level)
            assert rc.has("MBEDTLS_BLOCK_CIPHER_NO_DECRYPT"), level  # PSA wants no ECB: AES decryption goes
    for rc in (mixed, rsa, x25519):
        assert not rc.has("MBEDTLS_PSA_P256M_DRIVER_ENABLED") and rc.has("MBEDTLS_ECP_C")
        assert not rc.has("MBEDTLS_USE_PSA_CRYPTO") and not rc.has("MBEDTLS_PSA_CRYPTO_CONFIG")


def test_static_rsa_cbc_profile() -> None:
    _, balanced = _at("balanced", "rt-thread")
    # RSA key transport draws many random bytes: balanced pays for the faster DRBG, size does not
    assert balanced.has("MBEDTLS_CTR_DRBG_C") and not balanced.has("MBEDTLS_HMAC_DRBG_C")
    _, rc = _at("size", "rt-thread")
    assert rc.has("MBEDTLS_HMAC_DRBG_C") and not rc.has("MBEDTLS_CTR_DRBG_C")
    assert rc.value("MBEDTLS_MPI_MAX_SIZE") == "256"  # RSA-2048 everywhere: no 4096-bit numbers
    assert rc.has("MBEDTLS_SSL_ENCRYPT_THEN_MAC") and rc.has("MBEDTLS_CIPHER_MODE_CBC")
    assert not rc.has("MBEDTLS_BLOCK_CIPHER_NO_DECRYPT")  # CBC decrypts
    assert not rc.has("MBEDTLS_AES_ONLY_128_BIT_KEY_LENGTH")  # AES-256 suite
    assert not rc.has("MBEDTLS_ECP_C") and rc.has("MBEDTLS_HAVE_ASM")


@pytest.mark.parametrize("level", ("balanced", "speed"))
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_level_passes_mbedtls_check_config(path: Path, level: str, tmp_path: Path) -> None:
    if not (MBEDTLS / "include" / "mbedtls" / "check_config.h").is_file():
        pytest.skip(f"mbedTLS source not found at {MBEDTLS}")
    profile, rc = _at(level, path.stem)
    board = load_board(profile.target, ROOT / "ports")
    validate_config(render_config(rc, profile, KB), MBEDTLS, tmp_path / "check", KB.check_headers, cflags=tuple(board.cflags))


def test_every_size_choice_names_a_real_mbedtls_option() -> None:
    import re
    if not (MBEDTLS / "include").is_dir():
        pytest.skip(f"mbedTLS source not found at {MBEDTLS}")
    kb = KB
    text = "\n".join(p.read_text(errors="replace") for p in (MBEDTLS / "include").rglob("*.h"))
    names = {t.name for t in kb.tuning} | {r.option for r in kb.random_generators}
    for d in kb.driver_builds:
        names |= set(d.replace) | {o for v in d.replace.values() for o in v} | {o for o, _ in d.add}
        names |= set(d.psa_wants) | {o for v in d.psa_wants.values() for o in v}
    assert sorted(n for n in names if not re.search(rf"\b{n}\b", text)) == []
    for t in kb.tuning:  # every choice says why, at every level it applies to
        assert t.reason.strip() and t.levels and set(t.levels) <= set(LEVELS), t.name


def test_tls13_psk_only_gets_no_curve_driver(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nserver: {host: a.example}\ntls:\n  versions: ['1.3']\n"
                    "  ciphersuites: [TLS_AES_128_GCM_SHA256]\n  psk: {identity: a, key: '00112233445566778899aabbccddeeff'}\n")
    rc = resolve(load_profile(path, KB), KB, M4)
    assert rc.has("MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_ENABLED")
    assert not rc.has("MBEDTLS_PSA_P256M_DRIVER_ENABLED") and not rc.has("MBEDTLS_ECP_C")

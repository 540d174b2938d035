"""Every cipher suite tlsfit knows, as the smallest profile a README reader would write for it,
must give a config that passes mbedTLS's check_config.h, at every optimize level.

The shipped profiles cover a dozen shapes; this covers the corners (ChaCha20-only TLS 1.3,
static ECDH, RSA-PSK, FFDHE, NULL ciphers, ...). A compile check takes tens of milliseconds,
so all of it runs in the default suite.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.knowledge import knowledge_for
from generator.model import OPTIMIZE_LEVELS
from generator.profile import load_profile
from generator.render import render_config
from generator.resolve import resolve
from generator.validate import validate_config
from measure.boards import load_board
from generator.cores import find_core

# the default target's core (mps2-an386 runs the shipped profiles)
M4 = find_core("cortex-m4")

ROOT = Path(__file__).resolve().parent.parent
MBEDTLS = Path(os.environ.get("MBEDTLS_DIR", ROOT / "build" / "deps" / "mbedtls-3.6.6"))
KB = knowledge_for("3.6.6")  # the pinned mbedTLS's knowledge base
# EC-JPAKE authenticates with a password, which the profile contract has no field for.
SUITES = sorted(name for name, s in KB.suites.items() if s.key_exchange != "MBEDTLS_KEY_EXCHANGE_ECJPAKE")

RSA_CHAIN = "{root: rsa2048, intermediates: [], leaf: rsa2048}"
EC_CHAIN = "{root: secp256r1, intermediates: [], leaf: secp256r1}"


def profile_yaml(suite_name: str, level: str, group: str = "secp256r1") -> str:
    """The profile someone who read the README would write for a server offering only this suite."""
    suite = KB.suites[suite_name]
    tls13 = suite.key_exchange == "MBEDTLS_KEY_EXCHANGE_NONE"
    kx = None if tls13 else KB.key_exchanges[suite.key_exchange]
    tls = [f'  versions: ["{"1.3" if tls13 else "1.2"}"]', f"  ciphersuites: [{suite_name}]"]
    chain, sig = None, None
    if tls13 or (kx.certificate == "ec" and kx.label != "ECDH-RSA"):
        chain, sig = EC_CHAIN, "ecdsa_secp256r1_sha256"
    elif kx.label == "ECDH-RSA":  # an EC leaf key signed by an RSA CA
        chain, sig = "{root: rsa2048, intermediates: [], leaf: secp256r1}", "rsa_pkcs1_sha256"
    elif kx.certificate == "rsa":
        chain, sig = RSA_CHAIN, "rsa_pkcs1_sha256"
    ephemeral = "ecdhe" if tls13 else kx.ephemeral
    if ephemeral in ("ecdhe", "static_ecdh"):
        tls.append(f"  groups: [{group}]")
    elif ephemeral == "ffdhe":
        tls.append("  groups: [ffdhe2048]")
    if sig:
        tls.append(f"  signature_algorithms: [{sig}]")
    if kx is not None and kx.psk:
        tls.append('  psk: {identity: device-1, key: "00112233445566778899aabbccddeeff"}')
    lines = ["name: matrix", f"description: only {suite_name}", "server: {host: server.example, port: 443}",
             "tls:", *tls]
    if chain:
        lines += ["trust:", f"  chain: {chain}"]
    if suite.cipher == "MBEDTLS_CIPHER_NULL":
        lines.append("allow_insecure: true")
    lines.append(f"optimize: {level}")
    return "\n".join(lines) + "\n"


def check(tmp_path: Path, text: str) -> str:
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    profile = load_profile(path, KB)
    config = render_config(resolve(profile, KB, M4), profile, KB)
    board = load_board(profile.target, ROOT / "ports")
    validate_config(config, MBEDTLS, tmp_path / "validate", KB.check_headers, cflags=tuple(board.cflags))
    return config


@pytest.mark.parametrize("suite", SUITES)
def test_every_suite_gives_a_valid_config(suite: str, tmp_path: Path) -> None:
    config = check(tmp_path, profile_yaml(suite, "size"))
    assert KB.suites[suite].macro in config  # and it is the one suite offered


@pytest.mark.parametrize("level", OPTIMIZE_LEVELS[1:])
@pytest.mark.parametrize("suite", SUITES)
def test_every_suite_at_every_level(suite: str, level: str, tmp_path: Path) -> None:
    check(tmp_path, profile_yaml(suite, level))


@pytest.mark.parametrize("level", OPTIMIZE_LEVELS)
@pytest.mark.parametrize("group", [g for g, info in KB.groups.items() if info.kind == "ecdhe" and "1.3" in info.versions])
@pytest.mark.parametrize("suite", [s for s in SUITES if KB.suites[s].key_exchange == "MBEDTLS_KEY_EXCHANGE_NONE"])
def test_tls13_suite_group_and_level(suite: str, group: str, level: str, tmp_path: Path) -> None:
    """TLS 1.3 is where the PSA driver build (p256-m) switches on or off."""
    check(tmp_path, profile_yaml(suite, level, group))

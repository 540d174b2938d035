"""Every cipher suite tlsfit knows, as the smallest profile a README reader would write for it,
must give a config that passes mbedTLS's check_config.h, at every optimize level (and every TLS 1.3
suite with every TLS 1.3 group).

The shipped profiles cover a dozen shapes; this covers the corners (ChaCha20-only TLS 1.3,
static ECDH, RSA-PSK, FFDHE, NULL ciphers, ...). The whole matrix is some 650 compile checks
(about half of the suite's tests): it is marked slow and runs in `make test-all`. The default suite
compile-checks a sample computed from it: resolving every case (no compiler, a few seconds) gives
the options it sets, and a greedy cover picks cases until every option, with every value it takes,
and every optimize level is in at least one of them (test_the_sample_covers_the_matrix).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple

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


class Case(NamedTuple):
    suite: str
    level: str
    group: str = "secp256r1"

    @property
    def id(self) -> str:
        return f"{self.suite}-{self.level}-{self.group}"


TLS13_SUITES = [s for s in SUITES if KB.suites[s].key_exchange == KB.no_key_exchange]
TLS13_GROUPS = [g for g, info in KB.groups.items() if info.kind == "ecdhe" and "1.3" in info.versions]
# every suite at every level; TLS 1.3 (where the PSA driver build, p256-m, switches on or off) with
# every group too
MATRIX: list[Case] = list(dict.fromkeys(
    [Case(suite, level) for suite in SUITES for level in OPTIMIZE_LEVELS]
    + [Case(suite, level, group) for suite in TLS13_SUITES for group in TLS13_GROUPS for level in OPTIMIZE_LEVELS]))


def case_features(case: Case, folder: Path) -> frozenset[tuple[str, str | None]]:
    """What a case exercises: each option the resolver sets with its value (the suite list's value
    is every suite's own, so only its presence counts), and the optimize level."""
    path = folder / "matrix.yaml"
    path.write_text(profile_yaml(case.suite, case.level, case.group))
    profile = load_profile(path, KB)
    suite_list = KB.option("ciphersuite_list")
    options = {(o.name, None if o.name == suite_list else o.value) for o in resolve(profile, KB, M4).options}
    return frozenset(options | {("optimize", case.level)})


def greedy_sample(features: dict[Case, frozenset]) -> list[Case]:
    """Cases in matrix order, each the one adding the most features not yet covered (ties: the
    earlier case), until the sample covers every feature of the matrix."""
    missing = frozenset().union(*features.values())
    sample: list[Case] = []
    while missing:
        best = max(features, key=lambda case: len(features[case] & missing))
        sample.append(best)
        missing -= features[best]
    return sample


with tempfile.TemporaryDirectory(prefix="tlsfit-matrix-") as _folder:
    FEATURES = {case: case_features(case, Path(_folder)) for case in MATRIX}
SAMPLE = frozenset(greedy_sample(FEATURES))


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id, marks=() if case in SAMPLE else pytest.mark.slow)
                                  for case in MATRIX])
def test_matrix_case_gives_a_valid_config(case: Case, tmp_path: Path) -> None:
    config = check(tmp_path, profile_yaml(case.suite, case.level, case.group))
    assert KB.suites[case.suite].macro in config  # and it is the one suite offered


def test_the_sample_covers_the_matrix() -> None:
    """The default suite's sample sets every option (with every value) and uses every level the
    full matrix does, and stays a small part of it."""
    matrix = frozenset().union(*FEATURES.values())
    sampled = frozenset().union(*(FEATURES[case] for case in SAMPLE))
    assert sampled == matrix, f"not in the sample: {sorted(matrix - sampled, key=str)}"
    options = {name for name, _ in matrix} - {"optimize"}
    assert {value for name, value in sampled if name == "optimize"} == set(OPTIMIZE_LEVELS)
    # every option tlsfit may set for a suite's needs appears: the key exchange, cipher, hash and
    # group options of every suite and group the matrix names
    named = {KB.key_exchanges[KB.suites[s].key_exchange].option for s in SUITES if KB.suites[s].key_exchange in KB.key_exchanges}
    named |= {option for s in SUITES if KB.suites[s].cipher in KB.ciphers
              for option in KB.ciphers[KB.suites[s].cipher].options}
    named |= {KB.hashes[KB.suites[s].mac].option for s in SUITES if KB.suites[s].mac in KB.hashes}
    named |= {KB.groups[case.group].option for case in MATRIX}
    assert named <= options, sorted(named - options)
    assert len(SAMPLE) * 10 <= len(MATRIX), (len(SAMPLE), len(MATRIX))

"""TLS 1.2 supported_groups carries the certificates' curves as well as the key-exchange group.

A TLS 1.2 server offers an ECDSA certificate only on a curve the ClientHello lists, and refuses a
client certificate on an unlisted one (OpenSSL: "wrong curve"). The fixtures are the broker shapes
that failed with one offered group: P-384 leaf with a P-256 device key, and the reverse under an RSA root.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from generator.knowledge import knowledge_for
from generator.model import OPTIMIZE_LEVELS
from generator.profile import load_profile
from generator.resolve import offered_groups

KB = knowledge_for("3.6.6")
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "groups"


@pytest.mark.parametrize("level", OPTIMIZE_LEVELS)
def test_tls12_offers_the_leaf_and_device_curves_after_the_key_exchange_group(level: str) -> None:
    for name, expected in (("leaf-p384-device-p256", ("secp256r1", "secp384r1")),
                           ("leaf-p256-device-p384", ("secp256r1", "secp384r1"))):
        profile = dataclasses.replace(load_profile(FIXTURES / f"{name}.yaml", KB), optimize=level)
        assert offered_groups(profile, KB) == expected, name


def test_the_rule_is_the_knowledge_base_s() -> None:
    """Without the knowledge base's certificate_curves_offered, one group again (the old, failing offer)."""
    profile = load_profile(FIXTURES / "leaf-p384-device-p256.yaml", KB)
    assert offered_groups(profile, dataclasses.replace(KB, certificate_curves_offered=())) == ("secp256r1",)


def test_tls13_offers_only_the_key_share_group() -> None:
    """TLS 1.3 names the certificate's curve in signature_algorithms, not supported_groups."""
    profile = load_profile(FIXTURES / "leaf-p384-device-p256.yaml", KB)
    tls13 = dataclasses.replace(profile, versions=("1.3",), ciphersuites=("TLS_AES_128_GCM_SHA256",))
    assert offered_groups(tls13, KB) == ("secp256r1",)


def test_shipped_tls12_ecdsa_profile_offers_one_group() -> None:
    """Leaf curve == key-exchange group: nothing added, the ClientHello stays as small as before."""
    profile = load_profile(ROOT / "profiles" / "tls12-ecdhe-ecdsa.yaml", KB)
    assert offered_groups(profile, KB) == ("secp256r1",)


@pytest.mark.parametrize("name", ["leaf-p384-device-p256", "leaf-p256-device-p384"])
def test_mixed_curve_mutual_tls_handshakes_against_openssl(name: str, tmp_path: Path) -> None:
    """A real handshake (host build, openssl s_server asking for the client certificate)."""
    proc = subprocess.run([str(ROOT / "tlsfit"), "measure", str(FIXTURES / f"{name}.yaml"), "--target", "host",
                           "-o", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = json.loads((tmp_path / "report.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["handshake"]["ok"] and report["handshake"]["group"] == "secp256r1"


def test_tune_s_group_knob_keeps_the_certificate_curves() -> None:
    profile = load_profile(FIXTURES / "leaf-p384-device-p256.yaml", KB)
    assert offered_groups(profile, KB, chosen="secp384r1") == ("secp384r1", "secp256r1")


def _with_offer(tmp_path: Path, offer: str) -> Path:
    text = (FIXTURES / "leaf-p384-device-p256.yaml").read_text()
    text = text.replace("  groups: [secp256r1]\n", f"  groups: [secp256r1]\n  offer_groups: {offer}\n")
    path = tmp_path / "pinned.yaml"
    path.write_text(text)
    return path


def test_offer_groups_pins_the_list(tmp_path: Path) -> None:
    profile = load_profile(_with_offer(tmp_path, "[secp384r1, secp256r1]"), KB)
    assert offered_groups(profile, KB) == ("secp384r1", "secp256r1")


def test_offer_groups_without_a_key_exchange_group_is_refused_at_its_line(tmp_path: Path) -> None:
    path = _with_offer(tmp_path, "[secp384r1]")
    done = subprocess.run([str(ROOT / "tlsfit"), "gen", str(path), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and f"{path}:8: error: 'tls.offer_groups' (secp384r1) offers no group of " \
        "tls.groups (secp256r1)" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()

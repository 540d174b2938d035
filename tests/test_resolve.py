"""Resolver: the smallest closed option set, with reasons; KB bugs reported as whole chains."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import Infeasible
from generator.cores import find_core
from generator.knowledge import load_knowledge
from generator.profile import load_profile
from generator.resolve import NO_RTC_WARNING, resolve
from generator.knowledge import knowledge_for

KB = knowledge_for("3.6.6")  # the pinned mbedTLS's knowledge base
M4 = find_core("cortex-m4")  # the default target's core (mps2-an386 runs the shipped profiles)

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
NEVER = ("MBEDTLS_SSL_SRV_C", "MBEDTLS_SSL_PROTO_DTLS", "MBEDTLS_SSL_RENEGOTIATION", "MBEDTLS_DEBUG_C",
         "MBEDTLS_SELF_TEST", "MBEDTLS_NET_C", "MBEDTLS_FS_IO", "MBEDTLS_TIMING_C", "MBEDTLS_HAVE_TIME",
         "MBEDTLS_HAVE_TIME_DATE", "MBEDTLS_ERROR_C")


def _resolved(name: str):
    profile = load_profile(PROFILES / f"{name}.yaml", KB)
    return profile, resolve(profile, KB, M4)


@pytest.mark.parametrize("path", sorted(PROFILES.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_profiles_are_client_only_and_closed(path: Path) -> None:
    kb = KB
    profile = load_profile(path, KB)
    rc = resolve(profile, kb, M4)
    names = [o.name for o in rc.options]
    assert names == sorted(names)
    for forbidden in NEVER:
        if forbidden == "MBEDTLS_SSL_PROTO_DTLS" and profile.transport == "udp":
            assert rc.has(forbidden)  # DTLS profiles only
            continue
        assert not rc.has(forbidden), forbidden
    for must in ("MBEDTLS_SSL_CLI_C", "MBEDTLS_SSL_TLS_C", "MBEDTLS_PLATFORM_C", "MBEDTLS_PLATFORM_MEMORY"):
        assert rc.has(must), must
    assert rc.has("MBEDTLS_CTR_DRBG_C") or rc.has("MBEDTLS_HMAC_DRBG_C")
    # No entropy module: the one DRBG is seeded straight from the board's TRNG and PSA (TLS 1.3)
    # draws from it; the header says how an application does the same.
    assert not any(rc.has(o) for o in ("MBEDTLS_ENTROPY_C", "MBEDTLS_ENTROPY_HARDWARE_ALT"))
    drbg = next(o for o in rc.options if o.name in ("MBEDTLS_CTR_DRBG_C", "MBEDTLS_HMAC_DRBG_C"))
    assert any("f_entropy" in r for r in drbg.reasons)
    assert rc.has("MBEDTLS_PSA_CRYPTO_EXTERNAL_RNG") == rc.has("MBEDTLS_PSA_CRYPTO_C")
    assert rc.value("MBEDTLS_SSL_CIPHERSUITES") == ",".join(kb.suites[s].macro for s in profile.ciphersuites)
    # MBEDTLS_USE_PSA_CRYPTO only comes with a PSA driver build (p256-m), never on its own.
    assert rc.has("MBEDTLS_USE_PSA_CRYPTO") == rc.has("MBEDTLS_PSA_P256M_DRIVER_ENABLED")
    replaced = {}
    if rc.has("MBEDTLS_PSA_P256M_DRIVER_ENABLED"):
        replaced = next(d for d in kb.driver_builds if d.name == "p256-m").replace

    def met(name: str) -> bool:  # present, or swapped for its (present) driver-build replacement
        return rc.has(name) or (name in replaced and all(rc.has(o) for o in replaced[name]))

    for option in rc.options:  # closed: every requirement of every option is present
        rule = kb.options[option.name]
        assert all(met(r) for r in rule.requires), option.name
        assert all(any(met(o) for o in group) for group in rule.requires_any), option.name
        assert not any(rc.has(c) for c in rule.conflicts), option.name
        assert option.reasons and all(option.reasons), option.name
    assert rc.has("MBEDTLS_SSL_PROTO_TLS1_3") == ("1.3" in profile.versions)
    assert rc.has("MBEDTLS_SSL_PROTO_TLS1_2") == ("1.2" in profile.versions)
    assert not rc.has("MBEDTLS_PEM_PARSE_C") and not rc.has("MBEDTLS_BASE64_C")  # trust is embedded as DER


def test_aws_iot_core_golden() -> None:
    _, rc = _resolved("aws-iot-core")
    for must in ("MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED", "MBEDTLS_RSA_C", "MBEDTLS_PKCS1_V15",
                 "MBEDTLS_ECP_DP_SECP256R1_ENABLED", "MBEDTLS_ECDH_C", "MBEDTLS_GCM_C", "MBEDTLS_AES_C",
                 "MBEDTLS_SHA256_C", "MBEDTLS_X509_CRT_PARSE_C", "MBEDTLS_SSL_SERVER_NAME_INDICATION",
                 "MBEDTLS_SSL_ALPN", "MBEDTLS_HMAC_DRBG_C", "MBEDTLS_X509_REMOVE_INFO", "MBEDTLS_AES_ROM_TABLES",
                 "MBEDTLS_BLOCK_CIPHER_NO_DECRYPT", "MBEDTLS_SSL_EXTENDED_MASTER_SECRET"):
        assert rc.has(must), must
    for absent in ("MBEDTLS_ECDSA_C", "MBEDTLS_CIPHER_MODE_CBC", "MBEDTLS_SHA512_C", "MBEDTLS_SHA384_C",
                   "MBEDTLS_ECP_DP_SECP384R1_ENABLED", "MBEDTLS_CCM_C", "MBEDTLS_PSA_CRYPTO_C",
                   "MBEDTLS_SSL_SESSION_TICKETS", "MBEDTLS_SSL_MAX_FRAGMENT_LENGTH", "MBEDTLS_DHM_C",
                   "MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED", "MBEDTLS_PKCS1_V21"):
        assert not rc.has(absent), absent
    assert rc.value("MBEDTLS_MPI_MAX_SIZE") == "256"
    assert rc.value("MBEDTLS_SSL_IN_CONTENT_LEN") == "16384"
    assert rc.value("MBEDTLS_ECP_WINDOW_SIZE") == "2" and rc.value("MBEDTLS_ECP_FIXED_POINT_OPTIM") == "0"
    kx = next(o for o in rc.options if o.name == "MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED")
    assert "ciphersuite TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 -> ECDHE-RSA key exchange" in kx.reasons
    assert NO_RTC_WARNING.format(time_date="MBEDTLS_HAVE_TIME_DATE") in rc.warnings


def test_tls13_needs_psa_keep_peer_cert_and_hkdf(tmp_path: Path) -> None:
    # x25519 is not P-256: the built-in ECP stays, and PSA derives its mechanisms from the legacy modules.
    text = (PROFILES / "tls13-only.yaml").read_text().replace("groups: [secp256r1, x25519]", "groups: [x25519]")
    assert "groups: [x25519]" in text
    (tmp_path / "tls13-only.yaml").write_text(text)
    rc = resolve(load_profile(tmp_path / "tls13-only.yaml", KB), KB, M4)
    for must in ("MBEDTLS_PSA_CRYPTO_C", "MBEDTLS_SSL_KEEP_PEER_CERTIFICATE", "MBEDTLS_HKDF_C",
                 "MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED", "MBEDTLS_ECP_DP_CURVE25519_ENABLED",
                 "MBEDTLS_ECP_DP_SECP256R1_ENABLED", "MBEDTLS_ECDSA_C", "MBEDTLS_CTR_DRBG_C"):
        assert rc.has(must), must
    assert not rc.has("MBEDTLS_SSL_PROTO_TLS1_2")
    assert not rc.has("MBEDTLS_PSA_P256M_DRIVER_ENABLED") and not rc.has("MBEDTLS_USE_PSA_CRYPTO")
    assert not rc.has("MBEDTLS_BLOCK_CIPHER_NO_DECRYPT")  # PSA derives ECB decryption from AES_C
    assert rc.value("MBEDTLS_SSL_CIPHERSUITES") == "MBEDTLS_TLS1_3_AES_128_GCM_SHA256"


def test_tls13_p256_only_at_size_uses_p256m_driver() -> None:
    _, rc = _resolved("tls13-only")
    for must in ("MBEDTLS_PSA_CRYPTO_C", "MBEDTLS_SSL_KEEP_PEER_CERTIFICATE", "MBEDTLS_PSA_CRYPTO_CONFIG",
                 "MBEDTLS_USE_PSA_CRYPTO", "MBEDTLS_PSA_P256M_DRIVER_ENABLED", "PSA_WANT_ECC_SECP_R1_256",
                 "PSA_WANT_ALG_ECDSA", "PSA_WANT_ALG_ECDH", "PSA_WANT_ALG_HKDF_EXTRACT", "PSA_WANT_ALG_HKDF_EXPAND",
                 "PSA_WANT_ALG_GCM", "PSA_WANT_KEY_TYPE_AES", "PSA_WANT_ALG_SHA_256",
                 "MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED", "MBEDTLS_BLOCK_CIPHER_NO_DECRYPT"):
        assert rc.has(must), must
    # x25519 is not offered at size (P-256 is listed first and the chain needs it anyway)
    for absent in ("MBEDTLS_ECP_C", "MBEDTLS_BIGNUM_C", "MBEDTLS_ECDSA_C", "MBEDTLS_ECDH_C", "MBEDTLS_HKDF_C",
                   "MBEDTLS_ECP_DP_CURVE25519_ENABLED", "MBEDTLS_ECP_DP_SECP256R1_ENABLED", "MBEDTLS_RSA_C",
                   "PSA_WANT_ALG_ECB_NO_PADDING", "MBEDTLS_MPI_MAX_SIZE"):
        assert not rc.has(absent), absent
    assert rc.value("MBEDTLS_PSA_CRYPTO_CONFIG_FILE") == '"mbedtls/build_info.h"'
    assert rc.value("PSA_WANT_ALG_ECDSA") == "1"


def test_psk_profile_has_no_public_key_crypto() -> None:
    _, rc = _resolved("tls12-psk")
    for absent in ("MBEDTLS_X509_CRT_PARSE_C", "MBEDTLS_BIGNUM_C", "MBEDTLS_ECP_C", "MBEDTLS_RSA_C",
                   "MBEDTLS_PK_C", "MBEDTLS_SSL_SERVER_NAME_INDICATION", "MBEDTLS_MPI_MAX_SIZE"):
        assert not rc.has(absent), absent
    assert rc.has("MBEDTLS_KEY_EXCHANGE_PSK_ENABLED") and rc.has("MBEDTLS_CCM_C")
    assert rc.value("MBEDTLS_PSK_MAX_LEN") == "16"
    assert NO_RTC_WARNING not in rc.warnings


def test_mfl_sizes_buffers() -> None:
    _, rc = _resolved("tls12-mfl")
    assert rc.has("MBEDTLS_SSL_MAX_FRAGMENT_LENGTH")
    assert rc.value("MBEDTLS_SSL_OUT_CONTENT_LEN") == "1024"
    assert rc.value("MBEDTLS_SSL_IN_CONTENT_LEN") == "1024"  # one P-256 leaf fits a 1024-byte fragment
    in_len = next(o for o in rc.options if o.name == "MBEDTLS_SSL_IN_CONTENT_LEN")
    assert "max_fragment_length 1024" in in_len.reasons[0]


def test_mfl_with_large_chain_keeps_room_for_certificate(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "name: x\nserver: {host: a.example}\ntls:\n  versions: ['1.2']\n"
        "  ciphersuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  groups: [secp256r1]\n"
        "  signature_algorithms: [rsa_pkcs1_sha256]\n  max_fragment_length: 512\n"
        "trust:\n  chain: {root: rsa2048, intermediates: [rsa2048], leaf: rsa2048}\n")
    rc = resolve(load_profile(tmp_path / "p.yaml", KB), KB, M4)
    assert rc.value("MBEDTLS_SSL_OUT_CONTENT_LEN") == "512"
    assert int(rc.value("MBEDTLS_SSL_IN_CONTENT_LEN") or 0) >= 2 * 1100


def test_mutual_tls_can_sign() -> None:
    _, rc = _resolved("tls12-mutual")
    # ECDSA signing: through PSA on the p256-m build (P-256 key), else the built-in ECDSA
    signs = "PSA_WANT_ALG_ECDSA" if rc.driver == "p256-m" else "MBEDTLS_ECDSA_C"
    assert rc.has("MBEDTLS_PK_PARSE_C") and rc.has(signs) and rc.has("MBEDTLS_ASN1_WRITE_C")
    assert rc.value("MBEDTLS_SSL_OUT_CONTENT_LEN") == "4096"
    pk = next(o for o in rc.options if o.name == "MBEDTLS_PK_PARSE_C")
    assert any("client_certificate" in r for r in pk.reasons)


def test_optimize_speed_changes_only_tuning(tmp_path: Path) -> None:
    # the built-in ECP kept (speed would take the p256-m driver build, test below)
    text = (PROFILES / "tls12-ecdhe-ecdsa.yaml").read_text() + "optimize: speed\ntuning: {driver: legacy}\n"
    (tmp_path / "tls12-ecdhe-ecdsa.yaml").write_text(text)
    kb = KB
    size = resolve(load_profile(PROFILES / "tls12-ecdhe-ecdsa.yaml", KB), kb, M4, knobs={"driver": "legacy"})
    speed = resolve(load_profile(tmp_path / "tls12-ecdhe-ecdsa.yaml", KB), kb, M4)
    assert speed.value("MBEDTLS_ECP_WINDOW_SIZE") == "4" and speed.value("MBEDTLS_ECP_FIXED_POINT_OPTIM") == "1"
    assert speed.has("MBEDTLS_ECP_NIST_OPTIM") and not size.has("MBEDTLS_ECP_NIST_OPTIM")
    tuned = {t.name for t in kb.tuning} | {r.option for r in kb.random_generators}
    assert {o.name for o in size.options} - tuned == {o.name for o in speed.options} - tuned


def test_tls12_p256_only_takes_p256m_with_its_workaround(tmp_path: Path) -> None:
    for level in ("size", "balanced", "speed"):
        text = (PROFILES / "tls12-ecdhe-ecdsa.yaml").read_text() + f"optimize: {level}\n"
        (tmp_path / "p.yaml").write_text(text)
        rc = resolve(load_profile(tmp_path / "p.yaml", KB), KB, M4)
        assert rc.driver == "p256-m" and rc.has("MBEDTLS_PSA_P256M_DRIVER_ENABLED"), level
        assert not rc.has("MBEDTLS_ECP_C") and not rc.has("MBEDTLS_ECDSA_C") and not rc.has("MBEDTLS_MD_C")
        # the two macros stock 3.6.6 derives only from the legacy modules (ClientHello groups, premaster size)
        assert rc.has("MBEDTLS_SSL_TLS1_2_SOME_ECC") and rc.has("MBEDTLS_ECP_LIGHT")
        assert rc.has("PSA_WANT_ALG_TLS12_PRF") and rc.has("MBEDTLS_CTR_DRBG_C")
    # the tuning knob picks either build at any level; Armv6-M keeps the built-in ECP unless asked
    shipped = load_profile(PROFILES / "tls12-ecdhe-ecdsa.yaml", KB)
    legacy = resolve(shipped, KB, M4, knobs={"driver": "legacy"})
    assert legacy.driver is None and legacy.has("MBEDTLS_ECP_C") and legacy.fitting_drivers == ("p256-m",)
    assert resolve(shipped, KB, find_core("cortex-m0")).driver == "p256-m"          # size: smaller and faster there too
    balanced = replace(shipped, optimize="balanced")
    assert resolve(balanced, KB, find_core("cortex-m0")).driver is None              # NIST reduction beats it on the M0
    assert resolve(balanced, KB, find_core("cortex-m3")).driver is None              # and on the M3 (no UMAAL)
    assert resolve(balanced, KB, find_core("cortex-m4")).driver == "p256-m"
    assert resolve(balanced, KB, find_core("cortex-m0"), {"driver": "p256-m"}).driver == "p256-m"


def test_driver_knob_that_does_not_fit_is_infeasible() -> None:
    with pytest.raises(Infeasible, match="tuning.driver: p256-m does not apply"):
        resolve(load_profile(PROFILES / "tls12-ecdhe-rsa.yaml", KB), KB, M4, knobs={"driver": "p256-m"})


def test_cbc_suite_gets_encrypt_then_mac_and_no_decrypt_stays_off(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "name: x\nserver: {host: a.example}\ntls:\n  versions: ['1.2']\n"
        "  ciphersuites: [TLS_PSK_WITH_AES_128_CBC_SHA256]\n  psk: {identity: a, key: '00112233445566778899aabbccddeeff'}\n")
    rc = resolve(load_profile(tmp_path / "p.yaml", KB), KB, M4)
    assert rc.has("MBEDTLS_SSL_ENCRYPT_THEN_MAC") and rc.has("MBEDTLS_CIPHER_MODE_CBC")
    assert not rc.has("MBEDTLS_BLOCK_CIPHER_NO_DECRYPT")


def _broken_kb(tmp_path: Path, old: str, new: str):
    text = KB.source.read_text()
    assert old in text
    path = tmp_path / "mbedtls-3.6.yaml"
    path.write_text(text.replace(old, new))
    return load_knowledge(path), text[:text.index(old)].count("\n") + 1


def test_requirement_on_forbidden_option_reports_whole_chain(tmp_path: Path) -> None:
    kb, line = _broken_kb(tmp_path, "{name: MBEDTLS_ECDH_C, requires: [MBEDTLS_ECP_C]",
                          "{name: MBEDTLS_ECDH_C, requires: [MBEDTLS_ECP_C, MBEDTLS_FS_IO]")
    with pytest.raises(Infeasible) as err:
        resolve(load_profile(PROFILES / "tls12-ecdhe-rsa.yaml", KB), kb, M4)   # the built-in ECDH
    message = str(err.value)
    assert "MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED (mbedtls-3.6.yaml:" in message
    assert f"requires MBEDTLS_ECDH_C (mbedtls-3.6.yaml:{line}) requires MBEDTLS_FS_IO" in message
    assert "tlsfit never defines MBEDTLS_FS_IO" in message


def test_conflict_reports_both_chains(tmp_path: Path) -> None:
    kb, _ = _broken_kb(tmp_path, "{name: MBEDTLS_GCM_C, requires_any",
                       "{name: MBEDTLS_GCM_C, conflicts: [MBEDTLS_SHA256_C], requires_any")
    with pytest.raises(Infeasible, match=r"MBEDTLS_GCM_C \(mbedtls-3.6.yaml:\d+\) conflicts with .*MBEDTLS_SHA256_C"):
        resolve(load_profile(PROFILES / "tls12-ecdhe-ecdsa.yaml", KB), kb, M4)


def test_out_buffer_knob_never_goes_below_the_clients_largest_handshake_message() -> None:
    mutual = load_profile(PROFILES / "tls12-mutual.yaml", KB)
    with pytest.raises(Infeasible, match="tuning.out_buffer: 512 bytes cannot hold the client Certificate"):
        resolve(mutual, KB, M4, knobs={"out_buffer": "512"})
    assert resolve(mutual, KB, M4, knobs={"out_buffer": "1024"}).value("MBEDTLS_SSL_OUT_CONTENT_LEN") == "1024"
    plain = load_profile(PROFILES / "tls12-ecdhe-ecdsa.yaml", KB)
    assert resolve(plain, KB, M4, knobs={"out_buffer": "512"}).value("MBEDTLS_SSL_OUT_CONTENT_LEN") == "512"


def test_fragment_knob_only_where_the_server_honours_max_fragment_length() -> None:
    from pipeline.stages import load
    with pytest.raises(Infeasible, match="tuning.fragment: does not apply"):
        resolve(load_profile(PROFILES / "tls12-ecdhe-ecdsa.yaml", KB), KB, M4, knobs={"fragment": "512"})
    mfl = PROFILES / "tls12-mfl.yaml"
    rc = resolve(load_profile(mfl, KB), KB, M4, knobs={"fragment": "512"})
    # MFL 512 shrinks the output buffer; the input one still holds the server's Certificate message
    assert rc.value("MBEDTLS_SSL_OUT_CONTENT_LEN") == "512"
    assert int(rc.value("MBEDTLS_SSL_IN_CONTENT_LEN")) >= 512
    # the firmware asks for what the knob chose
    assert load(mfl, KB, knobs=(("fragment", "512"),)).max_fragment_length == 512
    assert load(mfl, KB).max_fragment_length == 1024


def test_fragment_knob_without_max_fragment_length_is_a_profile_error(tmp_path: Path) -> None:
    from core.errors import BadInput
    path = tmp_path / "p.yaml"
    path.write_text((PROFILES / "tls12-psk.yaml").read_text() + "tuning: {fragment: 512}\n")
    with pytest.raises(BadInput, match=r"p.yaml:\d+: error: 'tuning.fragment' asks for a max_fragment_length"):
        load_profile(path, KB)

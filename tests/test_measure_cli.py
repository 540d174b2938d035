"""`tlsfit measure` end to end: real builds, real QEMU runs, real servers, through the launcher."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from generator.profile import load_profile, suite_facts
from measure.boards import list_boards, load_board
from generator.model import ChainShape
from measure.pki import TestPki, make_test_pki
from measure.server import start_reference_server
from generator.knowledge import knowledge_for

KB = knowledge_for("3.6.6")  # the pinned mbedTLS's knowledge base

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
SHIPPED = sorted(PROFILES.glob("*.yaml"))
X509_CERT_VERIFY_FAILED = -0x2700
SSL_FATAL_ALERT = -0x7780  # MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: the server refused


def measure(*args: str) -> tuple[subprocess.CompletedProcess[str], dict | None]:
    proc = subprocess.run([str(ROOT / "tlsfit"), "measure", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    out = Path(args[args.index("-o") + 1]) if "-o" in args else None
    report = json.loads((out / "report.json").read_text()) if out and (out / "report.json").is_file() else None
    return proc, report


def check_contract(report: dict) -> None:
    """The report.json keys of DESIGN.md, with figures that add up."""
    for key in ("tlsfit_version", "profile", "target", "cpu", "mbedtls_version", "config_sha256",
                "rom", "ram", "handshake", "server"):
        assert key in report, key
    rom, ram = report["rom"], report["ram"]
    assert rom["total"] > rom["mbedtls"] > 0
    assert sum(rom["modules"].values()) == rom["mbedtls"]
    assert ram["total"] == ram["static"] + ram["heap_peak"] + ram["stack_peak"]
    assert report["mbedtls_version"] == "3.6.6"


def test_tls12_openssl_in_qemu(tmp_path: Path) -> None:
    proc, report = measure(str(PROFILES / "tls12-ecdhe-ecdsa.yaml"), "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_contract(report)
    hs = report["handshake"]
    assert (hs["ok"], hs["version"], hs["ciphersuite"], hs["group"]) == \
        (True, "TLS 1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "secp256r1")
    assert hs["instructions"] > 1_000_000 and hs["bytes_sent"] > 0 and hs["bytes_received"] > 0
    assert report["server"]["impl"] == "openssl s_server"
    for name in ("report.md", "report.html"):
        assert (tmp_path / name).stat().st_size > 0
    # the header that was measured, beside its report (issue 18 item 8), the one report.json names
    header = (tmp_path / "mbedtls_config.h").read_text()
    assert hashlib.sha256(header.encode()).hexdigest() == report["config_sha256"]


def test_one_address_parser_for_every_command() -> None:
    from pipeline import ServerAddress, parse_server_address
    assert parse_server_address("broker.example.com:8883") == ServerAddress("broker.example.com", 8883)
    assert parse_server_address("[::1]:4433") == parse_server_address("::1:4433") == ServerAddress("::1", 4433)
    assert str(ServerAddress("::1", 4433)) == "[::1]:4433"
    for bad in ("nohostport", "127.0.0.1:0", "127.0.0.1:70000", "host name:443", ":443", "[x]:443", "::1",
                "[::1]", "a:b:443"):
        with pytest.raises(Exception, match="--server"):
            parse_server_address(bad)


def test_tls13_gnutls_in_qemu(tmp_path: Path) -> None:
    proc, report = measure(str(PROFILES / "tls13-only.yaml"), "--server-impl", "gnutls", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_contract(report)
    assert report["handshake"]["version"] == "TLS 1.3"
    assert report["handshake"]["ciphersuite"] == "TLS_AES_128_GCM_SHA256"
    assert report["handshake"]["group"] == "secp256r1"  # the profile's first group gets the key share
    assert report["server"]["impl"] == "gnutls-serv"


def test_same_firmware_gives_same_figures(tmp_path: Path) -> None:
    profile = str(PROFILES / "aws-iot-core.yaml")
    _, first = measure(profile, "-o", str(tmp_path / "1"))
    _, second = measure(profile, "-o", str(tmp_path / "2"))
    assert first["rom"] == second["rom"]
    assert first["ram"] == second["ram"]
    a, b = first["handshake"]["instructions"], second["handshake"]["instructions"]
    assert abs(a - b) / a < 0.005


def test_optimize_speed_trades_rom_for_handshake_work(tmp_path: Path) -> None:
    # optimize: size in the file; the built-in ECP (an RSA chain), whose window and tables the levels set
    profile = str(PROFILES / "tls12-ecdhe-rsa.yaml")
    _, size = measure(profile, "-o", str(tmp_path / "size"))
    _, speed = measure(profile, "--optimize", "speed", "-o", str(tmp_path / "speed"))
    assert size and speed and size["handshake"]["ok"] and speed["handshake"]["ok"]
    assert (size["optimize"], speed["optimize"]) == ("size", "speed")
    assert speed["rom"]["mbedtls"] > size["rom"]["mbedtls"]
    assert speed["handshake"]["instructions"] < size["handshake"]["instructions"] / 2


# Boards whose RAM cannot hold tls12-psk's 16 KB record buffers run the PSK profile sized for them.
PSK_PROFILE_FOR = {"microbit": "microbit-psk.yaml"}


@pytest.mark.parametrize("board", [b for b in list_boards(ROOT / "ports") if b != "host"])
def test_every_qemu_board_handshakes(board: str, tmp_path: Path) -> None:
    profile = PROFILES / PSK_PROFILE_FOR.get(board, "tls12-psk.yaml")
    proc, report = measure(str(profile), "--target", board, "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["target"] == board and report["cpu"] == load_board(board, ROOT / "ports").cpu
    assert report["handshake"]["ok"] and report["handshake"]["instructions"] > 0


def test_host_target_negotiates_what_qemu_does(tmp_path: Path) -> None:
    profile = str(PROFILES / "tls12-psk.yaml")
    _, qemu = measure(profile, "-o", str(tmp_path / "qemu"))
    proc, host = measure(profile, "--target", "host", "-o", str(tmp_path / "host"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert host["handshake"]["ciphersuite"] == qemu["handshake"]["ciphersuite"] == "TLS_PSK_WITH_AES_128_CCM_8"
    assert host["handshake"]["instructions"] is None  # no deterministic counter on Linux


def test_bad_server_address_exits_2(tmp_path: Path) -> None:
    proc, report = measure(str(PROFILES / "tls12-psk.yaml"), "--server", "nohostport", "-o", str(tmp_path))
    assert proc.returncode == 2 and "HOST:PORT" in proc.stderr and report is None


# ---- attacks: a real server the firmware must refuse, reached with --server ----

DEVICE_HOST = "device.tlsfit.test"


def external_profile(tmp_path: Path, ca_file: Path, driver: str = "p256-m") -> Path:
    """A TLS 1.2 ECDHE-ECDSA profile trusting ca_file, for a server the test starts itself."""
    path = tmp_path / "external.yaml"
    path.write_text(f"""name: external
server: {{host: {DEVICE_HOST}, port: 4433}}
tuning: {{driver: {driver}}}
tls:
  versions: ["1.2"]
  ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  groups: [secp256r1]
  signature_algorithms: [ecdsa_secp256r1_sha256]
trust:
  ca_files: [{ca_file}]
""")
    return path


CHAIN = ChainShape(root="secp256r1", intermediates=(), leaf="secp256r1")


@pytest.fixture(scope="module")
def trusted_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(CHAIN, DEVICE_HOST, None, tmp_path_factory.mktemp("trusted"))


# The p256-m PSA driver (TLS 1.2 on it needs the knowledge base's config-only workaround) and
# the built-in ECP: each must refuse what it should.
P256_BUILDS = pytest.mark.parametrize("driver", ["p256-m", "legacy"], ids=["p256m", "builtin-ecp"])


def run_against(tmp_path: Path, trusted_root: Path, server_pki: TestPki,
                suites: tuple[str, ...] | None = None, driver: str = "p256-m") -> tuple[int, dict, str]:
    """Measure a profile trusting trusted_root against openssl serving server_pki's chain."""
    profile_path = external_profile(tmp_path, trusted_root, driver)
    server_profile = load_profile(profile_path, KB)
    if suites is not None:
        server_profile = dataclasses.replace(server_profile, ciphersuites=suites, suites=suite_facts(suites, KB))
    with start_reference_server(server_profile, server_pki, impl="openssl", workdir=tmp_path / "srv") as srv:
        proc, report = measure(str(profile_path), "--server", f"127.0.0.1:{srv.port}", "-o", str(tmp_path / "out"))
    assert report is not None, proc.stderr
    assert ("MBEDTLS_PSA_P256M_DRIVER_ENABLED" in report["options"]) == (driver == "p256-m")
    return proc.returncode, report, proc.stdout + proc.stderr


@P256_BUILDS
def test_trusted_server_is_accepted(tmp_path: Path, trusted_pki: TestPki, driver: str) -> None:
    code, report, out = run_against(tmp_path, trusted_pki.root_file, trusted_pki, driver=driver)
    assert code == 0 and report["handshake"]["ok"]
    assert report["server"]["impl"] == "external"


def verify_flag_names(error: dict) -> list[str]:
    return [f["name"] for f in error["verify_flags"]["flags"]]


@P256_BUILDS
def test_server_certificate_from_another_ca_is_refused(tmp_path: Path, trusted_pki: TestPki, driver: str) -> None:
    rogue = make_test_pki(CHAIN, DEVICE_HOST, None, tmp_path / "rogue-ca", tag="rogue")
    code, report, out = run_against(tmp_path, trusted_pki.root_file, rogue, driver=driver)
    assert code == 1 and not report["handshake"]["ok"]
    error = report["handshake"]["error"]
    assert error["code"] == X509_CERT_VERIFY_FAILED  # mbedTLS's reason stays the primary one
    assert error["message"] is None  # the server closing after the firmware's alert is no fault
    # the firmware's own fatal alert reached the server (not a server alert about a cut record)
    assert error["alert"] == "unknown_ca (from client)"
    assert (error["alert_sent"], error["alert_received"]) == ("unknown_ca", None)
    assert verify_flag_names(error) == ["MBEDTLS_X509_BADCERT_NOT_TRUSTED"]
    assert error["verify_flags"]["value"] == 0x08
    assert "trusted CA" in error["verify_flags"]["flags"][0]["description"]  # x509.h's comment
    md = (tmp_path / "out" / "report.md").read_text().replace("\\", "")  # Markdown escapes aside
    assert "Alert sent: unknown_ca / received: none." in md
    assert "MBEDTLS_X509_BADCERT_NOT_TRUSTED" in md
    assert "alert sent: unknown_ca / received: none" in out  # the terminal summary
    assert "BADCERT_NOT_TRUSTED (The certificate is not correctly signed by the trusted CA.)" in out


@P256_BUILDS
def test_certificate_for_another_host_name_is_refused(tmp_path: Path, driver: str) -> None:
    # A chain the device trusts, but issued to another name than the profile's server.host.
    other = make_test_pki(CHAIN, "other.tlsfit.test", None, tmp_path / "other-host")
    code, report, out = run_against(tmp_path, other.root_file, other, driver=driver)
    assert code == 1 and not report["handshake"]["ok"]
    error = report["handshake"]["error"]
    assert error["code"] == X509_CERT_VERIFY_FAILED
    assert error["alert"] == "bad_certificate (from client)"
    assert (error["alert_sent"], error["alert_received"]) == ("bad_certificate", None)
    assert verify_flag_names(error) == ["MBEDTLS_X509_BADCERT_CN_MISMATCH"]


@P256_BUILDS
def test_server_offering_only_another_suite_is_refused(tmp_path: Path, trusted_pki: TestPki, driver: str) -> None:
    code, report, out = run_against(tmp_path, trusted_pki.root_file, trusted_pki,
                               suites=("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",), driver=driver)
    assert code == 1 and not report["handshake"]["ok"]
    error = report["handshake"]["error"]
    assert error["code"] == SSL_FATAL_ALERT
    # the server refused: its alert, and none from the firmware
    assert error["alert"] == "handshake_failure (from server)"
    assert (error["alert_sent"], error["alert_received"]) == (None, "handshake_failure")
    assert "alert sent: none / received: handshake_failure" in out
    assert error["verify_flags"] is None


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["openssl", "gnutls"])
@pytest.mark.parametrize("profile", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_profile_handshakes(profile: Path, impl: str, tmp_path: Path) -> None:
    proc, report = measure(str(profile), "--server-impl", impl, "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_contract(report)

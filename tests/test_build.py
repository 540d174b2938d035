"""Building: board facts, the library cache, build errors, rendered harness data."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import subprocess

import pytest

from measure.boards import BoardError, list_boards, load_board
from measure.figures import DoesNotFit
from generator.render import config_sha256
from measure.build import build_firmware, build_library_only
from measure.firmware_data import c_string, http_request, mqtt_connect_packet, render_harness_data
from measure.model import HarnessInput, MeasureError

ROOT = Path(__file__).resolve().parent.parent
PORTS = ROOT / "ports"
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"

needs_mbedtls = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up")

# TLS 1.2 PSK-only client: no X.509, no ECC: proves the harness's #if guards.
PSK_CONFIG = """/* test: TLS 1.2 PSK AES-128-CCM */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_AES_C
#define MBEDTLS_CCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_SSL_IN_CONTENT_LEN 2048
#define MBEDTLS_SSL_OUT_CONTENT_LEN 2048
#define MBEDTLS_SSL_CIPHERSUITES MBEDTLS_TLS_PSK_WITH_AES_128_CCM
"""

PSK_INPUT = HarnessInput(server_name="localhost", verify=True, ca_der=(), client_cert_der=(),
                         client_key_der=None, psk_identity=b"device-1",
                         psk_key=bytes.fromhex("00112233445566778899aabbccddeeff"),
                         alpn=(), max_fragment_length=None)


def test_board_facts_come_from_board_yaml():
    board = load_board("mps2-an386", PORTS)
    assert board.cpu == "cortex-m4" and not board.is_host
    assert "-mcpu=cortex-m4" in board.cflags
    assert (board.flash_limit, board.ram_limit) == (1024 * 1024, 256 * 1024)
    assert board.linker_script is not None and board.linker_script.is_file()
    assert "{elf}" in board.qemu_argv and "tcp:127.0.0.1:{port}" in board.qemu_argv
    assert load_board("host", PORTS).is_host
    assert {"mps2-an386", "mps2-an385", "mps2-an500", "host"} <= set(list_boards(PORTS))
    assert "template" not in list_boards(PORTS)


def test_unknown_board_names_the_known_ones():
    with pytest.raises(BoardError, match="unknown target 'nrf99'.*mps2-an386"):
        load_board("nrf99", PORTS)


def test_unknown_target_exits_2_listing_the_boards(tmp_path):
    proc = subprocess.run([str(PORTS.parent / "tlsfit"), "measure", str(PORTS.parent / "profiles/tls12-psk.yaml"),
                           "--target", "mps2-an368", "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "unknown target 'mps2-an368'; did you mean 'mps2-an386'?" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def _board_dir(tmp_path, text: str):
    ports = tmp_path / "ports"
    (ports / "b1").mkdir(parents=True, exist_ok=True)
    (ports / "b1" / "board.c").write_text("")
    (ports / "b1" / "board.yaml").write_text(text)
    return ports


GOOD_BOARD = ("name: b1\ncore: cortex-m4\ncc: arm-none-eabi-gcc\nsources: [board.c]\n"
              "qemu: {argv: [qemu-system-arm, -kernel, '{elf}', -serial, 'tcp:127.0.0.1:{port}']}\n")


def test_board_yaml_is_validated_with_file_and_line(tmp_path):
    assert load_board("b1", _board_dir(tmp_path, GOOD_BOARD)).cpu == "cortex-m4"
    ports = _board_dir(tmp_path, GOOD_BOARD + "cflag: [-O2]\n")
    with pytest.raises(BoardError, match=r"b1/board.yaml:6: error: unknown key 'cflag'.*did you mean 'cflags'"):
        load_board("b1", ports)
    ports = _board_dir(tmp_path, GOOD_BOARD + "limits: {flash: -1}\n")
    with pytest.raises(BoardError, match=r"board.yaml:6: error: 'limits.flash' must be a positive number"):
        load_board("b1", ports)
    ports = _board_dir(tmp_path, GOOD_BOARD.replace("sources: [board.c]", "sources: [nope.c]"))
    with pytest.raises(BoardError, match=r"board.yaml:4: error: source .*nope.c not found"):
        load_board("b1", ports)
    ports = _board_dir(tmp_path, GOOD_BOARD.replace("core: cortex-m4\n", ""))
    with pytest.raises(BoardError, match=r"board.yaml:1: error: missing required key 'core'"):
        load_board("b1", ports)


def test_board_flags_stay_in_board_files():
    """-mcpu appears in board facts only, never in common code or the makefile."""
    for path in [PORTS / "build.mk", *sorted((PORTS / "common").iterdir())]:
        assert "-mcpu" not in path.read_text(), path


def test_render_harness_data_is_deterministic_and_complete():
    inp = HarnessInput(server_name='a"b?.example', verify=False, ca_der=(b"\x30\x82\x01", b"\x30"),
                       client_cert_der=(b"\x30\x01",), client_key_der=b"\x30\x02",
                       psk_identity=None, psk_key=None, alpn=("mqtt", "x-amzn-mqtt-ca"),
                       max_fragment_length=1024)
    text = render_harness_data(inp)
    assert text == render_harness_data(inp)
    assert "do not edit" in text
    assert "static const unsigned char s_ca_0[3] = {\n    0x30, 0x82, 0x01,\n};" in text
    assert ".ca_count = 2u," in text and ".client_cert_count = 1u," in text
    assert ".verify = 0," in text and ".max_fragment_length = 1024u," in text
    assert ".psk_key = { NULL, 0u }," in text
    assert '.server_name = "a\\"b\\077.example",' in text
    assert '"x-amzn-mqtt-ca",\n    NULL,' in text
    assert render_harness_data(PSK_INPUT) != text


def test_rendered_facts_follow_the_profile():
    """Compile-time facts the harness #ifs on: only what the profile uses is referenced."""
    text = render_harness_data(PSK_INPUT)
    assert "#define TLSFIT_HAS_PSK 1" in text and "#define TLSFIT_HAS_CLIENT_CERT 0" in text
    assert "#define TLSFIT_HAS_CA 0" in text and "#define TLSFIT_HAS_GROUPS 0" in text
    assert "#define TLSFIT_APP TLSFIT_APP_ECHO" in text
    mutual = replace(PSK_INPUT, client_cert_der=(b"\x30",), client_key_der=b"\x30", group_ids=(23,),
                     app="none")
    text = render_harness_data(mutual)
    assert "#define TLSFIT_HAS_CLIENT_CERT 1" in text and "#define TLSFIT_HAS_GROUPS 1" in text
    assert "#define TLSFIT_APP TLSFIT_APP_NONE" in text
    assert ".message = { NULL, 0u }," in text  # app none sends nothing
    coap = render_harness_data(replace(PSK_INPUT, app="coap", app_path="/time"))
    assert "#define TLSFIT_APP TLSFIT_APP_COAP" in coap and ".message = { s_message, 17u }," in coap  # 12-byte header + token, "time" option
    with pytest.raises(MeasureError, match="unknown app 'smtp'"):
        render_harness_data(replace(PSK_INPUT, app="smtp"))


def test_mqtt_connect_packet_is_mqtt_311():
    packet = mqtt_connect_packet("dev-1")
    assert packet == (b"\x10\x11" b"\x00\x04MQTT" b"\x04" b"\x02" b"\x00\x3c" b"\x00\x05dev-1")
    long_id = mqtt_connect_packet("x" * 200)
    assert long_id[1:3] == bytes([(12 + 200) % 128 | 0x80, (12 + 200) // 128])  # 2-byte length
    text = render_harness_data(replace(PSK_INPUT, app="mqtt", app_client_id="dev-1"))
    assert "#define TLSFIT_APP TLSFIT_APP_MQTT" in text and ".message = { s_message, 19u }," in text


def test_http_request_names_host_and_path():
    assert http_request("example.com", "/status") == (
        b"GET /status HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
    with pytest.raises(MeasureError, match="control character"):
        http_request("a\r\nX-Injected: 1")
    text = render_harness_data(replace(PSK_INPUT, app="http"))
    assert "0x48, 0x6f, 0x73, 0x74, 0x3a, 0x20, 0x6c, 0x6f" in text  # "Host: lo"(calhost)


def test_c_string_escapes_non_ascii():
    assert c_string("é\n") == '"\\303\\251\\012"'


@needs_mbedtls
def test_library_cache_cold_then_warm(tmp_path):
    board = load_board("mps2-an386", PORTS)
    start = time.monotonic()
    cold = build_library_only(PSK_CONFIG, board, MBEDTLS, tmp_path)
    cold_s = time.monotonic() - start
    assert not cold.cached and cold.archive.is_file()
    assert cold.archive.parent.parent == tmp_path / config_sha256(PSK_CONFIG)
    assert cold.archive.parent.name.startswith("mps2-an386-")      # <board>-<key of the build>
    mtime = cold.archive.stat().st_mtime_ns

    start = time.monotonic()
    warm = build_library_only(PSK_CONFIG, board, MBEDTLS, tmp_path)
    warm_s = time.monotonic() - start
    assert warm.cached and warm.archive.stat().st_mtime_ns == mtime
    assert warm_s < 1.0 < cold_s

    # the harness builds with -Werror against a config without X.509 or ECC
    fw = build_firmware(PSK_CONFIG, render_harness_data(PSK_INPUT), board, MBEDTLS, tmp_path)
    assert fw.elf.is_file() and fw.config_sha256 == config_sha256(PSK_CONFIG)
    assert cold.archive.stat().st_mtime_ns == mtime
    map_text = fw.map_file.read_text()
    assert "libmbedtls.a(ssl_tls12_client.o)" in map_text
    assert "libmbedtls.a(ecp.o)" not in map_text  # nothing of ECC linked


@needs_mbedtls
def test_build_error_carries_the_compiler_message(tmp_path):
    board = load_board("mps2-an386", PORTS)
    broken = "#define MBEDTLS_SSL_TLS_C\n#define MBEDTLS_SSL_CLI_C\n"
    with pytest.raises(MeasureError, match=r"(?s)build failed.*#error"):
        build_library_only(broken, board, MBEDTLS, tmp_path)
    # a failed build leaves no entry that looks complete
    assert (tmp_path / config_sha256(broken)).is_dir()
    assert not list((tmp_path / config_sha256(broken)).glob("*/complete.json"))


@needs_mbedtls
def test_linker_enforces_the_modelled_flash_limit(cache):
    board = load_board("mps2-an386", PORTS)
    huge = HarnessInput(server_name="x", verify=True, ca_der=(), client_cert_der=(),
                        client_key_der=None, psk_identity=b"id", psk_key=b"k" * 16, alpn=(),
                        max_fragment_length=None, message=b"\x01" * (1024 * 1024))
    # the profile not fitting the part: Infeasible (exit 2) naming the region and the overflow
    with pytest.raises(DoesNotFit, match=r"^FLASH overflowed by [\d,]+ B on mps2-an386 \(1,048,576 B\)"):
        build_firmware(PSK_CONFIG, render_harness_data(huge), board, MBEDTLS, cache)


@needs_mbedtls
def test_linker_regions_come_from_board_yaml(cache):
    """board.yaml's limits are the MEMORY lengths: written once, used by the linker."""
    board = load_board("mps2-an386", PORTS)
    fw = build_firmware(PSK_CONFIG, render_harness_data(PSK_INPUT), board, MBEDTLS, cache)
    map_text = fw.map_file.read_text()
    assert f"FLASH            0x00000000         0x{board.flash_limit:08x}" in map_text
    assert f"RAM              0x20000000         0x{board.ram_limit:08x}" in map_text
    smaller = replace(board, flash_limit=16 * 1024)
    # the profile not fitting the part: Infeasible (exit 2) naming the region and the overflow
    with pytest.raises(DoesNotFit, match=r"^FLASH overflowed by [\d,]+ B on mps2-an386 \(16,384 B\)"):
        build_firmware(PSK_CONFIG, render_harness_data(PSK_INPUT), smaller, MBEDTLS, cache)

"""riscv32-virt (issue 13): an RV32IMAC board, QEMU's virt machine with the memory of an
ESP32-C3-class part (4 MiB flash, 400 KiB SRAM); riscv64-unknown-elf-gcc + picolibc.

Real builds, real QEMU, real `openssl s_server` on 127.0.0.1 through the library API.
The default suite: board facts, the knowledge base's RV32 choices, exact instruction
counting (instret, only the transport waits left out, as on every port:
tests/test_port_counting.py) and a link overflow on a shrunken copy of the board; every shipped profile on the board is @slow (make test-all).
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from generator.cores import find_core
from generator.knowledge import knowledge_for
from generator.profile import load_profile
from generator.resolve import resolve
from measure.boards import load_board
from measure.figures import DoesNotFit
from pipeline import stages
from pipeline.tree import open_mbedtls

ROOT = Path(__file__).resolve().parent.parent
PORTS = ROOT / "ports"
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
BOARD = "riscv32-virt"
# TCP profiles: the board has no datagram transport (board.yaml datagram: false), so DTLS
# profiles are refused with exit 2 before any build, as on the micro:bit
SHIPPED = [p for p in sorted((ROOT / "profiles").glob("*.yaml"))
           if (yaml.safe_load(p.read_text()) or {}).get("transport", "tcp") != "udp"]

needs_tools = pytest.mark.skipif(
    not MBEDTLS.is_dir() or shutil.which("riscv64-unknown-elf-gcc") is None
    or shutil.which("qemu-system-riscv32") is None,
    reason="mbedTLS source, riscv64-unknown-elf-gcc or qemu-system-riscv32 missing (make setup)")


def _measure(tmp_path: Path, profile: str, ports: Path = PORTS, optimize: str | None = None) -> dict:
    paths = stages.Paths(ports=ports, cache=ROOT / "build" / "cache", work=tmp_path / "work")
    request = stages.MeasureRequest(profile=ROOT / "profiles" / f"{profile}.yaml", tree=open_mbedtls(MBEDTLS),
                                    paths=paths, target=BOARD, timeout_s=300.0, optimize=optimize)
    return stages.measure(request, "test").report


def test_board_facts_are_an_esp32c3_class_part() -> None:
    board = load_board(BOARD, PORTS)
    assert (board.flash_limit, board.ram_limit) == (4 * 1024 * 1024, 400 * 1024)
    assert (board.cpu, board.arch, board.clock_hz, board.cc) == (
        "rv32imac", "rv32imac", 160_000_000, "riscv64-unknown-elf-gcc")
    # the core's flags (generator/data/cores.yaml) first, then the board's own
    assert board.cflags == ("-march=rv32imac", "-mabi=ilp32", "--specs=picolibc.specs")


def _options(profile: str, level: str, core: str) -> set[str]:
    kb = knowledge_for("3.6.6")
    loaded = load_profile(ROOT / "profiles" / f"{profile}.yaml", kb)
    return {o.name for o in resolve(replace(loaded, optimize=level), kb, find_core(core)).options}


def test_rv32_knowledge_base_choices() -> None:
    """Measured reasons in the knowledge base: on RV32 the inline-asm switch only buys the
    constant-time barrier (smaller and faster: on at every level), and dropping the 64-bit
    type makes bignum multiply in 16-bit halves (smaller, much slower: only at size)."""
    for level in ("size", "balanced", "speed"):
        rv32 = _options("tls12-ecdhe-ecdsa", level, "rv32imac")
        m4 = _options("tls12-ecdhe-ecdsa", level, "cortex-m4")
        extra, missing = rv32 - m4, m4 - rv32
        assert not extra, extra
        assert missing == (set() if level == "size" else {"MBEDTLS_NO_UDBL_DIVISION"}), (level, missing)
    assert "MBEDTLS_HAVE_ASM" in _options("tls12-ecdhe-ecdsa", "size", "rv32imac")


@needs_tools
def test_psk_handshake_counts_instructions_exactly(tmp_path: Path) -> None:
    """instret with the transport waits left out: the same firmware gives the same count,
    to the instruction (tls12-psk's work does not depend on the server's randomness, and the
    wait window opens around every byte's poll, so host timing moves nothing counted)."""
    first = _measure(tmp_path / "1", "tls12-psk")
    second = _measure(tmp_path / "2", "tls12-psk")
    assert first["handshake"]["ok"] and second["handshake"]["ok"], first["handshake"]
    assert first["target"] == BOARD and first["cpu"] == "rv32imac"
    assert first["handshake"]["ciphersuite"] == "TLS_PSK_WITH_AES_128_CCM_8"
    assert first["handshake"]["instructions"] == second["handshake"]["instructions"] > 100_000
    assert first["rom"] == second["rom"] and first["ram"] == second["ram"]


@needs_tools
def test_a_smaller_part_fails_the_link_with_the_ram_split(tmp_path: Path) -> None:
    """The linker script's regions are the board's limits: the same board with 64 KiB of
    RAM cannot hold the 64 KiB heap arena plus the stack, and says so (exit 2)."""
    ports = tmp_path / "ports"
    shutil.copytree(PORTS, ports, ignore=shutil.ignore_patterns("host"))
    yaml_path = ports / BOARD / "board.yaml"
    text = yaml_path.read_text()
    assert "limits: {flash: 4194304, ram: 409600}" in text
    yaml_path.write_text(text.replace("ram: 409600}", "ram: 65536}"))
    with pytest.raises(DoesNotFit) as info:
        _measure(tmp_path, "tls12-psk", ports=ports)
    ((region, over),) = info.value.overflows
    assert region == "RAM" and over > 16 * 1024           # at least the stack no longer fits
    assert str(info.value).startswith(f"RAM overflowed by {over:,} B on {BOARD} (65,536 B): static ")


@pytest.mark.slow
@needs_tools
@pytest.mark.parametrize("profile", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_profile_on_riscv32(tmp_path: Path, profile: Path) -> None:
    """400 KiB of SRAM holds every shipped TCP profile: each handshakes."""
    report = _measure(tmp_path, profile.stem)
    assert report["handshake"]["ok"], report["handshake"]
    assert report["handshake"]["instructions"] > 0

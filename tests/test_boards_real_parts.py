"""Boards with the memory maps of real parts (issue 13): micro:bit (nRF51822, Cortex-M0,
16 KiB RAM), lm3s6965evb (Cortex-M3, 64 KiB), netduinoplus2 (STM32F405, Cortex-M4).

Every test builds real firmware with arm-none-eabi-gcc and runs it in QEMU against a
real `openssl s_server` on 127.0.0.1 through the library API (pipeline.stages).
The default suite runs one handshake per board plus the micro:bit's fits/does-not-fit
pair; every shipped profile on every new board is @slow (make test-all).
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import Infeasible
from generator.cores import find_core
from generator.knowledge import knowledge_for
from measure.boards import ARCHES, load_board
from measure.figures import (DoesNotFit, heap_exhausted_note, map_output_sections, overflow_message,
                             parse_region_overflows)
from measure.model import Footprint
from pipeline import stages
from pipeline.tree import open_mbedtls

ROOT = Path(__file__).resolve().parent.parent
PORTS = ROOT / "ports"
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
NEW_BOARDS = ("microbit", "lm3s6965evb", "netduinoplus2")
SHIPPED = sorted((ROOT / "profiles").glob("*.yaml"))

needs_mbedtls = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")


def _measure(tmp_path: Path, profile: Path, target: str, optimize: str | None = None,
             ports: Path = PORTS) -> dict:
    tree = open_mbedtls(MBEDTLS)
    paths = stages.Paths(ports=ports, cache=ROOT / "build" / "cache", work=tmp_path / "work")
    request = stages.MeasureRequest(profile=profile, tree=tree, paths=paths, target=target,
                                    timeout_s=300.0, optimize=optimize)
    return stages.measure(request, "test").report


# ------------------------------------------------------------- board facts (no build)

@pytest.mark.parametrize("name", NEW_BOARDS)
def test_board_facts_are_the_real_parts(name: str) -> None:
    board = load_board(name, PORTS)
    real = {"microbit": (262144, 16384, "cortex-m0", "armv6-m", 16_000_000),
            "lm3s6965evb": (262144, 65536, "cortex-m3", "armv7-m", 50_000_000),
            "netduinoplus2": (1048576, 131072, "cortex-m4f", "armv7e-m", 168_000_000)}[name]
    assert (board.flash_limit, board.ram_limit, board.cpu, board.arch, board.clock_hz) == real


def test_knowledge_base_arches_are_board_arches() -> None:
    kb = knowledge_for("3.6.6")
    named = {a for t in kb.tuning for a in (*t.arch, *t.unless_arch)} | {a for d in kb.driver_builds for a in d.unless_arch}
    assert named and named <= set(ARCHES)


def test_armv6m_drops_have_asm_only_at_size() -> None:
    """The measured reason (knowledge base): Thumb-1 MULADDC is 88 B bigger, 8.6 % faster."""
    from generator.profile import load_profile
    from generator.resolve import resolve
    kb = knowledge_for("3.6.6")
    profile = load_profile(ROOT / "profiles" / "microbit-ecdhe.yaml", kb)

    def names(level: str, core: str) -> set[str]:
        # the built-in ECP throughout (on the M4, balanced would take the p256-m build)
        return {o.name for o in resolve(replace(profile, optimize=level), kb, find_core(core),
                                        {"driver": "legacy"}).options}

    # what balanced adds over size on Armv6-M, beyond what it adds on the M4
    only_armv6m = ((names("balanced", "cortex-m0") - names("size", "cortex-m0"))
                   - (names("balanced", "cortex-m4") - names("size", "cortex-m4")))
    assert len(only_armv6m) == 1
    (asm,) = only_armv6m
    assert asm in names("size", "cortex-m4") and asm in names("size", "cortex-m3")   # on at every level elsewhere
    assert asm not in names("size", "cortex-m0")


def test_overflow_message_names_region_overflow_and_split() -> None:
    board = load_board("microbit", PORTS)
    sections = {".data": 128, ".bss": 3256, ".heap_arena": 10240, ".stack": 3072}
    text = overflow_message(parse_region_overflows(
        "ld: tlsfit.elf section `.stack' will not fit in region `RAM'\n"
        "ld: region `RAM' overflowed by 320 bytes\n"), sections, board)
    assert text.startswith(
        "RAM overflowed by 320 B on microbit (16,384 B): static 3,384 B (.data 128 B + .bss 3,256 B, "
        "the profile's) + heap arena 10,240 B (TLSFIT_HEAP_ARENA_SIZE in ports/microbit/board.yaml "
        "cflags) + stack 3,072 B (STACK_SIZE in ports/microbit/linker.ld) + 8 B alignment")


def test_map_output_sections_reads_wrapped_names() -> None:
    text = ("Linker script and memory map\n\n"
            ".bss            0x20000080      0xcb8 load address 0x0000e444\n"
            " .bss.x         0x20000080       0x10 a.o\n"
            ".a_very_long_output_section_name\n"
            "                0x20000d40     0x2800\n")
    assert map_output_sections(text) == {".bss": 0xcb8, ".a_very_long_output_section_name": 0x2800}


def test_heap_exhausted_note_says_arena_and_peak() -> None:
    board = load_board("microbit", PORTS)
    fp = Footprint(rom_total=1, rom_mbedtls=1, modules={}, ram_static=1, heap_arena=10240, stack_reserved=3072)
    note = heap_exhausted_note(-0x7F00, 256, 32, fp, board)
    assert note is not None and "heap arena is 10,240 B" in note and "peaked at 256 B" in note
    assert heap_exhausted_note(-0x7780, 256, 32, fp, board) is None


# ------------------------------------------------------------- real builds and handshakes

@needs_mbedtls
@pytest.mark.parametrize("target", NEW_BOARDS)
def test_psk_handshake_on_each_new_board(tmp_path: Path, target: str) -> None:
    profile = "microbit-psk" if target == "microbit" else "tls12-psk"
    report = _measure(tmp_path, ROOT / "profiles" / f"{profile}.yaml", target)
    assert report["handshake"]["ok"], report["handshake"]
    assert report["target"] == target
    assert report["handshake"]["instructions"] > 100_000
    limit = load_board(target, PORTS).ram_limit
    assert report["ram"]["static"] + report["ram"]["heap_peak"] + report["ram"]["stack_peak"] < limit


@needs_mbedtls
def test_microbit_ecdhe_handshake_fits_16k(tmp_path: Path) -> None:
    report = _measure(tmp_path, ROOT / "profiles" / "microbit-ecdhe.yaml", "microbit", optimize="balanced")
    assert report["handshake"]["ok"], report["handshake"]
    assert report["handshake"]["group"] == "secp256r1"


@needs_mbedtls
def test_profile_that_cannot_fit_the_microbit_fails_the_link_with_region_and_overflow(tmp_path: Path) -> None:
    # Every shipped profile links on the micro:bit; a heap arena of 12 KiB (a port configured for
    # more than the part has) leaves too little of its 16 KiB for tls13-only's static RAM and stack.
    ports = tmp_path / "ports"
    shutil.copytree(PORTS, ports)
    board_yaml = ports / "microbit" / "board.yaml"
    board_yaml.write_text(board_yaml.read_text().replace("TLSFIT_HEAP_ARENA_SIZE=10240u", "TLSFIT_HEAP_ARENA_SIZE=12288u"))
    with pytest.raises(DoesNotFit) as info:
        _measure(tmp_path, ROOT / "profiles" / "tls13-only.yaml", "microbit", ports=ports)
    assert isinstance(info.value, Infeasible)          # exit 2: the profile does not fit the part
    ((region, over),) = info.value.overflows
    assert region == "RAM" and over > 0
    assert str(info.value).startswith(f"RAM overflowed by {over:,} B on microbit (16,384 B): static ")


@needs_mbedtls
def test_default_buffers_run_out_of_the_microbit_heap(tmp_path: Path) -> None:
    report = _measure(tmp_path, ROOT / "profiles" / "tls12-psk.yaml", "microbit")
    assert not report["handshake"]["ok"]
    error = report["handshake"]["error"]
    assert error["name"] == "MBEDTLS_ERR_SSL_ALLOC_FAILED"
    # the structural cause first (known before the build), then what the run saw
    assert error["message"].startswith("cannot fit the heap of microbit: the record buffers alone need 16,384 B in")
    assert "What would fit: a tls.max_fragment_length" in error["message"]
    assert "out of heap on microbit: the heap arena is 10,240 B" in error["message"]


@pytest.mark.slow
@needs_mbedtls
@pytest.mark.parametrize("target", NEW_BOARDS)
@pytest.mark.parametrize("profile", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_profile_on_every_new_board(tmp_path: Path, profile: Path, target: str) -> None:
    """Fits and handshakes, or fails with the part's reason (link overflow / out of heap)."""
    if "transport: udp" in profile.read_text() and not load_board(target, PORTS).datagram:
        pytest.skip(f"{target} has no datagram transport (board.yaml datagram: false)")
    try:
        report = _measure(tmp_path, profile, target)
    except DoesNotFit as exc:
        assert target == "microbit", str(exc)
        return
    if target != "microbit":
        assert report["handshake"]["ok"], report["handshake"]
    elif not report["handshake"]["ok"]:
        assert "out of heap on microbit" in report["handshake"]["error"]["message"]

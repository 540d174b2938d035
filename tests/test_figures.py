"""measure/figures.py against a tiny real Cortex-M ELF built here, checked with binutils."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from measure.figures import (attribute_ram_static, attribute_rom, parse_map, placed_sizes,
                             read_elf_sections, read_footprint)
from measure.model import MeasureError

GCC = "arm-none-eabi-gcc"
CFLAGS = ["-mcpu=cortex-m4", "-mthumb", "-Os", "-ffunction-sections", "-fdata-sections"]

pytestmark = pytest.mark.skipif(shutil.which(GCC) is None, reason="arm-none-eabi-gcc not installed")

APP_C = r"""
#include <stdint.h>
extern int ecp_like_work(int x);
extern int ssl_like_step(int x);
extern int app_ctx_state[25];
static volatile uint8_t app_buffer[100];
int app_counter = 5;
const char app_table[] = "application rodata table";
void Reset_Handler(void)
{
    app_counter += ecp_like_work(app_buffer[3]) + ssl_like_step(app_table[app_counter & 7])
        + app_ctx_state[app_counter & 15]++;
    for (;;) { }
}
__attribute__((section(".isr_vector"))) const void *vectors[2] = { (void *)0x20001000, (void *)Reset_Handler };
"""

# A long function name makes ld wrap the input section line in the map file.
ECP_LIKE_C = r"""
const char *ecp_like_name(int x);
const char *ecp_like_alias(int x);
static int ecp_state[10];
int ecp_data = 42;
static const int ecp_consts[8] = {1, 2, 3, 4, 5, 6, 7, 8};
__attribute__((noinline)) int ecp_like_work_with_a_rather_long_function_name_for_wrapping(int x) { return x * ecp_data + 1; }
int ecp_like_work(int x)
{
    ecp_state[x % 10] += ecp_data;
    return ecp_consts[x & 7] * ecp_state[1] + ecp_like_work_with_a_rather_long_function_name_for_wrapping(x)
        + ecp_like_name(x)[2] + ecp_like_alias(x)[1];
}
int ecp_like_unused(int x) { return x * 3 + ecp_data; }
/* Shared string tails: ld folds merged strings, and the map then lists overlapping sizes. */
__attribute__((noinline)) const char *ecp_like_name(int x) { return x ? "ecp group secp256r1" : "secp256r1"; }
__attribute__((noinline)) const char *ecp_like_alias(int x) { return x ? "curve secp256r1" : "p256r1"; }
"""

SSL_LIKE_C = r"""
static const char ssl_names[] = "CLIENT_HELLO SERVER_HELLO CERTIFICATE";
int ssl_like_step(int x) { return ssl_names[x & 31] + x; }
"""

# The contexts an application holds for mbedTLS: a plain object (not in an
# archive) whose static RAM counts with mbedTLS's (ports/common/app_contexts.c).
APP_CONTEXTS_C = r"""
int app_ctx_state[25];
"""

LINKER_SCRIPT = """
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 64K
         RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 32K }
ENTRY(Reset_Handler)
SECTIONS {
  .text : { KEEP(*(.isr_vector)) *(.text*) } > FLASH
  .rodata : { *(.rodata*) } > FLASH
  .ARM.exidx : { *(.ARM.exidx*) } > FLASH
  .data : { *(.data*) } > RAM AT > FLASH
  .bss (NOLOAD) : { *(.bss*) *(COMMON) } > RAM
  .heap_arena (NOLOAD) : { . = ALIGN(8); . += 4096; } > RAM
  .stack (NOLOAD) : { . = ALIGN(8); . += 2048; } > RAM
}
"""


@dataclass(frozen=True)
class TinyImage:
    elf: Path
    map_file: Path


def _run(args: list[str], cwd: Path) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyImage:
    work = tmp_path_factory.mktemp("tiny")
    sources = {"app.c": APP_C, "ecp_like.c": ECP_LIKE_C, "ssl_like.c": SSL_LIKE_C,
               "app_contexts.c": APP_CONTEXTS_C, "link.ld": LINKER_SCRIPT}
    for name, text in sources.items():
        (work / name).write_text(text)
    for stem in ("app", "ecp_like", "ssl_like", "app_contexts"):
        _run([GCC, *CFLAGS, "-c", f"{stem}.c", "-o", f"{stem}.o"], work)
    (work / "lib").mkdir()
    _run(["arm-none-eabi-ar", "rcs", "lib/libmbedcrypto.a", "ecp_like.o"], work)
    _run(["arm-none-eabi-ar", "rcs", "lib/libmbedtls.a", "ssl_like.o"], work)
    _run([GCC, "-mcpu=cortex-m4", "-mthumb", "-nostartfiles", "-nostdlib", "-T", "link.ld",
          "-Wl,-Map,app.map", "-Wl,--gc-sections", "app.o", "app_contexts.o", "lib/libmbedtls.a", "lib/libmbedcrypto.a",
          "-o", "app.elf"], work)
    return TinyImage(elf=work / "app.elf", map_file=work / "app.map")


def _size_a(elf: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for line in _run(["arm-none-eabi-size", "-A", str(elf)], elf.parent).splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            sizes[fields[0]] = int(fields[1])
    return sizes


def _nm_sizes(elf: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for line in _run(["arm-none-eabi-nm", "-S", str(elf)], elf.parent).splitlines():
        fields = line.split()
        if len(fields) == 4:
            sizes[fields[3]] = int(fields[1], 16)
    return sizes


def _merged_string_bytes(tiny: TinyImage) -> int:
    """Bytes of the string literals ecp_like.c contributes once merged (strings -n1 over them)."""
    literals = ("ecp group secp256r1", "secp256r1", "curve secp256r1", "p256r1")
    # Tail merging stores a string once when it ends another: keep the longest of each family.
    kept = [s for s in literals if not any(o != s and o.endswith(s) for o in literals)]
    return sum(len(s) + 1 for s in kept)


def test_rom_total_matches_size_a(tiny: TinyImage) -> None:
    sizes = _size_a(tiny.elf)
    figures = read_footprint(tiny.elf, tiny.map_file)
    rom_by_size_a = sizes[".text"] + sizes[".rodata"] + sizes[".data"] + sizes.get(".ARM.exidx", 0)
    assert figures.rom_total == rom_by_size_a
    assert figures.rom_total > 0


def test_ram_excludes_heap_and_stack(tiny: TinyImage) -> None:
    sizes = _size_a(tiny.elf)
    figures = read_footprint(tiny.elf, tiny.map_file)
    assert figures.ram_static == sizes[".data"] + sizes[".bss"]
    assert figures.heap_arena == sizes[".heap_arena"] >= 4096
    assert figures.stack_reserved == sizes[".stack"] == 2048


def test_ram_static_splits_by_defining_object_and_adds_up(tiny: TinyImage) -> None:
    figures = read_footprint(tiny.elf, tiny.map_file)
    nm = _nm_sizes(tiny.elf)
    assert figures.ram_static_mbedtls + figures.ram_static_harness == figures.ram_static
    # mbedTLS: the archives' data and bss, plus the contexts object outside the archives
    assert figures.ram_static_mbedtls == nm["ecp_state"] + nm["ecp_data"] + nm["app_ctx_state"] == 144
    # harness: the application's own buffer and counter
    assert figures.ram_static_harness >= nm["app_buffer"] + nm["app_counter"] == 104


def test_ram_split_without_state_objects_counts_archives_only(tiny: TinyImage) -> None:
    records = parse_map(tiny.map_file.read_text())
    ram_names = {".data", ".bss"}
    total = read_footprint(tiny.elf, tiny.map_file).ram_static
    split = attribute_ram_static(records, ram_names, total, state_objects=())
    assert split.mbedtls == 44 and split.mbedtls + split.harness == total


def test_modules_add_up_and_match_nm(tiny: TinyImage) -> None:
    figures = read_footprint(tiny.elf, tiny.map_file)
    assert set(figures.modules) == {"ecp_like.o", "ssl_like.o"}  # app.o is not mbedTLS
    assert sum(figures.modules.values()) == figures.rom_mbedtls
    nm = _nm_sizes(tiny.elf)
    assert "ecp_like_unused" not in nm  # --gc-sections removed it; it must not be counted
    ecp_symbols = ("ecp_like_work", "ecp_like_work_with_a_rather_long_function_name_for_wrapping",
                   "ecp_consts", "ecp_data", "ecp_like_name", "ecp_like_alias")
    # merged string literals have no symbol: count their section bytes from the ELF
    assert figures.modules["ecp_like.o"] == sum(nm[s] for s in ecp_symbols) + _merged_string_bytes(tiny)
    assert figures.modules["ssl_like.o"] == nm["ssl_like_step"] + nm["ssl_names"]
    assert figures.rom_mbedtls < figures.rom_total


def test_placed_input_sections_add_up_to_rom_total(tiny: TinyImage) -> None:
    records = parse_map(tiny.map_file.read_text())
    rom_names = {s.name for s in read_elf_sections(tiny.elf) if s.is_rom}
    placed = sum(size for r, size in zip(records, placed_sizes(records)) if r.output_section in rom_names)
    assert placed == read_footprint(tiny.elf, tiny.map_file).rom_total


# Lines as ld 2.40 printed them for the real harness: a merged string section
# whose printed size (0x3) overlaps the next input section at the same address.
OVERLAPPING_MAP = """Linker script and memory map

.rodata         0x0000cae4       0x1c
 .rodata.prv_out_key_int.str1.1
                0x0000cae4        0x3 obj/common/harness.o
                                  0x6 (size before relaxing)
 .rodata.prv_out_json_str.str1.1
                0x0000cae7        0x3 /x/libmbedtls.a(ssl_tls.o)
                                  0x2 (size before relaxing)
 .rodata.tlsfit_harness_run.str1.1
                0x0000cae7       0x19 /x/libmbedtls.a(ssl_tls.o)
                                 0x1e (size before relaxing)
"""


def test_overlapping_merged_strings_are_counted_once() -> None:
    records = parse_map(OVERLAPPING_MAP)
    assert [r.size for r in records] == [3, 3, 0x19]
    assert placed_sizes(records) == [3, 0, 0x19]
    assert sum(placed_sizes(records)) == 0x1c  # the output section's size
    assert attribute_rom(records, {".rodata"}).modules == {"ssl_tls.o": 0x19}


def test_bss_of_a_module_is_not_rom(tiny: TinyImage) -> None:
    records = parse_map(tiny.map_file.read_text())
    bss = [r for r in records if r.output_section == ".bss" and r.member == "ecp_like.o"]
    assert bss and bss[0].size == 40  # ecp_state[10]
    rom_names = {s.name for s in read_elf_sections(tiny.elf) if s.is_rom}
    assert ".bss" not in rom_names
    with_bss = attribute_rom(records, rom_names | {".bss"})
    assert with_bss.modules["ecp_like.o"] == read_footprint(tiny.elf, tiny.map_file).modules["ecp_like.o"] + 40


def test_wrapped_map_lines_are_parsed(tiny: TinyImage) -> None:
    records = parse_map(tiny.map_file.read_text())
    long_name = ".text.ecp_like_work_with_a_rather_long_function_name_for_wrapping"
    [record] = [r for r in records if r.input_section == long_name]
    assert (record.archive, record.member, record.output_section) == ("libmbedcrypto.a", "ecp_like.o", ".text")
    assert record.size == _nm_sizes(tiny.elf)[long_name.removeprefix(".text.")]
    # the "Discarded input sections" list must not be read as placed sections
    assert not [r for r in records if r.input_section == ".text.ecp_like_unused"]


def test_not_a_map_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MeasureError, match="memory map"):
        parse_map("this is not a linker map\n")

"""Issue 20 item 1: under LTO, library code inlined into the application counts as the library's.

Fast: a tiny link-time optimised Cortex-M image built here (a "library" tree whose function gcc
inlines into Reset_Handler, and strings only the library points at), checked against nm/objdump.
Slow: the held-out ECDHE-ECDSA profile measured with --lto and --app none / echo.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from measure.dwarf_sources import read_inlined_ranges, read_symbol_sources
from measure.figures import in_tree, read_elf_sections, read_footprint, read_lto_attribution, string_runs

GCC = "arm-none-eabi-gcc"
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which(GCC) is None, reason="arm-none-eabi-gcc not installed")

LIB_C = r"""
#include <stdint.h>
volatile uint32_t lib_state[8];
/* called once from the application: LTO inlines it into Reset_Handler */
int lib_step(int x)
{
    int acc = 0;
    for (int i = 0; i < x; i++) {
        acc += (int)lib_state[i & 7] * (i + 3);
        lib_state[(i + 1) & 7] ^= (uint32_t)acc;
    }
    return acc;
}
/* kept out of line: its own symbol, with a string only it points at */
__attribute__((noinline)) const char *lib_name(int x)
{
    return x > 2 ? "library-only string, long enough to see" : "another library string";
}
"""

APP_C = r"""
#include <stdint.h>
extern int lib_step(int x);
extern const char *lib_name(int x);
volatile int app_out;
const char *volatile app_text;
__attribute__((noinline)) const char *app_name(int x) { return x ? "application string" : "app"; }
void Reset_Handler(void)
{
    app_out = lib_step(app_out + 5);
    app_text = lib_name(app_out);
    app_text = app_name(app_out);
    for (;;) { }
}
__attribute__((section(".isr_vector"), used)) const void *vectors[2] = { (void *)0x20001000, (void *)Reset_Handler };
"""

LINKER_SCRIPT = """
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 64K
         RAM (rwx)  : ORIGIN = 0x20000000, LENGTH = 32K }
ENTRY(Reset_Handler)
SECTIONS {
  .isr_vector : { KEEP(*(.isr_vector)) } > FLASH
  .text : { *(.text*) } > FLASH
  .rodata : { *(.rodata*) } > FLASH
  .data : { *(.data*) } > RAM AT > FLASH
  .bss (NOLOAD) : { *(.bss*) *(COMMON) } > RAM
}
"""


@pytest.fixture(scope="module")
def lto_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    work = tmp_path_factory.mktemp("lto")
    lib_dir = work / "mbedtls" / "library"
    lib_dir.mkdir(parents=True)
    (lib_dir / "lib.c").write_text(LIB_C)
    (work / "app.c").write_text(APP_C)
    (work / "link.ld").write_text(LINKER_SCRIPT)
    flags = ["-mcpu=cortex-m4", "-mthumb", "-O2", "-g", "-flto", "-ffunction-sections", "-fdata-sections"]
    subprocess.run([GCC, *flags, "-nostartfiles", "-nostdlib", "-T", "link.ld", "-Wl,-Map,app.map",
                    "-Wl,--gc-sections", str(lib_dir / "lib.c"), "app.c", "-o", "app.elf"],
                   cwd=work, check=True, capture_output=True, timeout=60)
    return work / "app.elf", work / "app.map", work / "mbedtls"


def _nm(elf: Path) -> dict[str, tuple[int, int]]:
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    found = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4:
            found[fields[3]] = (int(fields[0], 16) & ~1, int(fields[1], 16))
    return found


def test_inlined_library_code_is_found_inside_the_application_function(lto_image) -> None:
    elf, _, lib = lto_image
    symbols = _nm(elf)
    assert "lib_step" not in symbols, "gcc kept lib_step out of line: nothing inlined to test"
    ranges = read_inlined_ranges(elf, in_tree(lib))
    steps = [r for r in ranges if r.function == "lib_step"]
    assert steps, ranges
    start, size = symbols["Reset_Handler"]
    for r in steps:   # inside the function that holds it, and said to come from the library file
        assert start <= r.low < r.high <= start + size
        assert r.source is not None and r.source.endswith("mbedtls/library/lib.c")
        assert r.container is not None and r.container.endswith("app.c")


def test_lto_attribution_counts_inlined_code_and_traced_strings(lto_image) -> None:
    elf, map_file, lib = lto_image
    symbols = read_symbol_sources(elf)
    sections = read_elf_sections(elf)
    modules, detail = read_lto_attribution(elf, sections, symbols, lib)
    inlined = sum(r.high - r.low for r in read_inlined_ranges(elf, in_tree(lib)) if r.function == "lib_step")
    nm = _nm(elf)
    # lib.o: its out-of-line function, its code inlined into Reset_Handler, and its own strings
    lib_strings = len("library-only string, long enough to see") + 1 + len("another library string") + 1
    assert detail.inlined_mbedtls == inlined > 0
    assert detail.strings_mbedtls == lib_strings
    assert modules == {"lib.o": nm["lib_name"][1] + inlined + lib_strings}
    assert detail.strings_other == len("application string") + 1 + len("app") + 1
    footprint = read_footprint(elf, map_file, attribution="dwarf", mbedtls_dir=lib)
    assert footprint.rom_mbedtls == sum(modules.values()) and footprint.lto["method"].startswith("DWARF")
    # the parts add up: every ROM byte is mbedTLS's, the application's, or listed as unattributed
    read_only = {s.name for s in sections if s.is_rom and not s.is_ram}
    covered = sum(s.size for s in symbols if s.section in read_only)
    gaps = sum(s.size for s in sections if s.name in read_only) - covered
    assert gaps == detail.strings_mbedtls + detail.strings_other + detail.unattributed


def test_string_runs_tile_the_gap() -> None:
    data = b"ab\x00\x00xyz\x00tail"
    assert string_runs(100, data, (100, 100 + len(data))) == [(100, 103), (103, 104), (104, 108), (108, 112)]


# ---------------------------------------------------------------- the real image (slow)

PROFILE = ROOT / "profiles" / "tls12-ecdhe-ecdsa.yaml"


def _measure(tmp: Path, *args: str) -> dict:
    done = subprocess.run([str(ROOT / "tlsfit"), "measure", str(PROFILE), "-q", "-o", str(tmp), *args],
                          capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads((tmp / "report.json").read_text())


@pytest.mark.slow
def test_lto_mbedtls_share_does_not_depend_on_the_application(tmp_path: Path) -> None:
    none = _measure(tmp_path / "none", "--lto", "--app", "none")
    echo = _measure(tmp_path / "echo", "--lto", "--app", "echo")
    plain = _measure(tmp_path / "plain", "--no-lto", "--app", "none")
    a, b = none["rom"]["mbedtls"], echo["rom"]["mbedtls"]
    assert abs(a - b) <= 0.02 * max(a, b), (a, b)
    assert min(a, b) >= 0.85 * plain["rom"]["mbedtls"], (a, b, plain["rom"]["mbedtls"])
    assert none["rom"]["lto"]["inlined_mbedtls"] > 0
    assert sum(none["rom"]["modules"].values()) == a

"""What mbedTLS costs in an engineer's own firmware image: `tlsfit size FIRMWARE.elf [--map FILE]`.

The same attribution as tlsfit's own builds (measure/figures.py), applied to an image tlsfit did not
build: with the linker map, ROM per mbedTLS archive member and per input section (one per function
with -ffunction-sections); without it (or under LTO, where the map names no member), each symbol's
source file from the DWARF debug info, mbedTLS's being those under its source tree, inlined code
included. Plain data out; nothing is run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from measure.dwarf_sources import read_symbol_sources
from measure.model import MeasureError
from measure.figures import (MBEDTLS_ARCHIVES, parse_map, read_elf_sections, read_footprint,
                             symbols_by_input_section)
from core.errors import BadInput
from measure.model import Footprint

# A source file only mbedTLS has, relative to its tree's root (3.6 and 2.28: library/; 4.x keeps
# the TLS code there too): the tree is the folder above it.
_TREE_MARKERS = ("library/ssl_tls.c", "library/x509_crt.c", "library/ssl_msg.c", "library/bignum.c",
                 "library/sha256.c", "library/aes.c", "library/platform_util.c")


class ImageError(BadInput):
    """The file is not an image tlsfit can read (not ELF, no map and no debug info, no mbedTLS)."""


@dataclass(frozen=True)
class ImageFigures:
    footprint: Footprint
    method: str                    # "map" | "dwarf"
    mbedtls_dir: str | None        # the source tree found in the debug info ("dwarf")
    machine: str                   # the ELF's machine, e.g. "ARM"


def _machine(elf: Path) -> str:
    try:
        with elf.open("rb") as stream:
            return ELFFile(stream).get_machine_arch()
    except ELFError as exc:
        raise ImageError(f"{elf}: not an ELF file ({exc}); give the linked firmware image (.elf)") from None
    except OSError as exc:
        raise ImageError(f"{elf}: cannot read: {exc.strerror}") from None


def find_mbedtls_tree(sources: list[str | None]) -> Path | None:
    """The mbedTLS source tree the image was compiled from, from its symbols' source files."""
    for source in sources:
        if source is None:
            continue
        for marker in _TREE_MARKERS:
            if source.endswith("/" + marker):
                return Path(source[: -len(marker)])
    return None


def measure_image(elf: Path, map_file: Path | None = None, mbedtls_dir: Path | None = None,
                  archives: tuple[str, ...] = MBEDTLS_ARCHIVES, heap_section: str = ".heap_arena",
                  stack_section: str = ".stack") -> ImageFigures:
    """ROM and static RAM of `elf`, mbedTLS's share per module and per symbol.

    With a map whose mbedTLS archives (`archives`) hold ROM, the map attributes; otherwise (no map,
    LTO, mbedTLS compiled into the application) the DWARF debug info does, from `mbedtls_dir` or
    the tree found in the debug info."""
    machine = _machine(elf)
    sections = read_elf_sections(elf)
    rom_sections = {s.name for s in sections if s.is_rom}
    if map_file is not None:
        try:
            map_text = map_file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ImageError(f"{map_file}: cannot read the map file: {exc.strerror}") from None
        if "Memory Configuration" not in map_text and "Linker script and memory map" not in map_text:
            raise ImageError(f"{map_file}: not a GNU ld map file (written by -Wl,-Map=FILE)")
        if symbols_by_input_section(parse_map(map_text), rom_sections, archives):
            footprint = read_footprint(elf, map_file, heap_section, stack_section, archives, "map")
            return ImageFigures(footprint, "map", None, machine)
    try:
        sources = read_symbol_sources(elf)
    except MeasureError as exc:    # no debug info, no symbol table: the image given cannot say
        raise ImageError(f"{exc}; or give the linker map with --map FILE") from None
    tree = mbedtls_dir or find_mbedtls_tree([s.source for s in sources])
    if tree is None:
        raise ImageError(f"{elf}: no mbedTLS code found: "
                         + (f"{map_file} places nothing from {', '.join(archives)} in ROM, and " if map_file else "")
                         + "no symbol's source file lies in an mbedTLS tree (library/ssl_tls.c, ...); "
                         "give --archive NAME for a differently named mbedTLS library, or --mbedtls-dir DIR")
    footprint = read_footprint(elf, map_file, heap_section, stack_section, archives, "dwarf", tree)
    if not footprint.rom_mbedtls:
        raise ImageError(f"{elf}: no mbedTLS code found: no symbol's source file lies under {tree}; "
                         "give the tree the image was compiled from (--mbedtls-dir), or --archive NAME with "
                         "--map for a differently named mbedTLS library")
    return ImageFigures(footprint, "dwarf", str(tree), machine)

"""ROM and static RAM of a linked image, from its ELF and GNU ld map file.

Three steps kept apart (esp-idf-size / Zephyr footprint habit):
  parse      ELF -> ElfSection records, map file -> MapInput records
  aggregate  records -> per-module ROM bytes and totals
  present    -> the shared Footprint dataclass (measure/model.py)

Memory is classified by ELF section flags, never by names: an allocated
NOBITS section is RAM only, an allocated section with file contents but no
write flag (code, rodata, ARM.exidx) is ROM only, and a writable one with
contents (.data) is both: its load image sits in flash and is copied to RAM.
The map file only tells which object each input section came from; whether
those bytes are ROM is decided by the ELF class of the output section they
landed in.
"""
from __future__ import annotations

import bisect
import re
from collections import defaultdict
import dataclasses
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from core.errors import Infeasible
from measure.boards import Board
from measure.dwarf_sources import (InlinedRange, PointerWord, SymbolSource, read_inlined_ranges,
                                   read_pointer_words, read_section_bytes, read_symbol_sources)
from measure.model import Footprint, MeasureError

# mbedTLS 3.6's library Makefile/CMake produce these three archives.
MBEDTLS_ARCHIVES: tuple[str, ...] = ("libmbedtls.a", "libmbedx509.a", "libmbedcrypto.a")
# Objects outside the archives whose static RAM counts as mbedTLS's: the
# contexts any application making the same calls must hold
# (ports/common/app_contexts.c). Everything else outside the archives is the
# harness's: measurement bookkeeping, board, profile data, libc, padding.
MBEDTLS_STATE_OBJECTS: tuple[str, ...] = ("app_contexts.o",)


@dataclass(frozen=True)
class ElfSection:
    name: str
    size: int
    is_rom: bool                   # occupies flash (code, rodata, .data load image)
    is_ram: bool                   # occupies RAM at run time (.data, .bss, NOLOAD)


@dataclass(frozen=True)
class MapInput:
    """One input section as placed by the linker (a line of the memory map)."""
    output_section: str            # e.g. ".text"
    input_section: str             # e.g. ".text.mbedtls_ecp_mul" or "*fill*"
    address: int
    size: int
    archive: str | None            # archive file name, e.g. "libmbedcrypto.a"; None for plain objects
    member: str                    # object file name, e.g. "ecp.o"; "" for fill and assignments


@dataclass(frozen=True)
class RomAttribution:
    modules: dict[str, int]        # object file name -> ROM bytes, mbedTLS objects only
    rom_mbedtls: int               # sum of modules


@dataclass(frozen=True)
class RamAttribution:
    mbedtls: int                   # bytes defined by mbedTLS's objects and the state objects
    harness: int                   # the rest of ram_static; the two sum to it


# ---------------------------------------------------------------- parse

def read_elf_sections(elf: Path) -> list[ElfSection]:
    """Allocated sections of an ELF, classified by flags and type."""
    try:
        with elf.open("rb") as stream:
            sections = list(ELFFile(stream).iter_sections())
            records = [_classify(s) for s in sections if s["sh_flags"] & SH_FLAGS.SHF_ALLOC]
    except OSError as exc:
        raise MeasureError(f"{elf}: cannot read ELF: {exc}") from exc
    return records


def _classify(section) -> ElfSection:
    flags = section["sh_flags"]
    has_contents = section["sh_type"] != "SHT_NOBITS"
    writable = bool(flags & SH_FLAGS.SHF_WRITE)
    return ElfSection(
        name=section.name,
        size=section["sh_size"],
        is_rom=has_contents,
        is_ram=writable or not has_contents,
    )


# Output section header: name at column 0, optionally with address and size
# on the same line (long names wrap them onto the next line).
_OUTPUT_LINE = re.compile(r"^(?P<name>[^\s*][^\s]*)(?:\s+0x(?P<addr>[0-9a-fA-F]+)\s+0x(?P<size>[0-9a-fA-F]+))?(?:\s.*)?$")
# Input section: one leading space, name, then address, size and file, the
# last three possibly wrapped onto the next line.
_INPUT_FULL = re.compile(r"^ (?P<name>\S+)\s+0x(?P<addr>[0-9a-fA-F]+)\s+0x(?P<size>[0-9a-fA-F]+)(?:\s+(?P<file>\S.*?))?\s*$")
_INPUT_NAME_ONLY = re.compile(r"^ (?P<name>[^\s*(][^\s]*|\*fill\*)\s*$")
_CONTINUATION = re.compile(r"^\s+0x(?P<addr>[0-9a-fA-F]+)\s+0x(?P<size>[0-9a-fA-F]+)(?:\s+(?P<file>\S.*?))?\s*$")
_ARCHIVE_MEMBER = re.compile(r"^(?P<archive>.+)\((?P<member>[^()]+)\)$")

_MAP_START = "Linker script and memory map"
_MAP_END = "Cross Reference Table"


def parse_map(text: str) -> list[MapInput]:
    """Input sections of a GNU ld map file's memory map, in file order.

    Only the "Linker script and memory map" part is read: the "Discarded
    input sections" list before it uses the same line format."""
    lines = text.splitlines()
    try:
        start = lines.index(_MAP_START) + 1
    except ValueError as exc:
        raise MeasureError("map file has no 'Linker script and memory map' section") from exc

    records: list[MapInput] = []
    output = ""
    pending_input: str | None = None
    for line in lines[start:]:
        if line.startswith(_MAP_END):
            break
        if not line.strip():
            pending_input = None
            continue
        if pending_input is not None:
            cont = _CONTINUATION.match(line)
            if cont:
                records.append(_record(output, pending_input, cont))
                pending_input = None
                continue
            pending_input = None
        if not line[0].isspace():
            head = _OUTPUT_LINE.match(line)
            if head and head["name"].startswith("."):
                output = head["name"]
            continue
        full = _INPUT_FULL.match(line)
        if full:
            records.append(_record(output, full["name"], full))
            continue
        name_only = _INPUT_NAME_ONLY.match(line)
        if name_only:
            pending_input = name_only["name"]
    return records


def _record(output: str, input_section: str, match: re.Match[str]) -> MapInput:
    source = (match["file"] or "").strip()
    member_match = _ARCHIVE_MEMBER.match(source)
    if member_match:
        archive: str | None = Path(member_match["archive"]).name
        member = member_match["member"]
    else:
        archive = None
        member = Path(source).name if source else ""
    return MapInput(
        output_section=output,
        input_section=input_section,
        address=int(match["addr"], 16),
        size=int(match["size"], 16),
        archive=archive,
        member=member,
    )


# ---------------------------------------------------------------- aggregate

def attribute_rom(
    records: list[MapInput],
    rom_sections: set[str],
    archives: tuple[str, ...] = MBEDTLS_ARCHIVES,
) -> RomAttribution:
    """ROM bytes per mbedTLS object, counting only input sections placed in ROM output sections."""
    per_module: dict[str, int] = defaultdict(int)
    for record, size in zip(records, placed_sizes(records)):
        if record.archive in archives and record.output_section in rom_sections and size:
            per_module[record.member] += size
    modules = dict(sorted(per_module.items()))
    return RomAttribution(modules=modules, rom_mbedtls=sum(modules.values()))


def placed_sizes(records: list[MapInput]) -> list[int]:
    """Bytes each input section really occupies, one per record.

    ld prints merged string sections (.rodata.str1.1) with sizes that overlap
    the next input section: identical strings were folded together. Clipping
    each record at the next record's address in the same output section keeps
    every byte counted once, so the parts add up to the section size."""
    sizes: list[int] = []
    for index, record in enumerate(records):
        size = record.size
        # Empty sections occupy no bytes; the next one holding data is what ends this one.
        following = next((r for r in records[index + 1:] if r.size), None)
        if (following is not None and following.output_section == record.output_section
                and record.address <= following.address < record.address + size):
            size = following.address - record.address
        sizes.append(size)
    return sizes


def attribute_ram_static(
    records: list[MapInput],
    ram_sections: set[str],
    ram_static_total: int,
    archives: tuple[str, ...] = MBEDTLS_ARCHIVES,
    state_objects: tuple[str, ...] = MBEDTLS_STATE_OBJECTS,
) -> RamAttribution:
    """Split static RAM by the object that defines each input section placed in a RAM output
    section: mbedTLS's archives and the state objects on one side, the remainder (harness
    objects, libc, fill) on the other, so the parts always sum to the total."""
    mbedtls = 0
    for record, size in zip(records, placed_sizes(records)):
        if record.output_section not in ram_sections or not size:
            continue
        if record.archive in archives or (record.archive is None and record.member in state_objects):
            mbedtls += size
    if mbedtls > ram_static_total:
        raise MeasureError(f"map file attributes {mbedtls} B of static RAM to mbedTLS, more than "
                           f"the ELF's {ram_static_total} B")
    return RamAttribution(mbedtls=mbedtls, harness=ram_static_total - mbedtls)


def module_of(source: str) -> str:
    """A source file's module name as the map file would say it: ecp.c -> ecp.o (headers keep .h)."""
    name = Path(source).name
    return name[:-2] + ".o" if name.endswith(".c") else name


def attribute_by_source(
    symbols: list[SymbolSource],
    rom_sections: set[str],
    ram_sections: set[str],
    ram_static_total: int,
    mbedtls_dir: Path,
    state_objects: tuple[str, ...] = MBEDTLS_STATE_OBJECTS,
) -> tuple[RomAttribution, RamAttribution]:
    """ROM per mbedTLS module and the static RAM split from each symbol's source file (DWARF):
    a symbol is mbedTLS's when its file lies in the mbedTLS tree. Bytes no sized symbol
    covers (merged strings, padding) stay outside rom.mbedtls."""
    root = str(mbedtls_dir.resolve()) + "/"
    per_module: dict[str, int] = defaultdict(int)
    ram_mbedtls = 0
    for sym in symbols:
        if sym.source is None:
            continue
        module = module_of(sym.source)
        ours = sym.source.startswith(root)
        if ours and sym.section in rom_sections:
            per_module[module] += sym.size
        if sym.section in ram_sections and (ours or module in state_objects):
            ram_mbedtls += sym.size
    if ram_mbedtls > ram_static_total:
        raise MeasureError(f"debug info attributes {ram_mbedtls} B of static RAM to mbedTLS, more than "
                           f"the ELF's {ram_static_total} B")
    modules = dict(sorted(per_module.items()))
    return (RomAttribution(modules=modules, rom_mbedtls=sum(modules.values())),
            RamAttribution(mbedtls=ram_mbedtls, harness=ram_static_total - ram_mbedtls))


@dataclass(frozen=True)
class LtoDetail:
    """How a link-time optimised image's ROM was split (the report's rom.lto)."""
    inlined_mbedtls: int           # mbedTLS code inlined into other functions: counted as mbedTLS
    inlined_other: int             # other code inlined into mbedTLS functions: not counted as mbedTLS
    strings_mbedtls: int           # merged strings only mbedTLS code or tables point at: counted
    strings_other: int             # merged strings only other code points at
    unattributed: int              # ROM bytes in no symbol and no traced string: strings both sides
                                   # (or a function holding inlined mbedTLS code) point at, padding

    def as_report(self) -> dict:
        return {"method": LTO_METHOD, **dataclasses.asdict(self)}


LTO_METHOD = ("DWARF: each sized symbol by its source file; the outermost DW_TAG_inlined_subroutine ranges "
              "move inlined code to the side of the function it came from; merged strings (no symbol) are "
              "traced through the aligned pointer words (literal pools, tables) of the symbols that point "
              "at them and counted for mbedTLS when only mbedTLS points at them")


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def uncovered(section_low: int, section_high: int, symbols: list[SymbolSource]) -> list[tuple[int, int]]:
    """Ranges of [section_low, section_high) no sized symbol covers."""
    gaps, cursor = [], section_low
    for low, high in _merge([(s.address, s.address + s.size) for s in symbols
                             if section_low <= s.address < section_high]):
        if low > cursor:
            gaps.append((cursor, low))
        cursor = max(cursor, high)
    if cursor < section_high:
        gaps.append((cursor, section_high))
    return gaps


def string_runs(base: int, data: bytes, gap: tuple[int, int]) -> list[tuple[int, int]]:
    """NUL-terminated runs [low, high) (the NUL included) that tile a gap of a section's contents."""
    runs, low = [], gap[0]
    for address in range(gap[0], gap[1]):
        if data[address - base] == 0:
            runs.append((low, address + 1))
            low = address + 1
    if low < gap[1]:
        runs.append((low, gap[1]))
    return runs


def attribute_lto(
    symbols: list[SymbolSource],
    inlined: list[InlinedRange],
    rom_sections: set[str],
    is_ours: Callable[[str | None, str | None], bool],
    strings: list[tuple[str, int, bytes, list[tuple[int, int]]]],
    pointers: list[PointerWord],
) -> tuple[dict[str, int], LtoDetail]:
    """ROM per mbedTLS module of an LTO image (aggregate step).

    symbols: sized symbols with their source; inlined: outermost inlined ranges whose side
    differs from their container's; strings: (section, address, contents, gaps no symbol
    covers) of read-only ROM sections; pointers: aligned words whose value lies in a gap.
    A symbol counts for the module of its source file; inlined library code moves from its
    container to the module it came from (and inlined application code out of the library);
    a NUL-terminated run in a gap counts for mbedTLS when every word pointing into it lies in
    an mbedTLS symbol that holds no inlined code of the other side."""
    per_module: dict[str, int] = defaultdict(int)
    rom_symbols = sorted((s for s in symbols if s.section in rom_sections), key=lambda s: s.address)
    for sym in rom_symbols:
        if is_ours(sym.source, None):
            per_module[module_of(sym.source)] += sym.size
    starts = [s.address for s in rom_symbols]

    def container_of(address: int) -> SymbolSource | None:
        index = bisect.bisect_right(starts, address) - 1
        if index >= 0 and address < rom_symbols[index].address + rom_symbols[index].size:
            return rom_symbols[index]
        return None

    inlined_in: set[int] = set()            # symbols holding inlined code of the other side
    moved_in = moved_out = 0
    for item in sorted(inlined, key=lambda r: r.low):
        holder = container_of(item.low)
        if holder is None:
            continue
        inlined_in.add(holder.address)
        size = min(item.high, holder.address + holder.size) - item.low
        if size <= 0:
            continue
        if is_ours(item.source, item.decl_file) and not is_ours(holder.source, None):
            origin = item.source if is_ours(item.source, None) else item.decl_file
            per_module[module_of(origin)] += size
            moved_in += size
        elif is_ours(holder.source, None) and not is_ours(item.source, item.decl_file):
            per_module[module_of(holder.source)] -= size
            moved_out += size

    # merged strings: who points into each NUL-terminated run
    referrers: dict[int, list[SymbolSource | None]] = defaultdict(list)
    run_starts: list[int] = []
    run_ends: list[int] = []
    for _section, base, data, gaps in strings:
        for gap in gaps:
            for low, high in string_runs(base, data, gap):
                run_starts.append(low)
                run_ends.append(high)
    order = sorted(range(len(run_starts)), key=lambda i: run_starts[i])
    run_starts = [run_starts[i] for i in order]
    run_ends = [run_ends[i] for i in order]
    for word in pointers:
        index = bisect.bisect_right(run_starts, word.value) - 1
        if index >= 0 and word.value < run_ends[index]:
            referrers[index].append(container_of(word.address))
    strings_ours = strings_other = 0
    traced = 0
    for index, who in referrers.items():
        size = run_ends[index] - run_starts[index]
        clear = [w for w in who if w is not None and w.address not in inlined_in]
        if len(clear) != len(who):
            continue                         # pointed at from code whose side is mixed: unattributed
        sides = {is_ours(w.source, None) for w in clear}
        if sides == {True}:
            per_module[min(module_of(w.source) for w in clear)] += size
            strings_ours += size
        elif sides == {False}:
            strings_other += size
        traced += size
    gap_bytes = sum(high - low for _s, _b, _d, gaps in strings for low, high in gaps)
    modules = {name: size for name, size in sorted(per_module.items()) if size > 0}
    detail = LtoDetail(inlined_mbedtls=moved_in, inlined_other=moved_out, strings_mbedtls=strings_ours,
                       strings_other=strings_other, unattributed=gap_bytes - strings_ours - strings_other)
    return modules, detail


def rom_total(sections: list[ElfSection]) -> int:
    return sum(s.size for s in sections if s.is_rom)


def ram_static(sections: list[ElfSection], reserved: set[str]) -> int:
    return sum(s.size for s in sections if s.is_ram and s.name not in reserved)


def _size_of(sections: list[ElfSection], name: str) -> int:
    return sum(s.size for s in sections if s.name == name)


# ---------------------------------------------------------------- present

def read_footprint(
    elf: Path,
    map_file: Path | None,
    heap_section: str = ".heap_arena",
    stack_section: str = ".stack",
    archives: tuple[str, ...] = MBEDTLS_ARCHIVES,
    attribution: str = "map",
    mbedtls_dir: Path | None = None,
) -> Footprint:
    """ROM/RAM figures of a linked image; the heap arena and stack reservation are reported apart.

    attribution "map": modules are the map file's archive members; "dwarf" (link-time optimised
    images, built with -g): each symbol's source file from the debug info, mbedTLS's being those
    under mbedtls_dir."""
    sections = read_elf_sections(elf)
    map_text = ""
    if attribution == "map" or map_file is not None:
        if map_file is None:
            raise MeasureError("map attribution needs the linker map file")
        try:
            map_text = map_file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise MeasureError(f"{map_file}: cannot read map file: {exc}") from exc
    rom_names = {s.name for s in sections if s.is_rom}
    reserved = {heap_section, stack_section}
    ram_names = {s.name for s in sections if s.is_ram and s.name not in reserved}
    static = ram_static(sections, reserved)
    lto_detail: LtoDetail | None = None
    if attribution == "dwarf":
        if mbedtls_dir is None:
            raise MeasureError("DWARF attribution needs the mbedTLS source directory")
        symbols = read_symbol_sources(elf)
        _, ram_split = attribute_by_source(symbols, rom_names, ram_names, static, mbedtls_dir)
        modules, lto_detail = read_lto_attribution(elf, sections, symbols, mbedtls_dir)
        rom_split = RomAttribution(modules=modules, rom_mbedtls=sum(modules.values()))
        by_symbol = symbols_by_source(symbols, rom_names, mbedtls_dir)
    elif attribution == "map":
        records = parse_map(map_text)
        rom_split = attribute_rom(records, rom_names, archives)
        ram_split = attribute_ram_static(records, ram_names, static, archives)
        by_symbol = symbols_by_input_section(records, rom_names, archives)
    else:
        raise MeasureError(f"unknown ROM attribution method {attribution!r}")
    return Footprint(
        rom_total=rom_total(sections),
        rom_mbedtls=rom_split.rom_mbedtls,
        modules=rom_split.modules,
        ram_static=static,
        heap_arena=_size_of(sections, heap_section),
        stack_reserved=_size_of(sections, stack_section),
        ram_static_mbedtls=ram_split.mbedtls,
        ram_static_harness=ram_split.harness,
        attribution=attribution,
        lto=lto_detail.as_report() if lto_detail is not None else None,
        symbols=by_symbol,
    )


_SECTION_PREFIX = re.compile(r"^\.(?:text|rodata|data|bss)(?:\.str1\.\d+)?\.")


def symbols_by_input_section(records: list[MapInput], rom_sections: set[str],
                             archives: tuple[str, ...] = MBEDTLS_ARCHIVES) -> dict[str, int]:
    """ROM bytes per "module.o:symbol" from the map: with -ffunction-sections each function and
    constant is its own input section (.text.NAME, .rodata.NAME); the rest keep the section name."""
    out: dict[str, int] = defaultdict(int)
    for record, size in zip(records, placed_sizes(records)):
        if record.archive in archives and record.output_section in rom_sections and size:
            name = _SECTION_PREFIX.sub("", record.input_section) or record.input_section
            out[f"{record.member}:{name}"] += size
    return dict(sorted(out.items()))


def symbols_by_source(symbols: list[SymbolSource], rom_sections: set[str], mbedtls_dir: Path) -> dict[str, int]:
    """ROM bytes per "module.o:symbol" of the sized symbols whose source lies in the mbedTLS tree
    (DWARF; under LTO, code inlined into other functions is counted in rom.lto, not here)."""
    root = str(mbedtls_dir.resolve()) + "/"
    out: dict[str, int] = defaultdict(int)
    for sym in symbols:
        if sym.source is not None and sym.source.startswith(root) and sym.section in rom_sections:
            out[f"{module_of(sym.source)}:{sym.name}"] += sym.size
    return dict(sorted(out.items()))


def in_tree(directory: Path) -> Callable[[str | None, str | None], bool]:
    """is_ours(source, decl_file) for attribute_lto: either file lies under directory."""
    root = str(directory.resolve()) + "/"
    return lambda source, declared: bool(source and source.startswith(root)) or bool(
        declared and declared.startswith(root))


def read_lto_attribution(elf: Path, sections: list[ElfSection], symbols: list[SymbolSource],
                         mbedtls_dir: Path) -> tuple[dict[str, int], LtoDetail]:
    """Parse what attribute_lto needs from an LTO image (built with -g) and aggregate it."""
    is_ours = in_tree(mbedtls_dir)
    rom_names = {s.name for s in sections if s.is_rom}
    strings: list[tuple[str, int, bytes, list[tuple[int, int]]]] = []
    for section in sections:
        if not section.is_rom or section.is_ram or not section.size:
            continue
        found = read_section_bytes(elf, section.name)
        if found is None:
            continue
        base, data = found
        gaps = uncovered(base, base + len(data), symbols)
        if gaps:
            strings.append((section.name, base, data, gaps))
    low = min((base for _, base, _, _ in strings), default=0)
    high = max((base + len(data) for _, base, data, _ in strings), default=0)
    pointers = read_pointer_words(elf, symbols, low, high) if strings else []
    return attribute_lto(symbols, read_inlined_ranges(elf, is_ours), rom_names, is_ours, strings, pointers)


# ---------------------------------------------------------------- link overflow
#
# A profile whose build does not fit the board's part fails the link; GNU ld
# says `region `RAM' overflowed by N bytes`. The map file is still written, so
# the message can say what filled the region: static RAM is the profile's,
# the heap arena and stack reservation are the board's (board facts).

_REGION_OVERFLOW = re.compile(r"region `(?P<region>[^']+)' overflowed by (?P<bytes>\d+) bytes")
_HEAP_ARENA_FLAG = re.compile(r"^-DTLSFIT_HEAP_ARENA_SIZE=(?P<value>.+)$")
HEAP_ARENA_DEFAULT_WHERE = "ports/common/heap.c default"


class DoesNotFit(Infeasible):
    """The build is correct but larger than the board's part: exit 2, with the region and overflow."""

    def __init__(self, message: str, overflows: tuple[tuple[str, int], ...]):
        super().__init__(message)
        self.overflows = overflows          # ((region, bytes over), ...) as ld reported them
        # pipeline.stages.Measurement holding the "does not fit" report record, set by the
        # pipeline once it knows the profile and board (tlsfit measure writes it, still exit 2)
        self.measurement = None
        # pipeline.stages.Measurement holding the "does not fit" report record, set by the
        # pipeline once it knows the profile and board (tlsfit measure writes it, still exit 2)
        self.measurement = None


def parse_region_overflows(linker_output: str) -> tuple[tuple[str, int], ...]:
    """(region, bytes) for every `region `X' overflowed by N bytes` line, first seen first."""
    seen: dict[str, int] = {}
    for match in _REGION_OVERFLOW.finditer(linker_output):
        seen.setdefault(match["region"], int(match["bytes"]))
    return tuple(seen.items())


def map_output_sections(map_text: str) -> dict[str, int]:
    """Top-level output section sizes (bytes) from a map file's memory map, e.g. {".bss": 3256}."""
    sizes: dict[str, int] = {}
    lines = map_text.splitlines()
    start = lines.index(_MAP_START) + 1 if _MAP_START in lines else 0
    pending: str | None = None
    for line in lines[start:]:
        if line.startswith(_MAP_END):
            break
        if pending is not None:
            cont = _CONTINUATION.match(line)
            if cont:
                sizes[pending] = sizes.get(pending, 0) + int(cont["size"], 16)
            pending = None
            continue
        if not line or line[0].isspace() or not line.startswith("."):
            continue
        head = _OUTPUT_LINE.match(line)
        if head is None:
            continue
        if head["size"] is None:
            pending = head["name"]          # a long name wraps address and size onto the next line
        else:
            sizes[head["name"]] = sizes.get(head["name"], 0) + int(head["size"], 16)
    return sizes


def _b(n: int) -> str:
    return f"{n:,} B"


def _rel(path: Path, board: Board) -> str:
    try:
        return str(path.relative_to(board.dir.parent.parent))
    except ValueError:
        return str(path)


def heap_arena_source(board: Board) -> str:
    """Where the board's heap arena size is written (a board fact, or the harness default)."""
    for flag in board.cflags:
        if _HEAP_ARENA_FLAG.match(flag):
            return f"TLSFIT_HEAP_ARENA_SIZE in {_rel(board.dir / 'board.yaml', board)} cflags"
    return f"TLSFIT_HEAP_ARENA_SIZE, {HEAP_ARENA_DEFAULT_WHERE}"


def overflow_message(overflows: tuple[tuple[str, int], ...], sections: dict[str, int], board: Board,
                     heap_section: str = ".heap_arena", stack_section: str = ".stack") -> str:
    """One line per overflowing region: by how much, the part's limit, and what filled it."""
    stack_where = (f"STACK_SIZE in {_rel(board.linker_script, board)}" if board.linker_script
                   else "the board's linker script")
    parts = []
    for region, over in overflows:
        if region.upper() == "RAM":
            limit = board.ram_limit
            data, bss = sections.get(".data", 0), sections.get(".bss", 0)
            heap, stack = sections.get(heap_section, 0), sections.get(stack_section, 0)
            listed = data + bss + heap + stack
            padding = (limit + over - listed) if limit is not None else 0
            detail = (f"static {_b(data + bss)} (.data {_b(data)} + .bss {_b(bss)}, the profile's) "
                      f"+ heap arena {_b(heap)} ({heap_arena_source(board)}) "
                      f"+ stack {_b(stack)} ({stack_where})")
            if padding > 0:
                detail += f" + {_b(padding)} alignment"
        elif region.upper() == "FLASH":
            limit = board.flash_limit
            rom = {k: v for k, v in sections.items()
                   if k in (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data")}
            detail = " + ".join(f"{k} {_b(v)}" for k, v in rom.items() if v) + " (.data: its load image)"
        else:
            limit, detail = None, "see the map file"
        size = f" ({_b(limit)})" if limit is not None else ""
        parts.append(f"{region} overflowed by {_b(over)} on {board.name}{size}: {detail}")
    fix = ("; the profile does not fit this part: shrink what it needs (tls.buffers, "
           "max_fragment_length, optimize: size) or pick a board with more memory")
    return "; ".join(parts) + fix


def link_overflow(linker_output: str, map_file: Path, board: Board) -> DoesNotFit | None:
    """DoesNotFit for a link that failed on a region overflow; None for any other failure."""
    overflows = parse_region_overflows(linker_output)
    if not overflows:
        return None
    try:
        sections = map_output_sections(map_file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        sections = {}
    return DoesNotFit(overflow_message(overflows, sections, board), overflows)


# ---------------------------------------------------------------- heap exhausted at run time

# mbedTLS error codes are -(high | low): a high-level module code (multiple of 0x80)
# plus a low-level one (below 0x80). "Allocation failed" in the SSL module (high)
# and in bignum (low), the two a handshake meets first when the arena is too small.
_SSL_ALLOC_FAILED_HIGH = 0x7F00
_MPI_ALLOC_FAILED_LOW = 0x0010


def is_alloc_failure(error_code: int) -> bool:
    code = -error_code
    return error_code < 0 and ((code & 0xFF80) == _SSL_ALLOC_FAILED_HIGH or (code & 0x7F) == _MPI_ALLOC_FAILED_LOW)


def heap_exhausted_note(error_code: int, heap_peak: int, heap_overhead: int, footprint: Footprint,
                        board: Board) -> str | None:
    """For a run that ran out of heap: the arena's size and where it is set, and the peak reached."""
    if not is_alloc_failure(error_code):
        return None
    return (f"out of heap on {board.name}: the heap arena is {_b(footprint.heap_arena)} "
            f"({heap_arena_source(board)}); the live requests peaked at {_b(heap_peak)} "
            f"(+{_b(heap_overhead)} allocator headers) before a request found no free block; "
            f"shrink tls.buffers / max_fragment_length, or give the board a larger arena if its RAM allows")

"""Which source file each linked function and object came from, read from DWARF (parse step).

Used when the map file cannot say: under link-time optimisation every input
section comes from an `ltrans` object of the link itself, so the map names no
library member. The image's symbols still have sizes, and its debug info
(compiled with -g; not loaded, the image is unchanged) still says where each
one was written:

- a function (DW_TAG_subprogram) or variable (DW_TAG_variable) with an address
  is found in the compile unit that placed it; under LTO that is an
  `<artificial>` ltrans unit whose entries point (DW_AT_abstract_origin /
  DW_AT_specification) at the early-debug entry in the unit of the original
  source file, whose DW_AT_name is that file's path;
- without LTO the unit holding the entry is already the source file's.

Under LTO, gcc also inlines library functions into the application's own functions
(a harness function calls an mbedTLS one and the body lands inside it). Those bytes sit
inside a non-mbedTLS symbol; the debug info still marks them: a DW_TAG_inlined_subroutine
whose DW_AT_abstract_origin is the library function, with the address ranges its code
occupies. read_inlined_ranges() reports the outermost such ranges inside every function
(an inline nested in another inline is part of the outer one's ranges).

Merged strings (.rodata.str1.*) have no symbol and no DWARF entry. read_pointer_words()
gives the aligned 32-bit words of every sized symbol's contents, so the aggregation can
trace a string to the code or tables whose literal pools point at it.

The aggregation (per module, mbedTLS or not) is measure/figures.py's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from elftools.dwarf.die import DIE
from elftools.elf.elffile import ELFFile

from measure.model import MeasureError

_ARTIFICIAL = "<artificial>"
_REFERENCES = ("DW_AT_abstract_origin", "DW_AT_specification")
_DW_OP_ADDR = 0x03
_MAX_HOPS = 8


@dataclass(frozen=True)
class SymbolSource:
    """One sized function or object symbol of the image and the source file that defines it."""
    name: str
    address: int                   # Thumb bit cleared
    size: int
    section: str                   # output section it lies in, e.g. ".text"
    source: str | None             # absolute path of the .c (or .h) file; None: no debug info (libc, asm)


def _unit_name(die: DIE) -> str:
    name = die.cu.get_top_DIE().attributes.get("DW_AT_name")
    return name.value.decode("utf-8", "replace") if name is not None else ""


def _follow(die: DIE, read: Callable[[DIE], tuple[bool, str | None]]) -> str | None:
    """read(die) -> (found, value) on die, then on what it refers to (abstract origin,
    specification: LTO's references to early debug), at most _MAX_HOPS times."""
    for _ in range(_MAX_HOPS):
        found, value = read(die)
        if found:
            return value
        ref = next((a for a in _REFERENCES if a in die.attributes), None)
        if ref is None:
            return None
        try:
            die = die.get_DIE_from_attribute(ref)
        except Exception:  # noqa: BLE001 - a reference pyelftools cannot follow: file unknown
            return None
    return None


def _origin_file(die: DIE) -> str | None:
    """The source file of the unit that declares die, following LTO's references to early debug."""
    def unit_of(d: DIE) -> tuple[bool, str | None]:
        unit = _unit_name(d)
        return (True, unit) if unit and unit != _ARTIFICIAL else (False, None)
    return _follow(die, unit_of)


def _decl_file(die: DIE) -> str | None:
    """The file (path as the compiler saw it) named by die's DW_AT_decl_file, following the
    abstract origin; None when absent. A header's static inline function is declared in the
    header although its unit is the .c file that included it."""
    def declared_in(d: DIE) -> tuple[bool, str | None]:
        attr = d.attributes.get("DW_AT_decl_file")
        if attr is None:
            return False, None
        line_program = d.dwarfinfo.line_program_for_CU(d.cu)
        if line_program is None:
            return True, None
        entries = line_program["file_entry"]
        index = attr.value if d.cu.header.version >= 5 else attr.value - 1
        if not 0 <= index < len(entries):
            return True, None
        entry = entries[index]
        name = entry.name.decode("utf-8", "replace")
        directories = line_program["include_directory"]
        dir_index = entry.dir_index if d.cu.header.version >= 5 else entry.dir_index - 1
        if not name.startswith("/") and 0 <= dir_index < len(directories):
            name = directories[dir_index].decode("utf-8", "replace") + "/" + name
        return True, name
    return _follow(die, declared_in)


def _address_of(die: DIE) -> int | None:
    if die.tag == "DW_TAG_subprogram":
        low = die.attributes.get("DW_AT_low_pc")
        return int(low.value) if low is not None else None
    location = die.attributes.get("DW_AT_location")
    if location is None or location.form != "DW_FORM_exprloc":
        return None
    expr = location.value
    if len(expr) == 5 and expr[0] == _DW_OP_ADDR:
        return int.from_bytes(bytes(expr[1:5]), "little")
    return None


def _sources_by_address(dwarf) -> dict[int, str]:
    found: dict[int, str] = {}
    for cu in dwarf.iter_CUs():
        for die in cu.iter_DIEs():
            if die.tag not in ("DW_TAG_subprogram", "DW_TAG_variable"):
                continue
            address = _address_of(die)
            if address is None or address in found:
                continue
            source = _origin_file(die)
            if source is not None:
                found[address] = source
    return found


@dataclass(frozen=True)
class InlinedRange:
    """Code of a function inlined into another function whose source file differs in kind."""
    low: int                       # first byte (Thumb bit cleared)
    high: int                      # one past the last byte
    function: str                  # the inlined function's name, e.g. "mbedtls_ssl_handshake_step"
    source: str | None             # its source file (the unit's; a header's inline: the header)
    decl_file: str | None          # the file that declares it (a header for a static inline)
    container: str | None          # source file of the out-of-line function it was inlined into


def _die_ranges(die: DIE, dwarf) -> list[tuple[int, int]]:
    """Address ranges [low, high) of a DIE: DW_AT_low_pc/high_pc or DW_AT_ranges."""
    attrs = die.attributes
    low = attrs.get("DW_AT_low_pc")
    high = attrs.get("DW_AT_high_pc")
    if low is not None and high is not None:
        start = int(low.value)
        end = start + int(high.value) if high.form != "DW_FORM_addr" else int(high.value)
        return [(start & ~1, end & ~1)] if end > start else []
    ranges = attrs.get("DW_AT_ranges")
    if ranges is None or dwarf.range_lists() is None:
        return []
    top = die.cu.get_top_DIE()
    base_attr = top.attributes.get("DW_AT_low_pc")
    base = int(base_attr.value) if base_attr is not None else 0
    out: list[tuple[int, int]] = []
    for entry in dwarf.range_lists().get_range_list_at_offset(ranges.value, cu=die.cu):
        if hasattr(entry, "base_address"):
            base = entry.base_address
            continue
        start, end = entry.begin_offset, entry.end_offset
        if not entry.is_absolute:
            start, end = start + base, end + base
        if end > start:
            out.append((start & ~1, end & ~1))
    return out


def _function_name(die: DIE) -> str:
    for _ in range(_MAX_HOPS):
        name = die.attributes.get("DW_AT_name")
        if name is not None:
            return name.value.decode("utf-8", "replace")
        ref = next((a for a in _REFERENCES if a in die.attributes), None)
        if ref is None:
            return "?"
        try:
            die = die.get_DIE_from_attribute(ref)
        except Exception:  # noqa: BLE001
            return "?"
    return "?"


def _inlined_in(die: DIE, dwarf, container: str | None, is_ours, out: list[InlinedRange]) -> None:
    for child in die.iter_children():
        if child.tag == "DW_TAG_inlined_subroutine":
            try:
                origin = child.get_DIE_from_attribute("DW_AT_abstract_origin")
            except Exception:  # noqa: BLE001 - no origin pyelftools can follow: not attributable
                origin = None
            source = _origin_file(origin) if origin is not None else None
            declared = _decl_file(origin) if origin is not None else None
            if is_ours(source, declared) != is_ours(container, None):
                for low, high in _die_ranges(child, dwarf):
                    out.append(InlinedRange(low=low, high=high, function=_function_name(origin or child),
                                            source=source, decl_file=declared, container=container))
                continue  # outermost only: what is nested inside is part of these ranges
            _inlined_in(child, dwarf, container, is_ours, out)
        elif child.tag in ("DW_TAG_lexical_block", "DW_TAG_try_block", "DW_TAG_catch_block"):
            _inlined_in(child, dwarf, container, is_ours, out)


def read_inlined_ranges(elf: Path, is_ours) -> list[InlinedRange]:
    """The outermost inlined-subroutine ranges whose side differs from their container's:
    is_ours(source, decl_file) says whether a function belongs to the library (mbedTLS)
    (container side: is_ours(container_source, None)). Library code inlined into application
    functions, and application code inlined into library functions, each once."""
    try:
        with elf.open("rb") as stream:
            image = ELFFile(stream)
            if not image.has_dwarf_info():
                return []
            dwarf = image.get_dwarf_info()
            out: list[InlinedRange] = []
            for cu in dwarf.iter_CUs():
                for die in cu.get_top_DIE().iter_children():
                    if die.tag != "DW_TAG_subprogram" or "DW_AT_low_pc" not in die.attributes and \
                            "DW_AT_ranges" not in die.attributes:
                        continue
                    _inlined_in(die, dwarf, _origin_file(die), is_ours, out)
    except OSError as exc:
        raise MeasureError(f"{elf}: cannot read ELF: {exc}") from exc
    return out


@dataclass(frozen=True)
class PointerWord:
    """An aligned 32-bit word inside a sized symbol's contents (a literal pool entry, a table slot)."""
    address: int                   # where the word lies
    value: int                     # what it holds (maybe an address)


def read_pointer_words(elf: Path, symbols: list[SymbolSource], low: int, high: int) -> list[PointerWord]:
    """Every 4-byte-aligned word inside the sized symbols whose value lies in [low, high):
    the references merged strings can be traced by (a string literal's address sits in the
    literal pool of the function that uses it, or in a table of pointers)."""
    out: list[PointerWord] = []
    try:
        with elf.open("rb") as stream:
            image = ELFFile(stream)
            for section in image.iter_sections():
                if section["sh_type"] == "SHT_NOBITS" or not section["sh_flags"] & 2 or not section["sh_size"]:
                    continue
                start, data = section["sh_addr"], section.data()
                end = start + len(data)
                for sym in symbols:
                    if not start <= sym.address < end:
                        continue
                    first = (sym.address + 3) & ~3
                    for address in range(first, min(sym.address + sym.size, end) - 3, 4):
                        value = int.from_bytes(data[address - start:address - start + 4], "little")
                        if low <= value < high:
                            out.append(PointerWord(address=address, value=value))
    except OSError as exc:
        raise MeasureError(f"{elf}: cannot read ELF: {exc}") from exc
    return out


def read_section_bytes(elf: Path, name: str) -> tuple[int, bytes] | None:
    """(address, contents) of an allocated section, None when absent or NOBITS."""
    try:
        with elf.open("rb") as stream:
            section = ELFFile(stream).get_section_by_name(name)
            if section is None or section["sh_type"] == "SHT_NOBITS":
                return None
            return section["sh_addr"], section.data()
    except OSError as exc:
        raise MeasureError(f"{elf}: cannot read ELF: {exc}") from exc


def read_symbol_sources(elf: Path) -> list[SymbolSource]:
    """Every sized FUNC/OBJECT symbol in an allocated section, with its source file (None when
    the debug info does not place it). MeasureError when the image has no debug info at all."""
    try:
        with elf.open("rb") as stream:
            image = ELFFile(stream)
            if not image.has_dwarf_info() or image.get_section_by_name(".debug_info") is None:
                raise MeasureError(f"{elf}: no DWARF debug info: the build must be compiled with -g "
                                   "for per-source-file attribution")
            sections = list(image.iter_sections())
            symtab = image.get_section_by_name(".symtab")
            if symtab is None:
                raise MeasureError(f"{elf}: no symbol table")
            by_address = _sources_by_address(image.get_dwarf_info())
            out: list[SymbolSource] = []
            seen: set[tuple[int, int]] = set()
            for sym in symtab.iter_symbols():
                kind = sym["st_info"]["type"]
                index = sym["st_shndx"]
                if kind not in ("STT_FUNC", "STT_OBJECT") or not sym["st_size"] or not isinstance(index, int):
                    continue
                address = sym["st_value"] & ~1 if kind == "STT_FUNC" else sym["st_value"]
                if (address, sym["st_size"]) in seen:
                    continue  # aliases of one definition count once
                seen.add((address, sym["st_size"]))
                out.append(SymbolSource(name=sym.name, address=address, size=sym["st_size"],
                                        section=sections[index].name, source=by_address.get(address)))
    except OSError as exc:
        raise MeasureError(f"{elf}: cannot read ELF: {exc}") from exc
    return out

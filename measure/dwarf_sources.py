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

The aggregation (per module, mbedTLS or not) is measure/figures.py's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def _origin_file(die: DIE) -> str | None:
    """The source file of the unit that declares die, following LTO's references to early debug."""
    for _ in range(_MAX_HOPS):
        unit = _unit_name(die)
        if unit and unit != _ARTIFICIAL:
            return unit
        ref = next((a for a in _REFERENCES if a in die.attributes), None)
        if ref is None:
            return None
        try:
            die = die.get_DIE_from_attribute(ref)
        except Exception:  # noqa: BLE001 - a reference pyelftools cannot follow: file unknown
            return None
    return None


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

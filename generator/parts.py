"""Microcontroller parts: the catalogue (generator/data/parts.yaml), a user's own parts file
(`--parts FILE`) and parts described in place (`--part core=cortex-m4,mhz=100,flash=512K,ram=128K`).

Data only: a part is looked up by name (or alias, case and punctuation ignored) and unknown names
are bad input with a did-you-mean and the list of names and aliases. The cores a part may name,
their architectures and their CPI ranges (with the published figures they rest on) are
generator/data/cpus.yaml. reports/fit.py turns a report and a part into used % and headroom.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from core.errors import BadInput, LocatedError, TlsfitBug
from core.inputs import read_text
from generator.cores import find_core

CATALOGUE = Path(__file__).resolve().parent / "data" / "parts.yaml"
CPUS = Path(__file__).resolve().parent / "data" / "cpus.yaml"
_FIELDS = {"name", "aliases", "flash", "ram", "core", "clock_hz", "source", "flash_note"}
_REQUIRED = ("name", "flash", "ram", "core", "clock_hz")
PARTS_FILE_MAX = 1 << 20
SPEC_EXAMPLE = "core=cortex-m4,mhz=100,flash=512K,ram=128K"
_SPEC_KEYS = ("core", "mhz", "flash", "ram", "name")


@dataclass(frozen=True)
class Part:
    name: str
    flash: int                    # bytes an image can use
    ram: int                      # bytes of RAM an application can use
    core: str
    clock_hz: int
    source: str                   # the datasheet the figures come from (or who described the part)
    flash_note: str | None = None
    aliases: tuple[str, ...] = ()


# ---------------------------------------------------------------- cores (cpus.yaml)

@dataclass(frozen=True)
class CpiRange:
    name: str
    arch: str                     # the architecture its code is built for (from cores.yaml; "" for none)
    mcpu: str                     # the core it is built for (generator/data/cores.yaml; "" for none)
    low: float
    high: float
    basis: str
    includes: str                 # what the range covers: wait states, caches
    measured: tuple[dict, ...]    # published cycle counts the range rests on (part, clock, cpi, source)


@lru_cache(maxsize=2)
def _cpu_table(path: Path = CPUS) -> dict[str, CpiRange]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    table: dict[str, CpiRange] = {}
    for entry in raw["cpus"]:
        low, high = (float(x) for x in entry["cpi"])
        core = find_core(entry["mcpu"], f"{path.name}: cpu {entry['name']}") if entry.get("mcpu") else None
        cpi = CpiRange(name=entry["name"], arch=core.arch if core else "", mcpu=entry.get("mcpu") or "",
                       low=low, high=high,
                       basis=entry["basis"], includes=entry["includes"],
                       measured=tuple(entry.get("measured") or ()))
        for name in (entry["name"], *entry.get("aliases", ())):
            table[name.lower()] = cpi
    return table


def core_facts(core: str) -> CpiRange | None:
    """The cpus.yaml entry of a core (a board's cpu or a part's core), None when it has none."""
    return _cpu_table().get(core.lower())


def known_cores() -> list[str]:
    return sorted(_cpu_table())


# Which architectures' code each architecture runs (Armv6-M is a subset of Armv7-M, which
# Armv7E-M and Armv8-M Mainline extend).
RUNS = {
    "armv6-m": ("armv6-m",),
    "armv7-m": ("armv6-m", "armv7-m"),
    "armv7e-m": ("armv6-m", "armv7-m", "armv7e-m"),
    "armv8-m.main": ("armv6-m", "armv7-m", "armv7e-m", "armv8-m.main"),
}


def runs_code_of(board_arch: str | None, arch: str) -> bool:
    """Whether a board of board_arch executes code built for arch."""
    return board_arch is not None and arch in RUNS.get(board_arch, (board_arch,))


# ---------------------------------------------------------------- sizes and the catalogue

_SIZE = re.compile(r"(?P<n>\d+)\s*(?P<unit>[kKmM]i?[bB]?|[bB])?")


def parse_size(value: object) -> int | None:
    """Bytes from 524288, "512K", "512 KiB", "1M"; None when it is not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    match = _SIZE.fullmatch(str(value).strip())
    if match is None:
        return None
    unit = (match["unit"] or "b")[0].lower()
    n = int(match["n"]) * {"b": 1, "k": 1024, "m": 1 << 20}[unit]
    return n if n > 0 else None


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@lru_cache(maxsize=4)
def load_parts(path: Path = CATALOGUE) -> tuple[Part, ...]:
    data = yaml.safe_load(path.read_text())
    parts: list[Part] = []
    for index, entry in enumerate(data.get("parts") or []):
        unknown = set(entry) - _FIELDS
        missing = set(_REQUIRED + ("source",)) - set(entry)
        if unknown or missing:
            raise TlsfitBug(f"{path}: part #{index + 1}: unknown keys {sorted(unknown)}, missing {sorted(missing)}")
        parts.append(Part(name=entry["name"], flash=int(entry["flash"]), ram=int(entry["ram"]),
                          core=entry["core"], clock_hz=int(entry["clock_hz"]), source=entry["source"],
                          flash_note=entry.get("flash_note"), aliases=tuple(entry.get("aliases") or ())))
    return tuple(parts)


def listing(parts: tuple[Part, ...]) -> str:
    """"nrf52840, stm32f407 (stm32f4, stm32f407vg), ...": every name --part accepts."""
    return ", ".join(p.name + (f" ({', '.join(p.aliases)})" if p.aliases else "") for p in parts)


# ---------------------------------------------------------------- a part described in place

def _core_or_fail(core: str, fail) -> str:
    if core_facts(core) is None:
        close = difflib.get_close_matches(core.lower(), known_cores(), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise fail(f"core {core!r} is not one tlsfit knows; {hint}cores: {', '.join(known_cores())}")
    return core


def parse_part_spec(text: str, where: str = "--part") -> Part:
    """`core=cortex-m4,mhz=100,flash=512K,ram=128K[,name=my-board]` as a Part (BadInput otherwise)."""
    def fail(message: str) -> BadInput:
        return BadInput(f"{where} {text!r}: {message}; e.g. {SPEC_EXAMPLE}")

    fields: dict[str, str] = {}
    for item in (i.strip() for i in text.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not value.strip():
            raise fail(f"{item!r} is not KEY=VALUE")
        if key not in _SPEC_KEYS:
            close = difflib.get_close_matches(key, _SPEC_KEYS, n=1, cutoff=0.6)
            raise fail(f"unknown field {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                       + f"; fields: {', '.join(_SPEC_KEYS)}")
        if key in fields:
            raise fail(f"field {key!r} given twice")
        fields[key] = value.strip()
    missing = [k for k in ("core", "mhz", "flash", "ram") if k not in fields]
    if missing:
        raise fail(f"missing {', '.join(missing)}")
    try:
        mhz = float(fields["mhz"])
    except ValueError:
        mhz = 0.0
    if not 0 < mhz <= 10_000:
        raise fail(f"mhz={fields['mhz']!r} is not a clock in MHz")
    sizes = {}
    for key in ("flash", "ram"):
        sizes[key] = parse_size(fields[key])
        if sizes[key] is None:
            raise fail(f"{key}={fields[key]!r} is not a size (bytes, or K/M: 512K, 1M)")
    core = _core_or_fail(fields["core"], fail)
    name = fields.get("name") or f"{core}@{mhz:g}MHz"
    return Part(name=name, flash=sizes["flash"], ram=sizes["ram"], core=core, clock_hz=int(round(mhz * 1e6)),
                source=f"described by the user ({text})")


def spec_of(part: Part) -> str:
    """The spec text parse_part_spec reads back to this part (for a profile's part: fields)."""
    return f"core={part.core},mhz={part.clock_hz / 1e6:g},flash={part.flash},ram={part.ram},name={part.name}"


# ---------------------------------------------------------------- a user's parts file

def _node_line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _entry(path: Path, node: yaml.Node) -> Part:
    if not isinstance(node, yaml.MappingNode):
        raise LocatedError(path, _node_line(node), "a part is a mapping: name, core, clock_hz (or mhz), flash, ram")
    values: dict[str, tuple[yaml.Node, object]] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in _FIELDS | {"mhz"}:
            close = difflib.get_close_matches(key, sorted(_FIELDS | {"mhz"}), n=1, cutoff=0.6)
            raise LocatedError(path, _node_line(key_node), f"unknown key {key!r}"
                               + (f"; did you mean {close[0]!r}?" if close else
                                  f"; keys: {', '.join(sorted(_FIELDS | {'mhz'}))}"))
        values[key] = (value_node, yaml.constructor.SafeConstructor().construct_object(value_node, deep=True))
    if "mhz" in values and "clock_hz" not in values:
        mhz_node, mhz = values.pop("mhz")
        if isinstance(mhz, bool) or not isinstance(mhz, (int, float)) or not 0 < mhz <= 10_000:
            raise LocatedError(path, _node_line(mhz_node), f"mhz must be a clock in MHz, e.g. 64; got {mhz!r}")
        values["clock_hz"] = (mhz_node, int(round(mhz * 1e6)))
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        raise LocatedError(path, _node_line(node), f"part is missing {', '.join(missing)}")
    name_node, name = values["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}", name):
        raise LocatedError(path, _node_line(name_node), f"name must be letters, digits and .-_+; got {name!r}")
    sizes = {}
    for key in ("flash", "ram"):
        size_node, raw = values[key]
        sizes[key] = parse_size(raw)
        if sizes[key] is None:
            raise LocatedError(path, _node_line(size_node), f"{key} must be a size in bytes (or 512K, 1M); got {raw!r}")
    clock_node, clock = values["clock_hz"]
    if isinstance(clock, bool) or not isinstance(clock, int) or clock < 1000:
        raise LocatedError(path, _node_line(clock_node), f"clock_hz must be a whole number of Hz; got {clock!r}")
    core_node, core = values["core"]

    def fail(message: str) -> LocatedError:
        return LocatedError(path, _node_line(core_node), message)
    _core_or_fail(str(core), fail)
    aliases: tuple[str, ...] = ()
    if "aliases" in values:
        alias_node, raw_aliases = values["aliases"]
        if not isinstance(raw_aliases, list) or not all(isinstance(a, str) and a for a in raw_aliases):
            raise LocatedError(path, _node_line(alias_node), "aliases must be a list of names, e.g. [my-board]")
        aliases = tuple(raw_aliases)
    text = {k: values[k][1] for k in ("source", "flash_note") if k in values}
    return Part(name=name, flash=sizes["flash"], ram=sizes["ram"], core=str(core), clock_hz=clock,
                source=str(text.get("source") or f"{path.name} (the user's parts file)"),
                flash_note=str(text["flash_note"]) if text.get("flash_note") else None, aliases=aliases)


def load_user_parts(path: Path) -> tuple[Part, ...]:
    """A user's parts file (`--parts FILE`): `parts:` a list of {name, core, clock_hz or mhz, flash,
    ram[, aliases, source, flash_note]}; FILE:LINE errors (exit 2)."""
    text = read_text(path, "parts file", PARTS_FILE_MAX)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LocatedError(path, mark.line + 1 if mark else None, f"not YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(root, yaml.MappingNode):
        raise LocatedError(path, 1, "a parts file is a mapping with 'parts:', a list of parts")
    entries = next((v for k, v in root.value if k.value == "parts"), None)
    for key_node, _ in root.value:
        if key_node.value not in ("parts", "schema_version"):
            raise LocatedError(path, _node_line(key_node), f"unknown key {key_node.value!r}; a parts file has 'parts:'")
    if not isinstance(entries, yaml.SequenceNode) or not entries.value:
        raise LocatedError(path, _node_line(entries) if entries is not None else 1,
                           "'parts:' must be a non-empty list of parts")
    parts = [_entry(path, node) for node in entries.value]
    seen: dict[str, int] = {}
    for node, part in zip(entries.value, parts):
        for alias in (part.name, *part.aliases):
            if _key(alias) in seen:
                raise LocatedError(path, _node_line(node), f"{alias!r} is named twice (also line {seen[_key(alias)]})")
            seen[_key(alias)] = _node_line(node)
    return tuple(parts)


# ---------------------------------------------------------------- lookup

def find_part(name: str, where: str = "--part", extra: tuple[Part, ...] = ()) -> Part:
    """A part: fields in place (core=...,mhz=...,flash=...,ram=...), a name or alias of the user's
    parts (extra, first) or of the catalogue; BadInput with did-you-mean and the names otherwise."""
    if "=" in name:
        return parse_part_spec(name, where)
    parts = extra + load_parts()
    by_key: dict[str, Part] = {}
    for p in parts:
        for alias in (p.name, *p.aliases):
            by_key.setdefault(_key(alias), p)
    found = by_key.get(_key(name))
    if found is not None:
        return found
    names = [a for p in parts for a in (p.name, *p.aliases)]
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    mine = f"your parts: {listing(extra)}; " if extra else ""
    raise BadInput(f"{where} {name!r}: not a part tlsfit knows; {hint}{mine}catalogue (name (aliases)): "
                   f"{listing(load_parts())}; or describe it: {SPEC_EXAMPLE}, or a parts file (--parts FILE)")


def part_field(node: yaml.Node, path: Path) -> str:
    """A profile's `part:`: a catalogue name or alias, or the fields as a mapping
    ({core: cortex-m4, mhz: 100, flash: 512K, ram: 128K[, name: ...]}); returns what find_part
    reads back (the canonical name, or the fields as spec text). LocatedError at the node's line."""
    line = _node_line(node)
    if isinstance(node, yaml.ScalarNode):
        try:
            return find_part(str(node.value), where="'part'").name
        except BadInput as exc:
            raise LocatedError(path, line, str(exc)) from None
    if not isinstance(node, yaml.MappingNode):
        raise LocatedError(path, line, f"'part' is a part name or its fields, e.g. {{{SPEC_EXAMPLE.replace('=', ': ').replace(',', ', ')}}}")
    items = []
    for key_node, value_node in node.value:
        if not isinstance(value_node, yaml.ScalarNode):
            raise LocatedError(path, _node_line(value_node), f"'part.{key_node.value}' must be a single value")
        items.append(f"{key_node.value}={value_node.value}")
    spec = ",".join(items)
    try:
        return spec_of(parse_part_spec(spec, where="'part'"))
    except BadInput as exc:
        raise LocatedError(path, line, str(exc)) from None

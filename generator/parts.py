"""The catalogue of microcontroller parts (generator/data/parts.yaml): flash, RAM, core, clock, source.

Data only: a part is looked up by name (or alias, case and punctuation ignored) and unknown names
are bad input with a did-you-mean. reports/fit.py turns a report and a part into used % and headroom.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from core.errors import BadInput, TlsfitBug

CATALOGUE = Path(__file__).resolve().parent / "data" / "parts.yaml"
_FIELDS = {"name", "aliases", "flash", "ram", "core", "clock_hz", "source", "flash_note"}


@dataclass(frozen=True)
class Part:
    name: str
    flash: int                    # bytes an image can use
    ram: int                      # bytes of RAM an application can use
    core: str
    clock_hz: int
    source: str                   # the datasheet the figures come from
    flash_note: str | None = None
    aliases: tuple[str, ...] = ()


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@lru_cache(maxsize=4)
def load_parts(path: Path = CATALOGUE) -> tuple[Part, ...]:
    data = yaml.safe_load(path.read_text())
    parts: list[Part] = []
    for index, entry in enumerate(data.get("parts") or []):
        unknown = set(entry) - _FIELDS
        missing = {"name", "flash", "ram", "core", "clock_hz", "source"} - set(entry)
        if unknown or missing:
            raise TlsfitBug(f"{path}: part #{index + 1}: unknown keys {sorted(unknown)}, missing {sorted(missing)}")
        parts.append(Part(name=entry["name"], flash=int(entry["flash"]), ram=int(entry["ram"]),
                          core=entry["core"], clock_hz=int(entry["clock_hz"]), source=entry["source"],
                          flash_note=entry.get("flash_note"), aliases=tuple(entry.get("aliases") or ())))
    return tuple(parts)


def find_part(name: str, where: str = "--part") -> Part:
    """The catalogue part called `name` (or one of its aliases); BadInput with did-you-mean otherwise."""
    parts = load_parts()
    by_key = {_key(alias): p for p in parts for alias in (p.name, *p.aliases)}
    found = by_key.get(_key(name))
    if found is not None:
        return found
    names = [p.name for p in parts]
    close = difflib.get_close_matches(name.lower(), names + [a for p in parts for a in p.aliases], n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise BadInput(f"{where} {name!r}: not a part tlsfit knows; {hint}known parts: {', '.join(names)} "
                   f"(add one to {CATALOGUE.name})")

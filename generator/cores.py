"""The core table (generator/data/cores.yaml): each CPU core's architecture, features and flags.

A board names its core (board.yaml `core:`); its architecture (which the knowledge base's
arch-conditioned tuning keys on), its features and its `-mcpu`/`-march` flags all come from here,
so a board's CPU is said once. The resolver takes a Core: there is no "no architecture" case, the
build machine is the `host` core.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from core.errors import BadInput, TlsfitBug

CORES_FILE = Path(__file__).resolve().parent / "data" / "cores.yaml"
FEATURES = ("umaal", "dsp", "hwdiv", "fpu")
_FIELDS = ("name", "arch", "features", "cflags")


@dataclass(frozen=True)
class Core:
    name: str                      # e.g. "cortex-m3", "rv32imac", "host"
    arch: str                      # e.g. "armv7-m": the knowledge base's `arch:` conditions name it
    features: frozenset[str]       # a subset of FEATURES
    cflags: tuple[str, ...]        # the flags that select it (-mcpu=..., -mthumb, ...)

    def has(self, feature: str) -> bool:
        if feature not in FEATURES:
            raise TlsfitBug(f"unknown core feature {feature!r}; known: {', '.join(FEATURES)}")
        return feature in self.features


@lru_cache(maxsize=4)
def load_cores(path: Path = CORES_FILE) -> dict[str, Core]:
    """Name -> Core, in the file's order; a malformed table is a bug in tlsfit (exit 3)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    cores: dict[str, Core] = {}
    for index, entry in enumerate(raw.get("cores") or ()):
        if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
            raise TlsfitBug(f"{path}: core #{index + 1}: needs exactly the keys {', '.join(_FIELDS)}")
        unknown = set(entry["features"]) - set(FEATURES)
        if unknown or entry["name"] in cores:
            raise TlsfitBug(f"{path}: core {entry['name']}: unknown features {sorted(unknown)} or a second entry")
        cores[entry["name"]] = Core(name=str(entry["name"]), arch=str(entry["arch"]),
                                    features=frozenset(entry["features"]),
                                    cflags=tuple(str(f) for f in entry["cflags"]))
    return cores


def arches() -> tuple[str, ...]:
    """Every architecture some core has (what the knowledge base's arch conditions may name)."""
    return tuple(dict.fromkeys(c.arch for c in load_cores().values()))


def find_core(name: str, where: str = "core") -> Core:
    """The core called `name`; BadInput naming the known cores (and a close one) otherwise."""
    cores = load_cores()
    if name in cores:
        return cores[name]
    close = difflib.get_close_matches(name, list(cores), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(cores)}"
    raise BadInput(f"{where}: unknown core '{name}'; {hint} (generator/data/cores.yaml)")

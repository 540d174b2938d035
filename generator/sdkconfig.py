"""ResolvedConfig -> ESP-IDF `sdkconfig` fragment text (`tlsfit gen --sdkconfig FILE`).

The mapping mbedTLS option -> ESP-IDF Kconfig symbol is data (generator/data/esp-idf-kconfig.yaml);
this module only evaluates it. Pure: returns text, writes nothing (core/write.py writes).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import TlsfitBug
from generator.knowledge import DATA_DIR
from generator.model import ResolvedConfig

KCONFIG_MAP = DATA_DIR / "esp-idf-kconfig.yaml"
PREFIX = "CONFIG_"
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_TYPES = ("bool", "int")
_RULES = ("esp_config.h", "same-name", "kconfig")


@dataclass(frozen=True)
class KconfigSymbol:
    symbol: str                    # Kconfig name, without CONFIG_
    type: str                      # "bool" | "int"
    rule: str                      # where the option <-> symbol link comes from (see the data file)
    when: tuple[str, ...] = ()     # bool: all of these options defined ...
    when_any: tuple[str, ...] = ()  # ... and (if given) one of these ...
    unless: tuple[str, ...] = ()   # ... and none of these
    value_of: str | None = None    # int: the option whose value it takes
    range: tuple[int, int] | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """The options this symbol expresses (what it sets, not what it only excludes)."""
        return self.when + self.when_any + ((self.value_of,) if self.value_of else ())


@dataclass(frozen=True)
class KconfigMap:
    source: Path
    symbols: tuple[KconfigSymbol, ...]

    @property
    def expressible(self) -> frozenset[str]:
        return frozenset(o for s in self.symbols for o in s.options)


@dataclass(frozen=True)
class SdkconfigLine:
    symbol: str
    value: str | None              # "y", a number, or None for "is not set"

    def text(self) -> str:
        if self.value is None:
            return f"# {PREFIX}{self.symbol} is not set"
        return f"{PREFIX}{self.symbol}={self.value}"


def _names(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and _NAME.match(v) for v in value):
        raise TlsfitBug(f"{where}: {key}: must be a list of option names")
    return tuple(value)


def _symbol(entry: Any, where: str) -> KconfigSymbol:
    if not isinstance(entry, dict):
        raise TlsfitBug(f"{where}: each entry must be a mapping")
    unknown = set(entry) - {"symbol", "type", "rule", "when", "when_any", "unless", "value_of", "range"}
    if unknown:
        raise TlsfitBug(f"{where}: unknown keys {sorted(unknown)}")
    symbol, kind, rule = entry.get("symbol"), entry.get("type"), entry.get("rule")
    if not isinstance(symbol, str) or not _NAME.match(symbol):
        raise TlsfitBug(f"{where}: symbol: must be a Kconfig name")
    if kind not in _TYPES or rule not in _RULES:
        raise TlsfitBug(f"{where}: {symbol}: type must be one of {_TYPES}, rule one of {_RULES}")
    value_of = entry.get("value_of")
    rng = entry.get("range")
    if kind == "int":
        if not isinstance(value_of, str) or not _NAME.match(value_of):
            raise TlsfitBug(f"{where}: {symbol}: an int needs value_of: OPTION")
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(n, int) for n in rng)):
            raise TlsfitBug(f"{where}: {symbol}: range must be [low, high]")
    elif value_of is not None or rng is not None:
        raise TlsfitBug(f"{where}: {symbol}: value_of/range are for int symbols only")
    sym = KconfigSymbol(symbol=symbol, type=kind, rule=rule, when=_names(entry, "when", where),
                        when_any=_names(entry, "when_any", where), unless=_names(entry, "unless", where),
                        value_of=value_of, range=(rng[0], rng[1]) if rng else None)
    if kind == "bool" and not (sym.when or sym.when_any or sym.unless):
        raise TlsfitBug(f"{where}: {symbol}: a bool needs when, when_any or unless")
    return sym


@functools.lru_cache(maxsize=None)
def load_kconfig_map(path: Path = KCONFIG_MAP) -> KconfigMap:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("symbols"), list):
        raise TlsfitBug(f"{path}: expected a mapping with a `symbols:` list")
    symbols = tuple(_symbol(e, f"{path}: symbols[{i}]") for i, e in enumerate(raw["symbols"]))
    seen: set[str] = set()
    for s in symbols:
        if s.symbol in seen:
            raise TlsfitBug(f"{path}: {s.symbol} is listed twice")
        seen.add(s.symbol)
    return KconfigMap(source=path, symbols=symbols)


def _line(sym: KconfigSymbol, present: frozenset[str], values: dict[str, str | None]) -> SdkconfigLine | None:
    if sym.type == "int":
        assert sym.value_of is not None
        raw = values.get(sym.value_of)
        if raw is None or not raw.strip().isdigit():
            return None
        number = int(raw)
        if sym.range is not None and not sym.range[0] <= number <= sym.range[1]:
            return None
        return SdkconfigLine(sym.symbol, str(number))
    on = (all(o in present for o in sym.when)
          and (not sym.when_any or any(o in present for o in sym.when_any))
          and not any(o in present for o in sym.unless))
    return SdkconfigLine(sym.symbol, "y" if on else None)


def sdkconfig_lines(resolved: ResolvedConfig, kmap: KconfigMap) -> tuple[tuple[SdkconfigLine, ...], tuple[str, ...]]:
    """(the fragment's lines in data-file order, the generated options no Kconfig symbol expresses)."""
    present = frozenset(o.name for o in resolved.options)
    values = {o.name: o.value for o in resolved.options}
    lines = tuple(line for s in kmap.symbols if (line := _line(s, present, values)) is not None)
    expressed = {o for s in kmap.symbols for o in s.options
                 if any(ln.symbol == s.symbol and ln.value is not None for ln in lines)}
    missing = tuple(o.name for o in resolved.options if o.name not in expressed)
    return lines, missing


def render_sdkconfig(resolved: ResolvedConfig, profile_file: str, kmap: KconfigMap) -> str:
    lines, missing = sdkconfig_lines(resolved, kmap)
    out = [
        f"# Generated by tlsfit from {profile_file} (profile {resolved.profile_name}); do not edit.",
        "# ESP-IDF sdkconfig fragment: the mbedTLS options of tlsfit's mbedtls_config.h that ESP-IDF's",
        "# components/mbedtls/Kconfig can express; options the generated config leaves out are 'is not set'.",
        f"# Mapping: generator/data/{kmap.source.name}.",
        "",
        *(line.text() for line in lines),
        "",
    ]
    if missing:
        out += [
            f"# {len(missing)} option(s) of the generated config have no ESP-IDF Kconfig symbol.",
            "# Add them with a user mbedTLS config header on top of ESP-IDF's esp_config.h",
            "# (copy the #define lines from tlsfit's mbedtls_config.h):",
            *(f"#   {name}" + (f" {values}" if (values := _value(resolved, name)) else "") for name in missing),
            "",
        ]
    return "\n".join(out)


def _value(resolved: ResolvedConfig, name: str) -> str:
    value = resolved.value(name)
    return value if value is not None else ""

"""Does a build fit a part? Used % and headroom of flash and RAM, and a handshake time estimate.

The result is the report's "part" entry (plain data); the templates only present it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from generator.parts import Part

ESTIMATE_NOTE = ("estimate: guest instructions / the part's clock; QEMU's instructions are not the part's "
                 "cycles (wait states, multi-cycle instructions and caches are not modelled)")


def _share(used: int | None, capacity: int) -> tuple[float | None, int | None]:
    if used is None:
        return None, None
    return round(100.0 * used / capacity, 2), capacity - used


def part_fit(report: dict, part: Part) -> dict:
    rom_used = report["rom"]["total"]
    ram_used = report["ram"]["total"]
    rom_pct, rom_headroom = _share(rom_used, part.flash)
    ram_pct, ram_headroom = _share(ram_used, part.ram)
    instructions = report["handshake"].get("instructions")
    estimate_ms = round(1000.0 * instructions / part.clock_hz, 1) if isinstance(instructions, int) else None
    return {
        "name": part.name,
        "core": part.core,
        "clock_hz": part.clock_hz,
        "flash": part.flash,
        "ram": part.ram,
        "source": part.source,
        "flash_note": part.flash_note,
        "rom_used": rom_used,
        "rom_used_pct": rom_pct,
        "rom_headroom": rom_headroom,
        "ram_used": ram_used,
        "ram_used_pct": ram_pct,
        "ram_headroom": ram_headroom,
        "fits": (rom_headroom is None or rom_headroom >= 0) and (ram_headroom is None or ram_headroom >= 0),
        "handshake_ms_estimate": estimate_ms,
        # the same at the part's clock with the core's CPI range (an estimate too)
        "handshake_time_estimate": time_estimate(instructions, part.clock_hz, part.core),
        "estimate_note": ESTIMATE_NOTE,
        # the figures come from this board, not from the part
        "measured_on": f"{report['target']} ({report['cpu']})",
    }


def with_part(report: dict, part: Part | None) -> dict:
    """A copy of report with its "part" entry (None: no part asked for)."""
    return {**report, "part": part_fit(report, part) if part is not None else None}


def budget_excess(report: dict) -> list[tuple[str, int, int]]:
    """(metric, used, limit) for every profile budget the report exceeds: rom.total > budget.rom,
    ram.total > budget.ram (the same ceilings `tlsfit gate` checks)."""
    budget = report.get("budget") or {}
    over: list[tuple[str, int, int]] = []
    for key, metric, used in (("rom", "rom.total", report["rom"]["total"]), ("ram", "ram.total", report["ram"]["total"])):
        limit = budget.get(key)
        if limit is not None and used is not None and used > limit:
            over.append((metric, used, limit))
    return over


# ---------------------------------------------------------------- handshake time estimate

CPUS = Path(__file__).resolve().parent.parent / "generator" / "data" / "cpus.yaml"
TIME_NOTE = ("estimate, not a measurement: guest instructions x the core's CPI range (generator/data/cpus.yaml, "
             "itself an estimate) / the clock; QEMU counts instructions, not the part's cycles")


@dataclass(frozen=True)
class CpiRange:
    name: str
    low: float
    high: float
    basis: str


@functools.cache
def _cpi_table(path: Path = CPUS) -> dict[str, CpiRange]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    table: dict[str, CpiRange] = {}
    for entry in raw["cpus"]:
        low, high = (float(x) for x in entry["cpi"])
        cpi = CpiRange(name=entry["name"], low=low, high=high, basis=entry["basis"])
        for name in (entry["name"], *entry.get("aliases", ())):
            table[name.lower()] = cpi
    return table


def cpi_range(core: str) -> CpiRange | None:
    """The CPI range of a core (a board's cpu or a part's core), None when the table has none."""
    return _cpi_table().get(core.lower())


def time_estimate(instructions: int | None, clock_hz: int, core: str) -> dict | None:
    """{"clock_hz", "core", "cpi", "low_ms", "high_ms", "basis", "note"}; None without instructions."""
    if not isinstance(instructions, int) or clock_hz <= 0:
        return None
    cpi = cpi_range(core)
    low, high = (cpi.low, cpi.high) if cpi is not None else (1.0, 1.0)
    return {
        "clock_hz": clock_hz,
        "core": core,
        "cpi": [low, high],
        "low_ms": round(1000.0 * instructions * low / clock_hz, 1),
        "high_ms": round(1000.0 * instructions * high / clock_hz, 1),
        "basis": cpi.basis if cpi is not None else "no CPI range for this core: 1 cycle per instruction assumed",
        "note": TIME_NOTE,
    }


def with_time_estimate(report: dict, clock_mhz: float | None) -> dict:
    """A copy of report with "time_estimate" at clock_mhz on the measured core (None: no clock asked for)."""
    if clock_mhz is None:
        return report
    estimate = time_estimate(report["handshake"].get("instructions"), int(clock_mhz * 1_000_000), report["cpu"])
    return {**report, "time_estimate": estimate}

"""Does a build fit a part? Used % and headroom of flash and RAM, and a handshake time estimate.

The result is the report's "part" entry (plain data); the templates only present it.
"""
from __future__ import annotations

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

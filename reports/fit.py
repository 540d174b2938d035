"""Does a build fit a part? Used % and headroom of flash and RAM, and a handshake time estimate.

The result is the report's "part" entry (plain data); the templates only present it.
"""
from __future__ import annotations

from core.errors import BadInput
from generator.parts import CpiRange, Part, core_facts, known_cores, runs_code_of


def _share(used: int | None, capacity: int) -> tuple[float | None, int | None]:
    if used is None:
        return None, None
    return round(100.0 * used / capacity, 2), capacity - used


def part_fit(report: dict, part: Part, on_part: dict | None = None, clock_hz: int | None = None) -> dict:
    """Used %, headroom and the one handshake time estimate of a part. on_part: the report of the
    same config built for the part's own core (None: the measured board's core is the part's
    architecture, so report's figures are the part's); clock_hz: over the part's clock."""
    figures = on_part if on_part is not None else report
    rom_used = figures["rom"]["total"]
    ram_used = figures["ram"]["total"]
    rom_pct, rom_headroom = _share(rom_used, part.flash)
    ram_pct, ram_headroom = _share(ram_used, part.ram)
    instructions = figures["handshake"].get("instructions")
    clock = clock_hz or part.clock_hz
    measured_on = f"{figures['target']} ({figures['cpu']})"
    if on_part is not None:
        facts = core_facts(part.core)
        measured_on = (f"{report['target']} running the config built for {part.core} "
                       f"({facts.arch if facts else '?'}, -mcpu={facts.mcpu if facts else '?'})")
    return {
        "name": part.name,
        "core": part.core,
        "clock_hz": clock,
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
        "instructions": instructions if isinstance(instructions, int) else None,
        # the one estimate: the part's own architecture's instructions x its core's CPI range / clock
        "handshake_time_estimate": time_estimate(instructions, clock, part.core),
        # the figures come from this board (and build), not from the part
        "measured_on": measured_on,
        "config_sha256": figures.get("config_sha256"),
    }


def with_part(report: dict, part: Part | None, on_part: dict | None = None, clock_hz: int | None = None) -> dict:
    """A copy of report with its "part" entry (None: no part asked for); see part_fit."""
    return {**report, "part": part_fit(report, part, on_part, clock_hz) if part is not None else None}


def part_core_build(part: Part, board_arch: str | None, board_cpu: str) -> str | None:
    """The core to build the config for so that its figures are the part's: None when the
    measured board's architecture is the part's own; BadInput (with the reason) when tlsfit
    cannot run the part's architecture on that board."""
    facts = core_facts(part.core)
    if facts is None:
        raise BadInput(f"--part {part.name}: core {part.core!r} has no architecture in generator/data/cpus.yaml, so "
                       f"tlsfit cannot build for it; its instructions would not be the {board_cpu}'s: no estimate "
                       f"(cores: {', '.join(known_cores())})")
    board = core_facts(board_cpu)
    arch = board_arch or (board.arch if board is not None else None)
    if arch == facts.arch:
        return None
    if not runs_code_of(arch, facts.arch):
        raise BadInput(f"--part {part.name}: its core {part.core} ({facts.arch}) does not run on the measured "
                       f"board's {board_cpu} ({arch or 'unknown architecture'}), and instructions counted for "
                       f"another architecture would not be the part's; measure with a --target whose core runs "
                       f"{facts.arch} code (Armv6-M and Armv7-M code runs on the mps2-an385/an386 boards)")
    return facts.mcpu


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

TIME_NOTE = ("estimate, not a measurement: guest instructions x the core's CPI range (generator/data/cpus.yaml, "
             "itself an estimate) / the clock; QEMU counts instructions, not the part's cycles")


def cpi_range(core: str) -> CpiRange | None:
    """The CPI range of a core (a board's cpu or a part's core), None when the table has none."""
    return core_facts(core)


def time_estimate(instructions: int | None, clock_hz: int, core: str) -> dict | None:
    """{"clock_hz", "core", "cpi", "low_ms", "high_ms", "basis", "includes", "measured", "note"};
    None without instructions."""
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
        "includes": cpi.includes if cpi is not None else None,
        # published cycle counts the range rests on (part, clock, CPI, source)
        "measured": [dict(m) for m in cpi.measured] if cpi is not None else [],
        "note": TIME_NOTE,
    }


def with_time_estimate(report: dict, clock_mhz: float | None) -> dict:
    """A copy of report with "time_estimate" at clock_mhz on the measured core (None: no clock asked for)."""
    if clock_mhz is None:
        return report
    estimate = time_estimate(report["handshake"].get("instructions"), int(clock_mhz * 1_000_000), report["cpu"])
    return {**report, "time_estimate": estimate}

"""Pareto front, budget and choice over evaluated candidates (pure functions)."""
from __future__ import annotations

from reports.fit import cpi_range
from tune.model import Outcome, TuneBudget


def _point(o: Outcome) -> tuple[int, int, int]:
    return (o.rom_total or 0, o.ram_total or 0, o.instructions or 0)


def proven(o: Outcome) -> bool:
    return o.status == "ok" and o.handshake_ok and None not in (o.rom_total, o.ram_total, o.instructions)


def pareto_keys(outcomes: list[Outcome]) -> set[str]:
    """Keys of the proven candidates no other proven candidate dominates in ROM total x RAM total x
    handshake instructions (at most as large in all three, smaller in one)."""
    points = [(o.candidate.key, _point(o)) for o in outcomes if proven(o)]
    front = set()
    for key, p in points:
        if not any(all(a <= b for a, b in zip(q, p)) and q != p for _, q in points):
            front.add(key)
    return front


def handshake_ms_high(instructions: int, mhz: float, cpu: str) -> float:
    """The estimate's high end (the core's CPI range, generator/data/cpus.yaml): budgets are met
    only when the slow end of the estimate is."""
    cpi = cpi_range(cpu)
    return 1000.0 * instructions * (cpi.high if cpi is not None else 1.0) / (mhz * 1_000_000)


def within_budget(o: Outcome, budget: TuneBudget, cpu: str) -> bool:
    if not proven(o):
        return False
    if budget.rom is not None and o.rom_total > budget.rom:
        return False
    if budget.ram is not None and o.ram_total > budget.ram:
        return False
    if budget.handshake_ms is not None and budget.mhz is not None:
        if handshake_ms_high(o.instructions, budget.mhz, cpu) > budget.handshake_ms:
            return False
    return True


def choose(outcomes: list[Outcome], budget: TuneBudget, cpu: str, prefer: str) -> Outcome | None:
    """The smallest (ROM, then RAM, then work) or, prefer speed, the fastest (work, then ROM)
    proven candidate within budget; ties broken by key, so the choice is deterministic."""
    fits = [o for o in outcomes if within_budget(o, budget, cpu)]
    if not fits:
        return None
    if prefer == "speed":
        return min(fits, key=lambda o: (o.instructions, o.rom_total, o.ram_total, o.candidate.key))
    return min(fits, key=lambda o: (o.rom_total, o.ram_total, o.instructions, o.candidate.key))

"""Pareto front, budget and choice over evaluated candidates (pure functions)."""
from __future__ import annotations

from reports.fit import cpi_range
from tune.model import Outcome, TuneBudget


def _point(o: Outcome) -> tuple[int, int, int]:
    return (o.rom_total or 0, o.ram_total or 0, o.instructions or 0)


def proven(o: Outcome) -> bool:
    return o.status == "ok" and o.handshake_ok and None not in (o.rom_total, o.ram_total, o.instructions)


# Two runs of one firmware differ by up to about 0.15 % in handshake instructions (the server's
# random values; README "Figures"): work within this fraction counts as the same work, so a
# candidate is not on the front for a difference the next run would reverse.
INSTRUCTION_NOISE = 0.005


def _dominates(q: tuple[int, int, int], p: tuple[int, int, int]) -> bool:
    """q is at most p in ROM and RAM and in work (up to the noise), and better in one of them."""
    same_work = abs(q[2] - p[2]) <= INSTRUCTION_NOISE * max(q[2], p[2])
    if q[0] > p[0] or q[1] > p[1] or (q[2] > p[2] and not same_work):
        return False
    return q[0] < p[0] or q[1] < p[1] or (q[2] < p[2] and not same_work)


def pareto_keys(outcomes: list[Outcome]) -> set[str]:
    """Keys of the proven candidates no other proven candidate dominates in ROM total x RAM total x
    handshake instructions (at most as large in all three, smaller in one; work within
    INSTRUCTION_NOISE counts as equal)."""
    points = [(o.candidate.key, _point(o)) for o in outcomes if proven(o)]
    return {key for key, p in points if not any(_dominates(q, p) for _, q in points)}


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

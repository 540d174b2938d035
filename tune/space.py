"""Which candidates a tune run tries (plain data, deterministic: shards split the same list).

The search is a neighbourhood, not a full product (which grows as the product of every knob's
values): at every optimize level its own build and each applicable knob moved alone to each of
its other settings, each without and with LTO. When that is more than max_candidates, the
levels' own builds come first, then the neighbourhood of the profile's own level, then the
other levels' (each without LTO, then with it). After them, combinations() tries the moves that
made the Pareto front at each level together (e.g. balanced+lto+fixed_point=1).
Candidates whose option sets (and LTO) coincide are tried once.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from core.errors import Infeasible
from generator.cores import Core
from generator.knowledge import Knowledge
from generator.model import OPTIMIZE_LEVELS, Profile
from generator.resolve import resolve
from generator.tuning import current_setting, knob_applies, knob_choices, with_knobs
from tune.front import pareto_keys
from tune.model import Candidate, Outcome


@dataclass(frozen=True)
class Space:
    candidates: tuple[Candidate, ...]
    knobs: dict[str, tuple[str, ...]]      # knob -> the settings searched (applicable knobs only)
    levels: tuple[str, ...]
    duplicates: int                        # candidates dropped because an earlier one has the same options
    left_out: int = 0                      # distinct candidates beyond max_candidates


def usable_groups(profile: Profile, kb: Knowledge) -> tuple[str, ...]:
    return tuple(g for g in profile.groups if set(profile.versions) <= set(kb.groups[g].versions))


def _neighbourhood(profile: Profile, kb: Knowledge, level: str, core: Core,
                   knob_names: tuple[str, ...], searched: dict[str, tuple[str, ...]]) -> list[Candidate]:
    at_level = replace(profile, optimize=level)
    base = resolve(at_level, kb, core)
    out = [Candidate(level, (), False)]
    groups = usable_groups(profile, kb)
    for name in knob_names:
        knob = kb.knobs[name]
        if not knob_applies(knob, base, groups):
            continue
        choices = knob_choices(knob, groups)
        searched[name] = choices
        now = current_setting(knob, base)
        out += [Candidate(level, ((name, value),), False) for value in choices if value != now]
    return out


def build_space(profile: Profile, kb: Knowledge, core: Core, levels: tuple[str, ...] = OPTIMIZE_LEVELS,
                knob_names: tuple[str, ...] | None = None, lto: tuple[bool, ...] = (False, True),
                max_candidates: int = 40) -> Space:
    """The candidates for this profile (the profile's own tuning: stays under every candidate)."""
    names = tuple(kb.knobs) if knob_names is None else knob_names
    searched: dict[str, tuple[str, ...]] = {}
    plain = [c for level in levels for c in _neighbourhood(profile, kb, level, core, names, searched)]
    home = profile.optimize if profile.optimize in levels else levels[0]
    listed: list[Candidate] = []
    for tier in (0, 1, 2):   # the levels' own builds, the home neighbourhood, the other neighbourhoods
        group = [c for c in plain if (0 if not c.knobs else 1 if c.optimize == home else 2) == tier]
        listed += [replace(c, lto=flag) for flag in lto for c in group]
    unique: list[Candidate] = []
    left_out = 0
    seen: dict[tuple, Candidate] = {}
    for c in listed:
        try:
            tuned = with_knobs(replace(profile, optimize=c.optimize), kb, dict(c.knobs))
            config = resolve(tuned, kb, core)
            # a fragment knob also changes what the harness asks for
            signature: tuple = (tuple((o.name, o.value) for o in config.options), config.offered_groups, c.lto,
                                tuned.max_fragment_length)
        except Infeasible:
            signature = (c.key,)       # kept: its evaluation records why it does not exist
        if signature in seen:
            continue
        seen[signature] = c
        if len(unique) < max_candidates:
            unique.append(c)
        else:
            left_out += 1
    return Space(candidates=tuple(unique), knobs=searched, levels=levels,
                 duplicates=len(listed) - len(unique) - left_out, left_out=left_out)


def shard(candidates: tuple[Candidate, ...], k: int, n: int) -> tuple[Candidate, ...]:
    """The K-th of N deterministic shares (K from 1): every N-th candidate in key order."""
    ordered = sorted(candidates, key=lambda c: c.key)
    return tuple(c for i, c in enumerate(ordered) if i % n == k - 1)


def combinations(outcomes: list[Outcome], limit: int = 6) -> tuple[Candidate, ...]:
    """The combination step after the one-knob neighbourhood: at each optimize level, the moves
    on the Pareto front (LTO and each knob's best setting there) tried together, all of them
    first, then pairs; at most `limit`, none already evaluated. Pure: shards and reruns agree."""
    front = pareto_keys(outcomes)
    tried = {o.candidate.key for o in outcomes}
    out: list[Candidate] = []
    levels = dict.fromkeys(o.candidate.optimize for o in outcomes)
    for level in levels:
        best: dict[str, tuple[tuple[int, int, int], str]] = {}
        lto = False
        for o in outcomes:
            c = o.candidate
            if c.optimize != level or c.key not in front or len(c.knobs) > 1:
                continue
            lto = lto or c.lto
            for name, setting in c.knobs:
                point = (o.rom_total or 0, o.ram_total or 0, o.instructions or 0)
                if name not in best or point < best[name][0]:
                    best[name] = (point, setting)
        moves = sorted((name, setting) for name, (_, setting) in best.items())
        wanted = [tuple(moves)] if len(moves) + lto >= 2 else []
        wanted += [pair for pair in itertools.combinations(moves, 2) if len(moves) > 2]
        wanted += [(m,) for m in moves] if lto else []
        for knobs in wanted:
            c = Candidate(level, tuple(knobs), lto)
            if c.key not in tried and c not in out:
                out.append(c)
    return tuple(out[:limit])

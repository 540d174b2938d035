"""Cheaper choices the server accepts, for the report: what the profile already says the
server takes but the build does not use, with what each would save and where that figure
comes from ("measured" on these machines, or an "estimate" from the cost table).

The figures come from generator/data/costs.yaml (the table `tlsfit probe` ranks with) and the
measured MFL saving below; nothing here is re-measured per report.
"""
from __future__ import annotations

from dataclasses import dataclass

from generator.knowledge import Knowledge
from generator.model import Profile, ResolvedConfig
from generator.costs import Costs, load_costs

# `make bench`: tls12-mfl (max_fragment_length 1024) against tls12-ecdhe-ecdsa, the same server shape.
MFL_HEAP_SAVING = "heap peak 4,042 B instead of 20,426 B for the same ECDHE-ECDSA server (make bench)"


@dataclass(frozen=True)
class Advice:
    change: str                    # what to write in the profile
    saves: str                     # what it saves
    source: str                    # "measured" | "estimate"


def advise(profile: Profile, resolved: ResolvedConfig, kb: Knowledge, costs: Costs | None = None) -> tuple[Advice, ...]:
    costs = costs or load_costs()
    out: list[Advice] = []
    offered = resolved.offered_groups
    group_costs = costs.tables.get("groups", {})
    if offered and offered[0] in group_costs:
        mine = group_costs[offered[0]]
        for g in profile.groups:
            other = group_costs.get(g)
            if g in offered or other is None or other.cost >= mine.cost:
                continue
            if "1.3" in profile.versions and "1.3" not in kb.groups[g].versions:
                continue
            out.append(Advice(
                change=f"tls.groups: put {g} first (the server accepts it; the build offers {offered[0]})",
                saves=f"{g}: {other.why}; {offered[0]}: {mine.why}. The chain's own curve stays linked "
                      "for certificate checks, so ROM may grow where the chain is ECDSA",
                source="measured" if other.source == mine.source == "measured" else "estimate"))
    if ("1.2" in profile.versions and profile.max_fragment_length is None and profile.buffers is None):
        out.append(Advice(
            change="tls.max_fragment_length: 2048 (or less), if the server honours it (tlsfit probe tells)",
            saves=f"input buffer {kb.buffers.full_record:,} B -> the fragment length plus the largest "
                  f"handshake message; {MFL_HEAP_SAVING}",
            source="measured"))
    return tuple(out)

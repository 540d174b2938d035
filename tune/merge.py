"""Joining shards: the outcomes of `tlsfit tune --shard K/N` runs, read from their output folders.

Each folder's tune.json is read (and checked) by tune.shards.load_shard_outcomes; the merge
keeps the first outcome of each candidate key, the union of the knob settings the shards
searched, and the shards' object-cache figures added up.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from core.errors import BadInput
from tune.model import Outcome
from tune.search import merge_object_cache
from tune.shards import load_shard_outcomes


@dataclass(frozen=True)
class MergedShards:
    outcomes: tuple[Outcome, ...]                      # one per candidate key, in key order
    searched: dict[str, tuple[str, ...]]               # knob -> settings searched by any shard
    object_cache: dict | None                          # the shards' ccache figures added up
    folders: int


def merge_shards(folders: Iterable[Path], profile_name: str,
                 searched: Mapping[str, tuple[str, ...]], expect: Mapping[str, object] | None = None) -> MergedShards:
    """The shards in `folders` joined; BadInput when one is not a tune of `profile_name`, SchemaError
    when a shard's tune.json is malformed or comes from another search (`expect`: tune.shards's
    expected_identity of this run). searched: this run's own knob settings (the shards' are added)."""
    by_key: dict[str, Outcome] = {}
    knobs = {k: tuple(v) for k, v in searched.items()}
    caches: list[dict | None] = []
    count = 0
    for folder in folders:
        count += 1
        header, outcomes = load_shard_outcomes(folder, expect)
        if header.get("profile") != profile_name:
            raise BadInput(f"--merge {folder}: its tune.json is for profile {header.get('profile')!r}, "
                           f"not {profile_name!r}")
        caches.append(header.get("object_cache"))
        for k, v in (header.get("search", {}).get("knobs") or {}).items():
            knobs[k] = tuple(dict.fromkeys((*knobs.get(k, ()), *v)))
        for o in outcomes:
            by_key.setdefault(o.candidate.key, o)
    return MergedShards(outcomes=tuple(sorted(by_key.values(), key=lambda o: o.candidate.key)),
                        searched=knobs, object_cache=merge_object_cache(caches), folders=count)

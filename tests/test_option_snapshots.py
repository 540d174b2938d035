"""Exact option set per shipped profile: an extra, missing or changed option fails.

tests/snapshots/<profile>.options holds one `NAME` or `NAME=value` per line, sorted.
After an intended change, rewrite them with
    TLSFIT_UPDATE_SNAPSHOTS=1 /usr/bin/python3 -m pytest tests/test_option_snapshots.py
and review the diff.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.knowledge import knowledge_for
from pipeline import Paths, generate_for_board

KB = knowledge_for("3.6.6")  # the pinned mbedTLS's knowledge base
ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
SHIPPED = sorted((ROOT / "profiles").glob("*.yaml"))


def option_lines(profile: Path) -> str:
    """What `tlsfit gen` writes for the profile's own board (its CPU decides arch-conditioned choices)."""
    paths = Paths(ports=ROOT / "ports", cache=ROOT / "build" / "cache", work=ROOT / "build" / "work")
    gen, _ = generate_for_board(profile, KB, None, None, paths)
    lines = [o.name if o.value is None else f"{o.name}={o.value}" for o in gen.resolved.options]
    lines.append(f"# offered groups: {' '.join(gen.resolved.offered_groups) or '-'}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("profile", SHIPPED, ids=lambda p: p.stem)
def test_option_set_is_exactly_the_snapshot(profile: Path) -> None:
    snapshot = SNAPSHOTS / f"{profile.stem}.options"
    actual = option_lines(profile)
    if os.environ.get("TLSFIT_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(actual)
    assert snapshot.is_file(), f"no snapshot {snapshot}; create it with TLSFIT_UPDATE_SNAPSHOTS=1"
    assert actual == snapshot.read_text()


def test_every_snapshot_belongs_to_a_shipped_profile() -> None:
    assert sorted(p.stem for p in SNAPSHOTS.glob("*.options")) == [p.stem for p in SHIPPED]

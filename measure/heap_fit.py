"""Whether a config's record buffers can fit the board's heap arena at all, known before building.

mbedTLS allocates its input and output record buffers from the heap when the handshake starts,
each at least the content length the config sets (the knowledge base's roles
in_content_len / out_content_len) plus record overhead; the harness's heap is the board's arena
(TLSFIT_HEAP_ARENA_SIZE, a board fact). When the two content lengths alone exceed the arena, no
handshake can succeed: the shape is infeasible, whatever the knobs that leave the buffers alone.
The check is a lower bound (overheads, allocator headers and the crypto's own heap come on top),
so it never refuses a build that could run.
"""
from __future__ import annotations

import re

from generator.knowledge import Knowledge
from generator.model import Profile, ResolvedConfig
from measure.boards import Board
from measure.figures import heap_arena_source

HEAP_ARENA_DEFAULT = 64 * 1024          # ports/common/heap.c when the board does not set it
_ARENA_FLAG = re.compile(r"^-DTLSFIT_HEAP_ARENA_SIZE=\(?\s*(\d+)[uU]?\s*\)?$")


def heap_arena_bytes(board: Board) -> int | None:
    """The board's heap arena in bytes (its cflags, else the harness default); None when the flag
    is an expression this reader does not evaluate."""
    for flag in board.cflags:
        if flag.startswith("-DTLSFIT_HEAP_ARENA_SIZE="):
            m = _ARENA_FLAG.match(flag)
            return int(m.group(1)) if m else None
    return HEAP_ARENA_DEFAULT


def _value(resolved: ResolvedConfig, kb: Knowledge, role: str) -> int | None:
    name = kb.option(role)
    for o in resolved.options:
        if o.name == name and o.value is not None and o.value.isdigit():
            return int(o.value)
    return None


def buffers_cannot_fit(profile: Profile, resolved: ResolvedConfig, kb: Knowledge, board: Board) -> str | None:
    """None when the record buffers may fit the heap arena; else why they cannot, and what
    would make them fit (said for the profile's TLS versions: no max_fragment_length advice for
    TLS 1.3, which ignores it)."""
    arena = heap_arena_bytes(board)
    in_len, out_len = _value(resolved, kb, "in_content_len"), _value(resolved, kb, "out_content_len")
    if arena is None or in_len is None or out_len is None or in_len + out_len <= arena:
        return None
    need = in_len + out_len
    full = kb.buffers.full_record
    tls12 = "1.2" in profile.versions
    tls13_only = not tls12
    if profile.buffers is not None:
        why = f"tls.buffers sets {in_len:,} B in and {out_len:,} B out"
    elif profile.max_fragment_length is not None:
        why = (f"tls.max_fragment_length {profile.max_fragment_length} gives a {in_len:,}-byte input buffer "
               f"(it must also hold the server's Certificate message)")
    elif tls13_only:
        why = (f"TLS 1.3 without record_size_limit lets the server send full {full:,}-byte records, so the "
               f"input buffer is {in_len:,} B")
    else:
        why = (f"TLS 1.2 without max_fragment_length lets the server send full {full:,}-byte records, so the "
               f"input buffer is {in_len:,} B")
    fixes: list[str] = []
    if tls13_only:
        fixes.append("TLS 1.2 (tls.versions) with a tls.max_fragment_length the server honours "
                     "(RFC 6066; TLS 1.3 has no max_fragment_length in mbedTLS)")
        fixes.append("tls.buffers.in below 16,384 where the server is known to send smaller records "
                     "(a server that honours record_size_limit, RFC 8449)")
    elif profile.max_fragment_length is None:
        only12 = "" if profile.versions == ("1.2",) else " and tls.versions [\"1.2\"] (TLS 1.3 ignores it)"
        fixes.append(f"a tls.max_fragment_length (512 to 4096) the server honours{only12}")
    elif profile.max_fragment_length > 512 and profile.buffers is None:
        fixes.append("a smaller tls.max_fragment_length, if the server honours it")
    if profile.buffers is not None and not tls13_only:
        fixes.append("smaller tls.buffers, if the server sends smaller records")
    fixes.append(f"a board whose heap arena holds more than {need:,} B plus record overhead and the "
                 f"handshake's own allocations")
    return (f"cannot fit the heap of {board.name}: the record buffers alone need {in_len:,} B in + "
            f"{out_len:,} B out = {need:,} B, more than its {arena:,}-byte heap arena "
            f"({heap_arena_source(board)}); {why}. What would fit: " + "; or ".join(fixes))

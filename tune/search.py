"""Evaluating candidates: each one a pipeline measure (generate, validate, build, handshake).

Every evaluated candidate is kept in DIR/candidates/<key>.json (written atomically) with the
fingerprint of what it was measured against, so a rerun resumes where it stopped and a shard's
folder can be merged; the build cache already reuses identical configs, and ccache (when
installed) the library objects a candidate's knob does not change (measure/object_cache.py):
object_cache_zero() before the search and object_cache_figures() after it say how often.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from core.errors import BadInput, Infeasible, ToolFailure, TlsfitBug
from core.inputs import MIB, read_text
from core.write import write_if_changed
from measure import children, object_cache
from tune.model import Candidate, Outcome, reason_kind
from tune.space import combinations

CANDIDATES_DIR = "candidates"
CANDIDATE_JSON_MAX_BYTES = MIB
Progress = Callable[[str], None]


# What the pipeline hands the search (tune never imports pipeline): a candidate -> its report.json,
# raising the pipeline's errors; and a candidate -> why its shape cannot run at all (None: it may).
Measure = Callable[[Candidate], dict]
CannotFit = Callable[[Candidate], "str | None"]


@dataclass(frozen=True)
class SearchContext:
    """One search's fixed inputs: what to run a candidate with, and what its cached outcome must match.

    measure and cannot_fit are picklable callables (pool workers receive them)."""
    measure: Measure
    cannot_fit: CannotFit
    profile: Path
    knowledge_source: Path                 # the knowledge base file (its hash keys the cache)
    mbedtls_version: str
    tlsfit_version: str
    cache: Path                            # the build cache and whether ccache compiles into it
    ccache: bool = True
    target: str | None = None
    server: str | None = None              # HOST:PORT of a real server; None: the reference server
    server_impl: str = "openssl"
    app: str | None = None                 # None: the profile's app, else the server's default

    def fingerprint(self) -> dict:
        """What a cached outcome must have been measured against to be reused."""
        return {
            "profile_sha256": hashlib.sha256(self.profile.read_bytes()).hexdigest(),
            "knowledge_sha256": hashlib.sha256(self.knowledge_source.read_bytes()).hexdigest(),
            "mbedtls_version": self.mbedtls_version,
            "tlsfit_version": self.tlsfit_version,
            "target": self.target,
            "server": self.server,
            "server_impl": self.server_impl,
            **({"app": self.app} if self.app is not None else {}),
        }


def evaluate(ctx: SearchContext, candidate: Candidate) -> Outcome:
    """One candidate proven (or not) by a real handshake; never raises for the candidate's own faults."""
    started = time.monotonic()
    try:
        r = ctx.measure(candidate)
    except Infeasible as exc:          # does not exist (a knob that does not apply, a part it overflows)
        return Outcome(candidate, "infeasible", reason=str(exc), seconds=time.monotonic() - started)
    except BadInput as exc:
        return Outcome(candidate, "infeasible", reason=str(exc), seconds=time.monotonic() - started)
    except (ToolFailure, TlsfitBug) as exc:
        return Outcome(candidate, "error", reason=f"{type(exc).__name__}: {exc}", seconds=time.monotonic() - started)
    ok = bool(r["handshake"]["ok"])
    return Outcome(candidate, "ok" if ok else "failed",
                   reason=None if ok else str((r["handshake"].get("error") or {}).get("message") or "handshake failed"),
                   config_sha256=r["config_sha256"], rom_total=r["rom"]["total"], rom_mbedtls=r["rom"]["mbedtls"],
                   ram_total=r["ram"]["total"], instructions=r["handshake"].get("instructions"),
                   handshake_ok=ok, seconds=time.monotonic() - started)


def precheck(ctx: SearchContext, candidate: Candidate) -> Outcome | None:
    """The candidate's infeasible outcome when its shape cannot run on the board at all (its record
    buffers alone exceed the heap arena: measure/heap_fit.py), known without building; else None."""
    why = ctx.cannot_fit(candidate)
    return Outcome(candidate, "infeasible", reason=why) if why else None


def _cache_file(out_dir: Path, candidate: Candidate) -> Path:
    return out_dir / CANDIDATES_DIR / f"{candidate.key}.json"


def load_cached(out_dir: Path, candidate: Candidate, fingerprint: dict) -> Outcome | None:
    path = _cache_file(out_dir, candidate)
    try:
        data = json.loads(read_text(path, "tune candidate", CANDIDATE_JSON_MAX_BYTES))
        if data.get("fingerprint") != fingerprint:
            return None
        return Outcome.from_dict(data["outcome"])
    except (BadInput, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None   # not one of ours, or of another search: evaluated again


def store(out_dir: Path, outcome: Outcome, fingerprint: dict) -> None:
    if outcome.status == "error":
        return  # a tool fault is retried next time
    text = json.dumps({"fingerprint": fingerprint, "outcome": outcome.as_dict()}, indent=1, sort_keys=True)
    write_if_changed(_cache_file(out_dir, outcome.candidate), text + "\n")


def run_search(ctx: SearchContext, candidates: Iterable[Candidate], out_dir: Path, jobs: int = 1,
               progress: Progress = lambda _: None, combine: bool = False) -> list[Outcome]:
    """Every candidate's outcome, in the order given: from the cache where it is valid, infeasible
    without a build where its shape cannot run on the board (the cause said once, with a count),
    else evaluated. combine: then the combination step (tune/space.py combinations()), whose
    outcomes follow."""
    fingerprint = ctx.fingerprint()
    todo: list[Candidate] = []
    done: dict[str, Outcome] = {}
    ordered = list(candidates)
    shapes: dict[str, list[Outcome]] = {}
    for c in ordered:
        cannot = precheck(ctx, c)
        if cannot is not None:
            done[c.key] = cannot
            shapes.setdefault(reason_kind(cannot.reason), []).append(cannot)
            continue
        cached = load_cached(out_dir, c, fingerprint)
        if cached is not None:
            done[c.key] = cached
        else:
            todo.append(c)
    for same in shapes.values():
        progress(f"{len(same)} of {len(ordered)} candidates not built: {same[0].reason}")
    cached_count = len(done) - sum(len(v) for v in shapes.values())
    if cached_count:
        progress(f"{cached_count} of {len(ordered)} candidates from the cache in {out_dir / CANDIDATES_DIR}")
    said: dict[str, str] = {}     # reason kind -> the first candidate that failed for it

    def finished(o: Outcome) -> None:
        done[o.candidate.key] = o
        store(out_dir, o, fingerprint)
        if o.status == "ok":
            detail = f"ROM {o.rom_total:,} B, RAM {o.ram_total:,} B, {o.instructions or 0:,} instr" \
                if o.rom_total is not None and o.ram_total is not None else ""
        else:   # no figures: a failed run measured nothing that counts
            kind = reason_kind(o.reason)
            first = said.setdefault(kind, o.candidate.key)
            detail = (f"(as {first})" if first != o.candidate.key
                      else ((o.reason or "").strip().splitlines() or [""])[0][:160])
        progress(f"[{len(done)}/{len(ordered)}] {o.candidate.key}: {o.status} {detail}".rstrip())

    workers, note = worker_count(jobs, len(todo), os.cpu_count())
    if note and todo:
        progress(note)
    if workers <= 1:
        for c in todo:
            finished(evaluate(ctx, c))
    elif todo:
        finished_all(ctx, todo, workers, finished)
    outcomes = [done[c.key] for c in ordered]
    extra = combinations(outcomes) if combine else ()
    if extra:
        progress(f"combination step: {len(extra)} candidates joining the moves on the Pareto front "
                 f"({', '.join(c.key for c in extra)})")
        outcomes += run_search(ctx, extra, out_dir, jobs, progress)
    return outcomes


def worker_count(jobs: int, candidates: int, cpus: int | None) -> tuple[int, str | None]:
    """How many candidates to evaluate at once: -j, but never more than the cores (each
    candidate's build and QEMU keep one busy) nor the candidates left; the note says why when
    -j was lowered (None when it was not)."""
    cores = max(1, cpus or 1)
    n = max(1, min(jobs, cores, candidates))
    if n >= jobs:
        return n, None
    why = [f"{cores} core{'s' if cores != 1 else ''}" if n == cores else None,
           f"{candidates} candidate{'s' if candidates != 1 else ''} to evaluate" if n == candidates else None]
    return n, f"-j {jobs} lowered to {n} ({' and '.join(w for w in why if w)})"


def finished_all(ctx: SearchContext, todo: list[Candidate], workers: int,
                 finished: Callable[[Outcome], None]) -> None:
    """Evaluate `todo` in `workers` processes. Each worker ends with tlsfit: a signal to tlsfit
    stops the workers (measure/children.py stop_all), each of which stops its own builds, QEMU
    and servers; a SIGKILLed tlsfit makes the kernel SIGTERM them (parent-death signal)."""
    pool = ProcessPoolExecutor(max_workers=workers, initializer=children.start_worker,
                               initargs=(os.getpid(),))
    pids: list[int] = []
    try:
        futures = [pool.submit(evaluate, ctx, c) for c in todo]
        # the pool forks its workers on the first submit (fork start method)
        pids = list(getattr(pool, "_processes", None) or {})
        for pid in pids:
            children.register_worker(pid)
        for future in as_completed(futures):
            finished(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for pid in pids:
            children.release_worker(pid)


def object_cache_zero(ctx: SearchContext) -> None:
    """Zero ccache's statistics for the build cache the search uses (nothing without ccache)."""
    object_cache.zero_stats(ctx.cache, ctx.ccache)


def object_cache_figures(ctx: SearchContext) -> dict | None:
    """{tool, hits, misses, hit_rate} of the library objects compiled since object_cache_zero(),
    None when ccache is absent or off (TLSFIT_NO_CCACHE=1)."""
    stats = object_cache.read_stats(ctx.cache, ctx.ccache)
    return stats.as_dict() if stats is not None else None


def merge_object_cache(figures: Iterable[dict | None]) -> dict | None:
    """The shards' object-cache figures added up; None when no shard had any."""
    known = [f for f in figures if isinstance(f, dict) and isinstance(f.get("hits"), int)
             and isinstance(f.get("misses"), int)]
    if not known:
        return None
    stats = object_cache.ObjectCacheStats(hits=sum(f["hits"] for f in known),
                                          misses=sum(f["misses"] for f in known),
                                          tool=str(known[0].get("tool") or object_cache.TOOL))
    return stats.as_dict()


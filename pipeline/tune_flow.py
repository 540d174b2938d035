"""`tune` as a library call: a profile and a search in, the Pareto front and the chosen build out.

    space -> (search this shard | merge the shards' folders) -> front -> choice -> tune.json/.md/.html
    and the chosen build as a profile

tune/ holds the parts (space, search, front, merge, output) and never imports pipeline; this module
wires them. Nothing printed; progress through a callback.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

from core.errors import BadInput, ToolFailure
from core.write import check_output_dir
from generator.model import OPTIMIZE_LEVELS
from measure.heap_fit import buffers_cannot_fit
from pipeline.stages import MeasureRequest, Paths, ServerAddress, generate_for_board, measure, test_pki_dir
from pipeline.tree import MbedtlsTree
from tune.front import choose
from tune.merge import merge_shards
from tune.model import Candidate, Outcome, Shard, TuneBudget
from tune.output import chosen_profile_text, object_cache_text, tune_document, write_outputs
from tune.search import SearchContext, object_cache_figures, object_cache_zero, run_search
from tune.shards import expected_identity
from tune.space import build_space, shard as shard_of

Progress = Callable[[str], None]
LTO_CHOICES = {"both": (False, True), "on": (True,), "off": (False,)}
PREFER = ("size", "speed")


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class TuneRequest:
    profile: Path
    tree: MbedtlsTree
    paths: Paths
    build_dir: Path                            # the default output folder is build_dir/tune/<profile name>
    tlsfit_version: str
    output: Path | None = None                 # the output folder; None: build_dir/tune/<profile name>
    budget: TuneBudget | None = None           # None: the profile's budget:
    server: ServerAddress | None = None        # None: the reference server
    target: str | None = None                  # None: the profile's target
    jobs: int = 1
    shard: Shard | None = None                 # evaluate only this share (no profile written)
    merge: tuple[Path, ...] = ()               # join these shards' output folders instead of searching
    prefer: str = "size"                       # "size" | "speed"
    knobs: tuple[str, ...] | None = None       # None: every knob of the knowledge base
    levels: tuple[str, ...] | None = None      # None: every optimize level
    lto: str = "both"                          # "both" | "on" | "off"
    max_candidates: int = 40
    app: str | None = None                     # after each handshake (None: the profile's, else echo)


@dataclass(frozen=True)
class TuneResult:
    out_dir: Path                              # tune.json, tune.md, tune.html (and the chosen profile)
    document: dict                             # the tune.json content
    outcomes: tuple[Outcome, ...]
    chosen: Outcome | None                     # None: no candidate within the budget
    chosen_profile: Path | None                # the chosen build as a profile (not for a shard)
    object_cache: dict | None                  # ccache's figures for the library objects


def _check(request: TuneRequest, known_knobs: tuple[str, ...]) -> None:
    if request.jobs < 1:
        raise BadInput(f"-j {request.jobs}: give at least 1")
    if request.max_candidates < 1:
        raise BadInput(f"--max-candidates {request.max_candidates}: give at least 1")
    if request.shard is not None and request.merge:
        raise BadInput("--shard and --merge do not go together: run the shards, then --merge their folders")
    if request.prefer not in PREFER:
        raise BadInput(f"--prefer {request.prefer!r}: not one of {', '.join(PREFER)}")
    if request.lto not in LTO_CHOICES:
        raise BadInput(f"--lto {request.lto!r}: not one of {', '.join(LTO_CHOICES)}")
    for what, names, known in (("knobs", request.knobs, known_knobs), ("levels", request.levels, OPTIMIZE_LEVELS)):
        if names is None:
            continue
        if not names:
            raise BadInput(f"--{what} is empty")
        for n in names:
            if n not in known:
                raise BadInput(f"--{what} {n!r}: not one of {', '.join(known)}")


def _measure_candidate(base: MeasureRequest, tlsfit_version: str, candidate: Candidate) -> dict:
    """One candidate through pipeline.measure: its report.json (tune.search evaluates it)."""
    request = replace(base, optimize=candidate.optimize, knobs=candidate.knobs, lto=candidate.lto)
    return measure(request, tlsfit_version).report


def _cannot_fit(base: MeasureRequest, candidate: Candidate) -> str | None:
    """Why this candidate's record buffers cannot fit the board's heap at all (no build needed)."""
    try:
        gen, board = generate_for_board(base.profile, base.tree.knowledge, candidate.optimize, base.target,
                                        base.paths, knobs=candidate.knobs, lto=candidate.lto)
    except BadInput:
        return None    # the measure says why the candidate does not exist
    return buffers_cannot_fit(gen.profile, gen.resolved, base.tree.knowledge, board)


def tune(request: TuneRequest, progress: Progress = _quiet) -> TuneResult:
    """Search (or merge), choose and write DIR/tune.json, tune.md, tune.html and, unless this is a
    shard, the chosen build as DIR/<profile>.yaml. ToolFailure when every candidate failed on a tool."""
    started = time.monotonic()
    kb = request.tree.knowledge
    _check(request, tuple(kb.knobs))
    levels = request.levels or OPTIMIZE_LEVELS
    gen, board = generate_for_board(request.profile, kb, None, request.target, request.paths)
    prof = gen.profile
    out_dir = request.output if request.output is not None else request.build_dir / "tune" / prof.name
    check_output_dir(out_dir)
    budget = request.budget if request.budget is not None else (
        TuneBudget(rom=prof.budget.rom, ram=prof.budget.ram) if prof.budget is not None else TuneBudget())
    space = build_space(prof, kb, board.core, levels, request.knobs, LTO_CHOICES[request.lto],
                        request.max_candidates)
    searched = dict(space.knobs)
    base = MeasureRequest(profile=request.profile, tree=request.tree, paths=request.paths, target=request.target,
                          server=request.server, app=request.app)
    ctx = SearchContext(measure=partial(_measure_candidate, base, request.tlsfit_version),
                        cannot_fit=partial(_cannot_fit, base), profile=request.profile,
                        knowledge_source=kb.source, mbedtls_version=request.tree.version,
                        tlsfit_version=request.tlsfit_version, cache=request.paths.cache,
                        ccache=request.paths.ccache, target=request.target,
                        server=str(request.server) if request.server else None, app=request.app)
    if request.merge:
        merged = merge_shards(request.merge, prof.name, searched,
                              expected_identity(ctx.fingerprint(), profile=prof.name, target=board.name))
        outcomes, searched, object_cache = list(merged.outcomes), merged.searched, merged.object_cache
        progress(f"merged {len(outcomes)} candidates from {merged.folders} folders")
    else:
        part = request.shard
        candidates = shard_of(space.candidates, part.index, part.count) if part is not None else space.candidates
        progress(f"{len(candidates)} candidates ({len(space.candidates)} in the search"
                 f"{f', shard {part}' if part else ''}; {space.duplicates} duplicate option sets dropped"
                 f"{f', {space.left_out} beyond --max-candidates' if space.left_out else ''}), "
                 f"-j {request.jobs}, each proven by a handshake on {board.name}")
        object_cache_zero(ctx)
        outcomes = run_search(ctx, candidates, out_dir, request.jobs, progress, combine=part is None)
        object_cache = object_cache_figures(ctx)
        progress(object_cache_text(object_cache))
    if outcomes and all(o.status == "error" for o in outcomes):
        raise ToolFailure(f"every candidate failed on a tool; the first: {outcomes[0].reason}")
    chosen = choose(outcomes, budget, board.cpu, request.prefer)
    profile_name = f"{prof.name}.yaml"
    write_profile = chosen is not None and request.shard is None
    doc = tune_document(profile=prof, target=board.name, cpu=board.cpu, mbedtls_version=request.tree.version,
                        tlsfit_version=request.tlsfit_version, budget=budget, prefer=request.prefer,
                        outcomes=outcomes, searched=searched, levels=levels,
                        seconds=time.monotonic() - started,
                        shard=str(request.shard) if request.shard else None,
                        server=str(request.server) if request.server else None,
                        chosen_profile=str(out_dir / profile_name) if write_profile else None,
                        object_cache=object_cache)
    doc["fingerprint"] = ctx.fingerprint()   # what a --merge of this folder checks (tune/shards.py)
    text = (chosen_profile_text(prof, kb, chosen, f"tlsfit tune -o {out_dir}", out_dir) if write_profile and chosen
            else None)
    write_outputs(out_dir, doc, text, profile_name if text else None, test_pki_dir(prof))
    return TuneResult(out_dir=out_dir, document=doc, outcomes=tuple(outcomes), chosen=chosen,
                      chosen_profile=out_dir / profile_name if text else None, object_cache=object_cache)

"""`tlsfit tune PROFILE`: search the tuning knobs, prove each candidate, write the front and the choice.

Exit 0: a candidate within the budget (its profile written); 1: none within the budget;
2: bad input; 3: every candidate failed on a tool (build, QEMU, server).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from cli import EXIT_FAILED, EXIT_OK, VERSION
from cli.paths import workspace
from core.errors import BadInput, ToolFailure
from generator.model import APPS, OPTIMIZE_LEVELS
from core.write import check_output_dir
from pipeline import open_mbedtls, parse_server_address
from pipeline.stages import generate_for_board, test_pki_dir
from tune.front import choose
from tune.model import Outcome, TuneBudget, parse_budget, parse_shard
from tune.output import chosen_profile_text, object_cache_text, tune_document, write_outputs
from tune.search import SearchContext, merge_object_cache, object_cache_figures, object_cache_zero, run_search
from tune.shards import expected_identity, load_shard_outcomes
from tune.space import build_space, shard


def _names(text: str | None, known: tuple[str, ...], what: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for n in names:
        if n not in known:
            raise BadInput(f"--{what} {n!r}: not one of {', '.join(known)}")
    if not names:
        raise BadInput(f"--{what} is empty")
    return names


def run_tune(profile: Path, budget: str | None, server: str | None, jobs: int, shard_text: str | None,
             merge: list[Path] | None, prefer: str, output: Path | None, target: str | None = None,
             knobs: str | None = None, levels: str | None = None, lto: str = "both",
             quiet: bool = False, max_candidates: int = 40, app: str | None = None) -> int:
    started = time.monotonic()
    if jobs < 1:
        raise BadInput(f"-j {jobs}: give at least 1")
    part = parse_shard(shard_text) if shard_text is not None else None
    if part is not None and merge:
        raise BadInput("--shard and --merge do not go together: run the shards, then --merge their folders")
    address = parse_server_address(server) if server is not None else None
    ws = workspace()
    check_output_dir(ws.build, "build folder")
    tree = open_mbedtls(ws.mbedtls)
    kb = tree.knowledge
    knob_names = _names(knobs, tuple(kb.knobs), "knobs")
    level_names = _names(levels, OPTIMIZE_LEVELS, "levels") or OPTIMIZE_LEVELS
    gen, board = generate_for_board(profile, kb, None, target, ws.paths())
    prof = gen.profile
    out_dir = output if output is not None else ws.build / "tune" / prof.name
    check_output_dir(out_dir)
    the_budget = parse_budget(budget) if budget is not None else (
        TuneBudget(rom=prof.budget.rom, ram=prof.budget.ram) if prof.budget is not None else TuneBudget())

    def say(line: str) -> None:
        if not quiet:
            print(f"tlsfit: tune: {line}", file=sys.stderr, flush=True)

    lto_choices = {"both": (False, True), "on": (True,), "off": (False,)}[lto]
    if max_candidates < 1:
        raise BadInput(f"--max-candidates {max_candidates}: give at least 1")
    space = build_space(prof, kb, board.core, level_names, knob_names, lto_choices, max_candidates)
    searched = dict(space.knobs)
    object_cache: dict | None = None
    ctx = SearchContext(profile=profile, tree=tree, paths=ws.paths(), tlsfit_version=VERSION, target=target,
                        server=address, app=app)
    if merge:
        by_key: dict[str, Outcome] = {}
        shard_caches: list[dict | None] = []
        for folder in merge:
            header, outcomes = load_shard_outcomes(folder, expected_identity(ctx.fingerprint(), profile=prof.name,
                                                                             target=board.name))
            shard_caches.append(header.get("object_cache"))
            if header.get("profile") != prof.name:
                raise BadInput(f"--merge {folder}: its tune.json is for profile {header.get('profile')!r}, "
                               f"not {prof.name!r}")
            for k, v in (header.get("search", {}).get("knobs") or {}).items():
                searched[k] = tuple(dict.fromkeys((*searched.get(k, ()), *v)))
            for o in outcomes:
                by_key.setdefault(o.candidate.key, o)
        outcomes = sorted(by_key.values(), key=lambda o: o.candidate.key)
        object_cache = merge_object_cache(shard_caches)
        say(f"merged {len(outcomes)} candidates from {len(merge)} folders")
    else:
        candidates = shard(space.candidates, *part) if part is not None else space.candidates
        say(f"{len(candidates)} candidates ({len(space.candidates)} in the search"
            f"{f', shard {shard_text}' if part else ''}; {space.duplicates} duplicate option sets dropped"
            f"{f', {space.left_out} beyond --max-candidates' if space.left_out else ''}), "
            f"-j {jobs}, each proven by a handshake on {board.name}")
        object_cache_zero(ctx)
        outcomes = run_search(ctx, candidates, out_dir, jobs, say, combine=part is None)
        object_cache = object_cache_figures(ctx)
        say(object_cache_text(object_cache))
    if outcomes and all(o.status == "error" for o in outcomes):
        raise ToolFailure(f"every candidate failed on a tool; the first: {outcomes[0].reason}")
    chosen = choose(outcomes, the_budget, board.cpu, prefer)
    profile_name = f"{prof.name}.yaml"
    write_profile = chosen is not None and part is None
    doc = tune_document(profile=prof, target=board.name, cpu=board.cpu, mbedtls_version=tree.version,
                        tlsfit_version=VERSION, budget=the_budget, prefer=prefer, outcomes=outcomes,
                        searched=searched, levels=level_names, seconds=time.monotonic() - started,
                        shard=shard_text, server=str(address) if address else None,
                        chosen_profile=str(out_dir / profile_name) if write_profile else None,
                        object_cache=object_cache)
    doc["fingerprint"] = ctx.fingerprint()   # what a --merge of this folder checks (tune/shards.py)
    text = (chosen_profile_text(prof, kb, chosen, f"tlsfit tune -o {out_dir}", out_dir) if write_profile and chosen
            else None)
    write_outputs(out_dir, doc, text, profile_name if text else None, test_pki_dir(prof))
    if not quiet:
        print((out_dir / "tune.md").read_text(encoding="utf-8"))
        print(f"wrote {out_dir / 'tune.json'}, tune.md, tune.html"
              + (f" and {out_dir / profile_name}" if text else ""))
    return EXIT_OK if chosen is not None else EXIT_FAILED


def add_tune_parser(sub) -> None:  # sub: argparse subparsers
    t = sub.add_parser(
        "tune", help="search the tuning knobs; each candidate proven by a handshake",
        description="Search the knowledge base's tuning knobs (optimize level, ECP/MPI windows, fixed-point "
                    "tables, NIST reduction, AES tables, SHA-256 loop, DRBG, built-in ECP or p256-m, output "
                    "buffer, max_fragment_length where the server honours it, offered group, LTO) around each "
                    "optimize level, prove every candidate with a real handshake, and write DIR/tune.json, "
                    "tune.md, tune.html (the Pareto front of ROM x RAM x handshake instructions) and the "
                    "chosen build as a profile, with how many mbedTLS objects ccache reused across the "
                    "candidates (when installed; TLSFIT_NO_CCACHE=1 turns it off). Exit 0 a candidate within "
                    "budget, 1 none, 2 bad input, 3 tool failure.")
    t.add_argument("profile", type=Path, metavar="PROFILE")
    t.add_argument("--budget", metavar="rom=BYTES,ram=BYTES,handshake_ms=MS@MHZ",
                   help="limits on rom.total, ram.total and the estimated handshake time at a clock "
                        "(default: the profile's budget:)")
    t.add_argument("--server", metavar="HOST:PORT", help="prove candidates against this server, not a reference one")
    t.add_argument("--target", help="board folder under ports/ (default: the profile's target)")
    t.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="candidates evaluated in parallel (default 1)")
    t.add_argument("--shard", metavar="K/N", help="evaluate only the K-th of N deterministic shares")
    t.add_argument("--merge", type=Path, nargs="+", metavar="DIR", help="join the shards' output folders")
    t.add_argument("--prefer", choices=("size", "speed"), default="size",
                   help="the chosen build: the smallest within budget (default) or the fastest")
    t.add_argument("--knobs", metavar="NAME,...", help="search only these knobs (default: every knob)")
    t.add_argument("--levels", metavar="LEVEL,...", help="optimize levels searched (default: size,balanced,speed)")
    t.add_argument("--lto", choices=("both", "on", "off"), default="both",
                   help="link-time optimisation in the search (default both)")
    t.add_argument("--max-candidates", type=int, default=40, metavar="N",
                   help="at most this many candidates (default 40; the levels' own builds and the "
                        "profile's level come first)")
    t.add_argument("--app", choices=APPS, help="what each candidate does after the handshake (as measure --app)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress lines and no front table")
    t.add_argument("-o", "--output", type=Path, metavar="DIR", help="output folder (default build/tune/<profile>)")


def run_tune_args(args) -> int:
    return run_tune(args.profile, budget=args.budget, server=args.server, jobs=args.jobs, shard_text=args.shard,
                    merge=args.merge, prefer=args.prefer, output=args.output, target=args.target,
                    knobs=args.knobs, levels=args.levels, lto=args.lto, quiet=args.quiet,
                    max_candidates=args.max_candidates, app=args.app)

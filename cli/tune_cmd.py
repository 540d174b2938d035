"""`tlsfit tune PROFILE`: search the tuning knobs, prove each candidate, write the front and the choice.

Exit 0: a candidate within the budget (its profile written); 1: none within the budget;
2: bad input; 3: every candidate failed on a tool (build, QEMU, server).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli import EXIT_FAILED, EXIT_OK, VERSION
from core.write import check_output_dir
from generator.model import APPS

if TYPE_CHECKING:  # the parser is built before set-up; the pipeline is imported to run
    from pipeline import Workspace


def _names(text: str | None) -> tuple[str, ...] | None:
    """NAME,NAME,... as given (pipeline.tune checks each one)."""
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


def run_tune(ws: Workspace, profile: Path, budget: str | None, server: str | None, jobs: int,
             shard_text: str | None, merge: list[Path] | None, prefer: str, output: Path | None,
             target: str | None = None, knobs: str | None = None, levels: str | None = None, lto: str = "both",
             quiet: bool = False, max_candidates: int = 40, app: str | None = None) -> int:
    from pipeline import TuneRequest, open_mbedtls, parse_budget, parse_server_address, parse_shard, tune
    # bad input before any work
    part = parse_shard(shard_text) if shard_text is not None else None
    address = parse_server_address(server) if server is not None else None
    the_budget = parse_budget(budget) if budget is not None else None
    check_output_dir(ws.build, "build folder")
    request = TuneRequest(profile=profile, tree=open_mbedtls(ws.mbedtls), paths=ws.paths(), build_dir=ws.build,
                          tlsfit_version=VERSION, output=output, budget=the_budget, server=address, target=target,
                          jobs=jobs, shard=part, merge=tuple(merge or ()), prefer=prefer, knobs=_names(knobs),
                          levels=_names(levels), lto=lto, max_candidates=max_candidates, app=app)

    def say(line: str) -> None:
        if not quiet:
            print(f"tlsfit: tune: {line}", file=sys.stderr, flush=True)

    result = tune(request, progress=say)
    if not quiet:
        print((result.out_dir / "tune.md").read_text(encoding="utf-8"))
        print(f"wrote {result.out_dir / 'tune.json'}, tune.md, tune.html"
              + (f" and {result.chosen_profile}" if result.chosen_profile else ""))
    return EXIT_OK if result.chosen is not None else EXIT_FAILED


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


def run_tune_args(ws: Workspace, args) -> int:
    return run_tune(ws, args.profile, budget=args.budget, server=args.server, jobs=args.jobs, shard_text=args.shard,
                    merge=args.merge, prefer=args.prefer, output=args.output, target=args.target,
                    knobs=args.knobs, levels=args.levels, lto=args.lto, quiet=args.quiet,
                    max_candidates=args.max_candidates, app=args.app)

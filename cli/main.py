"""Argument parsing and dispatch. The only place that turns errors into exit codes."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from cli import EXIT_BAD_INPUT, EXIT_TOOL_ERROR, VERSION
from generator.model import APPS, OPTIMIZE_LEVELS
from generator.pin import PIN


def positive_seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive, finite number of seconds, e.g. 120")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tlsfit",
        description="Smallest mbedTLS 3.6 build that still talks to one TLS server, "
                    "proven by a real handshake on an emulated microcontroller (Cortex-M or RISC-V).")
    p.add_argument("--version", action="version", version=f"tlsfit {VERSION}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("gen", help="write a validated mbedtls_config.h for a profile",
                       description="Resolve PROFILE to the smallest option set, render "
                                   "DIR/mbedtls_config.h and prove it passes mbedTLS's check_config.h. "
                                   "Exit 0 ok, 2 bad input (FILE:LINE: message; nothing written).")
    g.add_argument("profile", type=Path)
    g.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="output folder (default: build/<profile name>)")
    g.add_argument("--target", help="board whose core decides the arch-conditioned choices and whose compiler "
                   "flags validate the config (default: the profile's target)")
    g.add_argument("--no-validate", action="store_true", help="skip the compile check (faster, not recommended)")
    g.add_argument("--optimize", choices=OPTIMIZE_LEVELS,
                   help="use this optimize level instead of the profile's")
    g.add_argument("--lto", action=argparse.BooleanOptionalAction, default=None,
                   help="say in the header that the build uses link-time optimisation (default: the "
                        "profile's build: lto:)")
    g.add_argument("--sdkconfig", type=Path, metavar="FILE",
                   help="also write FILE, an ESP-IDF sdkconfig fragment (CONFIG_MBEDTLS_...) for the options "
                        "ESP-IDF's mbedtls Kconfig can express; the others are listed in a comment")

    m = sub.add_parser("measure", help="build, run a real handshake, report ROM/RAM/handshake figures",
                       description="Build the harness with PROFILE's config for TARGET, run it in QEMU "
                                   "(or on Linux with --target host) against a reference server shaped "
                                   "like the profile's server, and write report.json/.md/.html. "
                                   "Exit 0 handshake (and the --app exchange) ok, 1 either failed (report still written), "
                                   "2 bad input, 3 tool failure (build, QEMU, server).")
    m.add_argument("profile", type=Path, nargs="+", metavar="PROFILE",
                   help="profile YAML; with several (or --shard) each report goes to "
                        "DIR/<profile>/<target>, DIR being -o or the default build folder")
    m.add_argument("--shard", metavar="K/N",
                   help="measure only every N-th profile starting at the K-th (K from 1): one CI matrix job "
                        "each, merged afterwards by `tlsfit report`")
    m.add_argument("--part", metavar="NAME|FIELDS",
                   help="a part: used %% of its flash and RAM, headroom and a handshake time estimate in the "
                        "reports, measured on a build for the part's own architecture (a second build and run "
                        "when it differs from the target's). A catalogue name or alias (e.g. nrf52840, "
                        "nrf51822, stm32l4, rp2040; an unknown name lists them all), a name from --parts, or "
                        "the fields: core=cortex-m4,mhz=100,flash=512K,ram=128K")
    m.add_argument("--parts", type=Path, metavar="FILE",
                   help="your own parts: a YAML file with 'parts:', a list of {name, core, mhz (or clock_hz), "
                        "flash, ram[, aliases, source]}, looked up before the catalogue")
    m.add_argument("-q", "--quiet", action="store_true", help="no progress lines and no summary table")
    m.add_argument("--json", action="store_true", help="print report.json to stdout (a list with several profiles)")
    m.add_argument("--target", help="board folder under ports/, or 'host' (default: the profile's target)")
    m.add_argument("--server", metavar="HOST:PORT",
                   help="use this running server instead of starting the reference one; "
                        "trust comes from the profile's trust.ca_files")
    m.add_argument("--server-impl", choices=("openssl", "gnutls"), default="openssl",
                   help="reference server implementation (default: openssl)")
    m.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="report folder (default: build/<profile>/<target>, with -<host>-<port> added for --server)")
    m.add_argument("--app", choices=APPS,
                   help="what the firmware does after the handshake: none (close_notify only), echo (a line "
                        "the server echoes or reverses: openssl s_server -rev, gnutls-serv --echo), mqtt "
                        "(MQTT 3.1.1 CONNECT, expects CONNACK 0), http (GET /, expects a status line), coap "
                        "(transport: udp: two confirmable CoAP GETs of app.path, expects 2.05 Content); "
                        "default: the profile's app:, else echo with the reference server and none with --server")
    m.add_argument("--timeout", type=positive_seconds, default=None, metavar="S",
                   help="seconds before a stuck QEMU or host run is killed (default: 120; DTLS: at least "
                        "twice the profile's whole retransmission schedule, tls.retransmit, plus 20)")
    m.add_argument("--loss", metavar="ACTION=TARGET[,...]",
                   help="transport: udp only: the datagram relay drops, duplicates or reorders chosen "
                        "datagrams, e.g. drop=s2 (the server's 2nd), dup=c3, reorder=s1; the handshake must "
                        "recover by retransmission; dup=a1 replays the server's first application-data "
                        "datagram (DTLS anti-replay must drop it)")
    m.add_argument("--optimize", choices=OPTIMIZE_LEVELS,
                   help="use this optimize level instead of the profile's (reports go to "
                        "build/<profile>/<target>-<level> unless -o is given)")
    m.add_argument("--lto", action=argparse.BooleanOptionalAction, default=None,
                   help="link-time optimisation of mbedTLS and the harness together (default: the "
                        "profile's build: lto:, else off); the report's build.lto says which was measured")
    m.add_argument("--clock-mhz", type=positive_seconds, default=None, metavar="MHZ",
                   help="also estimate the handshake time at this clock from the instructions and the "
                        "core's CPI range (an estimate, labelled as one); with --part, the part's clock")

    r = sub.add_parser("report", help="summary across many report.json files",
                       description="Write summary.md and summary.html comparing reports across profiles and targets.")
    r.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    r.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")

    d = sub.add_parser("diff", help="per-metric and per-module growth between two reports")
    d.add_argument("old", type=Path)
    d.add_argument("new", type=Path)

    gt = sub.add_parser("gate", help="fail on footprint regressions against a baseline",
                        description="With --write-baseline, write a baseline from reports (exit 0). "
                                    "With --baseline, compare: exit 0 within limits, 1 on a regression, "
                                    "a failed handshake, or a missing report/baseline entry; a failure "
                                    "names the modules and config options that changed and the command "
                                    "that accepts it. Entries are <profile>@<target>, with -<level> for a "
                                    "level other than size and @<host>:<port> for a real server.")
    mode = gt.add_mutually_exclusive_group(required=True)
    mode.add_argument("--baseline", type=Path, metavar="FILE")
    mode.add_argument("--write-baseline", type=Path, metavar="FILE")
    gt.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    gt.add_argument("--limits", type=Path, metavar="FILE",
                    help="limits YAML (default: ci/limits.yaml)")
    gt.add_argument("--limit", action="append", default=[], metavar="METRIC=LIMIT",
                    help="override one limit, e.g. rom.total=+512 or ram.heap_peak=+2%% (repeatable)")
    gt.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML")
    gt.add_argument("--summary", type=Path, metavar="FILE",
                    help="also write (append) Markdown, e.g. $GITHUB_STEP_SUMMARY")
    gt.add_argument("-v", "--verbose", action="store_true",
                    help="show every check, not only the failing ones and the total")

    from cli.probe_cmd import add_probe_parser
    add_probe_parser(sub)
    from cli.tune_cmd import add_tune_parser
    add_tune_parser(sub)

    s = sub.add_parser("setup", help="fetch and verify the pinned mbedTLS source (into ~/.cache/tlsfit when installed)",
                       description=f"Fetch mbedTLS {PIN.version} from Debian's source package ({PIN.debian_version}), "
                                   "check its pinned sha256 and unpack it where tlsfit looks for it (MBEDTLS_DIR, "
                                   "when set, is checked instead).")
    s.add_argument("--packages", action="store_true",
                   help="also check (and as root install) the Debian packages tlsfit needs")
    s.add_argument("--print-pin", action="store_true",
                   help="print the pinned mbedTLS release as shell assignments (PIN_VERSION=..., "
                        "PIN_DEB_VERSION=..., PIN_ORIG=..., PIN_SHA256=...) and exit; "
                        "scripts/setup.sh reads it")

    from cli.size_cmd import add_size_parser
    add_size_parser(sub)
    from cli.comment_cmd import add_comment_parser
    add_comment_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    # SIGTERM/SIGINT (and a stray KeyboardInterrupt) stop every child process, remove
    # partial outputs, print one line and exit 143/130 (measure/children.py).
    from measure.children import install_signal_handlers
    with install_signal_handlers():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "setup" and args.print_pin:
        sys.stdout.write(PIN.shell())  # standard library only: setup.sh asks before python3-yaml is there
        return 0
    # Imported late so `tlsfit --help` works before set-up.
    from core.errors import BadInput, Infeasible, TlsfitBug, ToolFailure
    from measure.figures import DoesNotFit
    from pipeline.workspace import workspace
    ws = workspace()   # the environment, read once
    try:
        if args.command == "gen":
            from cli.gen_cmd import run_gen
            return run_gen(ws, profile=args.profile, output=args.output, target=args.target,
                           validate_config=not args.no_validate, optimize=args.optimize, lto=args.lto,
                           sdkconfig=args.sdkconfig)
        if args.command == "measure":
            from cli.measure_cmd import run_measure
            return run_measure(ws, profile=args.profile, target=args.target, server=args.server,
                               server_impl=args.server_impl, output=args.output, timeout=args.timeout,
                               optimize=args.optimize, app=args.app, quiet=args.quiet, as_json=args.json,
                               shard=args.shard, part=args.part, lto=args.lto, clock_mhz=args.clock_mhz,
                               parts_file=args.parts,
                               loss=args.loss)
        if args.command == "setup":
            from cli.setup_cmd import run_setup
            return run_setup(ws, check_packages=args.packages)
        if args.command == "comment":
            from cli.comment_cmd import run_comment
            return run_comment(args)
        if args.command == "tune":
            from cli.tune_cmd import run_tune_args
            return run_tune_args(ws, args)
        if args.command == "probe":
            from cli.probe_cmd import run_probe
            return run_probe(ws, args.address, sni=args.sni, ca=args.ca, alpn=args.alpn, output=args.output,
                             name=args.name, prefer=args.prefer)
        if args.command == "size":
            from cli.size_cmd import run_size_args
            return run_size_args(args, ws.build)
        from cli import report_cmds
        if args.command == "report":
            return report_cmds.run_report(args.reports, args.output)
        if args.command == "diff":
            return report_cmds.run_diff(args.old, args.new)
        return report_cmds.run_gate(baseline=args.baseline, write_baseline_to=args.write_baseline,
                                    reports=args.reports, limits_file=args.limits,
                                    limit_overrides=args.limit, junit=args.junit, summary=args.summary,
                                    verbose=args.verbose)
    except DoesNotFit as e:
        print(f"tlsfit: error: {e}", file=sys.stderr)
        print("tlsfit: next: pick a board with more memory (--target), or shrink the build: tls.buffers, "
              "tls.max_fragment_length, fewer suites or optimize: size", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Infeasible as e:
        print(f"tlsfit: error: mbedTLS cannot build what the profile asks: {e}", file=sys.stderr)
        print("tlsfit: next: change the profile as the message says (another suite, group or version)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BadInput as e:
        # profile and board errors already start with FILE:LINE
        text = str(e)
        print(text if ": error: " in text else f"tlsfit: error: {text}", file=sys.stderr)
        print(f"tlsfit: next: fix what the message names and run it again (`tlsfit {args.command} --help`)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except ToolFailure as e:
        print(f"tlsfit: error: {e}", file=sys.stderr)
        print("tlsfit: next: fix the tool named above (`tlsfit setup --packages` checks the set-up); "
              "if it timed out, rerun with a larger --timeout", file=sys.stderr)
        return EXIT_TOOL_ERROR
    except TlsfitBug as e:
        print(f"tlsfit: internal error: {e}\nThis is a tlsfit bug: please report it with your profile.",
              file=sys.stderr)
        return EXIT_TOOL_ERROR
    except OSError as e:
        # the file system said no somewhere tlsfit did not check first (disk full, I/O error)
        where = f" {e.filename}" if e.filename else ""
        print(f"tlsfit: error: cannot read or write{where}: {e.strerror or e}", file=sys.stderr)
        print("tlsfit: next: check free space and permissions there, then run it again", file=sys.stderr)
        return EXIT_TOOL_ERROR


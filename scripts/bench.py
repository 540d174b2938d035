#!/usr/bin/python3
"""Benchmarks that print figures (never assertions): `make bench`, `make bench-footprint`.

measure:   per shipped profile, wall time of `tlsfit measure` cold (its mbedTLS build
           removed from the cache) and warm (everything cached), with ROM, RAM and
           handshake figures from the report it wrote.
footprint: tlsfit's mbedTLS ROM for the server shapes of the hand-tuned reference
           configs measured on these machines (../shared/NOTES.md), as a ratio; then
           what each `optimize` level costs for the same shapes (ROM, RAM, instructions).
           Then each shape without and with link-time optimisation (--no-lto / --lto).
           Then the DTLS shapes (transport: udp) beside their TLS twins (the same profile over tcp).
tune:      `tlsfit tune` on three shipped profiles: the Pareto front, the search time and
           ccache's hit rate on the mbedTLS library objects.
boards:    tls12-psk, tls12-ecdhe-ecdsa, tls13-only and microbit-psk on every core the boards
           model (M0, M3, M4, M7, M33, RV32): ROM, RAM, handshake instructions, or why it stops.
choices:   for the same shapes, each size choice of the knowledge base undone alone
           (the resolver run on a copy of the knowledge base without it, so mbedTLS's
           default applies) and the mbedTLS ROM that costs: which choices give the most.

Each run also writes its tables into its own section of docs/figures.md (the other sections are
kept), stamped with the commit, the date and the machine: the page the README and docs/ link to.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.errors import TlsfitError  # noqa: E402
from generator.cores import Core  # noqa: E402
from generator.knowledge import Knowledge, RandomChoice  # noqa: E402
from generator.model import OPTIMIZE_LEVELS, Profile  # noqa: E402
from generator.profile import load_profile  # noqa: E402
from generator.resolve import resolve  # noqa: E402
from measure.figures import read_footprint  # noqa: E402
from pipeline import (Workspace, build, choose_app, configure, generate_for_board,  # noqa: E402
                      harness_input, open_mbedtls, reference_pki, workspace)
from tune.output import object_cache_text  # noqa: E402

# Hand-tuned mbedTLS ROM (bytes) measured the same way (linked mbedTLS objects,
# Cortex-M4, gcc 12.2 -Os, --gc-sections): ../shared/NOTES.md "Reference figures".
HAND_TUNED = (
    ("TLS 1.2 ECDHE-ECDSA P-256 AES-128-GCM", "tls12-ecdhe-ecdsa", 44_475),
    ("TLS 1.2 PSK AES-128-CCM-8", "tls12-psk", 28_141),
    ("TLS 1.2 static RSA AES-256-CBC-SHA256", "rt-thread", 59_763),
    ("TLS 1.3 AES-128-GCM P-256 ECDSA", "tls13-only", 50_180),
)


def measure(profile: Path, out: Path, *extra: str) -> tuple[float, dict | None]:
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "tlsfit"), "measure", str(profile), "-o", str(out), *extra],
                          capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    if proc.returncode not in (0, 1):
        print(f"  {profile.name}: tlsfit measure exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        return elapsed, None
    return elapsed, json.loads((out / "report.json").read_text())


def bench_measure(ws: Workspace) -> None:
    kb = open_mbedtls(ws.mbedtls).knowledge
    rows = []
    for profile in sorted((ROOT / "profiles").glob("*.yaml")):
        gen, board = generate_for_board(profile, kb, None, None, ws.paths())  # the config measure builds
        shutil.rmtree(ws.cache / gen.sha256 / board.name, ignore_errors=True)
        out = ws.build / "bench" / gen.profile.name
        cold, _ = measure(profile, out)
        warm, report = measure(profile, out)
        if report is None:
            rows.append((gen.profile.name, f"{cold:.1f}", f"{warm:.1f}", *("-",) * 8, "error"))
            continue
        hs, rom, ram = report["handshake"], report["rom"], report["ram"]
        rows.append((gen.profile.name, f"{cold:.1f}", f"{warm:.1f}", f"{rom['total']:,}", f"{rom['mbedtls']:,}",
                     f"{ram['total']:,}", f"{ram['static_mbedtls']:,} / {ram['static_harness']:,}",
                     f"{ram['heap_peak'] or 0:,}", f"{ram['stack_peak']:,} / {ram['stack_harness']:,}",
                     f"{hs['instructions'] or 0:,}", f"{hs['allocator_instructions'] or 0:,}",
                     "ok" if hs["ok"] else "FAILED"))
    print_table(("profile", "cold s", "warm s", "ROM", "mbedTLS ROM", "RAM", "static mbedTLS / harness",
                 "heap peak", "stack peak / harness", "handshake instr", "allocator instr (left out)",
                 "handshake"), rows)


def bench_footprint(ws: Workspace) -> None:
    """One measure per shape and level; the comparison uses the level the profile itself names."""
    kb = open_mbedtls(ws.mbedtls).knowledge
    reports: dict[tuple[str, str], dict | None] = {}
    for _, name, _ in HAND_TUNED:
        for level in OPTIMIZE_LEVELS:
            _, reports[name, level] = measure(ROOT / "profiles" / f"{name}.yaml",
                                              ws.build / "bench-footprint" / f"{name}-{level}", "--optimize", level)
    rows = []
    for shape, name, hand in HAND_TUNED:
        report = reports[name, load_profile(ROOT / "profiles" / f"{name}.yaml", kb).optimize]
        if report is None:
            rows.append((shape, name, f"{hand:,}", "-", "-", "error"))
            continue
        ours = report["rom"]["mbedtls"]
        rows.append((shape, name, f"{hand:,}", f"{ours:,}", f"{ours / hand:.2f}",
                     "ok" if report["handshake"]["ok"] else "FAILED"))
    print_table(("server shape", "profile", "hand-tuned ROM", "tlsfit ROM", "ratio", "handshake"), rows)
    print()
    rows = []
    for (name, level), report in reports.items():
        if report is None:
            rows.append((name, level, "-", "-", "-", "-", "error"))
            continue
        hs, rom, ram = report["handshake"], report["rom"], report["ram"]
        rows.append((name, level, f"{rom['mbedtls']:,}", f"{ram['heap_peak'] or 0:,}", f"{ram['total']:,}",
                     f"{hs['instructions'] or 0:,}", "ok" if hs["ok"] else "FAILED"))
    print_table(("profile", "optimize", "mbedTLS ROM", "heap peak", "RAM", "handshake instr", "handshake"), rows)
    print()
    bench_lto(ws)
    print()
    bench_dtls(ws)
    print()
    bench_clock(ws)


def bench_clock(ws) -> None:
    """What checking certificate dates costs: each certificate shape with clock: none and clock: rtc.

    Both variants are written to one scratch folder under the same name, so they share one test PKI
    and differ only in the clock key."""
    rows = []
    for name in ("tls12-ecdhe-ecdsa", "tls13-only", "rt-thread"):
        text = (ROOT / "profiles" / f"{name}.yaml").read_text()
        figures = {}
        for clock in ("none", "rtc"):
            folder = ws.build / "bench-clock" / clock
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.yaml").write_text(text + f"\nclock: {clock}\n")
            for shared in ("test-pki", "certs"):  # the committed PKI and CA files: same certificates, same figures
                if not (folder / shared).exists():
                    (folder / shared).symlink_to(ROOT / "profiles" / shared)
            _, figures[clock] = measure(folder / f"{name}.yaml", folder / name / "out")
        none, rtc = figures["none"], figures["rtc"]
        if none is None or rtc is None:
            rows.append((name, "-", "-", "-", "-", "error"))
            continue
        rows.append((name, f"{none['rom']['mbedtls']:,}", f"{rtc['rom']['mbedtls']:,}",
                     f"{rtc['rom']['mbedtls'] - none['rom']['mbedtls']:+,}",
                     f"{rtc['rom']['total'] - none['rom']['total']:+,}",
                     "ok" if rtc["handshake"]["ok"] and none["handshake"]["ok"] else "FAILED"))
    print_table(("profile", "mbedTLS ROM, clock: none", "clock: rtc", "mbedTLS ROM cost", "ROM total cost",
                 "handshake"), rows)


def bench_lto(ws) -> None:
    """Each hand-tuned shape at its profile's level without and with link-time optimisation."""
    rows = []
    for _, name, _ in HAND_TUNED:
        figures = {}
        for flag in ("--no-lto", "--lto"):
            _, figures[flag] = measure(ROOT / "profiles" / f"{name}.yaml",
                                       ws.build / "bench-footprint" / f"{name}{flag.replace('--', '-')}", flag)
        for flag, report in figures.items():
            if report is None:
                rows.append((name, flag, "-", "-", "-", "-", "-", "error"))
                continue
            plain = figures["--no-lto"]
            delta = (f"{report['rom']['total'] - plain['rom']['total']:+,}" if plain is not None and flag == "--lto"
                     else "")
            rows.append((name, "LTO" if flag == "--lto" else "no LTO", f"{report['rom']['total']:,}", delta,
                         f"{report['rom']['mbedtls']:,} ({report['rom'].get('attribution', 'map')})",
                         f"{report['ram']['total']:,}", f"{report['handshake']['instructions'] or 0:,}",
                         "ok" if report["handshake"]["ok"] else "FAILED"))
    print_table(("profile", "build", "ROM total", "vs no LTO", "mbedTLS ROM (attributed by)", "RAM",
                 "handshake instr", "handshake"), rows)


TUNE_PROFILES = ("tls12-psk", "tls12-ecdhe-ecdsa", "tls13-only")


def bench_tune(ws: Workspace) -> None:
    """`tlsfit tune` on three shipped profiles (default search, -j 2): the front, the search time and
    the object-cache hit rate (tune.json's object_cache)."""
    for name in TUNE_PROFILES:
        out = ws.build / "bench-tune" / name
        started = time.monotonic()
        proc = subprocess.run([str(ROOT / "tlsfit"), "tune", str(ROOT / "profiles" / f"{name}.yaml"), "-j", "2",
                               "-q", "-o", str(out)], capture_output=True, text=True, timeout=7200)
        elapsed = time.monotonic() - started
        if proc.returncode not in (0, 1):
            print(f"{name}: tlsfit tune exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
            continue
        doc = json.loads((out / "tune.json").read_text())
        s = doc["search"]
        print(f"{name}: {s['candidates']} candidates, {s['proven']} proven, {elapsed:.0f} s wall "
              f"(cached candidates are not re-run); {object_cache_text(doc.get('object_cache'))}; "
              f"chosen {doc['chosen']}")
        front = sorted((r for r in doc["candidates"] if r["pareto"]), key=lambda r: r["rom"]["total"])
        print_table(("Pareto candidate", "ROM total", "mbedTLS ROM", "RAM total", "handshake instr"),
                    [(r["key"], f"{r['rom']['total']:,}", f"{r['rom']['mbedtls']:,}", f"{r['ram']['total']:,}",
                      f"{r['handshake']['instructions']:,}") for r in front])
        print()


def size_choice_variants(profile: Profile, kb: Knowledge, core: Core) -> list[tuple[str, Knowledge]]:
    """(label, knowledge base without one size choice) for every choice this profile's config uses
    on this core."""
    config = resolve(profile, kb, core)
    variants = []
    for name in sorted({t.name for t in kb.tuning if profile.optimize in t.levels}):
        if config.has(name):
            label = f"{name} {config.value(name) or ''}".strip()
            variants.append((label, dataclasses.replace(kb, tuning=tuple(t for t in kb.tuning if t.name != name))))
    if config.driver is not None:
        variants.append((f"{config.driver} driver build",
                         dataclasses.replace(kb, driver_builds=tuple(d for d in kb.driver_builds
                                                                     if d.name != config.driver))))
    drbgs = tuple(dict.fromkeys(r.option for r in kb.random_generators))  # the DRBGs, in table order
    for chosen, other in ((a, b) for a in drbgs for b in drbgs if a != b):
        if config.has(chosen):
            instead = (RandomChoice(option=other, when=(), levels=OPTIMIZE_LEVELS, reason="bench", line=0),)
            variants.append((f"{chosen} (vs {other})", dataclasses.replace(kb, random_generators=instead)))
    return variants


def bench_choices(ws: Workspace) -> None:
    tree = open_mbedtls(ws.mbedtls)
    kb = tree.knowledge
    rows = []
    for _, name, _ in HAND_TUNED:
        # the profile's own board: its core decides the arch-conditioned choices
        gen, board = generate_for_board(ROOT / "profiles" / f"{name}.yaml", kb, None, None, ws.paths())
        profile = gen.profile
        pki = reference_pki(profile)
        data = harness_input(gen, kb, choose_app(profile, None, False), pki, False)

        def footprint(knowledge: Knowledge) -> tuple[int, int]:
            fw = build(configure(profile, knowledge, board.core), data, board, tree, ws.paths())
            figures = read_footprint(fw.elf, fw.map_file)
            return figures.rom_mbedtls, figures.ram_static

        rom, ram = footprint(kb)
        for label, without in size_choice_variants(profile, kb, board.core):
            try:
                rom_without, ram_without = footprint(without)
                rows.append((name, f"{rom:,}", label, f"{rom_without - rom:+,}", f"{ram_without - ram:+,}"))
            except TlsfitError:
                rows.append((name, f"{rom:,}", label, "does not build without it", "-"))
    print_table(("profile", "mbedTLS ROM", "size choice undone", "mbedTLS ROM without it",
                 "static RAM without it"), rows)


# DTLS shapes (transport: udp) beside their TLS twin: the same profile over tcp (bench_dtls)
DTLS_SHAPES = (
    ("DTLS 1.2 PSK AES-128-CCM-8", "dtls-psk-coap"),
    ("DTLS 1.2 ECDHE-ECDSA P-256 AES-128-CCM-8", "dtls-ecdhe-ecdsa"),
)
DTLS_ONLY_KEYS = ("retransmit", "connection_id", "mtu")


def tls_twin(profile: Path, out_dir: Path) -> Path:
    """The same profile over TLS: transport and the DTLS-only tls keys removed, app none."""
    import yaml
    data = yaml.safe_load(profile.read_text())
    data.pop("transport", None)
    for key in DTLS_ONLY_KEYS:
        data.get("tls", {}).pop(key, None)
    data["name"] = f"{data['name']}-tls"
    data["app"] = "none"
    out_dir.mkdir(parents=True, exist_ok=True)
    twin = out_dir / f"{data['name']}.yaml"
    twin.write_text(yaml.safe_dump(data, sort_keys=False))
    return twin


def bench_dtls(ws) -> None:
    """Each DTLS shape against openssl s_server -dtls1_2 and its TLS twin against openssl s_server,
    both with app none (the same mbedTLS calls), at the profile's level."""
    rows = []
    for shape, name in DTLS_SHAPES:
        dtls_profile = ROOT / "profiles" / f"{name}.yaml"
        out = ws.build / "bench-footprint" / "dtls"
        runs = (("DTLS", dtls_profile, ()), ("TLS", tls_twin(dtls_profile, out / "twins"), ("--app", "none")))
        figures = {}
        for transport, profile, extra in runs:
            _, figures[transport] = measure(profile, out / profile.stem, *extra)
        for transport, profile, _ in runs:
            report = figures[transport]
            if report is None:
                rows.append((shape, profile.stem, transport, "-", "-", "-", "-", "-", "-", "error"))
                continue
            twin = figures["TLS"]
            delta = (f"{report['rom']['mbedtls'] - twin['rom']['mbedtls']:+,}"
                     if transport == "DTLS" and twin is not None else "")
            dtls = report.get("dtls") or {}
            resent = (f"{dtls['retransmits']['server']} / {dtls.get('firmware_retransmits', 0)}"
                      if dtls else "")
            rows.append((shape, profile.stem, transport, f"{report['rom']['mbedtls']:,}", delta,
                         f"{report['rom']['total']:,}", f"{report['ram']['total']:,}",
                         f"{report['handshake']['instructions'] or 0:,}", resent,
                         "ok" if report["handshake"]["ok"] else "FAILED"))
    print_table(("shape", "profile", "over", "mbedTLS ROM", "vs TLS", "ROM total", "RAM", "handshake instr",
                 "resent (server / firmware)", "handshake"), rows)


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    if header in CAPTIONS:
        print(f"### {CAPTIONS[header]}\n")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


# `make bench-boards`: the same profiles on every core the boards model, side by side
BOARD_PROFILES = ("tls12-psk", "tls12-ecdhe-ecdsa", "tls13-only", "microbit-psk")
BOARDS = (("M0", "microbit"), ("M3", "mps2-an385"), ("M3", "lm3s6965evb"), ("M4", "mps2-an386"),
          ("M4", "netduinoplus2"), ("M7", "mps2-an500"), ("M33", "mps2-an505"), ("RV32", "riscv32-virt"))


def bench_boards(ws: Workspace) -> None:
    """Per profile and board: ROM, RAM and handshake instructions from `tlsfit measure --target`,
    or why it stops: "does not fit (RAM +N B)" (its does-not-fit report.json) or "out of heap"."""
    out_root = ws.build / "bench-boards"
    rows = []
    for profile in BOARD_PROFILES:
        for core, board in BOARDS:
            out = out_root / profile / board
            _, report = measure(ROOT / "profiles" / f"{profile}.yaml", out, "--target", board, "-q")
            if report is None and (out / "report.json").is_file():
                report = json.loads((out / "report.json").read_text())   # exit 2: the does-not-fit record
            cells = ["-", "-", "-"]
            if report is None:
                verdict = "error"
            elif report.get("fits") is False:
                verdict = "does not fit (" + ", ".join(f"{r} +{n:,} B" for r, n in report["overflow"].items()) + ")"
            else:
                hs, rom, ram = report["handshake"], report["rom"], report["ram"]
                # a failed run's RAM is only what it reached before failing: not a figure to compare
                cells = [f"{rom['total']:,}", f"{ram['total']:,}" if hs["ok"] and ram["total"] is not None else "-",
                         f"{hs['instructions']:,}" if hs["ok"] and hs["instructions"] else "-"]
                message = str((hs.get("error") or {}).get("message") or "")
                verdict = "ok" if hs["ok"] else ("out of heap" if "out of heap on " in message else "FAILED")
            rows.append((profile, f"{board} ({core})", *cells, verdict))
    print_table(("profile", "board", "ROM", "RAM", "handshake instr", "result"), rows)
    print("\nROM: total image; RAM: static + heap peak + stack peak; guest instructions, not cycles")


# ---------------------------------------------------------------- docs/figures.md, written by every bench
# Each bench's printed tables become its own section of docs/figures.md, stamped with the commit and the
# machine; the other sections are kept as they are. The page is generated whole: never edited by hand.

FIGURES_PAGE = ROOT / "docs" / "figures.md"
# (bench, make target, what it measures), in page order
BENCHES = (
    ("measure", "make bench", "wall time of `tlsfit measure` (cold and warm) and the figures of every "
     "shipped profile on mps2-an386 (Cortex-M4) against the reference openssl server"),
    ("footprint", "make bench-footprint", "tlsfit's mbedTLS ROM beside hand-tuned configs, each optimize level, "
     "link-time optimisation, DTLS beside TLS, and what `clock: rtc` costs"),
    ("choices", "make bench-choices", "what each size choice of the knowledge base saves: each undone alone"),
    ("tune", "make bench-tune", "`tlsfit tune -j 2` on three shipped profiles: the Pareto front and the search time"),
    ("boards", "make bench-boards", "four profiles on every board (M0, M3, M4, M7, M33, RV32)"),
)
# captions (### headings, so docs can link to them) of the tables that have one, by their header
CAPTIONS = {
    ("server shape", "profile", "hand-tuned ROM", "tlsfit ROM", "ratio", "handshake"): "Against hand-tuned configs",
    ("profile", "optimize", "mbedTLS ROM", "heap peak", "RAM", "handshake instr", "handshake"):
        "Each optimize level",
    ("profile", "build", "ROM total", "vs no LTO", "mbedTLS ROM (attributed by)", "RAM", "handshake instr",
     "handshake"): "Link-time optimisation",
    ("shape", "profile", "over", "mbedTLS ROM", "vs TLS", "ROM total", "RAM", "handshake instr",
     "resent (server / firmware)", "handshake"): "DTLS beside TLS",
    ("profile", "mbedTLS ROM, clock: none", "clock: rtc", "mbedTLS ROM cost", "ROM total cost", "handshake"):
        "What clock: rtc costs",
    ("profile", "mbedTLS ROM", "size choice undone", "mbedTLS ROM without it", "static RAM without it"):
        "Each size choice undone",
    ("profile", "board", "ROM", "RAM", "handshake instr", "result"): "The same profiles on every board",
}
TOOL_VERSIONS = (("compiler", ("arm-none-eabi-gcc", "--version")),
                 ("RISC-V compiler", ("riscv64-unknown-elf-gcc", "--version")),
                 ("QEMU", ("qemu-system-arm", "--version")),
                 ("OpenSSL", ("openssl", "version")))


def _first_line(argv: tuple[str, ...]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else "not found"


def commit_stamp() -> str:
    """`git rev-parse --short HEAD`, with -dirty when a tracked file other than Markdown differs from it
    (documentation, this page included, changes no figure)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=30, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    changed = [line[3:] for line in status.splitlines() if not line[3:].strip('"').endswith(".md")]
    return head + ("-dirty" if changed else "")


def machine_stamp() -> str:
    import datetime
    import os
    import platform
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    tools = "; ".join(f"{what}: {_first_line(argv)}" for what, argv in TOOL_VERSIONS)
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
            f"`uname -m` {platform.machine()}, load average {load} at the start; {tools}")


def section_body(make: str, commit: str, machine: str, printed: str) -> str:
    return (f"Generated by `{make}` (scripts/bench.py); do not edit.\n\n"
            f"Commit `{commit}`, {machine}.\n\n{printed.strip()}\n")


_BEGIN, _END = "<!-- begin {} -->", "<!-- end {} -->"


def figures_page(sections: dict[str, str]) -> str:
    """The whole page: every bench's section, its body taken from `sections` or "not generated yet"."""
    out = ["# Figures", "",
           "Generated by `make bench`, `make bench-footprint`, `make bench-choices`, `make bench-tune` and "
           "`make bench-boards` (scripts/bench.py); do not edit.", "",
           "Every figure the README and the other docs pages quote comes from this page. Each section is "
           "printed by one benchmark target and written here by scripts/bench.py, stamped with the commit "
           "and the machine it ran on; rerun the target to refresh it. Sizes are bytes; handshake work is "
           "QEMU guest instructions (`-icount`), not CPU cycles; wall times depend on the machine's load.", ""]
    for which, make, what in BENCHES:
        body = sections.get(which) or f"Not generated yet: run `{make}`.\n"
        out += [f"## {make.removeprefix('make ')}", "", f"`{make}`: {what}.", "",
                _BEGIN.format(which), body.rstrip("\n"), _END.format(which), ""]
    return "\n".join(out)


def read_sections(text: str) -> dict[str, str]:
    sections = {}
    for which, _, _ in BENCHES:
        begin, end = _BEGIN.format(which), _END.format(which)
        if begin in text and end in text.split(begin, 1)[1]:
            sections[which] = text.split(begin, 1)[1].split(end, 1)[0].strip("\n") + "\n"
    return sections


class _Tee:
    """stdout that also keeps what was printed."""

    def __init__(self, out):
        self.out, self.kept = out, []

    def write(self, text: str) -> int:
        self.kept.append(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


def record(which: str, bench) -> None:
    """Run one bench, printing as usual, then write its section of docs/figures.md (atomically; the
    other sections stay). The stamp is taken before the run: the tree that was measured."""
    from core.write import write_if_changed
    commit, machine = commit_stamp(), machine_stamp()
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        bench()
    finally:
        sys.stdout = tee.out
    make = next(m for w, m, _ in BENCHES if w == which)
    try:
        sections = read_sections(FIGURES_PAGE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        sections = {}
    sections[which] = section_body(make, commit, machine, "".join(tee.kept))
    write_if_changed(FIGURES_PAGE, figures_page(sections))
    print(f"\nwrote {FIGURES_PAGE.relative_to(ROOT)} (section {make.removeprefix('make ')})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("measure", "footprint", "choices", "tune", "boards"))
    args = parser.parse_args()
    ws = workspace()   # the environment, read once
    bench = {"measure": bench_measure, "footprint": bench_footprint, "choices": bench_choices,
             "tune": bench_tune, "boards": bench_boards}[args.which]
    record(args.which, lambda: bench(ws))
    return 0


if __name__ == "__main__":
    sys.exit(main())

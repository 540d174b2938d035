"""`tlsfit size FIRMWARE.elf [--map FILE]`: mbedTLS's ROM and static RAM in your own image.

Writes DIR/report.json (kind "image") that `tlsfit diff` and `tlsfit gate` read, so a team can gate its
real firmware and compare it with what `tlsfit measure` predicted for the same config.
Exit 0 written; 2 not an image tlsfit can read, or no mbedTLS in it; 3 tool failure.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from cli import EXIT_OK, VERSION, InputError
from core.write import check_output_dir, write_if_changed
from pipeline.size import SizeRequest, size_image
from reports.render import number

_NAME = re.compile(r"[a-z0-9-]{1,64}")


def add_size_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    s = sub.add_parser("size", help="mbedTLS's ROM and static RAM in your own firmware image (ELF + map)",
                       description="Attribute an image you built to mbedTLS module by module and symbol by "
                                   "symbol, as `tlsfit measure` does for its own builds: with --map from the "
                                   "mbedTLS archives' members, else (no map, LTO, sources compiled into the "
                                   "application) from the DWARF debug info (-g), inlined code included. "
                                   "Writes DIR/report.json for `tlsfit diff` and `tlsfit gate`. "
                                   "Exit 0 written, 2 bad input, 3 tool failure.")
    s.add_argument("elf", type=Path, metavar="FIRMWARE.elf")
    s.add_argument("--map", type=Path, metavar="FILE", help="the GNU ld map file (-Wl,-Map=FILE)")
    s.add_argument("--mbedtls-dir", type=Path, metavar="DIR",
                   help="the mbedTLS tree the image was compiled from (default: found in the debug info)")
    s.add_argument("--archive", action="append", metavar="NAME",
                   help="an mbedTLS library's file name in the map (repeatable; default libmbedtls.a, "
                        "libmbedx509.a, libmbedcrypto.a)")
    s.add_argument("--name", default=None, help="the report's name ([a-z0-9-]+; default from the file name)")
    s.add_argument("--target", default="image", help="the report's target name (default image)")
    s.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="where report.json goes (default build/size/<name>/)")
    return s


def run_size_args(args: argparse.Namespace, build_dir: Path) -> int:
    name = args.name or (re.sub(r"[^a-z0-9-]+", "-", args.elf.stem.lower()).strip("-") or "firmware")[:64]
    for value, what in ((name, "--name"), (args.target, "--target")):
        if not _NAME.fullmatch(value):
            raise InputError(f"{what} '{value}': use 1 to 64 of a-z, 0-9 and '-'")
    out = args.output if args.output is not None else build_dir / "size" / name
    check_output_dir(out)
    request = SizeRequest(elf=args.elf, map_file=args.map, mbedtls_dir=args.mbedtls_dir, name=name,
                          target=args.target, **({"archives": tuple(args.archive)} if args.archive else {}))
    report = size_image(request, VERSION)
    out.mkdir(parents=True, exist_ok=True)
    write_if_changed(out / "report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    rom, ram = report["rom"], report["ram"]
    biggest = sorted(rom["modules"].items(), key=lambda kv: (-kv[1], kv[0]))[:6]
    print(f"  image             {args.elf} ({report['cpu']}, mbedTLS {report['mbedtls_version']}, "
          f"attributed by {'the linker map' if rom['attribution'] == 'map' else 'the DWARF debug info'})")
    print(f"  ROM               {number(rom['total'])} B total, {number(rom['mbedtls'])} B mbedTLS "
          f"({len(rom['modules'])} modules, {len(rom['symbols'])} symbols)")
    print(f"  RAM static        {number(ram['static'])} B"
          + (f", of which mbedTLS {number(ram['static_mbedtls'])} B" if ram.get("static_mbedtls") is not None else ""))
    print("  largest modules   " + ", ".join(f"{m} {number(s)}" for m, s in biggest))
    print(f"  report            {out / 'report.json'} (tlsfit diff / tlsfit gate read it)")
    return EXIT_OK

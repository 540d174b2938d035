"""`tlsfit gen`: profile -> resolved options -> rendered, validated mbedtls_config.h."""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cli import EXIT_OK
from cli.paths import Workspace, require_mbedtls, workspace
from generator.knowledge import load_knowledge
from generator.model import Profile, ResolvedConfig
from generator.profile import load_profile
from generator.render import config_sha256, render_config
from generator.resolve import resolve
from generator.validate import validate_config
from generator.write import write_if_changed
from measure.boards import load_board

HOST_TARGET = "host"


@dataclass(frozen=True)
class GeneratedConfig:
    profile: Profile
    resolved: ResolvedConfig
    text: str
    sha256: str


def generate(profile_path: Path, ws: Workspace, target: str | None, validate: bool,
             optimize: str | None = None) -> GeneratedConfig:
    """Load, resolve, render and (optionally) compile-check one profile's config.

    `optimize` overrides the profile's level, to compare levels without editing the file.
    """
    profile = load_profile(profile_path)
    if optimize is not None:
        profile = replace(profile, optimize=optimize)
    resolved = resolve(profile, load_knowledge())
    text = render_config(resolved, profile)
    if validate:
        require_mbedtls(ws)
        board = load_board(target or profile.target, ws.ports)
        cc, cflags = ("gcc", ()) if board.is_host else ("arm-none-eabi-gcc", board.cflags)
        ws.build.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=ws.build, prefix="validate-") as tmp:
            validate_config(text, ws.mbedtls, Path(tmp), cc=cc, cflags=tuple(cflags))
    return GeneratedConfig(profile, resolved, text, config_sha256(text))


def print_warnings(profile_path: Path, gen: GeneratedConfig) -> None:
    for warning in gen.resolved.warnings:
        print(f"{profile_path}: warning: {warning}", file=sys.stderr)


def run_gen(profile: Path, output: Path | None, target: str | None, validate: bool,
            optimize: str | None = None) -> int:
    started = time.monotonic()
    ws = workspace()
    gen = generate(profile, ws, target, validate, optimize)
    out_dir = output if output is not None else ws.build / gen.profile.name
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "mbedtls_config.h"
    changed = write_if_changed(path, gen.text)
    print_warnings(profile, gen)
    state = "wrote" if changed else "unchanged"
    print(f"{state} {path} ({len(gen.resolved.options)} options, optimize {gen.profile.optimize}, "
          f"sha256 {gen.sha256[:12]}, "
          f"{'validated' if validate else 'NOT validated'}, {time.monotonic() - started:.2f} s)")
    return EXIT_OK

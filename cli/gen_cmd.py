"""`tlsfit gen`: profile -> resolved options -> rendered, validated mbedtls_config.h."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from cli import EXIT_OK
from core.write import check_output_dir, check_output_file, write_if_changed
from generator.sdkconfig import load_kconfig_map, render_sdkconfig
from pipeline import (CONFIG_FILE, GeneratedConfig, Workspace, generate_for_board, knowledge_without_build,
                      open_mbedtls, validate)


def print_warnings(profile_path: Path, gen: GeneratedConfig) -> None:
    for warning in gen.resolved.warnings:
        print(f"{profile_path}: warning: {warning}", file=sys.stderr)


def run_gen(ws: Workspace, profile: Path, output: Path | None, target: str | None, validate_config: bool,
            optimize: str | None = None, lto: bool | None = None, sdkconfig: Path | None = None) -> int:
    started = time.monotonic()
    if output is not None:
        check_output_dir(output)  # bad input before any work
    if sdkconfig is not None:
        check_output_file(sdkconfig, "sdkconfig file")
    if validate_config:
        tree = open_mbedtls(ws.mbedtls)
        kb = tree.knowledge
    else:
        # no compiler run: the tree's knowledge base, or the pinned release's without a tree
        tree, kb = None, knowledge_without_build(ws.mbedtls)
    gen, board = generate_for_board(profile, kb, optimize, target, ws.paths(), lto=lto)
    out_dir = output if output is not None else ws.build / gen.profile.name
    if output is None:
        check_output_dir(out_dir)
    if tree is not None:
        check_output_dir(ws.paths().work, "build folder")
        validate(gen, board, tree, ws.paths().work)
    path = out_dir / CONFIG_FILE
    sdk_text = render_sdkconfig(gen.resolved, profile.name, load_kconfig_map()) if sdkconfig is not None else None
    changed = write_if_changed(path, gen.text)
    print_warnings(profile, gen)
    state = "wrote" if changed else "unchanged"
    checked = f"validated against mbedTLS {tree.version}" if tree is not None else "NOT validated"
    print(f"{state} {path} ({len(gen.resolved.options)} options, optimize {gen.profile.optimize}, "
          f"sha256 {gen.sha256[:12]}, {checked}, {time.monotonic() - started:.2f} s)")
    if sdkconfig is not None and sdk_text is not None:
        sdk_state = "wrote" if write_if_changed(sdkconfig, sdk_text) else "unchanged"
        print(f"{sdk_state} {sdkconfig} (ESP-IDF sdkconfig fragment)")
    return EXIT_OK

"""Build mbedTLS and the harness for one (config, board), with a library cache.

Layout under cache_dir:
  <config sha256>/tlsfit_config.h
  <config sha256>/<board>/libmbedtls.a         the library, built once per entry
  <config sha256>/<board>-lto/...              the same, compiled for link-time optimisation
  <config sha256>/<board>/complete.json        written last: the entry is usable
  <config sha256>/<board>/fw/<data sha>/       include/tlsfit_profile_config.h, tlsfit.elf, tlsfit.map
The build itself is ports/build.mk; this module decides what to build and where. When ccache is
installed the library objects compile through it (measure/object_cache.py: its own folder beside
cache_dir; use_ccache=False turns it off), so a config that differs from an earlier one in one
option recompiles only the files that option changes; the objects are the same bytes either way.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from generator.render import config_sha256
from core.write import write_if_changed
from measure import object_cache
from measure.boards import Board
from measure.figures import link_overflow
from measure.model import Firmware, MeasureError

CONFIG_NAME = "tlsfit_config.h"
PROFILE_HEADER_NAME = "tlsfit_profile_config.h"   # measure/firmware_data.py renders it
STAMP_NAME = "complete.json"
LIB_TIMEOUT_S = 900.0
FW_TIMEOUT_S = 180.0
ERROR_TAIL_LINES = 40


@dataclass(frozen=True)
class LibraryBuild:
    archive: Path                  # .../libmbedtls.a
    config_dir: Path               # holds tlsfit_config.h
    config_sha256: str
    cached: bool                   # True: reused, nothing compiled


def _build_mk(board: Board) -> Path:
    return board.dir.parent / "build.mk"


def _fingerprint(board: Board, mbedtls_dir: Path, sha: str, lto: bool = False) -> dict:
    """Everything besides the config that makes a library build different."""
    return {
        "config_sha256": sha,
        "lto": lto,
        "cc": board.cc,
        "cflags": list(board.cflags),
        "mbedtls_dir": str(mbedtls_dir.resolve()),
        "build_mk_sha256": hashlib.sha256(_build_mk(board).read_bytes()).hexdigest(),
    }


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """One builder per cache entry at a time (parallel CLI runs share the cache)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# A diagnostic of the compiler or linker itself: "file:line:col: error: ...", "cc1: fatal error: ...",
# "ld: ...: undefined reference to ...", "collect2: error: ...", "make: *** ... Error 1" (last resort).
_DIAGNOSTIC = re.compile(r"^(?:\S+?:(?:\d+:(?:\d+:)?)? ?(?:fatal )?error: |.*\bld(?:\.\w+)?: |"
                         r".*: undefined reference to |.*: multiple definition of |collect2: )")
_MAKE_ERROR = re.compile(r"^(?:g?make(?:\[\d+\])?): \*\*\* ")


def first_error(lines: list[str]) -> str | None:
    """The first error line the compiler, assembler or linker printed, else make's own, else None.

    Command lines make echoes (`arm-none-eabi-gcc ... -Werror ...`) are never taken for errors."""
    def is_command(line: str) -> bool:
        return line.lstrip().startswith("-") or " -c " in line or " -o " in line or len(line.split()) > 12

    for line in lines:
        if line.rstrip().endswith("':") and "in function" in line:
            continue  # the linker's context line; the error follows it
        if _DIAGNOSTIC.match(line) and not is_command(line):
            return line.strip()
    return next((line.strip() for line in lines if _MAKE_ERROR.match(line)), None)


def _make(board: Board, target: str, variables: dict[str, str], jobs: int,
          timeout_s: float, what: str, cache_dir: Path, use_ccache: bool) -> None:
    argv = ["make", "--no-print-directory", "-f", str(_build_mk(board)), f"-j{jobs}", target]
    argv += [f"{k}={v}" for k, v in variables.items()]
    ccache = object_cache.launcher(use_ccache)
    if ccache is not None:
        argv.append(f"CCACHE={ccache}")
    env = object_cache.environment(cache_dir) if ccache is not None else None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise MeasureError(f"{what}: build timed out after {timeout_s:.0f}s") from exc
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).splitlines()
        error = first_error(lines)
        tail = "\n".join(lines[-ERROR_TAIL_LINES:])
        first = f"first error: {error}\n" if error else ""
        raise MeasureError(f"{what}: build failed (make exit {proc.returncode}) for target "
                           f"{board.name}\n{first}{tail}")


def lto_ar(board: Board) -> str:
    """The archiver for LTO objects: gcc's `gcc-ar` wrapper (it loads the LTO plugin for the index)."""
    return f"{board.cc}-ar"


def _lib_variables(board: Board, mbedtls_dir: Path, config_dir: Path, lib_dir: Path,
                   lto: bool = False) -> dict[str, str]:
    variables = {
        "MBEDTLS_DIR": str(mbedtls_dir.resolve()),
        "CONFIG_DIR": str(config_dir),
        "LIB_DIR": str(lib_dir),
        "CC": board.cc,
        "AR": lto_ar(board) if lto else board.ar,
        "BOARD_CFLAGS": " ".join(board.cflags),
    }
    if lto:
        variables["LTO"] = "1"
    return variables


def build_library_only(config_text: str, board: Board, mbedtls_dir: Path, cache_dir: Path,
                       jobs: int = 2, lto: bool = False, use_ccache: bool = True) -> LibraryBuild:
    """Compile every mbedTLS library file with this config for this board (cached; lto: for
    link-time optimisation, kept beside the plain build so the two never evict each other;
    use_ccache: through ccache when it is installed)."""
    cache_dir = cache_dir.resolve()
    sha = config_sha256(config_text)
    entry = cache_dir / sha
    lib_dir = entry / (f"{board.name}-lto" if lto else board.name)
    entry.mkdir(parents=True, exist_ok=True)
    write_if_changed(entry / CONFIG_NAME, config_text)
    archive = lib_dir / "libmbedtls.a"
    stamp = lib_dir / STAMP_NAME
    fingerprint = _fingerprint(board, mbedtls_dir, sha, lto)
    with _locked(entry / f".{lib_dir.name}.lock"):
        if stamp.is_file() and archive.is_file() and json.loads(stamp.read_text()) == fingerprint:
            return LibraryBuild(archive=archive, config_dir=entry, config_sha256=sha, cached=True)
        if lib_dir.exists():
            # different flags or sources: stale objects would look up to date to make
            shutil.rmtree(lib_dir)
        _make(board, "lib", _lib_variables(board, mbedtls_dir, entry, lib_dir, lto), jobs,
              LIB_TIMEOUT_S, f"mbedTLS library (config {sha[:12]})", cache_dir, use_ccache)
        stamp.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))
    return LibraryBuild(archive=archive, config_dir=entry, config_sha256=sha, cached=False)


def _memory_variables(board: Board) -> dict[str, str]:
    """The modelled part's limits (board.yaml), for the linker's MEMORY regions."""
    if board.flash_limit is None or board.ram_limit is None:
        return {}
    return {"FLASH_SIZE": str(int(board.flash_limit)), "RAM_SIZE": str(int(board.ram_limit))}


def build_firmware(config_text: str, harness_data_c: str, board: Board, mbedtls_dir: Path,
                   cache_dir: Path, jobs: int = 2, lto: bool = False, use_ccache: bool = True) -> Firmware:
    """Library (from the cache when complete), then harness + board + profile facts, linked
    (lto: library and harness optimised together at the link, ports/build.mk LTO=1).

    harness_data_c is render_harness_data()'s text: the generated header
    tlsfit_profile_config.h (compile-time facts and the per-profile data)."""
    lib = build_library_only(config_text, board, mbedtls_dir, cache_dir, jobs, lto, use_ccache)
    lib_dir = lib.archive.parent
    data_sha = hashlib.sha256(harness_data_c.encode("utf-8")).hexdigest()[:16]
    fw_dir = lib_dir / "fw" / data_sha
    profile_dir = fw_dir / "include"
    profile_dir.mkdir(parents=True, exist_ok=True)
    write_if_changed(profile_dir / PROFILE_HEADER_NAME, harness_data_c)
    variables = _lib_variables(board, mbedtls_dir, lib.config_dir, lib_dir, lto)
    variables.update({
        "FW_DIR": str(fw_dir),
        "BOARD_DIR": str(board.dir),
        "BOARD_SRCS": " ".join(str(src) for src in board.sources),
        "BOARD_INCLUDES": " ".join(str(d) for d in board.include_dirs),
        "PROFILE_DIR": str(profile_dir),
        "LDSCRIPT": str(board.linker_script) if board.linker_script else "",
        "BOARD_LDFLAGS": " ".join(board.ldflags),
        **_memory_variables(board),
    })
    with _locked(fw_dir / ".lock"):
        try:
            _make(board, "fw", variables, jobs, FW_TIMEOUT_S, f"harness firmware for {board.name}",
                  cache_dir.resolve(), use_ccache)
        except MeasureError as exc:
            # a region overflow is the profile not fitting the part (exit 2), not a tool failure
            raise link_overflow(str(exc), fw_dir / "tlsfit.map", board) or exc
    return Firmware(target=board.name, elf=fw_dir / "tlsfit.elf", map_file=fw_dir / "tlsfit.map",
                    config_sha256=lib.config_sha256, lto=lto)

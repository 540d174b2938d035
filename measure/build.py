"""Build mbedTLS and the harness for one (config, board), with a build cache keyed by content.

Layout under cache_dir:
  <config sha256>/tlsfit_config.h
  <config sha256>/<board>-<lib key>/libmbedtls.a        the library, built once per entry
  <config sha256>/<board>-lto-<lib key>/...             the same, compiled for link-time optimisation
  <config sha256>/<board>-<lib key>/complete.json       written last: the entry is usable
  <config sha256>/<board>-<lib key>/fw/<fw key>/        include/tlsfit_profile_config.h, tlsfit.elf,
                                                        tlsfit.map, complete.json (written last)
Every key is a hash of what the build reads, never of where it lies: the library key of the compiler
(name, version, flags), the mbedTLS sources (their bytes) and ports/build.mk; the firmware key of the
harness data, the port files (ports/common, the board's folder, its sources, include folders and
linker script, by content) and the link flags and limits. A moved or reinstalled tlsfit, a restored
CI cache and two installs sharing ~/.cache/tlsfit therefore find the same entries, and an entry is
only ever built once, from scratch: make never sees objects (or dependency files) made from another
location's files. The one exception: a link-time-optimised library keeps the mbedTLS folder in its
key, since its debug info names that folder and measure/figures.py attributes ROM by it.

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
KEY_CHARS = 16                     # hex digits of a key in a folder name


@dataclass(frozen=True)
class LibraryBuild:
    archive: Path                  # .../libmbedtls.a
    config_dir: Path               # holds tlsfit_config.h
    config_sha256: str
    cached: bool                   # True: reused, nothing compiled


def _build_mk(board: Board) -> Path:
    return board.dir.parent / "build.mk"


# the mbedTLS files a build reads (sources and headers of the library and its 3rdparty drivers)
LIBRARY_SOURCE_DIRS = ("include", "library", "3rdparty")
LIBRARY_SOURCE_SUFFIXES = (".c", ".h")
CC_VERSION_TIMEOUT_S = 30.0
_tree_digests: dict[tuple, str] = {}
_cc_versions: dict[str, str] = {}


def content_digest(files: list[tuple[str, Path]]) -> str:
    """sha256 over (name, bytes) of each file, in the order given: names are what the caller says
    (relative to a role, never absolute), so the same files anywhere give the same digest."""
    digest = hashlib.sha256()
    for name, path in files:
        data = path.read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode("utf-8"))
        digest.update(data)
    return digest.hexdigest()


def mbedtls_digest(mbedtls_dir: Path) -> str:
    """The content of the mbedTLS sources and headers (computed once per process while no file's
    size or time changes: about 300 files, 9 MB)."""
    root = mbedtls_dir.resolve()
    files = sorted((str(path.relative_to(root)), path)
                   for sub in LIBRARY_SOURCE_DIRS for path in (root / sub).rglob("*")
                   if path.suffix in LIBRARY_SOURCE_SUFFIXES and path.is_file())
    signature = (str(root),) + tuple((name, path.stat().st_size, path.stat().st_mtime_ns) for name, path in files)
    if signature not in _tree_digests:
        _tree_digests[signature] = content_digest(files)
    return _tree_digests[signature]


def _cc_version(cc: str) -> str:
    """`cc --version` (a toolchain upgrade builds different objects); "" when it cannot run (make
    then reports the missing compiler)."""
    if cc not in _cc_versions:
        try:
            proc = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=CC_VERSION_TIMEOUT_S)
            _cc_versions[cc] = proc.stdout.strip() if proc.returncode == 0 else ""
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return _cc_versions[cc]


def _fingerprint(board: Board, mbedtls_dir: Path, sha: str, lto: bool = False) -> dict:
    """Everything besides the config that makes a library build different: by content, except the
    mbedTLS folder of an LTO build (its -g debug info names the folder; figures.py reads it)."""
    return {
        "config_sha256": sha,
        "lto": lto,
        "cc": board.cc,
        "cc_version": _cc_version(board.cc),
        "ar": lto_ar(board) if lto else board.ar,
        "cflags": list(board.cflags),
        "mbedtls_sha256": mbedtls_digest(mbedtls_dir),
        "mbedtls_dir": str(mbedtls_dir.resolve()) if lto else None,
        "build_mk_sha256": hashlib.sha256(_build_mk(board).read_bytes()).hexdigest(),
    }


def _key(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode("utf-8")).hexdigest()


def _folder_files(role: str, folder: Path) -> list[tuple[str, Path]]:
    """A port folder's files (not its subfolders), named by role and file name."""
    if not folder.is_dir():
        return []
    return [(f"{role}/{path.name}", path) for path in sorted(folder.iterdir()) if path.is_file()]


def _port_files(board: Board) -> list[tuple[str, Path]]:
    """Every file of the ports tree the harness build may read, named by its role (never by where
    the tree lies): build.mk, ports/common, the board's folder, its include folders (headers and
    linker-script INCLUDEs), its sources and its linker script."""
    ports = board.dir.parent
    files = [("build.mk", _build_mk(board))]
    files += _folder_files("common", ports / "common")
    files += _folder_files("board", board.dir)
    for index, folder in enumerate(board.include_dirs):
        files += _folder_files(f"include{index}", folder)
    files += [(f"source{index}/{src.name}", src) for index, src in enumerate(board.sources)]
    if board.linker_script is not None:
        files.append((f"ldscript/{board.linker_script.name}", board.linker_script))
    return files


def _firmware_fingerprint(board: Board, harness_data_c: str, library_key: str) -> dict:
    """Everything that makes a harness build different, by content (the library key brings the
    config, compiler, flags and mbedTLS headers the harness compiles against)."""
    return {
        "library_key": library_key,
        "harness_data_sha256": hashlib.sha256(harness_data_c.encode("utf-8")).hexdigest(),
        "ports_sha256": content_digest(_port_files(board)),
        "ldflags": list(board.ldflags),
        "memory": _memory_variables(board),
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
    fingerprint = _fingerprint(board, mbedtls_dir, sha, lto)
    lib_dir = entry / f"{board.name}{'-lto' if lto else ''}-{_key(fingerprint)[:KEY_CHARS]}"
    entry.mkdir(parents=True, exist_ok=True)
    write_if_changed(entry / CONFIG_NAME, config_text)
    archive = lib_dir / "libmbedtls.a"
    stamp = lib_dir / STAMP_NAME
    with _locked(entry / f".{lib_dir.name}.lock"):
        if _complete(stamp, fingerprint) and archive.is_file():
            return LibraryBuild(archive=archive, config_dir=entry, config_sha256=sha, cached=True)
        if lib_dir.exists():
            # an interrupted or failed build: its objects would look up to date to make
            shutil.rmtree(lib_dir)
        _make(board, "lib", _lib_variables(board, mbedtls_dir, entry, lib_dir, lto), jobs,
              LIB_TIMEOUT_S, f"mbedTLS library (config {sha[:12]})", cache_dir, use_ccache)
        write_if_changed(stamp, json.dumps(fingerprint, indent=1, sort_keys=True))
    return LibraryBuild(archive=archive, config_dir=entry, config_sha256=sha, cached=False)


def _complete(stamp: Path, fingerprint: dict) -> bool:
    """The entry's stamp is there and names exactly this build."""
    try:
        return json.loads(stamp.read_text(encoding="utf-8")) == fingerprint
    except (OSError, ValueError):
        return False


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
    fingerprint = _firmware_fingerprint(board, harness_data_c, lib_dir.name)
    fw_root = lib_dir / "fw"
    fw_dir = fw_root / _key(fingerprint)[:KEY_CHARS]
    firmware = Firmware(target=board.name, elf=fw_dir / "tlsfit.elf", map_file=fw_dir / "tlsfit.map",
                        config_sha256=lib.config_sha256, lto=lto)
    profile_dir = fw_dir / "include"
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
    stamp = fw_dir / STAMP_NAME
    with _locked(fw_root / f".{fw_dir.name}.lock"):
        if _complete(stamp, fingerprint) and firmware.elf.is_file() and firmware.map_file.is_file():
            return firmware
        if fw_dir.exists():
            # an interrupted build or a link that did not fit: built again from scratch
            shutil.rmtree(fw_dir)
        write_if_changed(profile_dir / PROFILE_HEADER_NAME, harness_data_c)
        try:
            _make(board, "fw", variables, jobs, FW_TIMEOUT_S, f"harness firmware for {board.name}",
                  cache_dir.resolve(), use_ccache)
        except MeasureError as exc:
            # a region overflow is the profile not fitting the part (exit 2), not a tool failure
            raise link_overflow(str(exc), firmware.map_file, board) or exc
        write_if_changed(stamp, json.dumps(fingerprint, indent=1, sort_keys=True))
    return firmware

"""The build cache is keyed by content, not by where tlsfit lies (issue 18, measured defect 7).

Before: the firmware folder was named by the harness data alone and make's dependency files named
the absolute paths of the port sources, so a reinstalled tlsfit (its old prefix removed) or a second
`make test` (a test's copy of ports/ deleted) failed with `No rule to make target '<old>/ports/...'`.
Real builds (arm-none-eabi-gcc, mbedTLS); no QEMU. The library comes from the session's build cache
(conftest `cache`), copied into a private cache folder per test: what is tested is the firmware.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from measure import build
from measure.boards import load_board
from measure.build import build_firmware, build_library_only
from measure.firmware_data import render_harness_data
from test_build import MBEDTLS, PSK_CONFIG, PSK_INPUT

ROOT = Path(__file__).resolve().parent.parent
PORTS = ROOT / "ports"
BOARD = "mps2-an386"

needs_mbedtls = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")


def _copy_ports(to: Path) -> Path:
    """A copy of ports/ (times kept, as `make install` and a restored CI cache keep them)."""
    shutil.copytree(PORTS, to, copy_function=shutil.copy2)
    return to


def _cache_with_the_library(shared: Path, folder: Path) -> Path:
    """A private cache folder holding only the PSK config's library entry (built once, in `shared`)."""
    lib = build_library_only(PSK_CONFIG, load_board(BOARD, PORTS), MBEDTLS, shared)
    entry = folder / lib.config_dir.name
    entry.mkdir(parents=True)
    shutil.copy2(lib.config_dir / build.CONFIG_NAME, entry)
    shutil.copytree(lib.archive.parent, entry / lib.archive.parent.name, copy_function=shutil.copy2,
                    ignore=shutil.ignore_patterns("fw"))
    assert build_library_only(PSK_CONFIG, load_board(BOARD, PORTS), MBEDTLS, folder).cached
    return folder


@needs_mbedtls
def test_ports_moved_after_a_build_still_build_with_the_same_cache(cache: Path, tmp_path: Path) -> None:
    private = _cache_with_the_library(cache, tmp_path / "cache")
    data = render_harness_data(PSK_INPUT)
    first = build_firmware(PSK_CONFIG, data, load_board(BOARD, _copy_ports(tmp_path / "A" / "ports")),
                           MBEDTLS, private)
    assert first.elf.is_file()
    built_ns = first.elf.stat().st_mtime_ns
    shutil.rmtree(tmp_path / "A")              # the old prefix is removed, or pytest's copy deleted

    # the same port files somewhere else: the same entry, nothing rebuilt
    second = build_firmware(PSK_CONFIG, data, load_board(BOARD, _copy_ports(tmp_path / "B" / "ports")),
                            MBEDTLS, private)
    assert second.elf == first.elf and second.elf.stat().st_mtime_ns == built_ns

    # a changed port file is another build, even when its time says it is older than the objects
    harness = tmp_path / "B" / "ports" / "common" / "harness.c"
    times = harness.stat()
    harness.write_text(harness.read_text() + "\n/* a local change */\n")
    os.utime(harness, ns=(times.st_atime_ns, times.st_mtime_ns))
    third = build_firmware(PSK_CONFIG, data, load_board(BOARD, tmp_path / "B" / "ports"), MBEDTLS, private)
    assert third.elf != second.elf and third.elf.is_file()
    assert second.elf.stat().st_mtime_ns == built_ns   # the first entry is kept, not rebuilt


@needs_mbedtls
def test_a_cache_folder_moved_elsewhere_is_used_where_it_lands(cache: Path, tmp_path: Path) -> None:
    """A CI cache restored at another path (or ~/.cache/tlsfit reached another way): entries hit."""
    board = load_board(BOARD, PORTS)
    data = render_harness_data(PSK_INPUT)
    runner_1 = _cache_with_the_library(cache, tmp_path / "runner-1" / "cache")
    built = build_firmware(PSK_CONFIG, data, board, MBEDTLS, runner_1)
    built_ns = built.elf.stat().st_mtime_ns
    (tmp_path / "runner-1").rename(tmp_path / "runner-2")
    restored = tmp_path / "runner-2" / "cache"
    assert build_library_only(PSK_CONFIG, board, MBEDTLS, restored).cached
    again = build_firmware(PSK_CONFIG, data, board, MBEDTLS, restored)
    assert again.elf == restored / built.elf.relative_to(runner_1)
    assert again.elf.stat().st_mtime_ns == built_ns     # found complete: not linked again


@needs_mbedtls
def test_mbedtls_digest_follows_content_not_location(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "mbedtls"
    for sub in build.LIBRARY_SOURCE_DIRS:
        shutil.copytree(MBEDTLS / sub, copy / sub)
    assert build.mbedtls_digest(copy) == build.mbedtls_digest(MBEDTLS)
    header = copy / "library" / "common.h"
    header.write_text(header.read_text() + "\n/* patched */\n")
    assert build.mbedtls_digest(copy) != build.mbedtls_digest(MBEDTLS)

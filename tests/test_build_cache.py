"""ccache for the mbedTLS library objects (measure/object_cache.py, ports/build.mk CCACHE=).

A config that differs from an earlier one in one knob recompiles only the files the knob changes;
the archive is the same bytes with and without ccache. Real builds in a private cache folder.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.workspace import workspace
from measure import object_cache
from measure.boards import load_board
from measure.build import build_library_only
from pipeline import generate, open_mbedtls
from tune.output import object_cache_text
from tune.search import merge_object_cache
from generator.cores import find_core

M4 = find_core("cortex-m4")  # the default target's core (mps2-an386)

ROOT = Path(__file__).resolve().parent.parent
PSK = ROOT / "profiles" / "tls12-psk.yaml"
HAVE_CCACHE = shutil.which("ccache") is not None


def test_parse_stats_of_ccache_4() -> None:
    text = "cache_miss\t3\ndirect_cache_hit\t5\ndirect_cache_miss\t4\npreprocessed_cache_hit\t1\nstats_zeroed_timestamp\t0\n"
    stats = object_cache.parse_stats(text)
    assert stats is not None and (stats.hits, stats.misses) == (6, 3)
    assert stats.as_dict() == {"tool": "ccache", "hits": 6, "misses": 3, "hit_rate": 0.6667}
    assert object_cache.parse_stats("Cacheable calls: 3 / 3\n") is None
    assert object_cache.ObjectCacheStats(hits=0, misses=0).as_dict()["hit_rate"] is None


def test_object_cache_text_and_shard_sums() -> None:
    a = {"tool": "ccache", "hits": 30, "misses": 10, "hit_rate": 0.75}
    merged = merge_object_cache([a, None, {"tool": "ccache", "hits": 10, "misses": 0, "hit_rate": 1.0}])
    assert merged == {"tool": "ccache", "hits": 40, "misses": 10, "hit_rate": 0.8}
    assert merge_object_cache([None, None]) is None
    assert object_cache_text(merged) == "Object cache (ccache): 40 hits, 10 misses, hit rate 80.0 %"
    assert object_cache_text(None).startswith("Object cache: none")


def test_disabled_by_the_caller_and_by_environment(tmp_path: Path) -> None:
    assert object_cache.launcher(False) is None
    assert object_cache.read_stats(tmp_path / "cache", False) is None
    assert object_cache.zero_stats(tmp_path / "cache", False) is False
    # the front-end reads TLSFIT_NO_CCACHE once (pipeline/workspace.py) and hands the choice down in Paths
    assert workspace({"TLSFIT_NO_CCACHE": "1"}).paths().ccache is False
    assert workspace({"TLSFIT_NO_CCACHE": "0"}).paths().ccache is True and workspace({}).ccache is True
    assert object_cache.ccache_dir(tmp_path / "cache") == tmp_path.resolve() / "ccache"
    built = object_cache.environment(tmp_path / "cache", {"CCACHE_BASEDIR": "/", "HOME": "/root"})
    assert "CCACHE_BASEDIR" not in built and built["CCACHE_NOHASHDIR"] == "1"
    assert built["CCACHE_DIR"] == str(tmp_path.resolve() / "ccache") and built["HOME"] == "/root"


@pytest.mark.skipif(not HAVE_CCACHE, reason="ccache is not installed (apt-get install ccache)")
@pytest.mark.parametrize("lto", [False, True], ids=["plain", "lto"])
def test_one_knob_apart_reuses_objects_and_builds_the_same_bytes(tmp_path: Path, lto: bool) -> None:
    ws = workspace()
    kb = open_mbedtls(ws.mbedtls).knowledge
    board = load_board("mps2-an386", ws.ports)
    base = generate(PSK, kb, M4, optimize="size").text
    moved = generate(PSK, kb, M4, optimize="size", knobs=(("sha256_smaller", "off"),)).text
    assert base != moved
    cache = tmp_path / "cache"

    assert object_cache.zero_stats(cache)
    first = build_library_only(base, board, ws.mbedtls, cache, lto=lto)
    cold = object_cache.read_stats(cache)
    assert cold is not None and cold.misses > 0
    assert object_cache.zero_stats(cache)
    second = build_library_only(moved, board, ws.mbedtls, cache, lto=lto)
    warm = object_cache.read_stats(cache)
    assert not first.cached and not second.cached
    # the knob changes what sha256.c (and little else) preprocesses to: most objects come back
    assert warm is not None and isinstance(warm.hits, int) and isinstance(warm.misses, int)
    assert warm.misses >= 1 and warm.hits > 10 * warm.misses, warm

    # the same config without ccache: the same archive, byte for byte
    plain = build_library_only(moved, board, ws.mbedtls, tmp_path / "plain" / "cache", lto=lto, use_ccache=False)
    assert not plain.cached
    assert plain.archive.read_bytes() == second.archive.read_bytes()
    assert not (tmp_path / "plain" / "ccache").exists()

"""ccache for the mbedTLS library objects: whether to use it, its environment, its statistics.

Candidates of `tlsfit tune` differ in one knob each; a knob changes what a few library files
preprocess to and leaves the others as they were. ports/build.mk compiles the library with a
launcher (CCACHE=ccache) from the config's own folder with -I., so an unchanged file preprocesses
to the same bytes whatever config folder it is built for, and ccache hands back the object it
compiled for an earlier config. ccache never changes what is built: an object it returns is the
one the compiler wrote for the same preprocessed text and arguments.

The ccache folder is private to tlsfit: `ccache` beside the build cache (checkout: build/ccache;
installed: ~/.cache/tlsfit/ccache), never the user's ~/.ccache. Callers say whether to use it
(pipeline Paths.ccache; the front-end turns it off for TLSFIT_NO_CCACHE=1, pipeline/workspace.py).
Its statistics are the folder's: builds running at the same time (parallel tune runs, the test
suite) add to the same counters.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

TOOL = "ccache"
DIR_NAME = "ccache"
MAX_SIZE = "2G"
STATS_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ObjectCacheStats:
    """ccache's counters for tlsfit's folder since they were last zeroed."""
    hits: int                      # direct + preprocessed hits
    misses: int
    tool: str = TOOL

    @property
    def hit_rate(self) -> float | None:
        """hits / (hits + misses), None when nothing was compiled."""
        total = self.hits + self.misses
        return self.hits / total if total else None

    def as_dict(self) -> dict:
        rate = self.hit_rate
        return {"tool": self.tool, "hits": self.hits, "misses": self.misses,
                "hit_rate": round(rate, 4) if rate is not None else None}


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def ccache_dir(cache_dir: Path) -> Path:
    """tlsfit's ccache folder for a build cache folder: its sibling `ccache`."""
    return cache_dir.resolve().parent / DIR_NAME


def launcher(enabled: bool = True) -> str | None:
    """The ccache program to put in front of the compiler; None when absent or not enabled."""
    return shutil.which(TOOL) if enabled else None


def environment(cache_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a build through ccache: tlsfit's own folder, size cap, no hashed cwd.

    CCACHE_NOHASHDIR: LTO objects have -g, for which ccache would hash the working directory (the
    config's folder, different for every config); ports/build.mk maps it out of the debug info.
    CCACHE_BASEDIR is removed: rewriting the absolute include paths relative to the config's
    folder would make the arguments differ per config."""
    env = {k: v for k, v in _env(environ).items() if k != "CCACHE_BASEDIR"}
    folder = ccache_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    env.update({"CCACHE_DIR": str(folder), "CCACHE_NOHASHDIR": "1", "CCACHE_MAXSIZE": MAX_SIZE})
    return env


def _run(program: str, args: list[str], cache_dir: Path) -> subprocess.CompletedProcess[str] | None:
    try:
        proc = subprocess.run([program, *args], capture_output=True, text=True, timeout=STATS_TIMEOUT_S,
                              env=environment(cache_dir))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc if proc.returncode == 0 else None


def parse_stats(text: str) -> ObjectCacheStats | None:
    """`ccache --print-stats` (ccache 4.x: one "key<TAB>value" per line); None when it is not that."""
    counters: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("\t")
        if sep and value.strip().isdigit():
            counters[key.strip()] = int(value.strip())
    if not {"direct_cache_hit", "preprocessed_cache_hit", "cache_miss"} & set(counters):
        return None
    return ObjectCacheStats(hits=counters.get("direct_cache_hit", 0) + counters.get("preprocessed_cache_hit", 0),
                            misses=counters.get("cache_miss", 0))


def read_stats(cache_dir: Path, enabled: bool = True) -> ObjectCacheStats | None:
    """The hits and misses of tlsfit's ccache folder since the last zero_stats(); None when ccache
    is absent, not enabled, or its statistics cannot be read."""
    program = launcher(enabled)
    if program is None:
        return None
    proc = _run(program, ["--print-stats"], cache_dir)
    return parse_stats(proc.stdout) if proc is not None else None


def zero_stats(cache_dir: Path, enabled: bool = True) -> bool:
    """Zero the statistics of tlsfit's ccache folder (`ccache -z`); False when ccache is absent or off."""
    program = launcher(enabled)
    if program is None:
        return False
    return _run(program, ["-z"], cache_dir) is not None

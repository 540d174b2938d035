"""Where tlsfit finds its own files, mbedTLS and its build cache: the only place that reads the environment.

`workspace()` is called once, by the front-end's main() (cli/main.py, scripts/bench.py), and the
Workspace is passed down; the stages take plain paths from it (`Workspace.paths()`).

Two layouts, told apart by a marker file beside the code:

- checkout (no marker): `./tlsfit` in a git clone; outputs, caches and mbedTLS under the checkout's `build/`.
- installed (`INSTALLED` marker, written by `make install` / the .deb into /usr/lib/tlsfit): outputs under
  the current directory's `build/tlsfit/`; mbedTLS source, compiled libraries and scratch files in the user
  cache `$XDG_CACHE_HOME/tlsfit` (default `~/.cache/tlsfit`).

In both, `MBEDTLS_DIR` names the mbedTLS tree to use instead of the fetched one (the pinned release,
generator/pin.py). `TLSFIT_NO_CCACHE=1` compiles without ccache; `NO_COLOR` / `TERM=dumb` turn colour off.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from generator.pin import PIN
from pipeline.stages import Paths

ROOT = Path(__file__).resolve().parent.parent
INSTALLED_MARKER = "INSTALLED"


@dataclass(frozen=True)
class Workspace:
    root: Path            # tlsfit's own files (the checkout, or /usr/lib/tlsfit)
    build: Path           # default output folder (checkout: build/; installed: ./build/tlsfit)
    mbedtls: Path         # mbedTLS source tree
    ports: Path
    cache: Path           # compiled mbedTLS libraries and firmware, by config hash
    deps: Path            # where `tlsfit setup` / scripts/setup.sh put the mbedTLS source
    installed: bool = False
    ccache: bool = True   # compile mbedTLS through ccache when installed; TLSFIT_NO_CCACHE=1: not
    colour: bool = True   # colour allowed on a terminal (not with NO_COLOR set or TERM=dumb)
    environ: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)  # as read, for children

    def paths(self) -> Paths:
        return Paths(ports=self.ports, cache=self.cache, work=self.cache.parent / "work", ccache=self.ccache)

    def wants_colour(self, stream_is_tty: bool) -> bool:
        """Colour only on a terminal, never with NO_COLOR set (https://no-color.org), never for TERM=dumb."""
        return stream_is_tty and self.colour


def is_installed(root: Path = ROOT) -> bool:
    return (root / INSTALLED_MARKER).is_file()


def user_cache(env: Mapping[str, str]) -> Path:
    """$XDG_CACHE_HOME/tlsfit, else ~/.cache/tlsfit (XDG base directory spec: relative values are ignored)."""
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "tlsfit"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".cache" / "tlsfit"


def workspace(environ: Mapping[str, str] | None = None, cwd: Path | None = None,
              installed: bool | None = None) -> Workspace:
    """The workspace for this environment (os.environ unless given) and current folder.
    installed: None tells the layout by the marker file."""
    env = dict(os.environ if environ is None else environ)
    installed = is_installed() if installed is None else installed
    if installed:
        state = user_cache(env)
        build = (cwd or Path.cwd()) / "build" / "tlsfit"
        cache, deps = state / "cache", state / "deps"
    else:
        build = ROOT / "build"
        cache, deps = build / "cache", build / "deps"
    mbedtls = Path(env["MBEDTLS_DIR"]) if env.get("MBEDTLS_DIR") else deps / PIN.tree_name
    return Workspace(root=ROOT, build=build, mbedtls=mbedtls.resolve(), ports=ROOT / "ports",
                     cache=cache, deps=deps, installed=installed,
                     ccache=env.get("TLSFIT_NO_CCACHE", "") in ("", "0"),
                     colour="NO_COLOR" not in env and env.get("TERM") != "dumb", environ=env)


def setup_environment(ws: Workspace) -> dict[str, str]:
    """The environment for scripts/setup.sh: fetch into ws.deps (the user cache when installed)."""
    env = dict(ws.environ)
    env["TLSFIT_DEPS"] = str(ws.deps)
    return env

"""Where tlsfit finds its own files, mbedTLS and its build cache: the only place that reads the environment.

Two layouts, told apart by a marker file beside the code:

- checkout (no marker): `./tlsfit` in a git clone; outputs, caches and mbedTLS under the checkout's `build/`.
- installed (`INSTALLED` marker, written by `make install` / the .deb into /usr/lib/tlsfit): outputs under
  the current directory's `build/tlsfit/`; mbedTLS source, compiled libraries and scratch files in the user
  cache `$XDG_CACHE_HOME/tlsfit` (default `~/.cache/tlsfit`).

In both, `MBEDTLS_DIR` names the mbedTLS tree to use instead of the fetched one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline import Paths

ROOT = Path(__file__).resolve().parent.parent
PINNED_MBEDTLS = "3.6.6"
INSTALLED_MARKER = "INSTALLED"


@dataclass(frozen=True)
class Workspace:
    root: Path            # tlsfit's own files (the checkout, or /usr/lib/tlsfit)
    build: Path           # default output folder (checkout: build/; installed: ./build/tlsfit)
    mbedtls: Path         # mbedTLS source tree
    ports: Path
    templates: Path
    cache: Path           # compiled mbedTLS libraries and firmware, by config hash
    deps: Path            # where `tlsfit setup` / scripts/setup.sh put the mbedTLS source
    installed: bool = False
    ccache: bool = True   # compile mbedTLS through ccache when installed; TLSFIT_NO_CCACHE=1: not

    def paths(self) -> Paths:
        return Paths(ports=self.ports, cache=self.cache, work=self.cache.parent / "work", ccache=self.ccache)


def is_installed(root: Path = ROOT) -> bool:
    return (root / INSTALLED_MARKER).is_file()


def user_cache(env: os._Environ[str] | dict[str, str]) -> Path:
    """$XDG_CACHE_HOME/tlsfit, else ~/.cache/tlsfit (XDG base directory spec: relative values are ignored)."""
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "tlsfit"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".cache" / "tlsfit"


def workspace(environ: dict[str, str] | None = None, cwd: Path | None = None) -> Workspace:
    env = os.environ if environ is None else environ
    installed = is_installed()
    if installed:
        state = user_cache(env)
        build = (cwd or Path.cwd()) / "build" / "tlsfit"
        cache, deps = state / "cache", state / "deps"
    else:
        build = ROOT / "build"
        cache, deps = build / "cache", build / "deps"
    mbedtls = Path(env["MBEDTLS_DIR"]) if env.get("MBEDTLS_DIR") else deps / f"mbedtls-{PINNED_MBEDTLS}"
    return Workspace(root=ROOT, build=build, mbedtls=mbedtls.resolve(), ports=ROOT / "ports",
                     templates=ROOT / "templates", cache=cache, deps=deps, installed=installed,
                     ccache=env.get("TLSFIT_NO_CCACHE", "") in ("", "0"))


def setup_environment(ws: Workspace, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for scripts/setup.sh: fetch into ws.deps (the user cache when installed)."""
    env = dict(os.environ if environ is None else environ)
    env["TLSFIT_DEPS"] = str(ws.deps)
    return env


def wants_colour(stream_is_tty: bool, environ: dict[str, str] | None = None) -> bool:
    """Colour only on a terminal, never with NO_COLOR set (https://no-color.org), never for TERM=dumb."""
    env = os.environ if environ is None else environ
    return stream_is_tty and "NO_COLOR" not in env and env.get("TERM") != "dumb"

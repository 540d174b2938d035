"""Where tlsfit finds its own files, mbedTLS and its build cache: the only place that reads the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline import Paths

ROOT = Path(__file__).resolve().parent.parent
PINNED_MBEDTLS = "3.6.6"


@dataclass(frozen=True)
class Workspace:
    root: Path            # the tlsfit checkout
    build: Path           # build/ (outputs, caches; gitignored)
    mbedtls: Path         # mbedTLS source tree
    ports: Path
    templates: Path

    @property
    def cache(self) -> Path:
        return self.build / "cache"

    def paths(self) -> Paths:
        return Paths(ports=self.ports, cache=self.cache, work=self.build / "work")


def workspace(environ: dict[str, str] | None = None) -> Workspace:
    env = os.environ if environ is None else environ
    build = ROOT / "build"
    mbedtls = Path(env["MBEDTLS_DIR"]) if env.get("MBEDTLS_DIR") else build / "deps" / f"mbedtls-{PINNED_MBEDTLS}"
    return Workspace(root=ROOT, build=build, mbedtls=mbedtls.resolve(),
                     ports=ROOT / "ports", templates=ROOT / "templates")

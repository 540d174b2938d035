"""Where tlsfit finds its own files, mbedTLS and its build cache."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINNED_MBEDTLS = "3.6.6"


class SetupError(Exception):
    """tlsfit's dependencies are not in place; the message says how to fix it."""


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


def workspace(environ: dict[str, str] | None = None) -> Workspace:
    env = os.environ if environ is None else environ
    build = ROOT / "build"
    mbedtls = Path(env["MBEDTLS_DIR"]) if env.get("MBEDTLS_DIR") else build / "deps" / f"mbedtls-{PINNED_MBEDTLS}"
    return Workspace(root=ROOT, build=build, mbedtls=mbedtls.resolve(),
                     ports=ROOT / "ports", templates=ROOT / "templates")


def require_mbedtls(ws: Workspace) -> str:
    """Return the mbedTLS version string of ws.mbedtls, or explain how to get it."""
    header = ws.mbedtls / "include" / "mbedtls" / "build_info.h"
    if not header.is_file():
        raise SetupError(f"{ws.mbedtls}: no mbedTLS source tree here; run `make setup` "
                         f"(fetches mbedTLS {PINNED_MBEDTLS}) or set MBEDTLS_DIR=/path/to/mbedtls")
    match = re.search(r'#define\s+MBEDTLS_VERSION_STRING\s+"([^"]+)"', header.read_text())
    if not match:
        raise SetupError(f"{header}: no MBEDTLS_VERSION_STRING; is this mbedTLS 3.x?")
    return match.group(1)

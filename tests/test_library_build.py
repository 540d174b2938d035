"""Every shipped profile's config compiles the WHOLE mbedTLS library for Cortex-M4, not just one TU."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.workspace import workspace
from measure.boards import load_board
from measure.build import build_library_only
from pipeline import generate, open_mbedtls
from generator.cores import find_core

M4 = find_core("cortex-m4")  # the default target's core (mps2-an386)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "profiles").glob("*.yaml"))


@pytest.mark.parametrize("profile", SHIPPED, ids=lambda p: p.stem)
def test_full_library_builds_for_cortex_m4(profile: Path) -> None:
    ws = workspace()
    gen = generate(profile, open_mbedtls(ws.mbedtls).knowledge, M4)
    lib = build_library_only(gen.text, load_board("mps2-an386", ws.ports), ws.mbedtls, ws.cache)
    assert lib.archive.is_file() and lib.archive.stat().st_size > 0
    assert lib.config_sha256 == gen.sha256

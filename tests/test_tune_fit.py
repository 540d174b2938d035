"""Issue 18 item 5: tune knows what cannot fit before building, says it once, shows no figures
for failed candidates, tries the best knobs together, and takes --app."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.workspace import workspace
from measure.boards import load_board
from measure.heap_fit import buffers_cannot_fit, heap_arena_bytes
from pipeline import open_mbedtls
from pipeline.stages import generate_for_board
from tune.model import Candidate, Outcome, reason_kind
from tune.space import combinations

ROOT = Path(__file__).resolve().parent.parent
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
needs_mbedtls = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")


def _shape(profile: str, target: str) -> str | None:
    ws = workspace()
    kb = open_mbedtls(ws.mbedtls).knowledge
    gen, board = generate_for_board(ROOT / "profiles" / f"{profile}.yaml", kb, None, target, ws.paths())
    return buffers_cannot_fit(gen.profile, gen.resolved, kb, board)


def test_heap_arena_is_read_from_the_board() -> None:
    assert heap_arena_bytes(load_board("microbit", ROOT / "ports")) == 10240
    assert heap_arena_bytes(load_board("mps2-an386", ROOT / "ports")) == 64 * 1024


@needs_mbedtls
def test_tls13_on_the_microbit_cannot_fit_and_says_why_without_mfl_advice() -> None:
    why = _shape("tls13-only", "microbit")
    assert why is not None
    assert "16,384 B in" in why and "10,240-byte heap arena" in why and "TLS 1.3 without record_size_limit" in why
    assert "record_size_limit, RFC 8449" in why and "a board whose heap arena holds more than" in why
    assert "smaller tls.max_fragment_length" not in why and "shrink" not in why


@needs_mbedtls
def test_tls12_without_mfl_is_told_about_mfl_and_fitting_shapes_pass() -> None:
    why = _shape("tls12-psk", "microbit")
    assert why is not None and "a tls.max_fragment_length (512 to 4096) the server honours" in why
    for profile, target in (("microbit-psk", "microbit"), ("microbit-ecdhe", "microbit"),
                            ("tls13-only", "mps2-an386"), ("tls12-psk", "mps2-an386")):
        assert _shape(profile, target) is None, (profile, target)


@needs_mbedtls
def test_tune_tls13_only_on_the_microbit_ends_fast_with_exit_1_and_the_reason_once(tmp_path: Path) -> None:
    started = time.monotonic()
    r = subprocess.run([str(ROOT / "tlsfit"), "tune", str(ROOT / "profiles" / "tls13-only.yaml"), "--target",
                        "microbit", "--budget", "ram=16000", "-o", str(tmp_path)], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "MBEDTLS_DIR": str(MBEDTLS)})
    assert time.monotonic() - started < 90
    assert r.returncode == 1, r.stderr[-2000:]
    assert r.stderr.count("cannot fit the heap of microbit") == 1, r.stderr
    assert "TLS 1.3 without record_size_limit" in r.stderr
    md = (tmp_path / "tune.md").read_text()
    assert md.count("cannot fit the heap of microbit") == 1
    doc = json.loads((tmp_path / "tune.json").read_text())
    assert doc["chosen"] is None and doc["search"]["proven"] == 0
    heap = [row for row in doc["candidates"] if "cannot fit the heap" in (row["reason"] or "")]
    assert len(heap) >= 20 and all(row["status"] == "infeasible" and row["rom"]["total"] is None for row in heap)
    # nothing was built: no figures anywhere that could read as measured
    assert " instr" not in r.stderr and "RAM " not in md.split("Not proven:")[1]


def _o(key: str, rom: int, ram: int, work: int) -> Outcome:
    parts = key.split("+")
    knobs = tuple(sorted(tuple(p.split("=")) for p in parts[1:] if "=" in p))
    return Outcome(Candidate(parts[0], knobs, "lto" in parts), "ok", config_sha256="0" * 64, rom_total=rom,
                   rom_mbedtls=rom // 2, ram_total=ram, instructions=work, handshake_ok=True)


def test_combination_step_joins_the_moves_on_the_front() -> None:
    outcomes = [_o("balanced", 30000, 20000, 100), _o("balanced+lto", 28000, 20000, 100),
                _o("balanced+fixed_point=1", 32000, 20000, 60), _o("balanced+ecp_window=2", 29500, 19000, 110),
                _o("balanced+sha256_smaller=on", 31000, 20000, 130)]   # dominated by balanced: not joined
    extra = [c.key for c in combinations(outcomes)]
    assert extra[0] == "balanced+lto+ecp_window=2+fixed_point=1"
    assert "balanced+lto+fixed_point=1" in extra and "balanced+lto+ecp_window=2" in extra
    assert not any("sha256_smaller" in k for k in extra)
    assert combinations(outcomes + [_o(k, 1, 1, 1) for k in extra]) == ()   # nothing tried twice
    assert len(combinations(outcomes, limit=2)) == 2


def test_reasons_differing_only_in_figures_are_one_cause() -> None:
    assert reason_kind("needs 16,384 B in + 512 B\nmore") == reason_kind("needs 16,384 B in + 4,096 B")
    assert reason_kind(None) == ""


def test_tune_takes_app() -> None:
    r = subprocess.run([str(ROOT / "tlsfit"), "tune", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--app" in r.stdout
    bad = subprocess.run([str(ROOT / "tlsfit"), "tune", str(ROOT / "profiles" / "tls12-psk.yaml"), "--app", "ftp"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr

"""The profile x board matrix (issue 13): a build that does not fit its part still exits 2 but
writes a "does not fit" report.json (fits: false, the overflow per region), and `tlsfit report`
shows every profile on every board: handshake OK / out of heap / does not fit (by how much).

Real runs: the tlsfit CLI builds real firmware and runs it in QEMU (micro:bit and MPS2 AN386)
against a real openssl s_server on 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reports.schema import SchemaError, fits, validate_report
from reports.summary import profile_board_matrix

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"

UNFIT = {"schema_version": 1, "profile": "tls13-only", "target": "microbit", "fits": False,
         "overflow": {"RAM": 320}, "limits": {"flash": 262144, "ram": 16384}, "does_not_fit": "RAM overflowed",
         "rom": None, "ram": None, "handshake": None}


def test_does_not_fit_record_follows_the_schema() -> None:
    assert validate_report(dict(UNFIT), "r.json") and not fits(UNFIT)


@pytest.mark.parametrize("change, message", [
    ({"overflow": {}}, r"r.json: \$.overflow: a report with fits: false names at least one overflowing region"),
    ({"overflow": {"RAM": 0}}, r"r.json: \$.overflow.RAM: expected a positive integer, got 0"),
    ({"rom": {"total": 1}}, r"r.json: \$.rom: expected null in a report with fits: false"),
    ({"fits": "no"}, r"r.json: \$.fits: expected true or false"),
])
def test_bad_does_not_fit_records_are_refused_by_path(change: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        validate_report({**UNFIT, **change}, "r.json")


def _measure(profile: str, target: str, out: Path, root: Path = ROOT) -> tuple[int, dict]:
    proc = subprocess.run([str(root / "tlsfit"), "measure", str(PROFILES / f"{profile}.yaml"), "--target", target,
                           "-o", str(out), "-q"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MBEDTLS_DIR": str(MBEDTLS)})
    return proc.returncode, json.loads((out / "report.json").read_text())


def _checkout_with_microbit_arena(tmp_path: Path, arena: int) -> Path:
    """A copy of the code whose micro:bit port gives the heap arena `arena` bytes: every shipped
    profile links on the real 16 KiB part, so a port configured for more than it has stands in
    for a profile that does not fit."""
    copy = tmp_path / "checkout"
    # every Python package of the checkout (as `make install` copies them), and the data the code reads
    packages = sorted(init.parent.name for init in ROOT.glob("*/__init__.py"))
    for name in (*packages, "templates", "ports"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "tlsfit", copy / "tlsfit")
    board_yaml = copy / "ports" / "microbit" / "board.yaml"
    board_yaml.write_text(board_yaml.read_text().replace("TLSFIT_HEAP_ARENA_SIZE=10240u",
                                                         f"TLSFIT_HEAP_ARENA_SIZE={arena}u"))
    # the checkout's build cache (keyed by content, measure/build.py): warm runs build nothing again
    (copy / "build").mkdir()
    (copy / "build" / "cache").symlink_to(ROOT / "build" / "cache", target_is_directory=True)
    return copy


@pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")
def test_matrix_from_real_runs_on_microbit_and_mps2(tmp_path: Path) -> None:
    runs = {("tls13-only", "microbit"): 2, ("tls12-psk", "microbit"): 1,
            ("microbit-psk", "microbit"): 0, ("tls12-psk", "mps2-an386"): 0}
    paths = []
    for (profile, target), code in runs.items():
        out = tmp_path / profile / target
        (out).mkdir(parents=True)
        (out / "report.html").write_text("stale")      # a previous run's page goes with a does-not-fit
        root = _checkout_with_microbit_arena(tmp_path, 12288) if code == 2 else ROOT
        got, report = _measure(profile, target, out, root)
        assert got == code, (profile, target, report)
        paths.append(out / "report.json")
    unfit = json.loads(paths[0].read_text())
    assert unfit["fits"] is False and unfit["handshake"] is None and unfit["rom"] is None
    ((region, over),) = unfit["overflow"].items()
    assert region == "RAM" and over > 0 and unfit["limits"]["ram"] == 16384
    assert unfit["does_not_fit"].startswith(f"RAM overflowed by {over:,} B on microbit")
    assert not (tmp_path / "tls13-only" / "microbit" / "report.html").exists()

    summary = tmp_path / "summary"
    proc = subprocess.run([str(ROOT / "tlsfit"), "report", *map(str, paths), "-o", str(summary)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = (summary / "summary.md").read_text()
    assert "| profile | microbit | mps2-an386 |" in text
    assert f"| tls13-only | does not fit (RAM +{over:,} B) | — |" in text
    assert "| tls12-psk | out of heap (peak " in text and "B) | handshake OK |" in text
    assert "| microbit-psk | handshake OK | — |" in text
    assert f"does not fit (RAM +{over:,} B)" in (summary / "summary.html").read_text()
    matrix = profile_board_matrix([json.loads(p.read_text()) for p in paths])
    assert [c.status for c in matrix.cells[("tls12-psk", "microbit")]] == ["out of heap"]

    # diff and gate compare figures: a does-not-fit record has none, and they say so (exit 2)
    proc = subprocess.run([str(ROOT / "tlsfit"), "diff", str(paths[0]), str(paths[3])],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "tls13-only does not fit microbit (RAM +" in proc.stderr

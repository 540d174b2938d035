"""`tlsfit gate` on real reports: an unchanged build passes, any growth fails and names the metric."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tlsfit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "tlsfit"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def psk_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("psk")
    proc = tlsfit("measure", str(ROOT / "profiles" / "tls12-psk.yaml"), "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "report.json"


def test_unchanged_build_passes(psk_report: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(psk_report)).returncode == 0
    entries = json.loads(baseline.read_text())["entries"]
    assert list(entries) == ["tls12-psk@mps2-an386"]
    proc = tlsfit("gate", "--baseline", str(baseline), str(psk_report))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_one_byte_of_growth_fails_and_names_the_metric(psk_report: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(psk_report)).returncode == 0
    grown = json.loads(psk_report.read_text())
    grown["ram"]["heap_peak"] += 1  # ci/limits.yaml: zero tolerance for heap (stack has +48 B)
    grown["ram"]["total"] += 1
    grown_path = tmp_path / "report.json"
    grown_path.write_text(json.dumps(grown))
    junit = tmp_path / "junit.xml"
    proc = tlsfit("gate", "--baseline", str(baseline), "--junit", str(junit), str(grown_path))
    assert proc.returncode == 1
    failed = [line for line in proc.stdout.splitlines() if "FAIL" in line.upper()]
    assert any("ram.heap_peak" in line for line in failed), proc.stdout
    assert not any("ram.total" in line for line in failed), proc.stdout  # +1 is within its +48 B
    assert "<failure" in junit.read_text()
    allowed = tlsfit("gate", "--baseline", str(baseline), "--limit", "ram.heap_peak=+1", str(grown_path))
    assert allowed.returncode == 0, allowed.stdout


def test_a_real_config_growth_fails_the_gate(psk_report: Path, tmp_path: Path) -> None:
    """Same profile name, one more ciphersuite: a real rebuild whose ROM grows."""
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(psk_report)).returncode == 0
    profile = (ROOT / "profiles" / "tls12-psk.yaml").read_text().replace(
        "ciphersuites: [TLS_PSK_WITH_AES_128_CCM_8]",
        "ciphersuites: [TLS_PSK_WITH_AES_128_CCM_8, TLS_PSK_WITH_AES_128_CBC_SHA256]")
    assert "TLS_PSK_WITH_AES_128_CBC_SHA256" in profile
    (tmp_path / "tls12-psk.yaml").write_text(profile)
    proc = tlsfit("measure", str(tmp_path / "tls12-psk.yaml"), "-o", str(tmp_path / "new"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gate = tlsfit("gate", "--baseline", str(baseline), str(tmp_path / "new" / "report.json"))
    assert gate.returncode == 1
    assert "rom.mbedtls" in gate.stdout


def test_failed_handshake_and_missing_report_fail_the_gate(psk_report: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(psk_report)).returncode == 0
    failed = json.loads(psk_report.read_text())
    failed["profile"] = "other"
    failed["handshake"]["ok"] = False
    path = tmp_path / "failed.json"
    path.write_text(json.dumps(failed))
    proc = tlsfit("gate", "--baseline", str(baseline), str(path))
    assert proc.returncode == 1
    assert "tls12-psk@mps2-an386" in proc.stdout  # in the baseline, no report given
    assert "other@mps2-an386" in proc.stdout


def test_missing_report_file_is_bad_input(tmp_path: Path) -> None:
    proc = tlsfit("gate", "--baseline", str(tmp_path / "b.json"), str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "nope.json" in proc.stderr


def _real_or_sample() -> dict:
    """`make gate`'s tls12-psk report when it exists, else a minimal valid one (figures only)."""
    path = ROOT / "build" / "gate" / "tls12-psk" / "report.json"
    if path.is_file():
        return json.loads(path.read_text())
    return {"schema_version": 1, "profile": "tls12-psk", "target": "mps2-an386", "optimize": "size",
            "server": {"kind": "reference", "address": "127.0.0.1:4433"},
            "options": ["OPTION_A", "OPTION_B"],
            "rom": {"total": 22_000, "mbedtls": 15_000, "modules": {"aes.o": 2_000, "ccm.o": 1_500}},
            "ram": {"static": 1_300, "heap_peak": 20_000, "stack_peak": 1_100, "total": 22_400},
            "handshake": {"ok": True, "error": None, "instructions": 550_000}, "budget": None}


def test_failure_output_names_modules_options_and_accept_command_verbose_shows_all(tmp_path: Path) -> None:
    base = _real_or_sample()
    size_path, speed_path = tmp_path / "size.json", tmp_path / "speed.json"
    size_path.write_text(json.dumps(base))
    speed_path.write_text(json.dumps(dict(base, optimize="speed")))
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(size_path), str(speed_path)).returncode == 0
    assert sorted(json.loads(baseline.read_text())["entries"]) == ["tls12-psk@mps2-an386",
                                                                  "tls12-psk@mps2-an386-speed"]
    quiet = tlsfit("gate", "--baseline", str(baseline), str(size_path), str(speed_path))
    assert quiet.returncode == 0 and quiet.stdout.strip().splitlines() == [
        f"gate passed: {2 * 7} checks within limits (2 entries)"]
    module = sorted(base["rom"]["modules"])[0]
    grown = json.loads(json.dumps(base))
    grown["rom"]["modules"][module] += 64
    grown["rom"]["total"] += 64
    grown["options"] = [*base["options"], "NEW_OPTION_FROM_DATA"]
    grown_path = tmp_path / "grown.json"
    grown_path.write_text(json.dumps(grown))
    proc = tlsfit("gate", "--baseline", str(baseline), str(grown_path), str(speed_path))
    assert proc.returncode == 1, proc.stdout
    assert f"{module} +64 B" in proc.stdout and "+ NEW_OPTION_FROM_DATA" in proc.stdout
    assert f"tlsfit gate --write-baseline {baseline} {grown_path} {speed_path}" in proc.stdout
    assert "-speed" not in proc.stdout            # passing rows are left out by default
    verbose = tlsfit("gate", "--verbose", "--baseline", str(baseline), str(grown_path), str(speed_path))
    assert verbose.returncode == 1 and "tls12-psk@mps2-an386-speed" in verbose.stdout


def test_committed_baseline_failure_suggests_make_baseline(tmp_path: Path) -> None:
    base = _real_or_sample()
    base["rom"]["total"] = json.loads((ROOT / "ci" / "baseline.json").read_text())[
        "entries"]["tls12-psk@mps2-an386"]["rom.total"] + 1
    path = tmp_path / "report.json"
    path.write_text(json.dumps(base))
    proc = tlsfit("gate", "--baseline", "ci/baseline.json", str(path))
    assert proc.returncode == 1
    assert "make baseline" in proc.stdout and "tls12-psk@mps2-an386" in proc.stdout


def test_write_baseline_over_an_old_one_keeps_the_noise_of_unchanged_figures(tmp_path: Path) -> None:
    base = _real_or_sample()
    first, again = tmp_path / "first.json", tmp_path / "again.json"
    first.write_text(json.dumps(base))
    moved = json.loads(json.dumps(base))
    moved["handshake"]["instructions"] += moved["handshake"]["instructions"] // 1000    # +0.1 %: noise
    again.write_text(json.dumps(moved))
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(first)).returncode == 0
    written = baseline.read_text()
    assert tlsfit("gate", "--write-baseline", str(baseline), str(again)).returncode == 0
    assert baseline.read_text() == written
    baseline.write_text("{not json")                  # a broken old file is replaced, not an error
    assert tlsfit("gate", "--write-baseline", str(baseline), str(again)).returncode == 0
    assert json.loads(baseline.read_text())["schema_version"]

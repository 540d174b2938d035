"""`tlsfit size`: mbedTLS's share of an image tlsfit did not build, checked against binutils.

Two images: a small application of our own (SHA-256 from an mbedTLS archive, built here with
arm-none-eabi-gcc; nm and size are the independent check), and tlsfit's own firmware (the figures
must equal its report.json exactly).
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "image"
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
CFLAGS = ["-mcpu=cortex-m4", "-mthumb", "-Os", "-g", "-ffunction-sections", "-fdata-sections",
          f"-I{MBEDTLS / 'include'}"]


def run(*argv: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300)


def tlsfit(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return run(ROOT / "tlsfit", *argv)


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    """app.elf + app.map: main() hashes with mbedtls_sha256() from libmbedcrypto.a (sha256.o only)."""
    if not MBEDTLS.is_dir():
        pytest.skip("mbedTLS source not fetched (make setup)")
    d = tmp_path_factory.mktemp("image")
    for step in (["arm-none-eabi-gcc", *CFLAGS, "-c", MBEDTLS / "library" / "sha256.c", "-o", "sha256.o"],
                 ["arm-none-eabi-ar", "rcs", "libmbedcrypto.a", "sha256.o"],
                 ["arm-none-eabi-gcc", *CFLAGS, FIXTURES / "sha256_app.c", FIXTURES / "zeroize.c", "-L.",
                  "-lmbedcrypto", "-specs=nosys.specs", "-Wl,--gc-sections", "-Wl,-Map=app.map", "-o", "app.elf"]):
        done = run(*step, cwd=d)
        assert done.returncode == 0, done.stderr
    return d


def _nm_sizes(elf: Path) -> dict[str, int]:
    out = run("arm-none-eabi-nm", "-S", "--size-sort", elf).stdout
    return {m.group(2): int(m.group(1), 16) for m in re.finditer(r"^\S+ (\S+) [TtRrDd] (mbedtls_\w+|K)$", out, re.M)}


@pytest.mark.parametrize("with_map", [True, False], ids=["map", "dwarf"])
def test_own_application_matches_binutils(app: Path, tmp_path: Path, with_map: bool) -> None:
    args = ["size", app / "app.elf", "-o", tmp_path] + (["--map", app / "app.map"] if with_map else [])
    done = tlsfit(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["kind"] == "image" and report["handshake"] is None
    assert report["rom"]["attribution"] == ("map" if with_map else "dwarf")
    text, data = (int(x) for x in run("arm-none-eabi-size", app / "app.elf").stdout.splitlines()[1].split()[:2])
    assert report["rom"]["total"] == text + data                  # Berkeley text + .data load image
    assert list(report["rom"]["modules"]) == ["sha256.o"]
    symbols = {k.split(":", 1)[1]: v for k, v in report["rom"]["symbols"].items()}
    nm = _nm_sizes(app / "app.elf")
    assert nm.pop("mbedtls_platform_zeroize") == 16              # the application's own (zeroize.c): not mbedTLS's
    assert symbols == nm                                          # every function and the K table, as nm sizes them
    assert report["rom"]["mbedtls"] == sum(symbols.values()) == report["rom"]["modules"]["sha256.o"]
    assert report["mbedtls_version"] == ("unknown" if with_map else "3.6.6")   # DWARF names the tree


def test_not_an_image_and_no_mbedtls_are_bad_input(app: Path, tmp_path: Path) -> None:
    done = tlsfit("size", FIXTURES / "sha256_app.c", "-o", tmp_path)
    assert done.returncode == 2 and "not an ELF file" in done.stderr and "Traceback" not in done.stderr
    done = tlsfit("size", app / "app.elf", "--map", app / "app.map", "--archive", "libother.a",
                  "--mbedtls-dir", tmp_path, "-o", tmp_path)
    assert done.returncode == 2 and "no mbedTLS code found" in done.stderr and "--archive" in done.stderr
    assert not (tmp_path / "report.json").exists()


def test_gate_and_diff_read_image_reports(app: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    assert tlsfit("size", app / "app.elf", "--map", app / "app.map", "-o", first).returncode == 0
    assert tlsfit("size", app / "app.elf", "-o", second).returncode == 0
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", baseline, first / "report.json").returncode == 0
    gate = tlsfit("gate", "--baseline", baseline, second / "report.json")
    assert gate.returncode == 0 and "gate passed" in gate.stdout, gate.stdout + gate.stderr
    diff = tlsfit("diff", first / "report.json", second / "report.json")
    assert diff.returncode == 0 and "no mbedTLS module changed size" in diff.stdout


def test_tlsfit_s_own_firmware_reproduces_its_report(tmp_path: Path) -> None:
    measured = tmp_path / "measured"
    done = tlsfit("measure", ROOT / "profiles" / "tls12-psk.yaml", "--app", "none", "-o", measured)
    assert done.returncode == 0, done.stdout + done.stderr
    sized = tmp_path / "sized"
    done = tlsfit("size", measured / "firmware.elf", "--map", measured / "firmware.map", "-o", sized)
    assert done.returncode == 0, done.stdout + done.stderr
    want, got = (json.loads((d / "report.json").read_text()) for d in (measured, sized))
    for key in ("total", "mbedtls", "modules", "symbols"):
        assert got["rom"][key] == want["rom"][key], key
    assert got["ram"]["static"] == want["ram"]["static"]
    # and the symbol-level diff of the two is empty: the same image
    diff = tlsfit("diff", measured / "report.json", sized / "report.json")
    assert "symbols that changed" not in diff.stdout

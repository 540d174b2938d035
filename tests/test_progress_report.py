"""tests/progress_report.py: a line per test file instead of dots, pytest's closing line kept, and a
run that selects nothing fails with a reason instead of pytest's exit 5 (.ci/run must not see it).

Each case runs a real pytest in a subprocess on a folder of small test files.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "pytest.ini").write_text("[pytest]\nconsole_output_style = classic\n")
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "progress_report",
                           *args, str(folder)], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def _files(folder: Path) -> None:
    (folder / "test_one.py").write_text(
        "import pytest\n"
        "def test_a(): pass\n"
        "def test_b(): pass\n"
        "def test_c(): assert 1 + 1 == 3\n"
        "@pytest.mark.skip(reason='not here')\n"
        "def test_d(): pass\n")
    (folder / "test_two.py").write_text("def test_a(): pass\n")


def test_one_line_per_file_and_pytests_closing_line(tmp_path: Path) -> None:
    _files(tmp_path)
    proc = _pytest(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert re.search(r"^test_one\.py +2 passed, 1 failed, 1 skipped +\d+\.\d s +cpu +\d+\.\d s$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^test_two\.py +1 passed +\d+\.\d s +cpu +\d+\.\d s$", proc.stdout, re.M), proc.stdout
    # the failure is named as it happens, and again in pytest's short summary
    assert lines.index("FAILED test_one.py::test_c") < next(i for i, line in enumerate(lines) if line.startswith("test_one.py"))
    assert any(line.startswith("FAILED test_one.py::test_c - assert") for line in lines), proc.stdout
    assert not any(re.fullmatch(r"[.sFE]+", line) for line in lines), "a line of dots: " + proc.stdout
    assert any(re.fullmatch(r"2 files: sum of file times \d+\.\d s, CPU \d+\.\d s \(.*\)", line) for line in lines)
    assert re.fullmatch(r"1 failed, 3 passed, 1 skipped in [\d.]+s", lines[-1]), lines[-1]


def test_all_passing_exits_0_and_ends_with_n_passed(tmp_path: Path) -> None:
    _files(tmp_path)
    proc = _pytest(tmp_path, "-k", "not test_c")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.fullmatch(r"3 passed, 1 skipped, 1 deselected in [\d.]+s", proc.stdout.splitlines()[-1]), proc.stdout


def test_nothing_selected_fails_instead_of_exit_5(tmp_path: Path) -> None:
    _files(tmp_path)
    proc = _pytest(tmp_path, "-m", "no_such_marker")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error: no test was selected (pytest's exit 5)" in proc.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _pytest(empty).returncode == 1


def test_verbose_keeps_pytests_line_per_test(tmp_path: Path) -> None:
    _files(tmp_path)
    proc = _pytest(tmp_path, "-vv", "-k", "test_two")      # -q -vv: verbose
    assert proc.returncode == 0
    assert "test_two.py::test_a PASSED" in proc.stdout and "cpu" not in proc.stdout

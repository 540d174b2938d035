"""A pytest plugin: one progress line per test file instead of a line of dots.

    tests/test_build.py                     14 passed               21.4 s   cpu 35.2 s

printed when the file's last test ends (wall time from its first test's setup to its last test's
teardown, module fixtures included; cpu: this process and the processes it waited for, compilers and
QEMU included). A failing test is named at once (`FAILED tests/test_x.py::test_y`); pytest's own
sections (failures, short summary) and closing line (`N passed, M deselected in S s`, which CI reads)
are unchanged. Before the closing line: the sum of the file times and the CPU time of the run.

Active at the default verbosity and with -q; -v shows pytest's usual line per test. tests/conftest.py
installs it; elsewhere `-p progress_report` with tests/ on the path.

A run that selects no test at all fails (exit 1, saying so) instead of pytest's exit 5: CI (.ci/run)
must never take "nothing ran" for a result.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

NAME = "tlsfit-progress"
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class FileProgress:
    total: int                                   # tests selected in the file
    done: int = 0
    counts: Counter = field(default_factory=Counter)
    started: float | None = None                 # wall clock at the first test's start
    cpu_started: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    reported: bool = False


class ProgressReport:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.files: dict[str, FileProgress] = {}
        self.cpu_at_start = _cpu_s()

    @property
    def reporter(self):
        return self.config.pluginmanager.get_plugin("terminalreporter")

    @staticmethod
    def _file(nodeid: str) -> str:
        return nodeid.split("::", 1)[0]

    # -------------------------------------------------------------- collection

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        per_file = Counter(self._file(item.nodeid) for item in session.items)
        self.files = {name: FileProgress(total=count) for name, count in per_file.items()}
        if self.reporter is not None:
            self.reporter.showfspath = False      # no "tests/test_x.py " prefix before the (absent) dots

    # -------------------------------------------------------------- the run

    @pytest.hookimpl(hookwrapper=True)
    def pytest_report_teststatus(self, report: pytest.TestReport):
        outcome = yield
        category, _, word = outcome.get_result()
        # no dot (the letter); the category still counts in pytest's stats and the word still
        # names the outcome in its short summary
        outcome.force_result((category, "", word))

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        progress = self.files.get(self._file(nodeid))
        if progress is not None and progress.started is None:
            progress.started = time.monotonic()
            progress.cpu_started = _cpu_s()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        progress = self.files.get(self._file(report.nodeid))
        if progress is None:
            return
        status = self.config.hook.pytest_report_teststatus(report=report, config=self.config)
        category = status[0] if status else ""
        if category in OUTCOMES:
            progress.counts[category] += 1
        if category in ("failed", "error") and self.reporter is not None:
            self.reporter.write_line(f"{category.upper()} {report.nodeid}" +
                                     (f" ({report.when})" if report.when != "call" else ""), red=True)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        name = self._file(nodeid)
        progress = self.files.get(name)
        if progress is None:
            return
        progress.done += 1
        if progress.done == progress.total:
            self._report(name, progress)

    def _report(self, name: str, progress: FileProgress, note: str = "") -> None:
        if progress.reported or progress.started is None:
            return
        progress.reported = True
        progress.wall_s = time.monotonic() - progress.started
        progress.cpu_s = _cpu_s() - progress.cpu_started
        counts = ", ".join(f"{progress.counts[o]} {o}" for o in OUTCOMES if progress.counts[o]) or "nothing ran"
        line = f"{name:<40} {counts + note:<30} {progress.wall_s:6.1f} s   cpu {progress.cpu_s:6.1f} s"
        if self.reporter is not None:
            bad = progress.counts["failed"] or progress.counts["error"]
            self.reporter.write_line(line, red=bool(bad))

    # -------------------------------------------------------------- the end

    def pytest_terminal_summary(self, terminalreporter) -> None:
        for name, progress in self.files.items():
            if progress.started is not None and not progress.reported:
                self._report(name, progress, f" ({progress.done}/{progress.total} run)")
        ran = [p for p in self.files.values() if p.reported]
        if ran:
            terminalreporter.write_line(
                f"{len(ran)} files: sum of file times {sum(p.wall_s for p in ran):.1f} s, "
                f"CPU {_cpu_s() - self.cpu_at_start:.1f} s (pytest and the processes it ran)")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            if self.reporter is not None:
                self.reporter.write_line("error: no test was selected (pytest's exit 5): check the paths, "
                                         "-m and -k given to pytest", red=True)


def install(config: pytest.Config) -> None:
    """Register the plugin unless -v asks for pytest's line per test (or it is already there)."""
    if config.option.verbose <= 0 and not config.pluginmanager.has_plugin(NAME):
        config.pluginmanager.register(ProgressReport(config), NAME)


def pytest_configure(config: pytest.Config) -> None:
    install(config)

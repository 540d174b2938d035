"""`make soak`: one working config measured again and again against real nginx and Mosquitto.

A benchmark, not part of `make test` (marker `soak`): it prints how many runs passed, every failure
with its reason, and the slowest run. SOAK_RUNS sets the runs per server (default 200).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from test_real_servers import HOST, measure, pki, write_profile  # noqa: F401  (pki is a fixture)
from real_servers import RealServer, start_mosquitto, start_nginx
from measure.pki import TestPki

RUNS = int(os.environ.get("SOAK_RUNS", "0"))
pytestmark = [pytest.mark.soak,
              pytest.mark.skipif(RUNS < 1, reason="a benchmark: `make soak` (SOAK_RUNS=N runs per server)")]


@pytest.fixture(params=["nginx", "mosquitto"])
def real_server(request: pytest.FixtureRequest, pki: TestPki, tmp_path_factory) -> Iterator[RealServer]:
    start = start_nginx if request.param == "nginx" else start_mosquitto
    server = start(pki, HOST, tmp_path_factory.mktemp(request.param)) if request.param == "nginx" \
        else start(pki, tmp_path_factory.mktemp(request.param))
    yield server
    server.stop()


def test_soak(real_server: RealServer, pki: TestPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = "http" if real_server.name.startswith("nginx") else "mqtt"
    profile = write_profile(tmp_path / "profile", pki, real_server.port, f"soak-{app}")
    failures: list[str] = []
    times: list[float] = []
    for i in range(RUNS):
        started = time.monotonic()
        proc, report = measure(profile, real_server, app, tmp_path / f"run{i}")
        times.append(time.monotonic() - started)
        if proc.returncode != 0:
            failures.append(f"run {i + 1}: exit {proc.returncode} after {times[-1]:.1f} s: "
                            + (proc.stdout + proc.stderr).strip().splitlines()[-1][:300])
        if i >= 1:
            # keep the disk small: only the first run's outputs stay
            for f in (tmp_path / f"run{i}").glob("*"):
                f.unlink()
    with capsys.disabled():
        slowest = max(range(len(times)), key=times.__getitem__)
        print(f"\nsoak {real_server.name} --app {app}: {RUNS - len(failures)}/{RUNS} passed; "
              f"median {sorted(times)[len(times) // 2]:.1f} s, slowest run {slowest + 1} {times[slowest]:.1f} s")
        for f in failures:
            print(f"  FAILED {f}")
    assert not failures

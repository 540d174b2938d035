"""Issue 23 items 1-2: tune's workers, builds, QEMU and servers end with tlsfit; -j is bounded.

The end-to-end cases run a real `tlsfit tune -j 2` (real builds, QEMU and openssl s_server) under
a small supervisor that is a child subreaper (PR_SET_CHILD_SUBREAPER): whatever tlsfit leaves
behind is re-parented to the supervisor instead of init, so "nothing left" is a fact it can check.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from measure import children
from tune.search import worker_count

ROOT = Path(__file__).resolve().parent.parent
PSK = ROOT / "profiles" / "tls12-psk.yaml"
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
needs_mbedtls = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")

# -------------------------------------------------------------- -j bounded


def test_worker_count_is_capped_at_cores_and_candidates() -> None:
    assert worker_count(500, 28, 2) == (2, "-j 500 lowered to 2 (2 cores)")
    assert worker_count(500, 2, 8) == (2, "-j 500 lowered to 2 (2 candidates to evaluate)")
    assert worker_count(500, 2, 2) == (2, "-j 500 lowered to 2 (2 cores and 2 candidates to evaluate)")
    assert worker_count(2, 28, 2) == (2, None)
    assert worker_count(1, 28, 64) == (1, None)
    assert worker_count(4, 0, 2)[0] == 1              # nothing to evaluate: never a pool of 0
    assert worker_count(3, 10, None)[0] == 1          # cpu_count unknown: one at a time
    assert worker_count(3, 10, 16) == (3, None)


@needs_mbedtls
def test_j_500_starts_at_most_the_cores_and_says_so(tmp_path: Path) -> None:
    r = subprocess.run([str(ROOT / "tlsfit"), "tune", str(PSK), "-j", "500", "--max-candidates", "2",
                        "--levels", "size", "--knobs", "sha256_smaller", "--lto", "off", "-o", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "MBEDTLS_DIR": str(MBEDTLS)})
    assert r.returncode == 0, r.stderr[-2000:]
    cap = min(2, os.cpu_count() or 1)
    assert f"-j 500 lowered to {cap} (" in r.stderr
    assert len(json.loads((tmp_path / "tune.json").read_text())["candidates"]) == 2


# -------------------------------------------------------------- the parent-death signal


@linux_only
def test_set_parent_death_signal_ends_a_child_of_a_killed_parent(tmp_path: Path) -> None:
    # parent (python) starts a sleeping child through children.popen, prints its pid, waits;
    # SIGKILL the parent: the child gets SIGTERM from the kernel.
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from measure import children
        proc = children.popen(["sleep", "300"], what="sleep")
        print(proc.pid, flush=True)
        time.sleep(300)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(10)
        assert _ends_within(child, 5.0), "the child outlived its SIGKILLed parent"
    finally:
        parent.kill()


def _ends_within(pid: int, seconds: float) -> bool:
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


# -------------------------------------------------------------- tune -j 2 under signals

SUPERVISOR = textwrap.dedent("""
    import ctypes, json, os, signal, subprocess, sys, time
    from pathlib import Path
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)        # PR_SET_CHILD_SUBREAPER: orphans come here
    argv, sig, out = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    me = os.getpid()

    def table():
        procs = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                comm = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                args = (entry / "cmdline").read_bytes().replace(b"\\0", b" ").decode(errors="replace")
            except (OSError, ValueError):
                continue
            procs[int(entry.name)] = (int(fields[1]), fields[0], comm, args)
        return procs

    def descendants():
        procs = table()
        out = []
        for pid, (ppid, state, comm, args) in procs.items():
            seen = set()
            p = ppid
            while p not in (0, 1, me) and p in procs and p not in seen:
                seen.add(p)
                p = procs[p][0]
            if p == me and state != "Z":
                out.append((pid, comm, args[:120]))
        return out

    def reap():
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(out, "w"))
    busy = ("qemu-system", "openssl", "make", "cc1", "arm-none-eabi")
    started = time.monotonic()
    seen_busy = []
    while time.monotonic() - started < 600 and proc.poll() is None:
        now = descendants()
        workers = [d for d in now if d[1].startswith("python") and d[0] != proc.pid]
        grand = [d for d in now if d[1].startswith(busy)]
        if len(workers) >= 2 and grand:
            seen_busy = now
            break
        time.sleep(0.05)
    if not seen_busy:
        proc.kill()
        print(json.dumps({"error": "tune never had workers with children", "rc": proc.poll()}))
        sys.exit(0)
    os.kill(proc.pid, sig)
    killed = time.monotonic()
    proc.wait(60)
    left = descendants()
    while left and time.monotonic() - killed < 10:
        reap()
        time.sleep(0.1)
        left = descendants()
    print(json.dumps({"rc": proc.returncode, "before": seen_busy, "left": left,
                      "seconds": round(time.monotonic() - killed, 2)}))
    for pid, _, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
""")


def _tune_under(sig: int, tmp_path: Path) -> dict:
    argv = [sys.executable, str(ROOT / "tlsfit"), "tune", str(PSK), "-j", "2", "--levels", "size,balanced",
            "--knobs", "sha256_smaller,aes_fewer_tables", "-o", str(tmp_path / "tune")]
    r = subprocess.run([sys.executable, "-c", SUPERVISOR, json.dumps(argv), str(int(sig)), str(tmp_path / "err")],
                       capture_output=True, text=True, timeout=900,
                       env={**os.environ, "MBEDTLS_DIR": str(MBEDTLS), "TLSFIT_NO_CCACHE": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    result["stderr"] = (tmp_path / "err").read_text()
    return result


@linux_only
@needs_mbedtls
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_to_tune_stops_every_worker_build_qemu_and_server(tmp_path: Path, sig: signal.Signals) -> None:
    result = _tune_under(sig, tmp_path)
    assert result["left"] == [], result
    assert result["rc"] == 128 + sig, result
    assert f"tlsfit: interrupted ({sig.name}); stopped " in result["stderr"]
    assert result["stderr"].count("tlsfit: interrupted") == 1     # the workers stop silently


@linux_only
@needs_mbedtls
def test_sigkill_of_tune_leaves_nothing_running(tmp_path: Path) -> None:
    result = _tune_under(signal.SIGKILL, tmp_path)
    assert result["left"] == [], result
    assert result["seconds"] <= 6.0, result


def test_stop_signals_include_sighup() -> None:
    assert signal.SIGHUP in children.STOP_SIGNALS and children.EXIT_SIGHUP == 129

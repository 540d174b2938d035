"""Every fault ends fast, with the CLI contract's exit code, without a traceback,
and leaves no process behind. Each case runs the real CLI as a subprocess
against a real QEMU and a server on 127.0.0.1 that IS the fault.

Exit codes chosen (DESIGN.md's contract):
  nothing listening at --server      3  tool failure (pre-flight, before any build; no report)
  server silent / closes / resets /
  stalls after ServerHello           1  handshake failed, report written with the fault
  QEMU not installed                 3  with the apt-get hint
  --timeout 0 / -1 / nan / inf       2  bad input
  SIGTERM / SIGINT                   143 / 130, one line, every child stopped
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_servers import FakeServer

ROOT = Path(__file__).resolve().parents[1]
TLSFIT = ROOT / "tlsfit"
PSK = ROOT / "profiles" / "tls12-psk.yaml"
RUN_TIMEOUT = "100"      # what the old code waited on every fault (was 120)
HANG_BOUND_S = 45.0      # "did not hang until the timeout": far below RUN_TIMEOUT
SUBPROCESS_TIMEOUT_S = 300


def tlsfit(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(TLSFIT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=SUBPROCESS_TIMEOUT_S, env=env)
    return proc, time.monotonic() - start


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


def closed_port() -> int:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_bad_timeout_is_bad_input(value: str, tmp_path: Path) -> None:
    proc, _ = tlsfit("measure", str(PSK), f"--timeout={value}", "-o", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    no_traceback(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert "--timeout" in last and repr(value) in last
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- --server faults


def test_nothing_listening_is_a_tool_failure(tmp_path: Path) -> None:
    port = closed_port()
    out = tmp_path / "out"
    proc, took = tlsfit("measure", str(PSK), "--server", f"127.0.0.1:{port}",
                        "--timeout", RUN_TIMEOUT, "-o", str(out))
    assert proc.returncode == 3, proc.stderr
    no_traceback(proc)
    assert f"cannot connect to 127.0.0.1:{port}: connection refused" in proc.stderr
    assert took < HANG_BOUND_S, "did not hang until the timeout"
    assert not (out / "report.json").exists()  # no report claiming a handshake


def test_unresolvable_host_is_a_tool_failure(tmp_path: Path) -> None:
    proc, _ = tlsfit("measure", str(PSK), "--server", "nosuch.invalid:4433", "-o", str(tmp_path))
    assert proc.returncode == 3, proc.stderr
    no_traceback(proc)
    assert "cannot resolve host 'nosuch.invalid'" in proc.stderr


def _faulty_run(behaviour: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float, dict, int]:
    out = tmp_path / "out"
    with FakeServer(behaviour) as server:
        proc, took = tlsfit("measure", str(PSK), "--server", f"127.0.0.1:{server.port}",
                            "--timeout", RUN_TIMEOUT, "-o", str(out))
        assert server.accepted >= 1
    no_traceback(proc)
    assert proc.returncode == 1, proc.stderr
    assert took < HANG_BOUND_S, "did not hang until the timeout"
    report = json.loads((out / "report.json").read_text())
    assert report["handshake"]["ok"] is False
    return proc, took, report, server.port


@pytest.mark.parametrize("behaviour, words", [
    ("close", "closed the connection before sending anything"),
    ("reset", "reset the connection before sending anything"),
])
def test_server_closes_or_resets(behaviour: str, words: str, tmp_path: Path) -> None:
    proc, _, report, port = _faulty_run(behaviour, tmp_path)
    assert f"server 127.0.0.1:{port} {words}" in proc.stderr
    assert words in json.dumps(report["handshake"]["error"])


def test_silent_server(tmp_path: Path) -> None:
    proc, _, report, port = _faulty_run("silent", tmp_path)
    expected = f"server 127.0.0.1:{port} silent for 10 s after accepting the connection"
    assert expected in proc.stderr
    assert expected in json.dumps(report["handshake"]["error"])


def test_server_stalls_after_server_hello(tmp_path: Path) -> None:
    proc, _, report, port = _faulty_run("server_hello", tmp_path)
    expected = f"server 127.0.0.1:{port} silent for 10 s after ServerHello"
    assert expected in proc.stderr
    assert expected in json.dumps(report["handshake"]["error"])


# ---------------------------------------------------------------- missing tools


def path_without(tmp_path: Path, *missing: str) -> str:
    """A PATH of one folder holding symlinks to every program on today's PATH but `missing`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            link = folder / name
            if name in missing or link.exists() or link.is_symlink():
                continue
            target = Path(directory) / name
            if os.access(target, os.X_OK) and not target.is_dir():
                link.symlink_to(target)
    return str(folder)


def test_qemu_missing(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=path_without(tmp_path, "qemu-system-arm"))
    proc, took = tlsfit("measure", str(PSK), "--timeout", RUN_TIMEOUT, "-o", str(tmp_path / "out"),
                        env=env)
    no_traceback(proc)
    assert proc.returncode == 3, proc.stderr
    assert ("tlsfit: error: qemu-system-arm not found; install it: "
            "apt-get install qemu-system-arm (or run make setup)") in proc.stderr
    assert took < HANG_BOUND_S


# ---------------------------------------------------------------- signals


def descendants(pid: int) -> dict[int, str]:
    """PID -> command line of every live descendant of `pid`, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                try:
                    cmd = (Path("/proc") / str(child) / "cmdline").read_bytes()
                except OSError:
                    continue
                found[child] = cmd.replace(b"\0", b" ").decode(errors="replace")
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def paused_qemu_path(tmp_path: Path) -> str:
    """PATH whose qemu-system-arm is the real one started with -S (CPU paused): it stays
    up, connected, until something kills it, like a firmware stuck on its UART."""
    folder = tmp_path / "shim"
    folder.mkdir()
    real = shutil.which("qemu-system-arm")
    assert real is not None
    shim = folder / "qemu-system-arm"
    shim.write_text(f'#!/bin/sh\nexec {real} -S "$@"\n')
    shim.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_every_child(signum: int, code: int, tmp_path: Path) -> None:
    env = dict(os.environ, PATH=paused_qemu_path(tmp_path))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(TLSFIT), "measure", str(PSK), "--timeout",
                             RUN_TIMEOUT, "-o", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a cold build of the library first
        children: dict[int, str] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            children = descendants(proc.pid)
            if any("qemu-system-arm" in c for c in children.values()) \
                    and any("s_server" in c for c in children.values()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        assert any("qemu-system-arm" in c for c in children.values()), children
        time.sleep(0.3)  # let QEMU connect through the proxy
        children = descendants(proc.pid)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr + stdout, stderr
    name = signal.Signals(signum).name
    lines = [ln for ln in stderr.splitlines() if "interrupted" in ln]
    assert lines == [f"tlsfit: interrupted ({name}); stopped 2 child processes"], stderr
    assert stderr.strip().splitlines()[-1] == lines[0]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.05)
    left = {pid: cmd for pid, cmd in children.items() if alive(pid)}
    assert not left, f"left running: {left}"
    assert not (out / "report.json").exists()


# ---------------------------------------------------------------- the registry itself

REGISTRY_SCRIPT = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from measure import children
partial = Path({partial!r})
with children.install_signal_handlers():
    plain = children.popen(["sleep", "100"], what="sleep")
    # ignores SIGTERM, and so does the grandchild it starts: only SIGKILL stops them
    stubborn = children.popen(["sh", "-c", "trap '' TERM; sleep 100 & echo $!; wait"],
                              what="sh", stdout=children.subprocess.PIPE, text=True)
    grandchild = stubborn.stdout.readline().strip()
    with children.removing_on_interrupt(partial):
        partial.write_text("half")
        print(plain.pid, stubborn.pid, grandchild, flush=True)
        {action}
"""


@pytest.mark.parametrize("action, signum, code", [
    ("time.sleep(100)", signal.SIGTERM, 143),
    ("time.sleep(100)", signal.SIGINT, 130),
    ("raise KeyboardInterrupt", None, 130),
])
def test_registry_stops_groups_and_cleans_up(action: str, signum: int | None, code: int,
                                             tmp_path: Path) -> None:
    partial = tmp_path / "partial.txt"
    script = REGISTRY_SCRIPT.format(root=str(ROOT), partial=str(partial), action=action)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 3
        if signum is not None:
            assert all(alive(p) for p in pids)
            proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr
    name = "SIGTERM" if code == 143 else "SIGINT"
    assert stderr.strip().splitlines() == [f"tlsfit: interrupted ({name}); stopped 2 child processes"]
    assert not any(alive(p) for p in pids)
    assert not partial.exists()


def test_sigkill_leaves_no_child_running(tmp_path: Path) -> None:
    """SIGKILL runs no handler: the kernel's parent-death signal (children.py) ends QEMU and the
    reference server with tlsfit."""
    env = dict(os.environ, PATH=paused_qemu_path(tmp_path))
    proc = subprocess.Popen([sys.executable, str(TLSFIT), "measure", str(PSK), "--timeout",
                             RUN_TIMEOUT, "-o", str(tmp_path / "out")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120  # a cold build of the library first
        while time.monotonic() < deadline and proc.poll() is None:
            children = descendants(proc.pid)
            if any("qemu-system-arm" in c for c in children.values()) \
                    and any("s_server" in c for c in children.values()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        assert any("s_server" in c for c in children.values()), children
        time.sleep(0.3)
        children = descendants(proc.pid)
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in children):
            time.sleep(0.05)
        left = {pid: cmd for pid, cmd in children.items() if alive(pid)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in children:  # never leave one behind, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not left, f"left running after SIGKILL: {left}"


# ---------------------------------------------------------------- real servers that end badly

PSK_KEY = "00112233445566778899aabbccddeeff"   # profiles/tls12-psk.yaml
ECDSA_PKI = ROOT / "profiles" / "test-pki" / "tls12-ecdhe-ecdsa"


class OpensslServer:
    """A real `openssl s_server` on 127.0.0.1 with stdin held open (EOF on stdin would end
    its connections); without -rev it completes handshakes and then answers nothing."""

    def __init__(self, *args: str):
        self.port = closed_port()
        self.proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)

    def __enter__(self) -> "OpensslServer":
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("openssl s_server did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.communicate()


def test_server_silent_after_the_handshake_keeps_the_handshake(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OpensslServer("-nocert", "-psk", PSK_KEY, "-psk_identity", "device-1", "-tls1_2",
                       "-cipher", "PSK-AES128-CCM8:@SECLEVEL=0") as server:
        port = server.port
        proc, took = tlsfit("measure", str(PSK), "--server", f"127.0.0.1:{port}", "--app", "echo",
                            "--timeout", RUN_TIMEOUT, "-o", str(out))
    no_traceback(proc)
    assert proc.returncode == 1, proc.stderr
    assert took < HANG_BOUND_S
    report = json.loads((out / "report.json").read_text())
    hs, app = report["handshake"], report["app"]
    assert hs["ok"] is True and hs["error"] is None
    assert hs["version"] == "TLS 1.2" and hs["instructions"] > 100_000
    assert report["ram"]["heap_peak"] > 0 and report["ram"]["stack_peak"] > 0
    assert app["protocol"] == "echo" and app["ok"] is False
    assert f"server 127.0.0.1:{port} silent for 10 s" in app["error"]["message"]
    assert app["error"]["hex"] is None                       # no mbedTLS error: no "0x0000"
    assert "echo exchange after the handshake failed" in proc.stderr
    assert "0x0000" not in proc.stderr
    assert "handshake         ok" in proc.stdout
    assert "guest instructions" in proc.stdout
    assert "TLSFIT-HANDSHAKE" not in proc.stderr            # the machine line stays out of messages
    assert "Error after the handshake" in (out / "report.md").read_text()


def test_missing_client_certificate_fails_within_seconds(tmp_path: Path) -> None:
    """A server that requires a client certificate (-Verify 1) against a profile without one:
    the server's fatal alert ends the run, exit 1, within 20 s, the alert named."""
    profile = tmp_path / "no-client-cert.yaml"
    profile.write_text((ROOT / "profiles" / "tls12-ecdhe-ecdsa.yaml").read_text().replace(
        "  chain: {root: secp256r1, intermediates: [], leaf: secp256r1}",
        f"  ca_files: [{ECDSA_PKI / 'root.pem'}]"))
    out = tmp_path / "out"
    with OpensslServer("-cert", str(ECDSA_PKI / "leaf.pem"), "-key", str(ECDSA_PKI / "leaf.key"),
                       "-Verify", "1", "-CAfile", str(ECDSA_PKI / "root.pem"), "-tls1_2", "-rev") as server:
        proc, took = tlsfit("measure", str(profile), "--server", f"127.0.0.1:{server.port}",
                            "--timeout", RUN_TIMEOUT, "-o", str(out))
    no_traceback(proc)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["handshake"]["ok"] is False
    assert report["handshake"]["error"]["alert_received"] == "handshake_failure"
    assert "received: handshake_failure" in proc.stderr
    run_line = [ln for ln in proc.stderr.splitlines() if "running the handshake" in ln and " in " in ln]
    assert run_line and float(run_line[-1].rsplit(" in ", 1)[1].split()[0]) < 20, proc.stderr
    assert took < SUBPROCESS_TIMEOUT_S

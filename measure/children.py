"""Every child process tlsfit starts, so that SIGTERM/SIGINT/SIGHUP can stop them all.

Children are started in their own session (process group), so a signal sent
to tlsfit's group does not reach them by accident and one killpg() stops a
child with everything it started. The price: nobody else will stop them, so
install_signal_handlers() (called by the CLI's main()) kills every registered
group on SIGTERM or SIGINT, runs the registered cleanups (partial outputs),
prints one line and exits 143 / 130, never with a traceback.

Library use:
    proc = children.popen(argv, what="QEMU", stdout=PIPE)  # registered
    ...
    children.stop(proc)                                    # killpg + reap + unregister
    done = children.run(argv, timeout_s=60, what="make")   # subprocess.run, registered
    with children.removing_on_interrupt(out_dir): write(out_dir)
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Callable, Iterator

from measure.model import MeasureError

TERM_GRACE_S = 1.0       # SIGTERM, then SIGKILL for what is still alive after this
POLL_S = 0.02
EXIT_SIGTERM = 128 + signal.SIGTERM   # 143
EXIT_SIGINT = 128 + signal.SIGINT     # 130
EXIT_SIGHUP = 128 + signal.SIGHUP     # 129
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
WORKER_GRACE_S = 3 * TERM_GRACE_S     # a worker stops its own children (TERM, grace, KILL) first

# Tool -> Debian package that provides it (DESIGN.md: Debian packages only).
DEBIAN_PACKAGES: dict[str, str] = {
    "qemu-system-arm": "qemu-system-arm",
    "openssl": "openssl",
    "gnutls-serv": "gnutls-bin",
    "gnutls-cli": "gnutls-bin",
    "certtool": "gnutls-bin",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-ar": "binutils-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf",
    "riscv64-unknown-elf-ar": "binutils-riscv64-unknown-elf",
    "qemu-system-riscv32": "qemu-system-misc",
    "make": "make",
    "gcc": "gcc",
    "cc": "gcc",
    "mosquitto": "mosquitto",
    "mosquitto_sub": "mosquitto-clients",
    "mosquitto_pub": "mosquitto-clients",
    "nginx": "nginx-light",
}


class ToolMissing(MeasureError):
    """A program tlsfit runs is not installed: a tool failure (exit 3), never a handshake result."""

    def __init__(self, tool: str):
        self.tool = tool
        super().__init__(f"{tool} not found; install it: {install_hint(tool)}")


def debian_package(tool: str) -> str:
    """The Debian package that provides `tool` (its own name when not in the table)."""
    return DEBIAN_PACKAGES.get(Path(tool).name, Path(tool).name)


def install_hint(tool: str) -> str:
    """e.g. "apt-get install qemu-system-arm (or run make setup)"."""
    return f"apt-get install {debian_package(tool)} (or run make setup)"


def require_tool(tool: str) -> str:
    """Full path of `tool` on PATH; raises ToolMissing (exit 3, with the install hint)."""
    found = shutil.which(tool)
    if found is None:
        raise ToolMissing(tool)
    return found


# ---------------------------------------------------------------- parent death

_PR_SET_PDEATHSIG = 1
_libc_prctl = None


def _prctl():
    """libc's prctl, looked up once in the parent (a child after fork only calls it)."""
    global _libc_prctl
    if _libc_prctl is None and sys.platform.startswith("linux"):
        try:
            _libc_prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            _libc_prctl = False
    return _libc_prctl or None


def set_parent_death_signal(sig: int = signal.SIGTERM, parent_pid: int | None = None) -> bool:
    """Ask the kernel to send `sig` to this process when its parent ends (Linux PR_SET_PDEATHSIG;
    kept across exec, so call it in a child before exec or at a worker's start). parent_pid: the
    parent it was started by; if that parent has already gone (it died before the call), the
    process exits at once. Returns False where prctl is not available (not Linux).

    The signal comes when the parent *thread* that started the process ends: start children
    from a thread that outlives them (tlsfit starts them from the main thread or a pool worker's)."""
    prctl = _prctl()
    if prctl is None:
        return False
    if prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(128 + int(sig))
    return True


def _child_preexec(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec: nothing but the prctl
        set_parent_death_signal(signal.SIGTERM, parent_pid)
    return preexec


# ---------------------------------------------------------------- the registry

_lock = threading.RLock()   # re-entrant: the signal handler runs on the main thread
_children: dict[int, subprocess.Popen] = {}
_cleanups: dict[int, Callable[[], None]] = {}
_next_cleanup = 0
_starting = 0              # popen() calls in progress
_deferred: list[int] = []  # signals that came during one
_workers: set[int] = set()  # plain child processes (tune's pool workers), not group leaders


def popen(argv: list[str], *, what: str, **kwargs: object) -> subprocess.Popen:
    """subprocess.Popen in a new session (own process group), registered for signals,
    killed by the kernel if tlsfit dies (set_parent_death_signal).

    Raises ToolMissing if argv[0] does not exist, MeasureError if it cannot
    start. stdin defaults to /dev/null. Call stop() (or wait() then release())
    when done with it.
    """
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs["start_new_session"] = True
    if _prctl() is not None:   # ends with tlsfit even when tlsfit is SIGKILLed
        kwargs.setdefault("preexec_fn", _child_preexec(os.getpid()))
    # A signal that comes while the child starts waits until it is registered
    # (the handler would not know about it yet).
    global _starting
    with _lock:
        _starting += 1
        try:
            proc = subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload]
        except FileNotFoundError as exc:
            if exc.filename == argv[0]:
                raise ToolMissing(argv[0]) from exc
            raise MeasureError(f"{what}: cannot start {argv[0]}: {exc}") from exc
        except OSError as exc:
            raise MeasureError(f"{what}: cannot start {argv[0]}: {exc}") from exc
        else:
            _children[proc.pid] = proc
        finally:
            _starting -= 1
            if _starting == 0 and _deferred:
                _on_signal(_deferred[0], None)
    return proc


def release(proc: subprocess.Popen) -> None:
    """Forget a child that has ended (stop() does this itself)."""
    with _lock:
        _children.pop(proc.pid, None)


def signal_group(pid: int, sig: int) -> bool:
    """killpg that ignores a group already gone; True if the signal was sent."""
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop(proc: subprocess.Popen, grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM the child's process group, SIGKILL it after grace_s, reap it, unregister it.
    grace_s=0: SIGKILL at once. Nothing is signalled once the child was reaped (its
    group id could belong to someone else by then)."""
    try:
        if proc.poll() is None and grace_s > 0 and signal_group(proc.pid, signal.SIGTERM):
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGKILL)
            try:
                proc.wait(TERM_GRACE_S * 5)
            except subprocess.TimeoutExpired:
                pass
    finally:
        release(proc)


def register_worker(pid: int) -> None:
    """A worker process of this one (tune's pool): stop_all() SIGTERMs it, waits for it to stop
    its own children, then SIGKILLs it."""
    with _lock:
        _workers.add(pid)


def release_worker(pid: int) -> None:
    with _lock:
        _workers.discard(pid)


def reset_in_worker() -> None:
    """In a freshly forked worker: forget the parent's children, workers and cleanups (they are
    the parent's to stop) and the parent's signal state."""
    with _lock:
        _children.clear()
        _cleanups.clear()
        _workers.clear()
        _deferred.clear()
    _handling.clear()


def _gone(pid: int) -> bool:
    """True once `pid` (a child of this process) has ended; reaps it."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:
        return True


def _stop_workers(grace_s: float) -> int:
    with _lock:
        pids = sorted(_workers)
        _workers.clear()
    alive = [pid for pid in pids if not _gone(pid)]
    for pid in alive:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    waiting = list(alive)
    while waiting and time.monotonic() < deadline:
        waiting = [pid for pid in waiting if not _gone(pid)]
        if waiting:
            time.sleep(POLL_S)
    for pid in waiting:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(alive)


def live_children() -> list[subprocess.Popen]:
    """Registered children that are still running."""
    with _lock:
        return [p for p in _children.values() if p.poll() is None]


def run(argv: list[str], timeout_s: float, what: str, *, input: bytes | str | None = None,
        text: bool = False, cwd: Path | str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """subprocess.run(capture_output=True) through the registry; on timeout the child's
    whole group is killed and MeasureError says `what` timed out after how long."""
    proc = popen(argv, what=what, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, cwd=cwd, env=env)
    try:
        out, err = proc.communicate(input=input, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise MeasureError(f"{what} timed out after {timeout_s:g} s") from exc
    finally:
        stop(proc, grace_s=0)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# ---------------------------------------------------------------- cleanups


def register_cleanup(callback: Callable[[], None]) -> int:
    """Run `callback` if tlsfit is interrupted; returns a handle for unregister_cleanup."""
    global _next_cleanup
    with _lock:
        _next_cleanup += 1
        _cleanups[_next_cleanup] = callback
        return _next_cleanup


def unregister_cleanup(handle: int) -> None:
    with _lock:
        _cleanups.pop(handle, None)


@contextmanager
def cleanup_on_interrupt(callback: Callable[[], None]) -> Iterator[None]:
    """Run `callback` if tlsfit is interrupted inside the block (not on a normal exit)."""
    handle = register_cleanup(callback)
    try:
        yield
    except KeyboardInterrupt:  # unwinding towards main(): it will not see this cleanup
        try:
            callback()
        except Exception:  # noqa: BLE001 - best effort while exiting
            pass
        raise
    finally:
        unregister_cleanup(handle)


def remove_path(path: Path) -> None:
    """rm -rf, ignoring what is already gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


@contextmanager
def removing_on_interrupt(*paths: Path) -> Iterator[None]:
    """Delete `paths` (files or folders) if tlsfit is interrupted inside the block:
    wrap the writing of an output that must not be left half written."""
    def remove_all() -> None:
        for path in paths:
            remove_path(Path(path))

    with cleanup_on_interrupt(remove_all):
        yield


# ---------------------------------------------------------------- signals


def stop_all(grace_s: float = TERM_GRACE_S) -> int:
    """SIGTERM every live registered child's group, SIGKILL what remains after grace_s; then
    every registered worker (SIGTERM, WORKER_GRACE_S for its own children, SIGKILL).
    Returns how many were running."""
    workers = _stop_workers(WORKER_GRACE_S)
    with _lock:
        procs = list(_children.values())
    alive = [p for p in procs if p.poll() is None]
    for proc in alive:
        signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(p.poll() is None for p in alive):
        time.sleep(POLL_S)
    for proc in alive:
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGKILL)
    for proc in procs:
        try:
            proc.wait(TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        release(proc)
    return len(alive) + workers


def run_cleanups() -> None:
    """Run (newest first) and forget every registered cleanup; one failing does not stop
    the others."""
    with _lock:
        callbacks = list(_cleanups.values())[::-1]
        _cleanups.clear()
    for callback in callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - best effort while exiting
            pass


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def interrupted(signum: int) -> int:
    """Stop children, run cleanups, print the one line; returns the exit code (128 + signum)."""
    count = stop_all()
    run_cleanups()
    if _silent_interrupt:   # a worker: its parent prints the one line
        return 128 + signum
    noun = "child process" if count == 1 else "child processes"
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        print(f"tlsfit: interrupted ({signal_name(signum)}); stopped {count} {noun}",
              file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    return 128 + signum


_handling = threading.Event()
_silent_interrupt = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _handling.is_set():  # a second signal while stopping: the first one finishes
        return
    if _starting:
        _deferred.append(signum)
        return
    _handling.set()
    code = interrupted(signum)
    # os._exit: no unwinding through code that was interrupted anywhere (a half-run
    # finally, a thread); what must happen on the way out happened above.
    os._exit(code)


@dataclass
class SignalHandling:
    """Returned by install_signal_handlers(); a context manager that restores the
    previous handlers on exit and turns a stray KeyboardInterrupt into the same
    clean stop as SIGINT."""
    previous: dict[int, object]

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self.previous = {}

    def __enter__(self) -> SignalHandling:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.restore()
            _handling.set()
            os._exit(interrupted(signal.SIGINT))
        self.restore()


def install_signal_handlers() -> SignalHandling:
    """SIGTERM, SIGINT and SIGHUP stop every registered child (TERM, then KILL after a grace),
    run the registered cleanups, print `tlsfit: interrupted (SIGTERM); stopped N child
    processes` to stderr and exit 143 (SIGTERM) / 130 (SIGINT) / 129 (SIGHUP).

    Only from the main thread (elsewhere it installs nothing). Use as
    `with install_signal_handlers(): ...` to restore the old handlers afterwards.
    """
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        _handling.clear()
        _deferred.clear()
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, _on_signal)
    return SignalHandling(previous)


def start_worker(parent_pid: int) -> None:
    """At the start of a worker process forked by tlsfit (tune's pool): it ends when tlsfit ends
    (a parent-death SIGTERM, even after a SIGKILL of tlsfit), and on SIGTERM/SIGHUP it stops its
    own children and exits without a word (its parent prints the one line). SIGINT is ignored:
    a terminal's Ctrl-C reaches the whole group, and the parent stops its workers itself."""
    global _silent_interrupt
    reset_in_worker()
    _silent_interrupt = True
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGHUP, _on_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_parent_death_signal(signal.SIGTERM, parent_pid)

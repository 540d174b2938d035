"""Board facts (ports/<name>/board.yaml) as validated data for building and running.

Validated like profiles: every error names `board.yaml:LINE`, unknown keys get
a did-you-mean, and an unknown target lists the boards there are. The memory
limits are written here only; the build hands them to the linker script.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import BadInput
from generator.cores import Core, arches, find_core

BOARD_FILE = "board.yaml"

# key -> (required, kind); kind: "str" | "bool" | "list" | "limits" | "qemu" | "path?" | "hz"
_SCHEMA: dict[str, tuple[bool, str]] = {
    "name": (True, "str"), "core": (True, "str"), "clock_hz": (False, "hz"),
    "is_host": (False, "bool"), "datagram": (False, "bool"),
    "cc": (True, "str"), "ar": (False, "str"),
    "cflags": (False, "list"), "ldflags": (False, "list"),
    "linker_script": (False, "path?"), "include_dirs": (False, "list"), "sources": (True, "list"),
    "limits": (False, "limits"), "qemu": (False, "qemu"),
}
_LIMIT_KEYS = ("flash", "ram")
# CPU architectures the knowledge base's `arch:` conditions may name: the core table's
ARCHES = arches()
# keys a board no longer has: the core (generator/data/cores.yaml) says the CPU once
_MOVED = {"cpu": "name the core instead: core: <name> (generator/data/cores.yaml)",
          "arch": "the architecture comes from the core (core: <name>, generator/data/cores.yaml); remove it"}
# compiler flags that select the CPU: the core's cflags, never a board's
_CPU_FLAGS = ("-mcpu=", "-march=", "-mabi=", "-mthumb", "-marm", "-mfloat-abi=", "-mfpu=", "-mtune=")


class BoardError(BadInput):
    """A bad board.yaml or an unknown target: `FILE:LINE: error: message`, exit 2."""


@dataclass(frozen=True)
class Board:
    name: str
    core: Core                     # generator/data/cores.yaml: architecture, features, -mcpu/-march
    cflags: tuple[str, ...]        # the core's flags, then the board's own (-D board facts ...)
    ldflags: tuple[str, ...]       # extra link flags / libraries
    cc: str
    ar: str
    dir: Path                      # ports/<name>
    sources: tuple[Path, ...]      # board C files (absolute)
    include_dirs: tuple[Path, ...] # extra header / linker-script INCLUDE dirs (absolute)
    linker_script: Path | None
    qemu_argv: tuple[str, ...]     # template with {elf} and {port}; empty for the host
    flash_limit: int | None        # bytes, the modelled part's real limits
    ram_limit: int | None
    is_host: bool
    clock_hz: int | None = None    # the modelled part's CPU clock, for time estimates (instructions / Hz)
    datagram: bool = False         # the port provides the datagram transport (DTLS, transport: udp)

    @property
    def cpu(self) -> str:
        """The core's name (reports' `cpu`), e.g. "cortex-m4", "host"."""
        return self.core.name

    @property
    def arch(self) -> str:
        """The core's architecture, e.g. "armv6-m": the knowledge base's tuning keys on it."""
        return self.core.arch


def _fail(path: Path, node: yaml.Node | None, message: str) -> BoardError:
    where = f"{path}:{node.start_mark.line + 1}" if node is not None else str(path)
    return BoardError(f"{where}: error: {message}")


def _scalar(path: Path, node: yaml.Node, key: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise _fail(path, node, f"'{key}' must be a single value")
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _string_list(path: Path, node: yaml.Node, key: str) -> tuple[str, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(path, node, f"'{key}' must be a list, e.g. [a, b]")
    out = []
    for item in node.value:
        value = _scalar(path, item, key)
        if not isinstance(value, str) or not value:
            raise _fail(path, item, f"'{key}' entries must be non-empty strings; got {value!r}")
        out.append(value)
    return tuple(out)


def _mapping(path: Path, node: yaml.Node, where: str, allowed: tuple[str, ...],
             moved: dict[str, str] | None = None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"'{where}' must be a mapping (key: value)")
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if moved and key in moved:
            raise _fail(path, key_node, f"'{key}' is no longer a board key; {moved[key]}")
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"
            raise _fail(path, key_node, f"unknown key '{key}' in {where}; {hint}")
        if key in out:
            raise _fail(path, key_node, f"key '{key}' appears twice; keep one")
        out[key] = (key_node, value_node)
    return out


def _limit(path: Path, node: yaml.Node, key: str) -> int | None:
    value = _scalar(path, node, f"limits.{key}")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail(path, node, f"'limits.{key}' must be a positive number of bytes or null; got {value!r}")
    return value


def load_board(name: str, ports_dir: Path) -> Board:
    """Read and validate ports/<name>/board.yaml; BoardError (exit 2) when absent or wrong."""
    if not re.fullmatch(r"[a-z0-9-]{1,64}", name):
        # a target names a folder under ports/: never a path ("../..") or anything else
        shown = "".join(c if " " <= c <= "~" else "?" for c in name)[:64]
        raise BoardError(f"target {shown!r} is not a board name ([a-z0-9-]+, at most 64 characters); "
                         f"boards: {', '.join(list_boards(ports_dir)) or 'none'}")
    board_dir = ports_dir / name
    path = board_dir / BOARD_FILE
    if not path.is_file():
        known = ", ".join(list_boards(ports_dir)) or "none"
        close = difflib.get_close_matches(name, list_boards(ports_dir), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise BoardError(f"unknown target '{name}'{hint} (boards: {known}; 'host' runs on Linux)")
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise BoardError(f"{where}: error: cannot read board facts: {exc}") from exc
    if root is None:
        raise BoardError(f"{path}:1: error: board.yaml is empty; start with 'name: {name}'")
    m = _mapping(path, root, "board.yaml", tuple(_SCHEMA), _MOVED)
    for key, (required, _) in _SCHEMA.items():
        if required and key not in m:
            raise _fail(path, root, f"missing required key '{key}'")

    def text(key: str, default: str = "") -> str:
        if key not in m:
            return default
        value = _scalar(path, m[key][1], key)
        if not isinstance(value, str) or not value:
            raise _fail(path, m[key][1], f"'{key}' must be a non-empty string; got {value!r}")
        return value

    def strings(key: str) -> tuple[str, ...]:
        return _string_list(path, m[key][1], key) if key in m else ()

    def flag(key: str) -> bool:
        value = _scalar(path, m[key][1], key) if key in m else False
        if not isinstance(value, bool):
            raise _fail(path, m[key][1], f"'{key}' must be true or false")
        return value

    if text("name") != name:
        raise _fail(path, m["name"][1], f"name is '{text('name')}' but the folder is '{name}'; make them equal")
    is_host = flag("is_host")
    script = None
    if "linker_script" in m and _scalar(path, m["linker_script"][1], "linker_script") is not None:
        script = (board_dir / text("linker_script")).resolve()
        if not script.is_file():
            raise _fail(path, m["linker_script"][1], f"linker script {script} not found")
    sources = tuple((board_dir / s).resolve() for s in strings("sources"))
    for src, node in zip(sources, m["sources"][1].value):
        if not src.is_file():
            raise _fail(path, node, f"source {src} not found")
    limits: dict[str, int | None] = {"flash": None, "ram": None}
    if "limits" in m:
        lm = _mapping(path, m["limits"][1], "limits", _LIMIT_KEYS)
        limits.update({k: _limit(path, v, k) for k, (_, v) in lm.items()})
    qemu_argv: tuple[str, ...] = ()
    if "qemu" in m:
        qm = _mapping(path, m["qemu"][1], "qemu", ("argv",))
        if "argv" not in qm:
            raise _fail(path, m["qemu"][1], "missing 'qemu.argv' (the QEMU command line with {elf} and {port})")
        qemu_argv = _string_list(path, qm["argv"][1], "qemu.argv")
        joined = " ".join(qemu_argv)
        if "{elf}" not in joined or "{port}" not in joined:
            raise _fail(path, qm["argv"][1], "'qemu.argv' must contain {elf} and {port}")
    where_core = f"{path}:{m['core'][1].start_mark.line + 1}: error"
    try:
        core = find_core(text("core"), where_core)
    except BadInput as exc:
        raise BoardError(str(exc)) from exc
    if core.name == "host" and not is_host:
        raise _fail(path, m["core"][1], "core 'host' is the build machine: only a board with 'is_host: true' has it")
    for flag_text, node in zip(strings("cflags"), m["cflags"][1].value if "cflags" in m else ()):
        if flag_text.startswith(_CPU_FLAGS):
            raise _fail(path, node, f"cflags entry '{flag_text}' selects the CPU, which the core does "
                                    f"(core: {core.name} gives {' '.join(core.cflags) or 'no flags'}); remove it")
    clock_hz = None
    if "clock_hz" in m:
        clock_hz = _scalar(path, m["clock_hz"][1], "clock_hz")
        if not isinstance(clock_hz, int) or isinstance(clock_hz, bool) or clock_hz <= 0:
            raise _fail(path, m["clock_hz"][1], f"'clock_hz' must be a positive number of Hz; got {clock_hz!r}")
    datagram = flag("datagram")
    if not is_host and not qemu_argv:
        raise _fail(path, root, "a board that is not the host needs 'qemu: {argv: [...]}' to run")
    return Board(
        name=name, core=core, cflags=core.cflags + strings("cflags"), ldflags=strings("ldflags"),
        cc=text("cc"), ar=text("ar", "ar"), dir=board_dir.resolve(), sources=sources,
        include_dirs=tuple((board_dir / d).resolve() for d in strings("include_dirs")),
        linker_script=script, qemu_argv=qemu_argv,
        flash_limit=limits["flash"], ram_limit=limits["ram"], is_host=is_host,
        clock_hz=clock_hz, datagram=datagram)


def list_boards(ports_dir: Path) -> list[str]:
    """Names of the ports that have a board.yaml (the template has none)."""
    return sorted(p.parent.name for p in ports_dir.glob(f"*/{BOARD_FILE}"))

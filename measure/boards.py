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
import yaml

from core.errors import BadInput
from core.inputs import InputFileError, excerpt, read_text
from core.located_yaml import Field, Reader, compose, line_of
from generator.cores import Core, arches, find_core

BOARD_FILE = "board.yaml"

# board.yaml's schema table (core/located_yaml.py)
_LIMITS = {"flash": Field(), "ram": Field()}
_QEMU = {"argv": Field("list", True, "argv: [qemu-system-arm, ..., -kernel, '{elf}', ..., 'tcp:127.0.0.1:{port}']")}
_SCHEMA: dict[str, Field] = {
    "name": Field("str", True, "name: my-board"), "core": Field("str", True, "core: cortex-m4"),
    "clock_hz": Field(),
    "is_host": Field("bool"), "datagram": Field("bool"),
    "cc": Field("str", True, "cc: arm-none-eabi-gcc"), "ar": Field("str"),
    "cflags": Field("list"), "ldflags": Field("list"),
    "linker_script": Field(), "include_dirs": Field("list"), "sources": Field("list", True, "sources: [board.c]"),
    "limits": Field("map", fields=_LIMITS), "qemu": Field("map", fields=_QEMU),
}
_TOP_HINT = " (keys are words like 'name' or 'core'); is this a board.yaml (name:, core:, cc:, sources: ...)?"
# CPU architectures the knowledge base's `arch:` conditions may name: the core table's
ARCHES = arches()
# keys a board no longer has: the core (generator/data/cores.yaml) says the CPU once
_MOVED = {"cpu": "name the core instead: core: <name> (generator/data/cores.yaml)",
          "arch": "the architecture comes from the core (core: <name>, generator/data/cores.yaml); remove it"}
# compiler flags that select the CPU: the core's cflags, never a board's
_CPU_FLAGS = ("-mcpu=", "-march=", "-mabi=", "-mthumb", "-marm", "-mfloat-abi=", "-mfpu=", "-mtune=")
MAX_BOARD_BYTES = 64 * 1024


class BoardError(BadInput):
    """A bad board.yaml or an unknown target: `FILE:LINE: error: message`, exit 2."""


@dataclass(frozen=True)
class Board:
    name: str
    core: Core                     # the CPU (generator/data/cores.yaml): architecture, features, flags
    cflags: tuple[str, ...]        # the core's flags (-mcpu ...), then the board's own
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


def _error(path: object, line: int | None, message: str) -> BoardError:
    where = f"{path}:{line}" if line is not None else str(path)
    return BoardError(f"{where}: error: {message}")


def _limit(r: Reader, node: yaml.Node, key: str) -> int | None:
    value = r.scalar(node, f"limits.{key}")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise r.fail(node, f"'limits.{key}' must be a positive number of bytes or null; got {excerpt(value)}")
    return value


def load_board(name: str, ports_dir: Path, where: str | None = None) -> Board:
    """Read and validate ports/<name>/board.yaml; BoardError (exit 2) when absent or wrong.

    where: "FILE:LINE" of the profile's target: key that named the board, so an unknown
    target is reported there (None: the name came from the command line)."""
    at = f"{where}: error: " if where else ""
    if not re.fullmatch(r"[a-z0-9-]{1,64}", name):
        # a target names a folder under ports/: never a path ("../..") or anything else
        shown = "".join(c if " " <= c <= "~" else "?" for c in name)[:64]
        raise BoardError(f"{at}target {shown!r} is not a board name ([a-z0-9-]+, at most 64 characters); "
                         f"boards: {', '.join(list_boards(ports_dir)) or 'none'}")
    board_dir = ports_dir / name
    path = board_dir / BOARD_FILE
    if not path.is_file():
        known = ", ".join(list_boards(ports_dir)) or "none"
        close = difflib.get_close_matches(name, list_boards(ports_dir), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise BoardError(f"{at}unknown target '{name}'{hint} (boards: {known}; 'host' runs on Linux)")
    try:
        text = read_text(path, "board.yaml", MAX_BOARD_BYTES)
    except InputFileError as exc:
        raise BoardError(str(exc)) from None
    root = compose(text, path, _error, "board.yaml")
    if root is None:
        raise BoardError(f"{path}:1: error: board.yaml is empty; start with 'name: {name}'")
    r = Reader(path, _error, top_hint=_TOP_HINT)
    if isinstance(root, yaml.MappingNode):
        for key_node, _ in root.value:
            if key_node.value in _MOVED:
                raise r.fail(key_node, f"'{key_node.value}' is no longer a board key; {_MOVED[key_node.value]}")
    m = r.mapping(root, "", _SCHEMA, required=True)

    def text_of(key: str, default: str = "") -> str:
        return r.get(m, key, "", _SCHEMA, default)

    def strings(key: str) -> tuple[str, ...]:
        return r.get(m, key, "", _SCHEMA, ())

    def flag(key: str) -> bool:
        return r.get(m, key, "", _SCHEMA, False)

    if text_of("name") != name:
        raise r.fail(m["name"][1], f"name is '{text_of('name')}' but the folder is '{name}'; make them equal")
    is_host = flag("is_host")
    script = None
    if "linker_script" in m and not r.is_null(m["linker_script"][1]):
        script = (board_dir / r.string(m["linker_script"][1], "linker_script")).resolve()
        if not script.is_file():
            raise r.fail(m["linker_script"][1], f"linker script {script} not found")
    sources = tuple((board_dir / s).resolve() for s in strings("sources"))
    for src, node in zip(sources, m["sources"][1].value):
        if not src.is_file():
            raise r.fail(node, f"source {src} not found")
    limits: dict[str, int | None] = {"flash": None, "ram": None}
    if "limits" in m:
        lm = r.get(m, "limits", "", _SCHEMA)
        limits.update({k: _limit(r, v, k) for k, (_, v) in lm.items()})
    qemu_argv: tuple[str, ...] = ()
    if "qemu" in m:
        qm = r.get(m, "qemu", "", _SCHEMA)
        qemu_argv = r.get(qm, "argv", "qemu", _QEMU)
        joined = " ".join(qemu_argv)
        if "{elf}" not in joined or "{port}" not in joined:
            raise r.fail(qm["argv"][1], "'qemu.argv' must contain {elf} and {port}")
    try:
        core = find_core(text_of("core"), f"{path}:{line_of(m['core'][1])}: error")
    except BadInput as exc:
        raise BoardError(str(exc)) from exc
    if core.name == "host" and not is_host:
        raise r.fail(m["core"][1], "core 'host' is the build machine: only a board with 'is_host: true' has it")
    for flag_text, node in zip(strings("cflags"), m["cflags"][1].value if "cflags" in m else ()):
        if flag_text.startswith(_CPU_FLAGS):
            raise r.fail(node, f"cflags entry '{flag_text}' selects the CPU, which the core does "
                               f"(core: {core.name} gives {' '.join(core.cflags) or 'no flags'}); remove it")
    clock_hz = None
    if "clock_hz" in m:
        clock_hz = r.scalar(m["clock_hz"][1], "clock_hz")
        if not isinstance(clock_hz, int) or isinstance(clock_hz, bool) or clock_hz <= 0:
            raise r.fail(m["clock_hz"][1], f"'clock_hz' must be a positive number of Hz; got {excerpt(clock_hz)}")
    datagram = flag("datagram")
    if not is_host and not qemu_argv:
        raise r.fail(root, "a board that is not the host needs 'qemu: {argv: [...]}' to run")
    return Board(
        name=name, core=core, cflags=core.cflags + strings("cflags"), ldflags=strings("ldflags"),
        cc=text_of("cc"), ar=text_of("ar", "ar"), dir=board_dir.resolve(), sources=sources,
        include_dirs=tuple((board_dir / d).resolve() for d in strings("include_dirs")),
        linker_script=script, qemu_argv=qemu_argv,
        flash_limit=limits["flash"], ram_limit=limits["ram"], is_host=is_host,
        clock_hz=clock_hz, datagram=datagram)


def list_boards(ports_dir: Path) -> list[str]:
    """Names of the ports that have a board.yaml (the template has none)."""
    return sorted(p.parent.name for p in ports_dir.glob(f"*/{BOARD_FILE}"))

"""Board facts (ports/<name>/board.yaml) as data for building and running."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from measure.model import MeasureError

BOARD_FILE = "board.yaml"


@dataclass(frozen=True)
class Board:
    name: str
    cpu: str                       # e.g. "cortex-m4"; "x86-64" for the host
    cflags: tuple[str, ...]        # board-specific compiler flags (-mcpu ...)
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


def _required(data: dict, key: str, path: Path):
    if key not in data:
        raise MeasureError(f"{path}: missing key '{key}'")
    return data[key]


def load_board(name: str, ports_dir: Path) -> Board:
    """Read ports/<name>/board.yaml."""
    board_dir = ports_dir / name
    path = board_dir / BOARD_FILE
    if not path.is_file():
        known = ", ".join(list_boards(ports_dir)) or "none"
        raise MeasureError(f"unknown target '{name}': no {path} (known: {known})")
    data = yaml.safe_load(path.read_text()) or {}
    if data.get("name") != name:
        raise MeasureError(f"{path}: name is '{data.get('name')}', expected '{name}'")
    limits = data.get("limits") or {}
    script = data.get("linker_script")
    return Board(
        name=name,
        cpu=str(_required(data, "cpu", path)),
        cflags=tuple(str(f) for f in data.get("cflags", ())),
        ldflags=tuple(str(f) for f in data.get("ldflags", ())),
        cc=str(_required(data, "cc", path)),
        ar=str(data.get("ar", "ar")),
        dir=board_dir.resolve(),
        sources=tuple((board_dir / s).resolve() for s in _required(data, "sources", path)),
        include_dirs=tuple((board_dir / d).resolve() for d in data.get("include_dirs", ())),
        linker_script=(board_dir / script).resolve() if script else None,
        qemu_argv=tuple(str(a) for a in (data.get("qemu") or {}).get("argv", ())),
        flash_limit=limits.get("flash"),
        ram_limit=limits.get("ram"),
        is_host=bool(data.get("is_host", False)),
    )


def list_boards(ports_dir: Path) -> list[str]:
    """Names of the ports that have a board.yaml (the template has none)."""
    return sorted(p.parent.name for p in ports_dir.glob(f"*/{BOARD_FILE}"))

"""A board's CPU said once (issue 20 item 4): generator/data/cores.yaml holds each core's
architecture, features and flags; a board names its core and everything else is derived,
including -mcpu. The resolver requires a core; both Cortex-M3 boards give the same configs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.errors import TlsfitBug
from generator.cores import FEATURES, arches, find_core, load_cores
from generator.knowledge import knowledge_for
from generator.profile import load_profile
from generator.resolve import resolve
from measure.boards import BoardError, list_boards, load_board

ROOT = Path(__file__).resolve().parent.parent
PORTS = ROOT / "ports"
CPU_FLAG = re.compile(r"-mcpu=|-march=|-mabi=|-mthumb|-mfloat-abi=")


def test_every_board_names_a_core_and_derives_its_flags() -> None:
    boards = list_boards(PORTS)
    assert {"mps2-an385", "mps2-an386", "lm3s6965evb", "microbit", "riscv32-virt", "host"} <= set(boards)
    for name in boards:
        raw = yaml.safe_load((PORTS / name / "board.yaml").read_text())
        assert "cpu" not in raw and "arch" not in raw, name
        board = load_board(name, PORTS)
        core = find_core(raw["core"])
        assert board.core == core and board.cpu == core.name and board.arch == core.arch, name
        assert board.cflags[:len(core.cflags)] == core.cflags, name   # the core's flags, then the board's
        assert not any(CPU_FLAG.match(f) for f in raw.get("cflags") or ()), name
        assert (core.name == "host") == board.is_host, name


def test_the_cpu_flags_are_written_only_in_the_core_table() -> None:
    """-mcpu/-march appear in no file under ports/ (board facts, family code, template)."""
    hits = [p for p in PORTS.rglob("*") if p.is_file() and re.search(r"-mcpu=|-march=", p.read_text())]
    assert hits == []


def test_core_table_facts() -> None:
    cores = load_cores()
    assert cores["cortex-m3"].arch == cores["cortex-m3"].arch == "armv7-m"
    assert not cores["cortex-m3"].has("umaal") and cores["cortex-m4"].has("umaal")
    assert not cores["cortex-m0"].has("hwdiv") and cores["cortex-m0"].arch == "armv6-m"
    assert cores["cortex-m4f"].has("fpu") and not cores["cortex-m4"].has("fpu")
    assert cores["cortex-m33"].arch == "armv8-m.main" and cores["rv32imac"].cflags[0] == "-march=rv32imac"
    assert cores["host"].cflags == () and cores["host"].arch == "host"
    for core in cores.values():
        assert core.features <= set(FEATURES), core.name
        if core.arch.startswith("armv"):
            assert f"-mcpu={core.name.removesuffix('f').removesuffix('plus')}" in " ".join(core.cflags) or \
                core.name == "cortex-m0plus", core.name


def test_every_arm_core_has_a_cpi_range() -> None:
    """The time estimate's CPI table (generator/data/cpus.yaml) knows every Arm core by name or alias."""
    raw = yaml.safe_load((ROOT / "generator" / "data" / "cpus.yaml").read_text())
    known = {n for e in raw["cpus"] for n in (e["name"], *e.get("aliases", ()))}
    assert {c.name for c in load_cores().values() if c.arch.startswith("armv")} <= known


def test_knowledge_base_conditions_name_core_arches() -> None:
    kb = knowledge_for("3.6.6")
    named = ({a for t in kb.tuning for a in (*t.arch, *t.unless_arch)}
             | {a for d in kb.driver_builds for a in d.unless_arch})
    assert named and named <= set(arches())


def test_resolve_requires_a_core() -> None:
    kb = knowledge_for("3.6.6")
    profile = load_profile(ROOT / "profiles" / "tls12-psk.yaml", kb)
    with pytest.raises(TypeError):
        resolve(profile, kb)  # type: ignore[call-arg]
    with pytest.raises(TlsfitBug, match="needs a Core"):
        resolve(profile, kb, "armv7e-m")  # type: ignore[arg-type]


def _board(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "ports" / "odd"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.c").write_text("")
    (folder / "board.yaml").write_text("name: odd\n" + text + "cc: gcc\nsources: [x.c]\n"
                                       "qemu: {argv: [q, '{elf}', '{port}']}\n")
    return tmp_path / "ports"


def test_board_core_errors_have_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(BoardError, match=r"odd/board.yaml:2: error: unknown core 'cortex-m3x'; did you mean 'cortex-m3'\?"):
        load_board("odd", _board(tmp_path, "core: cortex-m3x\n"))
    with pytest.raises(BoardError, match=r"board.yaml:2: error: 'cpu' is no longer a board key; name the core"):
        load_board("odd", _board(tmp_path, "cpu: cortex-m3\n"))
    with pytest.raises(BoardError, match=r"board.yaml:3: error: 'arch' is no longer a board key"):
        load_board("odd", _board(tmp_path, "core: cortex-m3\narch: armv7-m\n"))
    with pytest.raises(BoardError, match=r"board.yaml:3: error: cflags entry '-mcpu=cortex-m4' selects the CPU.*"
                                         r"core: cortex-m3 gives -mcpu=cortex-m3 -mthumb -mfloat-abi=soft"):
        load_board("odd", _board(tmp_path, "core: cortex-m3\ncflags: [-mcpu=cortex-m4]\n"))
    with pytest.raises(BoardError, match=r"board.yaml:2: error: core 'host' is the build machine"):
        load_board("odd", _board(tmp_path, "core: host\n"))
    with pytest.raises(BoardError, match=r"board.yaml:1: error: missing required key 'core'"):
        load_board("odd", _board(tmp_path, ""))


def _gen(tmp_path: Path, target: str, level: str) -> str:
    out = tmp_path / f"{target}-{level}"
    done = subprocess.run([sys.executable, str(ROOT / "tlsfit"), "gen", str(ROOT / "profiles" / "tls12-ecdhe-ecdsa.yaml"),
                           "--target", target, "--optimize", level, "--no-validate", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return (out / "mbedtls_config.h").read_text()


@pytest.mark.parametrize("level", ("size", "balanced", "speed"))
def test_both_cortex_m3_boards_get_the_same_config(tmp_path: Path, level: str) -> None:
    """mps2-an385 and lm3s6965evb are both Cortex-M3: `tlsfit gen --target` gives the same header
    (before the core table, balanced gave p256-m on one and the built-in ECP on the other)."""
    an385 = _gen(tmp_path, "mps2-an385", level)
    assert an385 == _gen(tmp_path, "lm3s6965evb", level)
    if level != "size":   # no UMAAL on the M3: the built-in ECP's NIST reduction wins there
        assert "\n#define MBEDTLS_ECP_C\n" in an385 and "\n#define MBEDTLS_PSA_P256M_DRIVER_ENABLED\n" not in an385

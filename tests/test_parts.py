"""The parts catalogue, the user's own parts, and the report's used %, headroom and handshake estimate."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput, LocatedError
from generator.parts import (core_facts, find_part, known_cores, load_parts, load_user_parts, parse_part_spec,
                             runs_code_of)
from reports.fit import budget_excess, part_core_build, part_fit, with_part
from reports.report import render_html, render_markdown
from test_reports import CONFIG_TEXT, make_report

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = {"nrf52840", "nrf51822", "nrf5340", "stm32f407", "stm32l476", "stm32u585", "stm32h743", "esp32-c3", "rp2040",
            "samd21", "lpc55s69", "imxrt1052"}


def test_catalogue_entries_are_complete() -> None:
    parts = load_parts()
    assert {p.name for p in parts} == EXPECTED
    for p in parts:
        assert p.flash > 0 and p.ram > 0 and p.clock_hz >= 1_000_000 and p.core and p.source
    assert find_part("nrf52840").ram == 256 * 1024 and find_part("nrf52840").clock_hz == 64_000_000


@pytest.mark.parametrize("name, expected", [("NRF52840", "nrf52840"), ("stm32l4", "stm32l476"),
                                            ("ESP32C3", "esp32-c3"), ("i.MX-RT1052", "imxrt1052")])
def test_names_and_aliases(name: str, expected: str) -> None:
    assert find_part(name).name == expected


def test_unknown_part_suggests() -> None:
    with pytest.raises(BadInput, match=r"--part 'nrf52480': not a part tlsfit knows; did you mean 'nrf52840'\?"):
        find_part("nrf52480")


def test_unknown_part_lists_every_alias_it_may_suggest() -> None:
    with pytest.raises(BadInput) as caught:
        find_part("stm32f9")
    message = str(caught.value)
    assert "did you mean 'stm32f4'?" in message
    for part in load_parts():
        for name in (part.name, *part.aliases):
            assert name in message
    assert "core=cortex-m4,mhz=100,flash=512K,ram=128K" in message


def test_the_micro_bit_part() -> None:
    part = find_part("nRF51822")
    assert (part.core, part.clock_hz, part.flash, part.ram) == ("cortex-m0", 16_000_000, 262_144, 16_384)
    assert find_part("microbit-v1") == part


def test_a_part_described_in_place() -> None:
    part = find_part("core=cortex-m4,mhz=100,flash=512K,ram=128K")
    assert (part.core, part.clock_hz, part.flash, part.ram) == ("cortex-m4", 100_000_000, 524_288, 131_072)
    small = parse_part_spec("core=cortex-m0,mhz=16,flash=256K,ram=16384,name=tiny")
    assert (small.name, small.ram) == ("tiny", 16_384)


@pytest.mark.parametrize("spec, message", [
    ("core=cortex-m4,mhz=100,flash=512K", "missing ram"),
    ("core=cortex-m9,mhz=100,flash=512K,ram=128K", "core 'cortex-m9' is not one tlsfit knows"),
    ("core=cortex-m4,mhz=fast,flash=512K,ram=128K", "mhz='fast' is not a clock in MHz"),
    ("core=cortex-m4,mhz=100,flash=lots,ram=128K", "flash='lots' is not a size"),
    ("core=cortex-m4,mhz=100,flash=512K,ram=128K,colour=red", "unknown field 'colour'"),
])
def test_bad_part_fields(spec: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        find_part(spec)


def test_a_users_parts_file(tmp_path: Path) -> None:
    path = tmp_path / "parts.yaml"
    path.write_text("parts:\n  - name: my-gateway\n    aliases: [gw]\n    core: cortex-m4\n    mhz: 120\n"
                    "    flash: 512K\n    ram: 128K\n")
    mine = load_user_parts(path)
    assert find_part("GW", extra=mine).clock_hz == 120_000_000
    assert find_part("nrf52840", extra=mine).name == "nrf52840"      # the catalogue still answers
    with pytest.raises(BadInput, match="your parts: my-gateway \\(gw\\)"):
        find_part("my-gatewy2000", extra=mine)


@pytest.mark.parametrize("text, line, message", [
    ("parts:\n  - name: a\n    core: cortex-m4\n    mhz: 64\n    flash: 1M\n    ram: 12X\n", 6, "ram must be a size"),
    ("parts:\n  - name: a\n    core: cortex-m4\n    mhz: 64\n    flash: 1M\n", 2, "part is missing ram"),
    ("parts:\n  - name: a\n    cpu: cortex-m4\n", 3, "unknown key 'cpu'"),
    ("parts:\n  - name: a\n    core: z80\n    mhz: 4\n    flash: 1K\n    ram: 1K\n", 3, "core 'z80'"),
    ("parts: [\n", 2, "not YAML"),
])
def test_bad_parts_files_say_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "parts.yaml"
    path.write_text(text)
    with pytest.raises(LocatedError) as caught:
        load_user_parts(path)
    assert str(caught.value).startswith(f"{path}:{line}: error: ") and message in str(caught.value)


def test_profile_part_by_name_or_fields(tmp_path: Path) -> None:
    from generator.knowledge import knowledge_for
    from generator.profile import load_profile
    kb = knowledge_for("3.6.6")
    base = (ROOT / "profiles" / "tls12-psk.yaml").read_text()
    (tmp_path / "a.yaml").write_text(base + "part: stm32f4\n")
    assert load_profile(tmp_path / "a.yaml", kb).part == "stm32f407"
    (tmp_path / "b.yaml").write_text(base + "part: {core: cortex-m4, mhz: 100, flash: 512K, ram: 128K}\n")
    spec = load_profile(tmp_path / "b.yaml", kb).part
    assert find_part(spec).flash == 524_288 and find_part(spec).clock_hz == 100_000_000
    line = base.count("\n") + 1
    (tmp_path / "c.yaml").write_text(base + "part: {core: cortex-m4, mhz: 100, flash: 512K}\n")
    with pytest.raises(LocatedError, match=f"c.yaml:{line}: error: .*missing ram"):
        load_profile(tmp_path / "c.yaml", kb)


def test_cpi_ranges_carry_their_source_and_cover_it() -> None:
    for name in known_cores():
        facts = core_facts(name)
        assert facts.includes and facts.arch and facts.mcpu and facts.low <= facts.high
        for m in facts.measured:
            assert m["part"] and m["clock_mhz"] > 0 and m["source"] and m["includes"]
            assert facts.low <= m["cpi"] <= facts.high, (name, m)
    assert core_facts("cortex-m4").high >= 1.77
    assert any(m["part"] == "STM32F411" for m in core_facts("cortex-m4").measured)


def test_the_part_is_built_for_its_own_architecture() -> None:
    rp2040 = find_part("rp2040")
    assert part_core_build(rp2040, None, "cortex-m4") == "cortex-m0plus"       # an386: Armv6-M build
    assert part_core_build(rp2040, "armv6-m", "cortex-m0") is None            # micro:bit: its own figures
    assert part_core_build(find_part("nrf52840"), None, "cortex-m4") is None
    assert runs_code_of("armv7-m", "armv6-m") and not runs_code_of("armv6-m", "armv7-m")
    with pytest.raises(BadInput, match="does not run on the measured board's cortex-m4"):
        part_core_build(find_part("stm32u585"), None, "cortex-m4")
    with pytest.raises(BadInput, match="riscv32-imc.*no architecture"):
        part_core_build(find_part("esp32-c3"), None, "cortex-m4")


def test_fit_figures() -> None:
    report = make_report()                     # ROM 60,000; RAM 11,500; 60.2 M instructions
    fit = part_fit(report, find_part("samd21"))
    assert fit["rom_used_pct"] == round(100 * 60_000 / 262_144, 2)
    assert fit["rom_headroom"] == 262_144 - 60_000
    assert fit["ram_headroom"] == 32_768 - report["ram"]["total"]
    estimate = fit["handshake_time_estimate"]
    instructions = report["handshake"]["instructions"]
    assert estimate["low_ms"] == round(1000 * instructions * 1.1 / 48e6, 1)
    assert estimate["low_ms"] >= 1000 * instructions / 48e6           # never below 1 cycle per instruction
    assert estimate["low_ms"] < estimate["high_ms"] and "not" in estimate["note"]
    assert "handshake_ms_estimate" not in fit                           # one estimate, not two
    assert fit["fits"] is True
    tiny = part_fit({**report, "rom": {**report["rom"], "total": 300_000}}, find_part("samd21"))
    assert tiny["fits"] is False and tiny["rom_headroom"] < 0


def test_the_estimate_comes_from_the_parts_own_build() -> None:
    report = make_report()                     # measured on the M4
    armv6 = {**make_report(target="mps2-an386-as-cortex-m0plus", cpu="cortex-m0plus"), "config_sha256": "1" * 64}
    armv6["handshake"] = {**armv6["handshake"], "instructions": 240_300_000}
    fit = part_fit(report, find_part("rp2040"), on_part=armv6)
    assert fit["instructions"] == 240_300_000
    assert fit["handshake_time_estimate"]["low_ms"] >= 1000 * 240_300_000 / 133e6
    assert "built for cortex-m0plus (armv6-m" in fit["measured_on"]
    at_80 = part_fit(report, find_part("stm32l4"), clock_hz=80_000_000)
    assert at_80["clock_hz"] == 80_000_000 and at_80["handshake_time_estimate"]["clock_hz"] == 80_000_000
    custom = part_fit(report, find_part("core=cortex-m4,mhz=100,flash=512K,ram=128K"))
    assert custom["handshake_time_estimate"]["high_ms"] >= round(1000 * report["handshake"]["instructions"] * 1.77 / 100e6, 1)


def test_reports_show_the_part() -> None:
    report = with_part(make_report(), find_part("nrf52840"))
    md = render_markdown(report)
    assert "Part **nrf52840**" in md and "| flash | 60,000 | 1,048,576 | 5.7 % |" in md
    assert "guest instructions x CPI 1.1-1.8" in md and "STM32F411" in md
    assert md.count("ms (estimate") == 1 and "about" not in md.split("Part **")[1]
    html = render_html(report, CONFIG_TEXT)
    assert 'id="part"' in html and "5.7 %" in html


def test_budget_excess() -> None:
    from generator.model import Budget
    report = make_report(budget=Budget(rom=52_400, ram=None))
    assert budget_excess(report) == [("rom.total", 60_000, 52_400)]
    assert "over by 7,600" in render_markdown(report)
    assert budget_excess(make_report(budget=Budget(rom=60_000, ram=20_000))) == []

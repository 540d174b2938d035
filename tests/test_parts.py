"""The parts catalogue and the report's used %, headroom and handshake estimate."""
from __future__ import annotations

import pytest

from core.errors import BadInput
from generator.parts import find_part, load_parts
from reports.fit import budget_excess, part_fit, with_part
from reports.report import render_html, render_markdown
from test_reports import CONFIG_TEXT, make_report

EXPECTED = {"nrf52840", "nrf5340", "stm32f407", "stm32l476", "stm32u585", "stm32h743", "esp32-c3", "rp2040",
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


def test_fit_figures() -> None:
    report = make_report()                     # ROM 60,000; RAM 11,500; 60.2 M instructions
    fit = part_fit(report, find_part("samd21"))
    assert fit["rom_used_pct"] == round(100 * 60_000 / 262_144, 2)
    assert fit["rom_headroom"] == 262_144 - 60_000
    assert fit["ram_headroom"] == 32_768 - report["ram"]["total"]
    assert fit["handshake_ms_estimate"] == round(1000 * report["handshake"]["instructions"] / 48e6, 1)
    assert fit["fits"] is True and "not" in fit["estimate_note"]
    tiny = part_fit({**report, "rom": {**report["rom"], "total": 300_000}}, find_part("samd21"))
    assert tiny["fits"] is False and tiny["rom_headroom"] < 0


def test_reports_show_the_part() -> None:
    report = with_part(make_report(), find_part("nrf52840"))
    md = render_markdown(report)
    assert "Part **nrf52840**" in md and "| flash | 60,000 | 1,048,576 | 5.7 % |" in md
    assert "instructions are not" in md
    html = render_html(report, CONFIG_TEXT)
    assert 'id="part"' in html and "5.7 %" in html


def test_budget_excess() -> None:
    from generator.model import Budget
    report = make_report(budget=Budget(rom=52_400, ram=None))
    assert budget_excess(report) == [("rom.total", 60_000, 52_400)]
    assert "over by 7,600" in render_markdown(report)
    assert budget_excess(make_report(budget=Budget(rom=60_000, ram=20_000))) == []

"""Footprint gate: baseline round trip, limits, problems, and the CI outputs."""
from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reports.gate import GateError, check, format_table, to_junit, to_markdown, write_baseline
from reports.limits import Limit, LimitsError, apply_overrides, default_limits, load_limits, parse_limit
from reports.metrics import METRIC_NAMES
from reports.schema import SchemaError

REPO = Path(__file__).resolve().parent.parent


def report(profile: str = "demo", target: str = "mps2-an386") -> dict:
    """A report dict shaped like reports/report.py's output (the gate reads nothing else)."""
    return {
        "schema_version": 1, "profile": profile, "target": target,
        "rom": {"total": 60_000, "mbedtls": 44_000, "other": 16_000, "modules": {"ecp.o": 44_000}},
        "ram": {"static": 3_000, "heap_peak": 6_900, "stack_peak": 1_600, "total": 11_500},
        "handshake": {"ok": True, "error": None, "instructions": 100_000_000},
        "budget": None,
    }


def grown(base: dict, path: tuple[str, str], by: int) -> dict:
    changed = copy.deepcopy(base)
    changed[path[0]][path[1]] += by
    return changed


@pytest.fixture
def baseline() -> dict:
    return json.loads(write_baseline([report(), report("other")]))


def test_baseline_is_stable_reviewable_json() -> None:
    text = write_baseline([report("b"), report("a")])
    assert text == write_baseline([report("a"), report("b")])
    assert text.endswith("\n") and text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    data = json.loads(text)
    assert data["schema_version"] == 1
    assert data["entries"]["a@mps2-an386"] == {
        "rom.total": 60_000, "rom.mbedtls": 44_000, "ram.static": 3_000, "ram.heap_peak": 6_900,
        "ram.stack_peak": 1_600, "ram.total": 11_500, "handshake.instructions": 100_000_000}


def test_baseline_refuses_failed_and_duplicate_reports() -> None:
    failed = report()
    failed["handshake"]["ok"] = False
    with pytest.raises(GateError, match="handshake failed"):
        write_baseline([failed])
    with pytest.raises(GateError, match="two reports"):
        write_baseline([report(), report()])


def test_unchanged_reports_pass(baseline: dict) -> None:
    result = check(baseline, [report(), report("other")], default_limits())
    assert result.ok, format_table(result)
    assert len(result.rows) == 2 * len(METRIC_NAMES)
    assert format_table(result).startswith("gate passed")


@pytest.mark.parametrize("path", [("rom", "total"), ("rom", "mbedtls"), ("ram", "static"), ("ram", "heap_peak"),
                                  ("ram", "stack_peak"), ("ram", "total")])
def test_one_byte_of_growth_fails_and_names_the_metric(baseline: dict, path: tuple[str, str]) -> None:
    metric = ".".join(path)
    result = check(baseline, [grown(report(), path, 1), report("other")], default_limits())
    assert not result.ok
    [failure] = result.failures
    assert (failure.key, failure.metric, failure.delta) == ("demo@mps2-an386", metric, 1)
    assert metric in failure.message
    table = format_table(result)
    assert "gate FAILED" in table and metric in table


def test_shrinking_passes(baseline: dict) -> None:
    assert check(baseline, [grown(report(), ("rom", "total"), -400), report("other")], default_limits()).ok


def test_instructions_get_one_percent_by_default(baseline: dict) -> None:
    within = grown(report(), ("handshake", "instructions"), 1_000_000)       # exactly 1 %
    beyond = grown(report(), ("handshake", "instructions"), 1_000_001)
    assert check(baseline, [within, report("other")], default_limits()).ok
    result = check(baseline, [beyond, report("other")], default_limits())
    assert [f.metric for f in result.failures] == ["handshake.instructions"]


def test_limits_flags_and_larger_allowance_wins(baseline: dict) -> None:
    assert parse_limit("rom.total=+512") == ("rom.total", Limit(absolute=512))
    assert parse_limit("ram.total=2%") == ("ram.total", Limit(percent=2.0))
    assert parse_limit("rom.total=+100,+1%")[1].allowance(60_000) == 600  # 1 % of 60,000 beats 100 bytes
    assert parse_limit("rom.total=+700,+1%")[1].allowance(60_000) == 700
    limits = apply_overrides(default_limits(), ["rom.total=+512", "rom.mbedtls=+512"])
    assert check(baseline, [grown(grown(report(), ("rom", "total"), 512), ("rom", "mbedtls"), 512),
                            report("other")], limits).ok
    result = check(baseline, [grown(report(), ("rom", "total"), 513), report("other")], limits)
    assert [f.metric for f in result.failures] == ["rom.total"]
    everything = apply_overrides(default_limits(), ["bytes=+10"])
    assert everything.for_metric("ram.static") == Limit(absolute=10)
    assert everything.for_metric("handshake.instructions") == Limit(percent=1.0)
    for bad in ("rom.total", "rom.totl=+5", "rom.total=lots", "rom.total=+1.5"):
        with pytest.raises(LimitsError):
            parse_limit(bad)


def test_committed_limits_file_loads() -> None:
    limits = load_limits(REPO / "ci" / "limits.yaml")
    assert set(limits.per_metric) == set(METRIC_NAMES)


def test_limits_file_overrides(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text("schema_version: 1\nlimits:\n  bytes: +16\n  ram.heap_peak: +64\n  handshake.instructions: 2%\n")
    limits = load_limits(path)
    assert limits.for_metric("rom.total") == Limit(absolute=16)
    assert limits.for_metric("ram.heap_peak") == Limit(absolute=64)
    assert limits.for_metric("handshake.instructions") == Limit(percent=2.0)
    path.write_text("limits:\n  rom.toal: +1\n")
    with pytest.raises(LimitsError, match="unknown metric"):
        load_limits(path)


def test_problems_are_failing_rows(baseline: dict) -> None:
    failed = report()
    failed["handshake"] = {"ok": False, "instructions": None,
                           "error": {"name": "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED", "hex": "-0x2700",
                                     "stage": "handshake", "message": None}}
    result = check(baseline, [failed, report("newcomer")], default_limits())
    by_metric = {(f.key, f.metric): f.message for f in result.failures}
    assert "MBEDTLS_ERR_X509_CERT_VERIFY_FAILED" in by_metric[("demo@mps2-an386", "handshake")]
    assert "the report has no handshake.instructions" in by_metric[("demo@mps2-an386", "handshake.instructions")]
    assert "not in the baseline" in by_metric[("newcomer@mps2-an386", "baseline")]
    assert "no report" in by_metric[("other@mps2-an386", "report")]


def test_budget_is_checked(baseline: dict) -> None:
    over = report()
    over["budget"] = {"rom": 59_999, "ram": 20_000}
    result = check(baseline, [over, report("other")], default_limits())
    [failure] = result.failures
    assert failure.metric == "budget.rom" and "budget" in failure.message
    over["budget"]["rom"] = 60_000
    assert check(baseline, [over, report("other")], default_limits()).ok


def test_bad_baseline_is_an_error() -> None:
    with pytest.raises(SchemaError, match=r"baseline: \$\.schema_version: missing"):
        check({"entries": {}}, [report()], default_limits())
    with pytest.raises(SchemaError, match=r"\$\.schema_version: expected baseline schema_version 1, got 999"):
        check({"schema_version": 999, "entries": {}}, [report()], default_limits())


def test_junit_and_markdown(baseline: dict) -> None:
    result = check(baseline, [grown(report(), ("ram", "heap_peak"), 8), report("other")], default_limits())
    root = ET.fromstring(to_junit(result))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(result.rows)) and suite.get("failures") == "1"
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [("tlsfit.demo@mps2-an386", "ram.heap_peak")]
    markdown = to_markdown(result)
    assert markdown.startswith("### tlsfit footprint gate: FAILED")
    first_row = markdown.splitlines()[4]
    assert "ram.heap_peak" in first_row and "**FAIL**" in first_row and "+8" in first_row

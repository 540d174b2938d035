"""Footprint gate: baseline round trip, limits, problems, and the CI outputs."""
from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from reports.gate import GateError, check, format_table, to_junit, to_markdown, write_baseline
from reports.limits import Limit, LimitsError, apply_overrides, default_limits, load_limits, parse_limit
from reports.metrics import METRIC_NAMES, report_key
from reports.schema import SchemaError, validate_baseline

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
        "ram.stack_peak": 1_600, "ram.total": 11_500, "handshake.instructions": 100_000_000,
        "modules": {"ecp.o": 44_000}}


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


def test_a_per_entry_limit_covers_that_entry_only(baseline: dict, tmp_path: Path) -> None:
    """limits.yaml `entries:` give one build room for its measured noise, and no other build."""
    path = tmp_path / "limits.yaml"
    path.write_text("schema_version: 1\nlimits: {bytes: +0}\nentries:\n  demo@mps2-an386: {ram.heap_peak: +16}\n")
    limits = load_limits(path)
    ok = check(baseline, [grown(report(), ("ram", "heap_peak"), 1), report("other")], limits)
    assert [f for f in ok.failures if f.metric == "ram.heap_peak"] == []
    other = check(baseline, [report(), grown(report("other"), ("ram", "heap_peak"), 1)], limits)
    assert [(f.key, f.metric) for f in other.failures] == [("other@mps2-an386", "ram.heap_peak")]
    path.write_text("schema_version: 1\nentries:\n  demo@mps2-an386: {bytes: +16}\n")
    with pytest.raises(LimitsError, match="expected one metric"):
        load_limits(path)


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


# ---------------------------------------------------------------- keys, causes, output (issue 12)

def real_report() -> dict:
    """A report.json of `make gate` when it ran (many modules, real option names), else the sample."""
    path = REPO / "build" / "gate" / "tls12-psk" / "report.json"
    if path.is_file():
        return json.loads(path.read_text())
    sample = report("tls12-psk")
    sample["rom"]["modules"] = {f"m{i:02}.o": 1_000 + 100 * i for i in range(20)}
    other = sample["rom"]["total"] - sample["rom"]["mbedtls"]
    sample["rom"]["mbedtls"] = sum(sample["rom"]["modules"].values())   # modules sum to it, as measured
    sample["rom"]["total"] = sample["rom"]["mbedtls"] + max(other, 0)
    sample["options"] = [f"OPTION_{c}" for c in "ABCDEFGH"]   # names come from report data only
    sample["optimize"] = "size"
    sample["server"] = {"kind": "reference", "address": "127.0.0.1:4433"}
    return sample


def test_key_names_level_and_server_but_size_on_the_reference_server_keeps_the_old_name() -> None:
    base = real_report()
    assert report_key(base) == f"{base['profile']}@{base['target']}"
    speed = dict(base, optimize="speed")
    assert report_key(speed) == f"{base['profile']}@{base['target']}-speed"
    external = dict(base, server={"kind": "external", "address": "broker.example:8883"})
    assert report_key(external) == f"{base['profile']}@{base['target']}@broker.example:8883"
    both = dict(speed, server={"kind": "external", "address": "[::1]:4433"})
    assert report_key(both) == f"{base['profile']}@{base['target']}-speed@[::1]:4433"
    legacy = {k: v for k, v in base.items() if k not in ("optimize", "server")}
    assert report_key(legacy) == report_key(base)          # old reports: size, reference server
    validate_baseline(json.loads(write_baseline([base, speed, external, both])), "b")


def test_two_levels_of_one_profile_are_gated_together() -> None:
    size, speed = real_report(), dict(real_report(), optimize="speed")
    speed = grown(speed, ("rom", "total"), 3_000)
    baseline = json.loads(write_baseline([size, speed]))
    assert len(baseline["entries"]) == 2
    assert check(baseline, [size, speed], default_limits()).ok
    result = check(baseline, [size, grown(speed, ("rom", "total"), 1)], default_limits())
    assert [(f.key, f.metric) for f in result.failures] == [(report_key(speed), "rom.total")]


def test_old_baseline_entry_is_used_for_a_level_suffixed_key() -> None:
    balanced = dict(real_report(), optimize="balanced")
    old = json.loads(write_baseline([real_report()]))       # written under "<profile>@<target>"
    result = check(old, [balanced], default_limits())
    assert result.ok, format_table(result, verbose=True)
    assert "named before levels" in format_table(result, verbose=True)
    # but not when a size report of the same run claims that entry
    both = check(old, [real_report(), balanced], default_limits())
    assert [(f.key, f.metric) for f in both.failures] == [(report_key(balanced), "baseline")]


def test_failing_gate_names_grown_modules_added_options_and_the_accept_command() -> None:
    base = copy.deepcopy(real_report())
    dropped = sorted(base["options"])[0]
    base["option_reasons"] = {dropped: "required by the old suite"}
    baseline = json.loads(write_baseline([base]))
    entry = baseline["entries"][report_key(base)]
    kept = entry["modules"]
    assert kept == base["rom"]["modules"] and entry["options"] == sorted(base["options"])   # every module
    biggest, smallest = max(kept, key=kept.get), min(kept, key=kept.get)
    new = copy.deepcopy(base)
    new["rom"]["modules"][biggest] += 700
    new["rom"]["modules"]["brand_new.o"] = 886
    del new["rom"]["modules"][smallest]
    growth = 700 + 886 - kept[smallest]
    new["rom"]["total"] += growth + 12                             # 12 B outside mbedTLS
    new["rom"]["mbedtls"] += growth
    new["options"] = [o for o in base["options"] if o != dropped] + ["ADDED_OPTION_NAME"]
    new["option_reasons"] = {"ADDED_OPTION_NAME": "ciphersuite X -> ChaCha20"}
    result = check(baseline, [new], default_limits())
    [cause] = result.causes
    assert [g.name for g in cause.modules or ()] == ["brand_new.o", biggest, smallest]
    assert sum(g.now - g.baseline for g in cause.modules or ()) == growth == cause.mbedtls_delta
    assert cause.options_added == ("ADDED_OPTION_NAME",) and cause.options_removed == (dropped,)
    text = format_table(result, accept="make baseline")
    assert f"(sum {growth:+,} B = rom.mbedtls {growth:+,} B)" in text
    assert f"{biggest} +700 B ({kept[biggest]:,} -> {kept[biggest] + 700:,})" in text
    assert "brand_new.o +886 B (new)" in text and f"{smallest} -{kept[smallest]:,} B (gone)" in text
    assert "outside mbedTLS (harness, startup, libc): +12 B" in text
    assert "+ ADDED_OPTION_NAME: ciphersuite X -> ChaCha20" in text
    assert f"- {dropped}: it was there for: required by the old suite" in text
    assert text.rstrip().endswith("accept it (review the figures first): make baseline")
    assert "brand_new.o" in to_markdown(result)


def test_old_baseline_without_modules_or_options_still_gates_and_says_so() -> None:
    base = real_report()
    baseline = json.loads(write_baseline([base]))
    for entry in baseline["entries"].values():
        del entry["modules"]
        entry.pop("options", None)
    assert check(baseline, [base], default_limits()).ok
    result = check(baseline, [grown(base, ("rom", "total"), 8)], default_limits())
    [cause] = result.causes
    assert cause.modules is None and cause.options_added is None
    assert "keeps no module sizes" in format_table(result)


def test_default_output_is_failing_rows_and_a_total_verbose_is_every_row(baseline: dict) -> None:
    passed = check(baseline, [report(), report("other")], default_limits())
    assert format_table(passed) == f"gate passed: {len(passed.rows)} checks within limits (2 entries)\n"
    assert len(format_table(passed, verbose=True).splitlines()) == 1 + 1 + 2 + len(passed.rows)
    failed = check(baseline, [grown(report(), ("ram", "static"), 4), report("other")], default_limits())
    lines = format_table(failed).splitlines()
    assert lines[0] == f"gate FAILED: 1 of {len(failed.rows)} checks (1 of 2 entries)"
    table = [line for line in lines if "@mps2-an386" in line and not line.startswith("  ")]
    assert len(table) == 1 and "ram.static" in table[0] and "FAIL" in table[0]
    assert "write-baseline" in lines[-1]
    assert len([l for l in format_table(failed, verbose=True).splitlines() if " ok" in l]) == len(failed.rows) - 1


def test_failed_handshake_alone_gets_no_accept_command(baseline: dict) -> None:
    failed = report()
    failed["handshake"] = {"ok": False, "instructions": None, "error": None}
    result = check(baseline, [failed, report("other")], default_limits())
    text = format_table(result)
    assert "handshake failed" in text and "write-baseline" not in text


@pytest.mark.parametrize("key, entry_change, needle", [
    ("demo", {}, "an entry is named"),
    ("demo@mps2-an386@nohost", {}, "an entry is named"),
    ("demo@mps2-an386", {"modules": {"ecp.o": -1}}, "modules"),
    ("demo@mps2-an386", {"options": "A"}, "list of option names"),
    ("demo@mps2-an386", {"options": [3]}, "expected a string"),
])
def test_baseline_keys_modules_and_options_are_checked(key: str, entry_change: dict, needle: str) -> None:
    entry = dict(json.loads(write_baseline([report()]))["entries"]["demo@mps2-an386"], **entry_change)
    with pytest.raises(SchemaError, match=needle):
        validate_baseline({"schema_version": 1, "entries": {key: entry}}, "b.json")


def test_write_baseline_keeps_figures_that_moved_within_their_noise_limit() -> None:
    """Accepting one change must not rewrite every other entry's noise (instructions move ±0.1 %)."""
    base = real_report()
    previous = json.loads(write_baseline([base]))
    noisy = copy.deepcopy(base)
    before = noisy["handshake"]["instructions"]
    noisy["handshake"]["instructions"] = before + before // 500          # +0.2 %: within the 1 % limit
    noisy["rom"]["total"] += 4                                           # any ROM growth is a change
    noisy["rom"]["mbedtls"] += 4
    written = json.loads(write_baseline([noisy], previous, default_limits()))["entries"][report_key(base)]
    assert written["handshake.instructions"] == before
    assert written["rom.total"] == base["rom"]["total"] + 4
    far = copy.deepcopy(base)
    far["handshake"]["instructions"] = before * 2
    written = json.loads(write_baseline([far], previous, default_limits()))["entries"][report_key(base)]
    assert written["handshake.instructions"] == before * 2

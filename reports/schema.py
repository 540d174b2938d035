"""The one schema of report.json and baseline files, checked on read (diff, gate, report, comment).

Nothing downstream trusts a file it did not check: the first bad field is named by
its JSON path, e.g.

    build/x/report.json: $.rom.total: expected a non-negative integer, got "12"

and is bad input (exit 2), never a traceback, never "missing from the report"
(exit 1 is the gate's regression code), never silently skipped.

Report fields checked (what diff, gate and the summaries read; unknown extra keys are fine):

    schema_version            the integer REPORT_SCHEMA_VERSION
    profile, target           names, [a-z0-9-]+
    config_sha256             a string, when present
    rom.total, rom.mbedtls    non-negative integers (a report always has a linked image)
    rom.modules               an object of module name (a file name: [A-Za-z0-9_.+-]) -> non-negative integer
    options                   absent, or a list of option names ([A-Z][A-Z0-9_]*: MBEDTLS_*, PSA_WANT_*)
    ram.static                a non-negative integer
    ram.heap_peak, ram.stack_peak, ram.total
                              non-negative integers; null only when the handshake failed (nothing ran)
    ram.* other figures       non-negative integer or null (static_mbedtls, stack_harness, ...)
    handshake.ok              true or false
    handshake.error           null or an object (code: integer or null; hex, name, stage, message,
                              alert, description: string or null)
    handshake.instructions    non-negative integer, or null: not counted on this target (host), or no run
    handshake.bytes_sent/bytes_received/allocator_instructions/allocations
                              non-negative integer or null
    app                       absent, or an object whose ok is true, false or null
    budget                    null or an object with rom, ram: positive integer or null
    fits                      absent or true; false: the build did not fit the target's part
                              (measure exit 2), and then instead of the figures above:
                              overflow {region: positive integer}, rom/ram/handshake null,
                              limits {flash, ram: positive integer or null}, does_not_fit (string)

Baseline: {"schema_version": BASELINE_SCHEMA_VERSION, "entries": {KEY: {METRIC: figure}}}, KEY as
reports.metrics.report_key makes it ("<profile>@<target>[-<level>][@<host>:<port>]"), with every metric of
reports/metrics.py present; a figure is a non-negative integer, and null only for handshake.instructions
(not counted on that target: then the report must not count it either). Optional in an entry (baselines
written before them are read as they are): "modules" {module: non-negative integer}, the biggest ROM
modules, and "options" [string], the config options of the build; they let a failing gate say what grew.
JSON itself is read strictly: NaN/Infinity and duplicate keys are refused.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.inputs import MIB, read_text
from reports.metrics import ENTRY_KEY, METRICS

REPORT_SCHEMA_VERSION = 1
BASELINE_SCHEMA_VERSION = 1
MAX_JSON_BYTES = 16 * MIB
NULLABLE_BASELINE_METRICS = frozenset({"handshake.instructions"})   # not counted on some targets
# an image's entry (tlsfit size): nothing ran, so only ROM and static RAM are figures
IMAGE_NULLABLE_METRICS = frozenset({"ram.heap_peak", "ram.stack_peak", "ram.total", "handshake.instructions"})
_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# what the comment and the Markdown views print inside code spans and prose: a config option
# name, and a ROM module (an object file name, e.g. ssl_tls.o); nothing else gets through
# (the C macro shape: mbedTLS's MBEDTLS_* and PSA_WANT_*; the knowledge base, not this file, knows which exist)
_OPTION = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$", re.ASCII)
_MODULE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$", re.ASCII)


class SchemaError(BadInput):
    """A report or baseline that does not follow the schema: `FILE: $.path: what`, exit 2."""


def json_path(parts: tuple[str | int, ...]) -> str:
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _KEY.match(p):
            out += f".{p}"
        else:
            out += "[" + json.dumps(p) + "]"
    return out


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    kind = {dict: "an object", list: "a list"}.get(type(value))
    if kind:
        return kind
    return text if len(text) <= 40 else text[:36] + "..."


class _Checker:
    def __init__(self, where: str):
        self.where = where

    def fail(self, parts: tuple[str | int, ...], message: str) -> SchemaError:
        return SchemaError(f"{self.where}: {json_path(parts)}: {message}")

    def obj(self, data: Any, parts: tuple[str | int, ...]) -> dict:
        if not isinstance(data, dict):
            raise self.fail(parts, f"expected an object, got {_shown(data)}")
        return data

    def get(self, data: dict, key: str, parts: tuple[str | int, ...]) -> Any:
        if key not in data:
            raise self.fail((*parts, key), "missing")
        return data[key]

    def count(self, value: Any, parts: tuple[str | int, ...], nullable: bool, positive: bool = False) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
            what = "a positive integer" if positive else "a non-negative integer"
            raise self.fail(parts, f"expected {what}{' or null' if nullable else ''}, got {_shown(value)}")
        return value

    def boolean(self, value: Any, parts: tuple[str | int, ...], nullable: bool = False) -> None:
        if not isinstance(value, bool) and not (nullable and value is None):
            raise self.fail(parts, f"expected true or false{' or null' if nullable else ''}, got {_shown(value)}")

    def text(self, value: Any, parts: tuple[str | int, ...], nullable: bool = False) -> None:
        if not isinstance(value, str) and not (nullable and value is None):
            raise self.fail(parts, f"expected a string{' or null' if nullable else ''}, got {_shown(value)}")

    def option(self, value: Any, parts: tuple[str | int, ...]) -> None:
        self.text(value, parts)
        if not _OPTION.match(value):
            raise self.fail(parts, f"expected a config option name ([A-Z][A-Z0-9_]*, a C macro name), "
                                   f"got {_shown(value)}")

    def module(self, name: str, parts: tuple[str | int, ...]) -> None:
        if not _MODULE.match(name):
            raise self.fail(parts, "expected a module file name ([A-Za-z0-9_.+-], e.g. ssl_tls.o)")

    def options(self, value: Any, parts: tuple[str | int, ...]) -> None:
        if not isinstance(value, list):
            raise self.fail(parts, f"expected a list of option names, got {_shown(value)}")
        for i, option in enumerate(value):
            self.option(option, (*parts, i))

    def name(self, value: Any, parts: tuple[str | int, ...]) -> None:
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.fail(parts, f"expected a name of [a-z0-9-]+ (at most 64), got {_shown(value)}")


def validate_report(data: Any, where: str) -> dict:
    """`data` (parsed report.json) if it follows the schema, else SchemaError naming the first bad field."""
    c = _Checker(where)
    report = c.obj(data, ())
    version = c.get(report, "schema_version", ())
    if isinstance(version, bool) or version != REPORT_SCHEMA_VERSION:
        raise c.fail(("schema_version",), f"this tlsfit reads report schema_version {REPORT_SCHEMA_VERSION}, got "
                     f"{_shown(version)}; measure again with this tlsfit")
    c.name(c.get(report, "profile", ()), ("profile",))
    c.name(c.get(report, "target", ()), ("target",))
    if "config_sha256" in report:
        c.text(report["config_sha256"], ("config_sha256",))
    if "fits" in report:
        c.boolean(report["fits"], ("fits",))
    if report.get("fits") is False:
        return _validate_does_not_fit(c, report)

    rom = c.obj(c.get(report, "rom", ()), ("rom",))
    for key in ("total", "mbedtls"):
        c.count(c.get(rom, key, ("rom",)), ("rom", key), nullable=False)
    modules = c.obj(c.get(rom, "modules", ("rom",)), ("rom", "modules"))
    for module, size in modules.items():
        c.module(module, ("rom", "modules", module))
        c.count(size, ("rom", "modules", module), nullable=False)
    if "options" in report:
        c.options(report["options"], ("options",))
    for key, value in rom.items():
        if key not in ("total", "mbedtls", "modules") and isinstance(value, (int, float)):
            c.count(value, ("rom", key), nullable=True)
    if "symbols" in rom:
        for symbol, size in c.obj(rom["symbols"], ("rom", "symbols")).items():
            c.count(size, ("rom", "symbols", symbol), nullable=False)

    if report.get("kind") == "image":
        return _validate_image(c, report)
    hs = c.obj(c.get(report, "handshake", ()), ("handshake",))
    ok = c.get(hs, "ok", ("handshake",))
    c.boolean(ok, ("handshake", "ok"))
    error = hs.get("error")
    if error is not None:
        c.obj(error, ("handshake", "error"))
        if "code" in error:
            if error["code"] is not None and (isinstance(error["code"], bool) or not isinstance(error["code"], int)):
                raise c.fail(("handshake", "error", "code"), f"expected an integer or null, got {_shown(error['code'])}")
        for key in ("hex", "name", "stage", "message", "alert", "description"):
            if key in error:
                c.text(error[key], ("handshake", "error", key), nullable=True)
    c.count(c.get(hs, "instructions", ("handshake",)), ("handshake", "instructions"), nullable=True)
    for key in ("bytes_sent", "bytes_received", "allocator_instructions", "allocations"):
        if key in hs:
            c.count(hs[key], ("handshake", key), nullable=True)

    ram = c.obj(c.get(report, "ram", ()), ("ram",))
    c.count(c.get(ram, "static", ("ram",)), ("ram", "static"), nullable=False)
    for key in ("heap_peak", "stack_peak", "total"):
        # unknown (null) only when nothing ran
        c.count(c.get(ram, key, ("ram",)), ("ram", key), nullable=not ok)
    for key, value in ram.items():
        if key not in ("static", "heap_peak", "stack_peak", "total"):
            c.count(value, ("ram", key), nullable=True)

    if "app" in report and report["app"] is not None:
        app = c.obj(report["app"], ("app",))
        if "ok" in app:
            c.boolean(app["ok"], ("app", "ok"), nullable=True)
    budget = report.get("budget")
    if budget is not None:
        c.obj(budget, ("budget",))
        for key in ("rom", "ram"):
            if key in budget:
                c.count(budget[key], ("budget", key), nullable=True, positive=True)
    return report


def _validate_image(c: _Checker, report: dict) -> dict:
    """A `tlsfit size` report: an image's ROM and static RAM; nothing ran (handshake and peaks null)."""
    if c.get(report, "handshake", ()) is not None:
        raise c.fail(("handshake",), "expected null in an image report (tlsfit size runs nothing)")
    ram = c.obj(c.get(report, "ram", ()), ("ram",))
    c.count(c.get(ram, "static", ("ram",)), ("ram", "static"), nullable=False)
    for key, value in ram.items():
        if key != "static":
            c.count(value, ("ram", key), nullable=True)
    return report


def _validate_does_not_fit(c: _Checker, report: dict) -> dict:
    """The record of a build that did not fit its target (fits: false): the overflow per linker
    region (a non-empty object of region -> positive integer), no image and no run (rom, ram and
    handshake null), limits: flash/ram positive integer or null, does_not_fit: the explanation."""
    overflow = c.obj(c.get(report, "overflow", ()), ("overflow",))
    if not overflow:
        raise c.fail(("overflow",), "a report with fits: false names at least one overflowing region")
    for region, over in overflow.items():
        c.count(over, ("overflow", region), nullable=False, positive=True)
    for key in ("rom", "ram", "handshake"):
        if report.get(key) is not None:
            raise c.fail((key,), f"expected null in a report with fits: false (nothing was linked or run), "
                                 f"got {_shown(report[key])}")
    if report.get("limits") is not None:
        limits = c.obj(report["limits"], ("limits",))
        for key in ("flash", "ram"):
            if key in limits:
                c.count(limits[key], ("limits", key), nullable=True, positive=True)
    if "does_not_fit" in report:
        c.text(report["does_not_fit"], ("does_not_fit",))
    return report


def fits(report: dict) -> bool:
    """False for the record of a build that did not fit its target (measure exit 2)."""
    return report.get("fits", True) is not False


def validate_baseline(data: Any, where: str) -> dict[str, dict]:
    """The baseline's entries if it follows the schema, else SchemaError naming the first bad field."""
    c = _Checker(where)
    baseline = c.obj(data, ())
    version = c.get(baseline, "schema_version", ())
    if isinstance(version, bool) or version != BASELINE_SCHEMA_VERSION:
        raise c.fail(("schema_version",), f"expected baseline schema_version {BASELINE_SCHEMA_VERSION}, got "
                     f"{_shown(version)}; rewrite it with --write-baseline")
    entries = c.obj(c.get(baseline, "entries", ()), ("entries",))
    for key, entry in entries.items():
        if not ENTRY_KEY.match(key):
            raise c.fail(("entries", key), "an entry is named '<profile>@<target>', with '-<level>' after the "
                                           "target for a level other than size and '@<host>:<port>' for a real server")
        c.obj(entry, ("entries", key))
        nullable = IMAGE_NULLABLE_METRICS if entry.get("kind") == "image" else NULLABLE_BASELINE_METRICS
        for metric in METRICS:
            c.count(c.get(entry, metric.name, ("entries", key)), ("entries", key, metric.name),
                    nullable=metric.name in nullable)
        if "modules" in entry:
            for module, size in c.obj(entry["modules"], ("entries", key, "modules")).items():
                c.module(module, ("entries", key, "modules", module))
                c.count(size, ("entries", key, "modules", module), nullable=False)
        if "options" in entry:
            c.options(entry["options"], ("entries", key, "options"))
        if "option_reasons" in entry:
            for option, reason in c.obj(entry["option_reasons"], ("entries", key, "option_reasons")).items():
                c.options([option], ("entries", key, "option_reasons"))
                c.text(reason, ("entries", key, "option_reasons", option))
    return entries


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {json.dumps(key)[:40]} appears twice")
        out[key] = value
    return out


def parse_json(text: str, where: str, what: str) -> Any:
    """Strict JSON: no NaN/Infinity, no duplicate keys; errors name the line."""
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise SchemaError(f"{where}:{e.lineno}: not valid JSON ({e.msg}); is this a tlsfit {what}?") from None
    except ValueError as e:
        raise SchemaError(f"{where}: not valid JSON for a tlsfit {what}: {e}") from None
    except RecursionError:
        raise SchemaError(f"{where}: nested too deeply to be a tlsfit {what}") from None


def load_json(path: Path, what: str) -> Any:
    """A size-capped, regular, UTF-8 JSON file (core/inputs.py), parsed strictly."""
    return parse_json(read_text(path, what, MAX_JSON_BYTES), str(path), what)


def load_report(path: Path) -> dict:
    return validate_report(load_json(path, "report"), str(path))


def load_baseline(path: Path) -> dict[str, dict]:
    return validate_baseline(load_json(path, "baseline"), str(path))

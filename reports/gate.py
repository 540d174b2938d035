"""`tlsfit gate`: compare fresh reports with a committed baseline and say what grew.

check() never exits and never prints: it returns a GateResult whose rows the
CLI formats (table, JUnit, Markdown) and turns into the exit status.

Entries are named by reports.metrics.report_key ("<profile>@<target>", plus "-<level>" and
"@<host>:<port>" for a non-size level or a real server). A baseline entry also keeps the
biggest ROM modules and the config options of the build (optional on read), so a failing
entry is explained: which modules grew, which options were added or removed.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from core.errors import BadInput
from reports.limits import Limits
from reports.metrics import BY_NAME, METRIC_NAMES, METRICS, legacy_key, metric_value, report_key, report_options
from reports.render import md_cell, number, signed
from reports.schema import BASELINE_SCHEMA_VERSION, validate_baseline, validate_report


class GateError(BadInput):
    """Unusable input to the gate: duplicate or failed reports for a baseline (exit 2).

    A malformed report or baseline is a reports.schema.SchemaError (also exit 2)."""


@dataclass(frozen=True)
class GateRow:
    key: str                       # "<profile>@<target>"
    metric: str                    # "rom.total", ..., or a problem: "handshake", "baseline", "report", "budget.rom"
    baseline: int | None
    now: int | None
    delta: int | None
    limit: str                     # human-readable allowance, e.g. "+0" or "+1 %"
    ok: bool
    message: str = ""              # why a row failed (or a note)


@dataclass(frozen=True)
class ModuleGrowth:
    name: str                      # "ecp.o"
    baseline: int | None           # None: not among the modules the baseline kept
    now: int


@dataclass(frozen=True)
class Cause:
    """What changed in the build of one failing entry, from the baseline's modules and options."""
    key: str
    modules: tuple[ModuleGrowth, ...] | None    # grown modules, biggest first; None: baseline kept none
    options_added: tuple[str, ...] | None       # None: the baseline or the report has no option list
    options_removed: tuple[str, ...] | None


@dataclass(frozen=True)
class GateResult:
    rows: tuple[GateRow, ...]
    causes: tuple[Cause, ...] = ()  # one per entry with a failing figure

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def failures(self) -> tuple[GateRow, ...]:
        return tuple(row for row in self.rows if not row.ok)


# ---------------------------------------------------------------- baseline

TOP_MODULES = 12                   # ROM modules a baseline entry keeps (the biggest, where growth shows)


def baseline_entry(report: dict) -> dict:
    """The figures, the TOP_MODULES biggest ROM modules and the option names of one report."""
    entry: dict = {m.name: metric_value(report, m) for m in METRICS}
    modules: dict[str, int] = report.get("rom", {}).get("modules", {})
    entry["modules"] = dict(sorted(modules.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_MODULES])
    options = report_options(report)
    if options is not None:
        entry["options"] = options
    return entry


def write_baseline(reports: list[dict]) -> str:
    """Baseline JSON text (sorted keys, indent 2) from reports of successful handshakes.

    Every figure is an integer except handshake.instructions on a target that does not count
    them (null: the gate then requires the report not to count them either)."""
    entries: dict[str, dict] = {}
    for i, report in enumerate(reports):
        validate_report(report, f"report #{i + 1}")
        key = report_key(report)
        if key in entries:
            raise GateError(f"two reports for {key}; give one report per profile and target")
        if not report.get("handshake", {}).get("ok"):
            raise GateError(f"{key}: the handshake failed; a baseline must come from working builds")
        entries[key] = baseline_entry(report)
    text = json.dumps({"schema_version": BASELINE_SCHEMA_VERSION, "entries": entries}, sort_keys=True, indent=2)
    validate_baseline(json.loads(text), "the baseline being written")  # never write one the gate refuses
    return json.dumps({"schema_version": BASELINE_SCHEMA_VERSION, "entries": entries}, sort_keys=True, indent=2) + "\n"


# ---------------------------------------------------------------- check

def check(baseline: dict, reports: list[dict], limits: Limits, baseline_name: str = "baseline") -> GateResult:
    """Compare; a malformed baseline or report raises SchemaError (the CLI checks files on read, naming them)."""
    entries = validate_baseline(baseline, baseline_name)
    for i, report in enumerate(reports):
        validate_report(report, f"report #{i + 1}")
    rows: list[GateRow] = []
    causes: list[Cause] = []
    seen: set[str] = set()
    claimed = {report_key(r) for r in reports}
    for report in reports:
        key = report_key(report)
        if key in seen:
            rows.append(GateRow(key, "report", None, None, None, "", False, f"two reports for {key}"))
            continue
        seen.add(key)
        rows += _handshake_rows(key, report)
        entry_key = key
        old = legacy_key(report)
        if key not in entries and old in entries and old not in claimed:
            # a baseline written before the level and server were part of the key
            entry_key = old
            seen.add(old)
            rows.append(GateRow(key, "baseline", None, None, None, "", True,
                                f"compared with the baseline entry {old} (named before levels and servers were "
                                "part of the key); --write-baseline renames it"))
        if entry_key not in entries:
            rows.append(GateRow(key, "baseline", None, None, None, "", False,
                                f"{key} is not in the baseline; review its figures and add it with --write-baseline"))
        else:
            metric_rows = _metric_rows(key, entries[entry_key], report, limits)
            rows += metric_rows
            if any(not r.ok and r.delta is not None for r in metric_rows):
                causes.append(explain(key, entries[entry_key], report))
        rows += _budget_rows(key, report)
    for key in sorted(set(entries) - seen):
        rows.append(GateRow(key, "report", None, None, None, "", False,
                            f"the baseline has {key} but no report was given (job not run, or profile removed: "
                            "then rewrite the baseline)"))
    return GateResult(rows=tuple(rows), causes=tuple(causes))


def explain(key: str, entry: dict, report: dict) -> Cause:
    """The modules that grew and the options added or removed since the baseline entry was written.

    A module the baseline did not keep (it keeps the TOP_MODULES biggest) is listed with an unknown
    old size when it is now bigger than the smallest one kept, or as new when the baseline kept every
    module of its build."""
    now_modules: dict[str, int] = report.get("rom", {}).get("modules", {})
    kept = entry.get("modules")
    grown: tuple[ModuleGrowth, ...] | None = None
    if isinstance(kept, dict):
        complete = len(kept) < TOP_MODULES
        floor = min(kept.values(), default=0)
        found: list[ModuleGrowth] = []
        for name, size in now_modules.items():
            if name in kept:
                if size > kept[name]:
                    found.append(ModuleGrowth(name, kept[name], size))
            elif complete:
                found.append(ModuleGrowth(name, 0, size))
            elif size > floor:
                found.append(ModuleGrowth(name, None, size))
        found.sort(key=lambda g: (-(g.now - (g.baseline if g.baseline is not None else floor)), g.name))
        grown = tuple(found)
    before, after = entry.get("options"), report_options(report)
    if isinstance(before, list) and after is not None:
        added: tuple[str, ...] | None = tuple(sorted(set(after) - set(before)))
        removed: tuple[str, ...] | None = tuple(sorted(set(before) - set(after)))
    else:
        added = removed = None
    return Cause(key, grown, added, removed)


def _handshake_rows(key: str, report: dict) -> list[GateRow]:
    handshake = report.get("handshake", {})
    if handshake.get("ok"):
        return []
    error = handshake.get("error") or {}
    what = " ".join(str(x) for x in (error.get("name"), error.get("hex") and f"({error['hex']})",
                                     error.get("stage") and f"in {error['stage']}", error.get("message")) if x)
    return [GateRow(key, "handshake", None, None, None, "", False, f"handshake failed: {what or 'no details'}")]


def _metric_rows(key: str, entry: dict, report: dict, limits: Limits) -> list[GateRow]:
    rows: list[GateRow] = []
    for metric in METRICS:
        before = entry.get(metric.name)
        now = metric_value(report, metric)
        limit = limits.for_metric(metric.name, key)
        if before is None and now is None:
            # only handshake.instructions may be null (schema): not counted on this target, either side
            rows.append(GateRow(key, metric.name, None, None, None, limit.describe(), True,
                                "not counted on this target"))
            continue
        if now is None:
            rows.append(GateRow(key, metric.name, before, None, None, limit.describe(), False,
                                f"the report has no {metric.name} figure but the baseline has one "
                                "(not counted on this target, or the run failed)"))
            continue
        if before is None:
            rows.append(GateRow(key, metric.name, None, now, None, limit.describe(), False,
                                f"the baseline has no {metric.name} figure for {key}; review the figures and "
                                "rewrite it with --write-baseline"))
            continue
        delta = now - before
        ok = delta <= limit.allowance(before)
        message = "" if ok else f"{metric.name} grew by {delta:,} {metric.unit} (allowed {limit.describe()})"
        rows.append(GateRow(key, metric.name, before, now, delta, limit.describe(), ok, message))
    return rows


# Profile budgets are absolute ceilings, checked whatever the baseline says.
_BUDGETS: tuple[tuple[str, str], ...] = (("rom", "rom.total"), ("ram", "ram.total"))


def _budget_rows(key: str, report: dict) -> list[GateRow]:
    budget = report.get("budget") or {}
    rows: list[GateRow] = []
    for budget_key, metric_name in _BUDGETS:
        ceiling = budget.get(budget_key)
        if ceiling is None:
            continue
        now = metric_value(report, BY_NAME[metric_name])
        ok = now is not None and now <= ceiling
        message = "" if ok else f"{metric_name} {number(now)} is over the profile budget {ceiling:,}"
        rows.append(GateRow(key, f"budget.{budget_key}", ceiling, now, None if now is None else now - ceiling,
                            f"<= {ceiling:,}", ok, message))
    return rows


# ---------------------------------------------------------------- present

def _text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < 2 or i == len(row) - 1 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths))).rstrip()
    return [line(header), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]


def _cells(row: GateRow) -> tuple[str, ...]:
    return (row.key, row.metric, number(row.baseline), number(row.now), signed(row.delta), row.limit,
            ("ok" + (f": {row.message}" if row.message else "")) if row.ok else "FAIL " + row.message)


def describe_cause(cause: Cause, most: int = 5) -> str:
    """One line: "ecp.o +1,200 B (20,000 -> 21,200), ...; options added: A; removed: B"."""
    parts: list[str] = []
    if cause.modules is None:
        parts.append("the baseline keeps no module sizes (rewrite it to record them; `tlsfit diff OLD NEW` "
                     "compares two reports)")
    elif cause.modules:
        shown = []
        for g in cause.modules[:most]:
            if g.baseline is None:
                shown.append(f"{g.name} {g.now:,} B (not among the baseline's {TOP_MODULES} biggest)")
            elif g.baseline == 0:
                shown.append(f"{g.name} +{g.now:,} B (new)")
            else:
                shown.append(f"{g.name} +{g.now - g.baseline:,} B ({g.baseline:,} -> {g.now:,})")
        more = len(cause.modules) - most
        parts.append("modules grown: " + ", ".join(shown) + (f" and {more} more" if more > 0 else ""))
    else:
        parts.append("no ROM module grew")
    if cause.options_added is None or cause.options_removed is None:
        parts.append("options: not recorded in the baseline or the report")
    elif cause.options_added or cause.options_removed:
        parts.append("options added: " + (", ".join(cause.options_added) or "none") +
                     "; removed: " + (", ".join(cause.options_removed) or "none"))
    else:
        parts.append("same config options")
    return f"{cause.key}: " + "; ".join(parts)


def accept_hint(result: GateResult) -> bool:
    """True when rewriting the baseline is what accepts the failures (not a failed handshake or a budget)."""
    broken = {row.key for row in result.failures if row.metric == "handshake"}   # fix the build, not the baseline
    return any(row.key not in broken and (row.metric in METRIC_NAMES or row.metric in ("baseline", "report"))
               for row in result.failures)


DEFAULT_ACCEPT = "tlsfit gate --write-baseline FILE REPORT..."


def format_table(result: GateResult, verbose: bool = False, accept: str = DEFAULT_ACCEPT) -> str:
    """A one-line total; when the gate fails, the failing rows, what grew in each failing entry
    and the command that accepts the change. verbose: every row, failures first."""
    entries = len({row.key for row in result.rows})
    if result.ok:
        verdict = f"gate passed: {len(result.rows)} checks within limits ({entries} entries)"
    else:
        failing = len({row.key for row in result.failures})
        verdict = (f"gate FAILED: {len(result.failures)} of {len(result.rows)} checks "
                   f"({failing} of {entries} entries)")
    shown = sorted(result.rows, key=lambda r: r.ok) if verbose else list(result.failures)
    lines = [verdict]
    if shown:
        lines += [""] + _text_table(("entry", "metric", "baseline", "now", "delta", "limit", "status"),
                                    [_cells(r) for r in shown])
    if result.causes:
        lines += ["", "what changed:"] + [f"  {describe_cause(c)}" for c in result.causes]
    if accept_hint(result):
        lines += ["", f"if the change is intended, accept it (review the figures first): {accept}"]
    return "\n".join(lines) + "\n"


def to_junit(result: GateResult) -> str:
    """JUnit XML: one testcase per entry and metric (CI systems show failures per test)."""
    suite = ET.Element("testsuite", name="tlsfit footprint gate", tests=str(len(result.rows)),
                       failures=str(len(result.failures)), errors="0", skipped="0")
    for row in result.rows:
        case = ET.SubElement(suite, "testcase", classname=f"tlsfit.{row.key}", name=row.metric)
        detail = (f"baseline {number(row.baseline)}, now {number(row.now)}, delta {signed(row.delta)}, "
                  f"limit {row.limit or '—'}")
        if not row.ok:
            failure = ET.SubElement(case, "failure", message=row.message, type="footprint")
            failure.text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def to_markdown(result: GateResult) -> str:
    """For CI step summaries and merge request comments: failures first, then what grew, then the rest."""
    title = "passed" if result.ok else f"FAILED ({len(result.failures)} of {len(result.rows)} checks)"
    lines = [f"### tlsfit footprint gate: {title}", "",
             "| entry | metric | baseline | now | delta | limit | status |",
             "| --- | --- | ---: | ---: | ---: | --- | --- |"]
    ordered = sorted(result.rows, key=lambda r: (r.ok, -(r.delta or 0) if r.ok else 0))
    for row in ordered:
        status = "ok" if row.ok else f"**FAIL** {md_cell(row.message)}"
        lines.append(f"| {md_cell(row.key)} | {row.metric} | {number(row.baseline)} | {number(row.now)} | "
                     f"{signed(row.delta)} | {md_cell(row.limit)} | {status} |")
    if result.causes:
        lines += ["", "What changed:", ""] + [f"- {md_cell(describe_cause(c))}" for c in result.causes]
    return "\n".join(lines) + "\n"

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
    baseline: int | None           # None: not among the modules an old baseline kept; 0: new module
    now: int                       # 0: the module is gone


@dataclass(frozen=True)
class Cause:
    """What changed in the build of one failing entry, from the baseline's modules and options."""
    key: str
    modules: tuple[ModuleGrowth, ...] | None    # changed modules, biggest growth first; None: baseline kept none
    options_added: tuple[str, ...] | None       # None: the baseline or the report has no option list
    options_removed: tuple[str, ...] | None
    complete: bool = False                      # the baseline kept every module: the deltas sum to the growth
    mbedtls_delta: int | None = None            # rom.mbedtls now - baseline
    other_delta: int | None = None              # the rest of rom.total (harness, startup, libc)
    reasons: tuple[tuple[str, str], ...] = ()   # (option, why it was added / why it was there), as the KB says


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

TOP_MODULES = 12                   # what baselines written before every module was kept held (read only)


def baseline_entry(report: dict) -> dict:
    """The figures, every ROM module, the option names and each option's reason of one report."""
    entry: dict = {m.name: metric_value(report, m) for m in METRICS}
    if report.get("kind") == "image":
        entry["kind"] = "image"
    modules: dict[str, int] = report.get("rom", {}).get("modules", {})
    entry["modules"] = dict(sorted(modules.items()))
    options = report_options(report)
    if options is not None:
        entry["options"] = options
    reasons = report.get("option_reasons")
    if isinstance(reasons, dict):
        entry["option_reasons"] = dict(sorted(reasons.items()))
    return entry


def write_baseline(reports: list[dict], previous: dict | None = None, limits: Limits | None = None) -> str:
    """Baseline JSON text (sorted keys, indent 2) from reports of successful handshakes.

    Every figure is an integer except handshake.instructions on a target that does not count
    them (null: the gate then requires the report not to count them either). With the previous
    baseline and the limits, a figure that moved less than its noise limit (either way) keeps its
    previous value, so accepting one change does not rewrite the noise of every other entry."""
    entries: dict[str, dict] = {}
    old_entries = validate_baseline(previous, "the previous baseline") if previous is not None else {}
    for i, report in enumerate(reports):
        validate_report(report, f"report #{i + 1}")
        key = report_key(report)
        if key in entries:
            raise GateError(f"two reports for {key}; give one report per profile and target")
        if report.get("kind") != "image" and not report.get("handshake", {}).get("ok"):
            raise GateError(f"{key}: the handshake failed; a baseline must come from working builds")
        entry = baseline_entry(report)
        old = old_entries.get(key)
        if old is not None and limits is not None:
            for metric in METRICS:
                before, now = old.get(metric.name), entry[metric.name]
                if before is not None and now is not None and now != before \
                        and abs(now - before) <= limits.for_metric(metric.name, key).allowance(before):
                    entry[metric.name] = before
        entries[key] = entry
    text = json.dumps({"schema_version": BASELINE_SCHEMA_VERSION, "entries": entries}, sort_keys=True, indent=2)
    validate_baseline(json.loads(text), "the baseline being written")  # never write one the gate refuses
    return text + "\n"


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
    """Every ROM module that grew, appeared, shrank or went since the baseline entry, and the options
    added or removed with the knowledge base's reason for each.

    A baseline that keeps every module (written since it does) explains all of rom.mbedtls's growth:
    the module deltas sum to it. An older one kept the TOP_MODULES biggest: a module it did not keep
    is listed with an unknown old size when it is now bigger than the smallest one kept."""
    now_modules: dict[str, int] = report.get("rom", {}).get("modules", {})
    kept = entry.get("modules")
    grown: tuple[ModuleGrowth, ...] | None = None
    complete = False
    if isinstance(kept, dict):
        complete = len(kept) < TOP_MODULES or sum(kept.values()) == entry.get("rom.mbedtls")
        floor = min(kept.values(), default=0)
        found: list[ModuleGrowth] = []
        for name in sorted(set(now_modules) | set(kept)):
            size = now_modules.get(name, 0)
            if name in kept:
                if size != kept[name]:
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
    new_reasons = report.get("option_reasons") if isinstance(report.get("option_reasons"), dict) else {}
    old_reasons = entry.get("option_reasons") if isinstance(entry.get("option_reasons"), dict) else {}
    reasons = tuple((o, new_reasons[o]) for o in (added or ()) if o in new_reasons) \
        + tuple((o, f"it was there for: {old_reasons[o]}") for o in (removed or ()) if o in old_reasons)
    rom = report.get("rom", {})
    mbedtls_delta = rom.get("mbedtls") - entry["rom.mbedtls"] \
        if isinstance(rom.get("mbedtls"), int) and isinstance(entry.get("rom.mbedtls"), int) else None
    total_delta = rom.get("total") - entry["rom.total"] \
        if isinstance(rom.get("total"), int) and isinstance(entry.get("rom.total"), int) else None
    other = total_delta - mbedtls_delta if total_delta is not None and mbedtls_delta is not None else None
    return Cause(key, grown, added, removed, complete=complete, mbedtls_delta=mbedtls_delta,
                 other_delta=other, reasons=reasons)


def _handshake_rows(key: str, report: dict) -> list[GateRow]:
    if report.get("kind") == "image":
        return []                  # an image's report (tlsfit size): nothing was run
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


def _module_change(g: ModuleGrowth) -> str:
    if g.baseline is None:
        return f"{g.name} {g.now:,} B (not among the {TOP_MODULES} biggest this old baseline kept)"
    if g.baseline == 0:
        return f"{g.name} +{g.now:,} B (new)"
    if g.now == 0:
        return f"{g.name} -{g.baseline:,} B (gone)"
    return f"{g.name} {g.now - g.baseline:+,} B ({g.baseline:,} -> {g.now:,})"


def describe_cause(cause: Cause) -> list[str]:
    """What changed in one entry: the modules (summing to rom.mbedtls's change when the baseline kept
    them all), the ROM outside mbedTLS, and each option added or removed with its reason."""
    lines = [f"{cause.key}:"]
    if cause.modules is None:
        lines.append("  the baseline keeps no module sizes (rewrite it to record them; `tlsfit diff OLD NEW` "
                     "compares two reports)")
    elif cause.modules:
        total = sum(g.now - g.baseline for g in cause.modules if g.baseline is not None)
        head = "  mbedTLS modules that changed"
        if cause.complete and cause.mbedtls_delta is not None:
            head += f" (sum {total:+,} B = rom.mbedtls {cause.mbedtls_delta:+,} B)"
        lines.append(head + ":")
        lines += [f"    {_module_change(g)}" for g in cause.modules]
    else:
        lines.append("  no mbedTLS module changed size")
    if cause.other_delta:
        lines.append(f"  outside mbedTLS (harness, startup, libc): {cause.other_delta:+,} B")
    if cause.options_added is None or cause.options_removed is None:
        lines.append("  options: not recorded in the baseline or the report")
    elif cause.options_added or cause.options_removed:
        why = dict(cause.reasons)
        for name in (*cause.options_added, *cause.options_removed):
            sign = "+" if name in cause.options_added else "-"
            lines.append(f"  {sign} {name}" + (f": {why[name]}" if name in why else ""))
    else:
        lines.append("  same config options")
    return lines


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
        lines += ["", "what changed:"] + [f"  {line}" for c in result.causes for line in describe_cause(c)]
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
        for c in result.causes:
            first, *rest = describe_cause(c)
            lines += ["", f"What changed in `{md_cell(first.rstrip(':'))}`:", ""] \
                + [f"{'  ' * (len(line) - len(line.lstrip()) > 2)}- {md_cell(line.strip())}" for line in rest]
    return "\n".join(lines) + "\n"

"""`tlsfit diff OLD NEW`: per-metric and per-module growth and the config options added and removed."""
from __future__ import annotations

from dataclasses import dataclass

from reports.metrics import METRICS, metric_value, report_key, report_options
from reports.render import number, percent, signed
from reports.schema import validate_report


@dataclass(frozen=True)
class Change:
    name: str                      # metric name ("rom.total") or module ("ecp.o")
    old: int | None
    new: int | None
    delta: int | None              # new - old; None when either side is missing
    percent: float | None          # delta relative to old; None when old is 0 or missing


@dataclass(frozen=True)
class Diff:
    old_key: str
    new_key: str
    config_changed: bool
    metrics: tuple[Change, ...]
    modules: tuple[Change, ...]    # every module in either report, biggest growth first
    added: tuple[str, ...]         # modules only in new
    removed: tuple[str, ...]       # modules only in old
    options_added: tuple[str, ...] | None = None    # config options only in new; None: a report lists none
    options_removed: tuple[str, ...] | None = None  # config options only in old
    symbols: tuple[Change, ...] | None = None       # "module.o:symbol" that changed; None: a report has none
    versions: tuple[str, str] = ("", "")            # mbedTLS version of each report


SYMBOLS_SHOWN = 40                 # symbol rows in the text diff: the biggest growths and shrinks


def change(name: str, old: int | None, new: int | None) -> Change:
    delta = new - old if old is not None and new is not None else None
    pct = 100.0 * delta / old if delta is not None and old else None
    return Change(name=name, old=old, new=new, delta=delta, percent=pct)


def diff_reports(old: dict, new: dict) -> Diff:
    """Both reports are checked against reports/schema.py first (SchemaError names the bad field)."""
    validate_report(old, "old report")
    validate_report(new, "new report")
    old_modules: dict[str, int] = old.get("rom", {}).get("modules", {})
    new_modules: dict[str, int] = new.get("rom", {}).get("modules", {})
    # An added module grew from 0 and a removed one shrank to 0: that is what ROM did.
    modules = [change(name, old_modules.get(name, 0), new_modules.get(name, 0))
               for name in sorted(set(old_modules) | set(new_modules))]
    modules.sort(key=lambda c: (-(c.delta or 0), c.name))
    old_symbols, new_symbols = old.get("rom", {}).get("symbols"), new.get("rom", {}).get("symbols")
    symbols = None
    if isinstance(old_symbols, dict) and isinstance(new_symbols, dict) and (old_symbols or new_symbols):
        symbols = [change(name, old_symbols.get(name, 0), new_symbols.get(name, 0))
                   for name in sorted(set(old_symbols) | set(new_symbols))
                   if old_symbols.get(name, 0) != new_symbols.get(name, 0)]
        symbols.sort(key=lambda c: (-(c.delta or 0), c.name))
    old_options, new_options = report_options(old), report_options(new)
    both = old_options is not None and new_options is not None
    return Diff(
        old_key=report_key(old),
        new_key=report_key(new),
        config_changed=old.get("config_sha256") != new.get("config_sha256"),
        metrics=tuple(change(m.name, metric_value(old, m), metric_value(new, m)) for m in METRICS),
        modules=tuple(modules),
        added=tuple(sorted(set(new_modules) - set(old_modules))),
        removed=tuple(sorted(set(old_modules) - set(new_modules))),
        options_added=tuple(sorted(set(new_options) - set(old_options))) if both else None,
        options_removed=tuple(sorted(set(old_options) - set(new_options))) if both else None,
        symbols=tuple(symbols) if symbols is not None else None,
        versions=(str(old.get("mbedtls_version", "")), str(new.get("mbedtls_version", ""))),
    )


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    # First column left-aligned (names), the rest right-aligned (numbers).
    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
    return [line(header), line(tuple("-" * w for w in widths)), *(line(row) for row in rows)]


def _row(c: Change) -> tuple[str, ...]:
    return (c.name, number(c.old), number(c.new), signed(c.delta), percent(c.percent))


def format_diff(diff: Diff) -> str:
    title = diff.new_key if diff.old_key == diff.new_key else f"{diff.old_key} -> {diff.new_key}"
    lines = [f"tlsfit diff: {title}" + ("" if diff.config_changed else " (same config)")]
    if diff.versions[0] != diff.versions[1]:
        lines.append(f"mbedTLS {diff.versions[0] or '?'} -> {diff.versions[1] or '?'}")
    lines.append("")
    lines += _table(("metric", "old", "new", "delta", "%"), [_row(c) for c in diff.metrics])
    changed = [c for c in diff.modules if c.delta]
    lines.append("")
    if changed:
        lines += _table(("module", "old", "new", "delta", "%"), [_row(c) for c in changed])
    else:
        lines.append("no mbedTLS module changed size")
    if diff.added:
        lines.append("added modules: " + ", ".join(diff.added))
    if diff.removed:
        lines.append("removed modules: " + ", ".join(diff.removed))
    if diff.symbols:
        lines += ["", f"symbols that changed ({len(diff.symbols)}, biggest growth first"
                  + (f"; {SYMBOLS_SHOWN} shown" if len(diff.symbols) > SYMBOLS_SHOWN else "") + "):"]
        shown = diff.symbols if len(diff.symbols) <= SYMBOLS_SHOWN else \
            diff.symbols[:SYMBOLS_SHOWN // 2] + diff.symbols[-SYMBOLS_SHOWN // 2:]
        lines += _table(("symbol", "old", "new", "delta", "%"), [_row(c) for c in shown])
    lines.append("")
    if diff.options_added is None or diff.options_removed is None:
        lines.append("config options: not listed in both reports")
    elif diff.options_added or diff.options_removed:
        if diff.options_added:
            lines.append("added options: " + ", ".join(diff.options_added))
        if diff.options_removed:
            lines.append("removed options: " + ", ".join(diff.options_removed))
    else:
        lines.append("same config options")
    return "\n".join(lines) + "\n"

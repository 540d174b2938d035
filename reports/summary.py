"""`tlsfit report REPORT... -o DIR`: one table and chart across profiles and targets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.model import OPTIMIZE_LEVELS
from reports.metrics import BY_NAME, metric_value, report_key
from reports.render import render
from generator.write import write_if_changed

# Columns of the matrix, in order (metric names from reports/metrics.py).
SUMMARY_COLUMNS: tuple[str, ...] = (
    "rom.total", "rom.mbedtls", "ram.total", "ram.heap_peak", "ram.stack_peak", "handshake.instructions",
)


@dataclass(frozen=True)
class SummaryRow:
    key: str
    label: str                       # key, plus the optimize level when the reports mix levels
    profile: str
    target: str
    optimize: str
    ok: bool
    version: str | None
    ciphersuite: str | None
    server: str                      # "reference openssl s_server" or "HOST:PORT (impl)"
    external: bool                   # a real server (measure --server), not tlsfit's reference one
    values: tuple[int | None, ...]   # one per SUMMARY_COLUMNS
    part: dict | None = None         # the report's "part" fit (measure --part), else None
    host: bool = False               # Linux host run: x86-64 figures, charted apart from the boards


def summary_rows(reports: list[dict]) -> list[SummaryRow]:
    levels = {r.get("optimize", "size") for r in reports}
    rows = [
        SummaryRow(
            key=report_key(r),
            label=report_key(r) if len(levels) == 1 else f"{report_key(r)} ({r.get('optimize', 'size')})",
            profile=r["profile"],
            target=r["target"],
            optimize=r.get("optimize", "size"),
            ok=bool(r.get("handshake", {}).get("ok")),
            version=r.get("handshake", {}).get("version"),
            ciphersuite=r.get("handshake", {}).get("ciphersuite"),
            server=_server_label(r.get("server") or {}),
            external=(r.get("server") or {}).get("kind") == "external",
            values=tuple(metric_value(r, BY_NAME[name]) for name in SUMMARY_COLUMNS),
            part=r.get("part"),
            host=r["target"] == "host",
        )
        for r in reports
    ]
    order = {level: i for i, level in enumerate(OPTIMIZE_LEVELS)}
    # reference-server rows first, real-server rows after them: the two are never mixed up
    return sorted(rows, key=lambda row: (row.external, row.profile, row.target,
                                         order.get(row.optimize, len(order)), row.server))


def _server_label(server: dict) -> str:
    if server.get("kind") == "external":
        return f"{server.get('address', '?')}"
    return f"reference {server.get('impl', '?')}"


def write_summary(reports: list[dict], out_dir: Path) -> None:
    """summary.md and summary.html in out_dir."""
    rows = summary_rows(reports)
    columns = [BY_NAME[name] for name in SUMMARY_COLUMNS]
    contents = {
        "summary.md": render("summary.md.j2", rows=rows, columns=columns),
        "summary.html": render("summary.html.j2", rows=rows, columns=columns),
    }
    for name, text in contents.items():
        write_if_changed(out_dir / name, text)

"""`tlsfit report REPORT... -o DIR`: one table and chart across profiles and targets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator.model import OPTIMIZE_LEVELS
from reports.metrics import BY_NAME, metric_value, report_key
from reports.render import render
from reports.schema import fits
from core.write import write_if_changed

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
            # the key names every level but size; with mixed levels say size too
            label=(f"{report_key(r)} (size)" if len(levels) > 1 and r.get("optimize", "size") == "size"
                   else report_key(r)),
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


@dataclass(frozen=True)
class MatrixCell:
    status: str                      # "ok" | "does not fit" | "out of heap" | "failed"
    text: str                        # e.g. "does not fit (RAM +320 B)", with the level when reports mix them


@dataclass(frozen=True)
class Matrix:
    """Profile x board: which shipped profile fits which part, and how far it got."""
    profiles: tuple[str, ...]
    targets: tuple[str, ...]
    cells: dict[tuple[str, str], tuple[MatrixCell, ...]]   # (profile, target) -> one per report


def _matrix_cell(report: dict, level_prefix: bool) -> MatrixCell:
    prefix = f"{report.get('optimize', 'size')}: " if level_prefix else ""
    if not fits(report):
        over = ", ".join(f"{region} +{n:,} B" for region, n in report["overflow"].items())
        return MatrixCell("does not fit", f"{prefix}does not fit ({over})")
    hs = report["handshake"]
    if hs["ok"]:
        return MatrixCell("ok", f"{prefix}handshake OK")
    error = hs.get("error") or {}
    if "out of heap on " in str(error.get("message") or ""):   # after the structural cause, when known
        peak = (report.get("ram") or {}).get("heap_peak")
        return MatrixCell("out of heap", f"{prefix}out of heap" + (f" (peak {peak:,} B)" if peak else ""))
    return MatrixCell("failed", f"{prefix}handshake failed" + (f" ({error['name']})" if error.get("name") else ""))


def profile_board_matrix(reports: list[dict]) -> Matrix:
    """Reference-server runs only (a real server's answer says nothing about fitting the part)."""
    shown = [r for r in reports if (r.get("server") or {}).get("kind") != "external"]
    mixed = len({r.get("optimize", "size") for r in shown}) > 1
    order = {level: i for i, level in enumerate(OPTIMIZE_LEVELS)}
    cells: dict[tuple[str, str], list[MatrixCell]] = {}
    for r in sorted(shown, key=lambda r: order.get(r.get("optimize", "size"), len(order))):
        cells.setdefault((r["profile"], r["target"]), []).append(_matrix_cell(r, mixed))
    return Matrix(profiles=tuple(sorted({p for p, _ in cells})), targets=tuple(sorted({t for _, t in cells})),
                  cells={k: tuple(v) for k, v in cells.items()})


def _server_label(server: dict) -> str:
    if server.get("kind") == "external":
        return f"{server.get('address', '?')}"
    return f"reference {server.get('impl', '?')}"


def write_summary(reports: list[dict], out_dir: Path) -> None:
    """summary.md and summary.html in out_dir: the figures of every build that fits, and the
    profile x board matrix (does-not-fit records included)."""
    rows = summary_rows([r for r in reports if fits(r)])
    columns = [BY_NAME[name] for name in SUMMARY_COLUMNS]
    matrix = profile_board_matrix(reports)
    contents = {
        "summary.md": render("summary.md.j2", rows=rows, columns=columns, matrix=matrix),
        "summary.html": render("summary.html.j2", rows=rows, columns=columns, matrix=matrix),
    }
    for name, text in contents.items():
        write_if_changed(out_dir / name, text)

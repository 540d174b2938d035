"""`tlsfit measure`: run the pipeline for one profile, write the report files, print a summary."""
from __future__ import annotations

import sys
from pathlib import Path

from cli import EXIT_FAILED, EXIT_OK, VERSION
from cli.gen_cmd import print_warnings
from cli.paths import workspace
from pipeline import MeasureRequest, default_output_dir, measure, open_mbedtls, parse_server_address
from reports.report import write_report_files


def _progress(line: str) -> None:
    print(f"tlsfit: {line}", file=sys.stderr, flush=True)


def run_measure(profile: Path, target: str | None, server: str | None, server_impl: str,
                output: Path | None, timeout: float, optimize: str | None = None,
                app: str | None = None) -> int:
    ws = workspace()
    address = parse_server_address(server) if server is not None else None  # bad input before any work
    tree = open_mbedtls(ws.mbedtls)
    request = MeasureRequest(profile=profile, tree=tree, paths=ws.paths(), target=target, server=address,
                             server_impl=server_impl, timeout_s=timeout, optimize=optimize, app=app)
    m = measure(request, VERSION, progress=_progress)
    print_warnings(profile, m.generated)
    out_dir = output if output is not None else default_output_dir(ws.build, m, optimize, address)
    write_report_files(m.report, out_dir, m.generated.text)
    print_summary(m.report, out_dir)
    return EXIT_OK if m.report["handshake"]["ok"] and m.report["app"]["ok"] is not False else EXIT_FAILED


def _figure(value: object, unit: str = " B") -> str:
    return f"{value:,}{unit}" if isinstance(value, int) else "-"


def print_summary(report: dict, out_dir: Path) -> None:
    hs, rom, ram, app = report["handshake"], report["rom"], report["ram"], report["app"]
    instr = hs.get("instructions")
    server = report["server"] or {}
    budget = report.get("budget") or {}
    rows = [
        ("profile / target", f"{report['profile']} / {report['target']} ({report['cpu']}), "
                             f"optimize {report['optimize']}"),
        ("handshake", f"{'ok' if hs['ok'] else 'FAILED'}  {hs.get('version') or '-'}  "
                      f"{hs.get('ciphersuite') or '-'}  {hs.get('group') or '-'}"),
        ("after handshake", f"{app['protocol']}: " + {True: "ok", False: "FAILED", None: "not run"}[app["ok"]]
                            + (f" ({app['detail']})" if app.get("detail") else "")),
        ("ROM", f"{_figure(rom['total'])} total, {_figure(rom['mbedtls'])} mbedTLS"
                + (f" (budget {budget['rom']:,} B: {'OVER' if rom['total'] > budget['rom'] else 'within'})"
                   if budget.get("rom") else "")),
        ("RAM", f"{_figure(ram['total'])} = static {_figure(ram['static'])} + heap peak "
                f"{_figure(ram['heap_peak'])} + stack peak {_figure(ram['stack_peak'])}"
                + (f" (budget {budget['ram']:,} B: "
                   f"{'OVER' if (ram['total'] or 0) > budget['ram'] else 'within'})"
                   if budget.get("ram") and ram["total"] is not None else "")),
        ("handshake work", f"{instr:,} guest instructions" if isinstance(instr, int)
                           else "not counted on this target"),
        ("bytes", f"{_figure(hs.get('bytes_sent'), '')} sent, {_figure(hs.get('bytes_received'), '')} received"),
        ("server", f"{server.get('impl', '-')} {server.get('version', '')} at {server.get('address', '-')}"
                   .replace("  ", " ")),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    if not hs["ok"]:
        print(f"  {'error':<{width}}  {format_error(hs.get('error'))}", file=sys.stderr)
    elif app["ok"] is False:
        print(f"  {'error':<{width}}  {format_error(app.get('error'))}", file=sys.stderr)
    print(f"  {'report':<{width}}  {out_dir / 'report.json'} (and report.md, report.html)")


def format_error(error: object) -> str:
    if isinstance(error, dict):
        return " ".join(str(error[k]) for k in ("hex", "name", "message") if error.get(k))
    return str(error)

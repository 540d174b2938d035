"""The per-(profile, target) report: build the report.json dict, write it with its Markdown and HTML views.

build_report() is the only place that knows the report.json contract
(DESIGN.md "Report contract"); everything downstream (summary, diff, gate)
reads the dict it returns, loaded back from JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

from generator.model import Budget
from measure.model import Footprint, HandshakeRun, ServerInfo, WireSummary
from reports.mbedtls_errors import ErrorDef, describe, hex_code, load_error_table
from reports.render import render
from generator.write import write_if_changed

SCHEMA_VERSION = 1
INSTRUCTIONS_UNIT = "guest instructions (QEMU -icount), not CPU cycles"


def build_report(
    *,
    tlsfit_version: str,
    profile_name: str,
    target: str,
    cpu: str,
    mbedtls_version: str,
    config_sha256: str,
    footprint: Footprint,
    run: HandshakeRun | None,
    wire: WireSummary | None,
    server: ServerInfo | None,
    config_text: str,
    error: str | None,
    optimize: str,
    mbedtls_dir: Path | None = None,
    budget: Budget | None = None,
) -> dict:
    """The report.json content. run is None when no handshake could be run (error says why).

    mbedtls_dir, when given, names the error code from mbedTLS's headers."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tlsfit_version": tlsfit_version,
        "profile": profile_name,
        "target": target,
        "cpu": cpu,
        "mbedtls_version": mbedtls_version,
        "config_sha256": config_sha256,
        "config_options": _count_options(config_text),
        "optimize": optimize,
        "rom": _rom(footprint),
        "ram": _ram(footprint, run),
        "handshake": _handshake(run, wire, error, mbedtls_dir),
        "server": _server(server),
        "budget": _budget(budget),
    }


def _count_options(config_text: str) -> int:
    # Include guards are #define'd too; they do not start with MBEDTLS_/PSA_.
    return sum(
        1
        for line in config_text.splitlines()
        if line.startswith("#define ") and line.split()[1].startswith(("MBEDTLS_", "PSA_WANT_"))
    )


def _rom(footprint: Footprint) -> dict:
    modules = dict(sorted(footprint.modules.items(), key=lambda item: (-item[1], item[0])))
    return {
        "total": footprint.rom_total,
        "mbedtls": footprint.rom_mbedtls,
        "other": footprint.rom_total - footprint.rom_mbedtls,  # harness, startup, libc
        "modules": modules,
    }


def _ram(footprint: Footprint, run: HandshakeRun | None) -> dict:
    # Peaks are unknown, not zero, when nothing ran.
    heap_peak = run.heap_peak if run else None
    stack_peak = run.stack_peak if run else None
    total = footprint.ram_static + heap_peak + stack_peak if run else None
    return {
        "static": footprint.ram_static,
        "heap_peak": heap_peak,
        "heap_overhead": run.heap_overhead_peak if run else None,
        "stack_peak": stack_peak,
        "total": total,
        "heap_arena": footprint.heap_arena,
        "stack_reserved": footprint.stack_reserved,
    }


def _handshake(run: HandshakeRun | None, wire: WireSummary | None, error: str | None, mbedtls_dir: Path | None) -> dict:
    ok = bool(run and run.ok and error is None)
    return {
        "ok": ok,
        "error": None if ok else _error(run, wire, error, mbedtls_dir),
        "version": (run.version if run else None) or (wire.version if wire else None),
        "ciphersuite": run.ciphersuite if run else None,
        "group": wire.group if wire else None,
        "bytes_sent": run.bytes_sent if run else None,
        "bytes_received": run.bytes_received if run else None,
        "instructions": run.instructions if run else None,
        "instructions_unit": INSTRUCTIONS_UNIT,
        "states": [{"state": s.state, "instructions": s.instructions} for s in (run.states if run else ())],
    }


def _error(run: HandshakeRun | None, wire: WireSummary | None, error: str | None, mbedtls_dir: Path | None) -> dict:
    code = run.error_code if run else None
    parts: list[ErrorDef] = []
    if code and mbedtls_dir is not None:
        parts = describe(code, load_error_table(mbedtls_dir))
    return {
        "code": code,
        "hex": hex_code(code) if code is not None else None,
        "name": " + ".join(p.name for p in parts) if parts else None,
        "description": " / ".join(p.description for p in parts if p.description) or None,
        "stage": run.error_stage if run else None,
        "alert": wire.alert if wire else None,
        "message": error,
    }


def _server(server: ServerInfo | None) -> dict | None:
    if server is None:
        return None
    return {"impl": server.impl, "version": server.version, "address": server.address}


def _budget(budget: Budget | None) -> dict | None:
    if budget is None or (budget.rom is None and budget.ram is None):
        return None
    return {"rom": budget.rom, "ram": budget.ram}


def report_json(report: dict) -> str:
    return json.dumps(report, sort_keys=True, indent=2) + "\n"


def render_markdown(report: dict) -> str:
    return render("report.md.j2", report=report)


def render_html(report: dict, config_text: str) -> str:
    return render("report.html.j2", report=report, config_text=config_text)


def write_report_files(report: dict, out_dir: Path, config_text: str) -> None:
    """report.json, report.md and report.html in out_dir, each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # Render everything first so a template error leaves the old files untouched.
    contents = {
        "report.json": report_json(report),
        "report.md": render_markdown(report),
        "report.html": render_html(report, config_text),
    }
    for name, text in contents.items():
        write_if_changed(out_dir / name, text)

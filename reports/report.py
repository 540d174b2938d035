"""The per-(profile, target) report: build the report.json dict, write it with its Markdown and HTML views.

build_report() is the only place that knows the report.json contract
(DESIGN.md "Report contract"); everything downstream (summary, diff, gate)
reads the dict it returns, loaded back from JSON.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from generator.model import Budget
from measure.model import Footprint, HandshakeRun, ServerInfo, WireSummary
from reports.mbedtls_errors import (ErrorDef, describe, describe_verify_flags, hex_code,
                                    load_error_table, load_verify_flags)
from reports.render import render
from core.write import write_if_changed

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
    app: str = "echo",
    server_kind: str = "reference",
    clock: str = "none",
    advice: tuple[dict, ...] = (),
    lto: bool = False,
    tuning: dict[str, str] | None = None,
    insecure: tuple[str, ...] = (),
) -> dict:
    """The report.json content. run is None when no handshake could be run (error says why).

    mbedtls_dir, when given, names the error code from mbedTLS's headers."""
    return {
        **_identity(tlsfit_version, profile_name, target, cpu, mbedtls_version, config_sha256, optimize),
        "config_options": _count_options(config_text),
        # the option names the config defines (tlsfit comment lists what changed between two reports)
        "options": _option_names(config_text),
        "option_reasons": _option_reasons(config_text),
        "rom": _rom(footprint),
        "ram": _ram(footprint, run),
        "handshake": _handshake(run, wire, error, mbedtls_dir),
        "app": _app(run, app, wire, error, mbedtls_dir),
        "server": _server(server, server_kind),
        "budget": _budget(budget),
        "clock": clock,
        # what the profile's allow_insecure: true let through (SHA-1 signatures, weak PSKs, ...)
        "insecure": list(insecure),
        # how the measured firmware was compiled and linked, and the knobs over the optimize level
        "build": {"lto": lto},
        "tuning": dict(tuning or {}),
        # cheaper choices the server accepts: {"change", "saves", "source": measured | estimate}
        "advice": list(advice),
    }


def build_image_report(*, tlsfit_version: str, name: str, target: str, machine: str, mbedtls_version: str,
                       footprint: Footprint, elf: str, map_file: str | None, mbedtls_dir: str | None) -> dict:
    """report.json of an image tlsfit did not build (`tlsfit size`): ROM and static RAM, nothing run.

    "kind": "image"; the peaks and the handshake are null (diff and gate compare what is there)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tlsfit_version": tlsfit_version,
        "kind": "image",
        "profile": name,
        "target": target,
        "cpu": machine,
        "mbedtls_version": mbedtls_version,
        "rom": _rom(footprint),
        "ram": {"static": footprint.ram_static, "static_mbedtls": footprint.ram_static_mbedtls,
                "static_harness": footprint.ram_static_harness, "heap_peak": None, "stack_peak": None,
                "total": None, "heap_arena": footprint.heap_arena, "stack_reserved": footprint.stack_reserved},
        "handshake": None,
        "image": {"elf": elf, "map": map_file, "attribution": footprint.attribution, "mbedtls_dir": mbedtls_dir},
    }


def _identity(tlsfit_version: str, profile_name: str, target: str, cpu: str, mbedtls_version: str,
              config_sha256: str, optimize: str) -> dict:
    """What every report.json says of the build it describes, measured or not."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tlsfit_version": tlsfit_version,
        "profile": profile_name,
        "target": target,
        "cpu": cpu,
        "mbedtls_version": mbedtls_version,
        "config_sha256": config_sha256,
        "optimize": optimize,
    }


def _count_options(config_text: str) -> int:
    # Include guards are #define'd too; they do not start with MBEDTLS_/PSA_.
    return sum(
        1
        for line in config_text.splitlines()
        if line.startswith("#define ") and line.split()[1].startswith(("MBEDTLS_", "PSA_WANT_"))
    )


def _option_names(config_text: str) -> list[str]:
    return sorted({line.split()[1] for line in config_text.splitlines()
                   if line.startswith("#define ") and line.split()[1].startswith(("MBEDTLS_", "PSA_WANT_"))})


def _option_reasons(config_text: str) -> dict[str, str]:
    """Each option's reason: the comment the renderer writes on the line after its #define."""
    lines = config_text.splitlines()
    reasons: dict[str, str] = {}
    for line, following in zip(lines, lines[1:] + [""]):
        if line.startswith("#define ") and line.split()[1].startswith(("MBEDTLS_", "PSA_WANT_")):
            comment = following.strip()
            if comment.startswith("/*") and comment.endswith("*/"):
                reasons[line.split()[1]] = comment[2:-2].strip()
    return dict(sorted(reasons.items()))


def _rom(footprint: Footprint) -> dict:
    modules = dict(sorted(footprint.modules.items(), key=lambda item: (-item[1], item[0])))
    return {
        "total": footprint.rom_total,
        "mbedtls": footprint.rom_mbedtls,
        "other": footprint.rom_total - footprint.rom_mbedtls,  # harness, startup, libc
        "modules": modules,
        # per function/constant ("module.o:symbol"): what `tlsfit diff` shows below the modules
        "symbols": dict(footprint.symbols),
        # how modules were found: "map" (the linker map's archive members) or "dwarf" (each
        # symbol's source file from the debug info: under LTO the map names no member)
        "attribution": footprint.attribution,
        **({"lto": footprint.lto} if footprint.lto is not None else {}),
    }


def _ram(footprint: Footprint, run: HandshakeRun | None) -> dict:
    # Peaks are unknown, not zero, when nothing ran.
    heap_peak = run.heap_peak if run else None
    stack_peak = run.stack_peak if run else None
    total = footprint.ram_static + heap_peak + stack_peak if run else None
    stack_harness = run.stack_harness if run else None
    return {
        "static": footprint.ram_static,
        # what mbedTLS and the contexts any application holds for it need, and what the harness adds
        "static_mbedtls": footprint.ram_static_mbedtls,
        "static_harness": footprint.ram_static_harness,
        "stack_mbedtls": stack_peak - stack_harness if stack_peak is not None and stack_harness is not None else None,
        "stack_harness": stack_harness,
        "heap_peak": heap_peak,
        "heap_overhead": run.heap_overhead_peak if run else None,
        "stack_peak": stack_peak,
        "total": total,
        "heap_arena": footprint.heap_arena,
        "stack_reserved": footprint.stack_reserved,
    }


def _handshake_ok(run: HandshakeRun | None) -> bool:
    """The handshake's own verdict (a result line without one judged handshake and app together)."""
    if run is None:
        return False
    return bool(run.ok if run.handshake_ok is None else run.handshake_ok)


def _app(run: HandshakeRun | None, protocol: str, wire: WireSummary | None, error: str | None,
         mbedtls_dir: Path | None) -> dict:
    """What followed the handshake, judged apart from it (ok None: not reached, or app none)."""
    if run is None or not _handshake_ok(run):
        return {"protocol": protocol, "ok": None, "bytes_sent": None, "bytes_received": None,
                "detail": None, "error": None}
    ok = run.app_ok
    if protocol == "none":
        ok = None if run.ok else False   # close_notify is all there is to judge
    return {
        "protocol": protocol,
        "ok": ok,
        "bytes_sent": run.app_bytes_sent,
        "bytes_received": run.app_bytes_received,
        "detail": run.app_detail or ("close_notify sent" if protocol == "none" and run.ok else None),
        "error": _error(run, wire, error, mbedtls_dir) if ok is False else None,
    }


def _handshake(run: HandshakeRun | None, wire: WireSummary | None, error: str | None, mbedtls_dir: Path | None) -> dict:
    if run is not None and run.handshake_ok is not None:
        ok = run.handshake_ok   # the harness's own verdict on the handshake: an app or a server
                                # failing after it (the error) belongs to the app
    else:
        ok = _handshake_ok(run) and (error is None or (run is not None and run.ok))
    return {
        "ok": ok,
        "error": None if ok else _error(run, wire, error, mbedtls_dir),
        "version": (run.version if run else None) or (wire.version if wire else None),
        "ciphersuite": run.ciphersuite if run else None,
        "group": wire.group if wire else None,
        # the handshake's own bytes when the harness counts them apart, else everything
        "bytes_sent": _first(run.handshake_bytes_sent, run.bytes_sent) if run else None,
        "bytes_received": _first(run.handshake_bytes_received, run.bytes_received) if run else None,
        "instructions": run.instructions if run else None,
        "instructions_unit": INSTRUCTIONS_UNIT,
        # the harness allocator's work, already left out of instructions (see README)
        "allocator_instructions": run.allocator_instructions if run else None,
        "allocations": run.allocations if run else None,
        "states": [{"state": s.state, "instructions": s.instructions} for s in (run.states if run else ())],
    }


def _first(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _error(run: HandshakeRun | None, wire: WireSummary | None, error: str | None, mbedtls_dir: Path | None) -> dict:
    code = run.error_code if run else None
    parts: list[ErrorDef] = []
    if code and mbedtls_dir is not None:
        parts = describe(code, load_error_table(mbedtls_dir))
    return {
        "code": code,
        # no mbedTLS error (0): the app's answer was wrong, or the run was stopped from outside
        "hex": hex_code(code) if code else None,
        "name": " + ".join(p.name for p in parts) if parts else None,
        "description": " / ".join(p.description for p in parts if p.description) or None,
        "stage": run.error_stage if run else None,
        # the first alert on the wire names who gave up: "unknown_ca (from client)" when the
        # firmware refused the server, "handshake_failure (from server)" when the server refused
        "alert": wire.alert if wire else None,
        "alert_sent": wire.alert_sent if wire else None,       # the firmware's first alert
        "alert_received": wire.alert_received if wire else None,  # the server's first alert
        "verify_flags": _verify_flags(run.verify_flags if run else None, mbedtls_dir),
        "message": error,
    }


def _verify_flags(flags: int | None, mbedtls_dir: Path | None) -> dict | None:
    """Why the server's certificate was refused (mbedtls_ssl_get_verify_result), its bits
    named from the x509.h the firmware was built with; None when it was not refused."""
    if not flags:
        return None
    found = describe_verify_flags(flags, load_verify_flags(mbedtls_dir)) if mbedtls_dir is not None else []
    return {
        "value": flags,
        "hex": f"0x{flags:08X}",
        "flags": [{"name": f.name, "description": f.description or None} for f in found],
    }


def _server(server: ServerInfo | None, kind: str) -> dict | None:
    if server is None:
        return None
    return {"impl": server.impl, "version": server.version, "address": server.address, "kind": kind}


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


# Build outputs kept beside report.json (copied out of the build cache), by report key.
ARTIFACT_NAMES = {"elf": "firmware.elf", "map": "firmware.map"}


def with_artifacts(report: dict, elf: Path | None, map_file: Path | None) -> dict:
    """A copy of report naming the artifacts write_report_files copies next to it (paths relative to it)."""
    present = {"elf": elf, "map": map_file}
    return {**report, "artifacts": {k: ARTIFACT_NAMES[k] for k, v in present.items() if v is not None}}


def copy_artifact(source: Path, target: Path) -> None:
    """Copy atomically (a temporary file beside target, then rename), only when the bytes differ."""
    data = source.read_bytes()
    try:
        if target.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report_files(report: dict, out_dir: Path, config_text: str,
                       artifacts: dict[str, Path] | None = None) -> None:
    """report.json, report.md and report.html in out_dir, each replaced atomically; `artifacts`
    ({"elf": path, "map": path}) are copied beside them under the names in ARTIFACT_NAMES."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for key, source in (artifacts or {}).items():
        copy_artifact(source, out_dir / ARTIFACT_NAMES[key])
    # Render everything first so a template error leaves the old files untouched.
    contents = {
        "report.json": report_json(report),
        "report.md": render_markdown(report),
        "report.html": render_html(report, config_text),
    }
    for name, text in contents.items():
        write_if_changed(out_dir / name, text)


def does_not_fit_report(*, tlsfit_version: str, profile_name: str, target: str, cpu: str,
                        mbedtls_version: str, config_sha256: str, optimize: str,
                        overflows: tuple[tuple[str, int], ...], message: str,
                        limits: dict[str, int | None]) -> dict:
    """The record `tlsfit measure` writes when the build does not fit the board's part (it still
    exits 2): no image, so no ROM/RAM figures and no handshake; by how much each linker region
    overflowed, the part's limits and the explanation (reports/schema.py: fits false)."""
    return {
        **_identity(tlsfit_version, profile_name, target, cpu, mbedtls_version, config_sha256, optimize),
        "fits": False,
        "overflow": {region: over for region, over in overflows},
        "limits": dict(limits),
        "does_not_fit": message,
        "rom": None,
        "ram": None,
        "handshake": None,
    }


def write_does_not_fit_record(report: dict, out_dir: Path) -> None:
    """report.json (the does-not-fit record) in out_dir; a previous run's report.md/.html and
    firmware there described an image this build no longer makes, so they go."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_if_changed(out_dir / "report.json", report_json(report))
    for name in ("report.md", "report.html", *ARTIFACT_NAMES.values()):
        (out_dir / name).unlink(missing_ok=True)


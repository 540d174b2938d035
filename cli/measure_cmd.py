"""`tlsfit measure`: config -> firmware -> real handshake -> figures -> report files."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from cli import EXIT_FAILED, EXIT_OK, VERSION, InputError
from cli.gen_cmd import GeneratedConfig, generate, print_warnings
from cli.paths import Workspace, require_mbedtls, workspace
from generator.model import Profile
from measure.boards import Board, load_board
from measure.build import build_firmware
from measure.figures import read_footprint
from measure.firmware_data import render_harness_data
from measure.harness_result import parse_result
from measure.host_run import run_host
from measure.model import Firmware, HandshakeRun, MeasureError, ServerInfo, WireSummary
from measure.pki import TestPki, make_test_pki
from measure.proxy import WireProxy
from measure.qemu import run_qemu
from measure.server import start_reference_server
from measure.trust import harness_input_for_external, harness_input_for_reference
from reports.report import build_report, write_report_files


@dataclass(frozen=True)
class RunOutcome:
    run: HandshakeRun | None
    wire: WireSummary | None
    server: ServerInfo
    error: str | None          # why there is no run (timeout, crash), else None


def parse_server_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--server {text!r}: expected HOST:PORT, e.g. 192.0.2.10:8883")
    return host.strip("[]"), int(port)


def needs_test_pki(profile: Profile) -> bool:
    """Certificates are needed unless every suite is pure PSK."""
    return profile.chain is not None or profile.client_certificate is not None


def test_pki_dir(profile: Profile) -> Path:
    """Beside the profile, so it can be committed: the firmware embeds the test root and the
    server sends the test chain, so a fresh PKI per clone would move ROM and heap figures."""
    return profile.path.parent / "test-pki" / profile.name


def reference_pki(profile: Profile) -> TestPki | None:
    """The committed test PKI the reference server and firmware use (None for pure PSK)."""
    if not needs_test_pki(profile):
        return None
    client_key = profile.client_certificate.key if profile.client_certificate else None
    return make_test_pki(profile.chain, profile.host, client_key, test_pki_dir(profile))


def _run_once(fw: Firmware, board: Board, upstream: tuple[str, int], timeout: float) -> tuple[HandshakeRun | None, WireSummary | None, str | None]:
    with WireProxy(*upstream) as proxy:
        try:
            if board.is_host:
                code, console = run_host(fw, "127.0.0.1", proxy.port, timeout)
            else:
                code, console = run_qemu(fw, board, proxy.port, timeout)
            run = parse_result(console)
            error = None
        except MeasureError as e:
            run, error = None, str(e)
    return run, proxy.summary(), error


def run_handshake(gen: GeneratedConfig, fw: Firmware, board: Board, pki: TestPki | None,
                  server: str | None, server_impl: str, workdir: Path, timeout: float) -> RunOutcome:
    if server is not None:
        upstream = parse_server_address(server)
        info = ServerInfo(impl="external", version="", address=f"{upstream[0]}:{upstream[1]}")
        run, wire, error = _run_once(fw, board, upstream, timeout)
        return RunOutcome(run, wire, info, error)
    with start_reference_server(gen.profile, pki, impl=server_impl, workdir=workdir) as srv:
        run, wire, error = _run_once(fw, board, ("127.0.0.1", srv.port), timeout)
        info = srv.info
        if run is None or not run.ok:
            log = srv.log_text().strip()
            if log:
                error = (error + "\n" if error else "") + "server log:\n" + "\n".join(log.splitlines()[-15:])
    return RunOutcome(run, wire, info, error)


def run_measure(profile: Path, target: str | None, server: str | None, server_impl: str,
                output: Path | None, timeout: float, optimize: str | None = None) -> int:
    ws = workspace()
    mbedtls_version = require_mbedtls(ws)
    if server is not None:
        parse_server_address(server)  # bad input fails before any build
    gen = generate(profile, ws, target, validate=True, optimize=optimize)
    print_warnings(profile, gen)
    board = load_board(target or gen.profile.target, ws.ports)
    # An --optimize override gets its own folder so the levels' reports sit side by side.
    default_leaf = board.name if optimize is None else f"{board.name}-{optimize}"
    out_dir = output if output is not None else ws.build / gen.profile.name / default_leaf
    work = ws.build / gen.profile.name / "work"
    work.mkdir(parents=True, exist_ok=True)

    pki = reference_pki(gen.profile) if server is None else None
    harness_input = (harness_input_for_external(gen.profile) if server is not None
                     else harness_input_for_reference(gen.profile, pki))
    fw = build_firmware(gen.text, render_harness_data(harness_input), board, ws.mbedtls, ws.cache)
    footprint = read_footprint(fw.elf, fw.map_file)
    outcome = run_handshake(gen, fw, board, pki, server, server_impl, work, timeout)

    report = build_report(
        tlsfit_version=VERSION, profile_name=gen.profile.name, target=board.name, cpu=board.cpu,
        mbedtls_version=mbedtls_version, config_sha256=gen.sha256, footprint=footprint,
        run=outcome.run, wire=outcome.wire, server=outcome.server, config_text=gen.text,
        error=outcome.error, optimize=gen.profile.optimize, budget=gen.profile.budget,
        mbedtls_dir=ws.mbedtls)
    write_report_files(report, out_dir, gen.text)
    print_summary(report, out_dir)
    return EXIT_OK if report["handshake"]["ok"] else EXIT_FAILED


def print_summary(report: dict, out_dir: Path) -> None:
    hs, rom, ram = report["handshake"], report["rom"], report["ram"]
    instr = hs.get("instructions")
    rows = [
        ("profile / target", f"{report['profile']} / {report['target']} ({report['cpu']})"),
        ("handshake", f"{'ok' if hs['ok'] else 'FAILED'}  {hs.get('version') or '-'}  "
                      f"{hs.get('ciphersuite') or '-'}  {hs.get('group') or '-'}"),
        ("ROM", f"{rom['total']:,} B total, {rom['mbedtls']:,} B mbedTLS"),
        ("RAM", f"{ram['total']:,} B = static {ram['static']:,} + heap peak {ram['heap_peak']:,} "
                f"+ stack peak {ram['stack_peak']:,}"),
        ("handshake work", f"{instr:,} guest instructions" if instr else "not counted on this target"),
        ("bytes", f"{hs.get('bytes_sent', 0):,} sent, {hs.get('bytes_received', 0):,} received"),
        ("server", f"{report['server']['impl']} {report['server'].get('version', '')}".strip()),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    if not hs["ok"]:
        print(f"  {'error':<{width}}  {format_error(hs.get('error'))}", file=sys.stderr)
    print(f"  {'report':<{width}}  {out_dir / 'report.json'}")


def format_error(error: object) -> str:
    if isinstance(error, dict):
        return " ".join(str(error[k]) for k in ("hex", "name", "message") if error.get(k))
    return str(error)

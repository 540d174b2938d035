"""The stages as library calls: plain data in and out, no printing, no argv or environment.

    generate   profile file + knowledge base -> GeneratedConfig (resolved options, header text)
    validate   GeneratedConfig + board + mbedTLS tree -> None, or ConfigBug
    build      GeneratedConfig + HarnessInput + board -> Firmware (ELF + map, cached library)
    run        Firmware + board + server address -> RunOutcome (harness result, wire summary)
    measure    all of the above for one MeasureRequest -> Measurement (the finished report.json dict);
               write_measurement puts it, the firmware and mbedtls_config.h in a folder

The CLI, the benchmarks, probe and tune call these; none of them imports cli.
Progress is reported through an optional callback taking one line of text.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

from core.errors import BadInput
from generator.cores import Core, find_core
from generator.knowledge import Knowledge
from generator.model import App, Profile, ResolvedConfig
from generator.parts import core_facts
from generator.profile import load_profile
from generator.render import config_sha256, render_config
from generator.resolve import resolve
from generator.tuning import with_knobs
from generator.validate import validate_config
from measure.boards import Board, load_board
from measure.children import ToolMissing, require_tool
from measure.build import build_firmware
from measure.figures import DoesNotFit, heap_exhausted_note, read_footprint
from measure.heap_fit import buffers_cannot_fit
from measure.firmware_data import render_harness_data
from measure.harness_result import parse_result, partial_result
from measure.host_run import run_host
from measure.model import Firmware, HandshakeRun, HarnessInput, MeasureError, ServerInfo, WireSummary
from measure.pki import TestPki, make_test_pki
from measure.dgram_proxy import DatagramProxy, LossPlan, retransmit_schedule_s
from measure.proxy import FAULT_UPSTREAM_UNREACHABLE, WireProxy, check_server_reachable
from measure.qemu import run_qemu
from measure.server import start_reference_server
from measure.trust import harness_input_for_external, harness_input_for_reference
from pipeline.advice import advise
from pipeline.tree import MbedtlsTree
from core.write import write_if_changed
from generator.parts import Part, find_part
from reports.fit import part_core_build, with_part, with_time_estimate
from reports.report import (build_report, does_not_fit_report, with_artifacts, write_does_not_fit_record,
                            write_report_files)

HOST_TARGET = "host"
# What the reference servers (openssl s_server -rev, gnutls-serv --echo) can answer.
REFERENCE_APPS = ("none", "echo")

Progress = Callable[[str], None]
CONFIG_FILE = "mbedtls_config.h"       # the generated header, beside report.json and from `tlsfit gen`


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Paths:
    """Where the stages find board folders and keep their caches and scratch files."""
    ports: Path                    # ports/ (one folder per board)
    cache: Path                    # compiled mbedTLS libraries and firmware, by config hash
    work: Path                     # scratch space (server files, config checks)
    ccache: bool = True            # compile mbedTLS through ccache when it is installed


@dataclass(frozen=True)
class GeneratedConfig:
    profile: Profile
    resolved: ResolvedConfig
    text: str
    sha256: str


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RunOutcome:
    run: HandshakeRun | None       # None: the harness gave no result (error says why)
    wire: WireSummary | None
    server: ServerInfo
    error: str | None
    dtls: dict | None = None       # transport: udp: what the datagram relay saw (DtlsSummary.as_report)


@dataclass(frozen=True)
class MeasureRequest:
    profile: Path
    tree: MbedtlsTree
    paths: Paths
    target: str | None = None              # None: the profile's target
    environ: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)  # key_file: ${NAME}
    server: ServerAddress | None = None    # None: start the reference server
    server_impl: str = "openssl"           # reference server: "openssl" | "gnutls"
    timeout_s: float | None = None         # None: run_timeout_s(profile)
    optimize: str | None = None            # None: the profile's level
    app: str | None = None                 # None: the profile's app, else the default for the server
    loss: LossPlan | None = None           # transport: udp: datagrams the relay drops/duplicates/reorders
    lto: bool | None = None                # None: the profile's build.lto
    knobs: tuple[tuple[str, str], ...] = ()  # tuning knobs over the profile's tuning: (generator/tuning.py)
    core: str | None = None                # build for this core on the target board: a part's own
                                           # architecture (reports/fit.part_core_build)
    part: str | None = None                # catalogue part for the fit figures; None: the profile's part:
    clock_mhz: float | None = None         # also estimate the handshake time at this clock
    parts: tuple[Part, ...] = ()           # the user's own parts (--parts FILE), beside the catalogue


@dataclass(frozen=True)
class Measurement:
    request: MeasureRequest
    generated: GeneratedConfig
    board: Board
    app: App
    report: dict                           # the finished report.json content (reports/report.py)
    firmware: Firmware | None = None       # the linked ELF and map file (in the build cache)


_HOST_NAME = re.compile(r"[A-Za-z0-9._-]{1,253}")
DEFAULT_TIMEOUT_S = 120.0
DTLS_TIMEOUT_MARGIN_S = 20.0   # start-up, the handshake's own work, the result line
# The DTLS timers run on the board's wait clock (semihosting SYS_CLOCK on QEMU boards), which
# ran slower than the wall clock here: the 123 s schedule of 1 s .. 60 s ended after 203 s.
DTLS_CLOCK_FACTOR = 2.0


def run_timeout_s(profile: Profile) -> float:
    """The default run timeout: 120 s, or for DTLS the profile's whole retransmission
    schedule (tls.retransmit) on the board's clock with room for that clock's pace and a
    margin, so a handshake nobody answers ends in mbedTLS's own MBEDTLS_ERR_SSL_TIMEOUT
    (the harness stops the schedule there: ports/common/harness.c), not in a killed QEMU."""
    if profile.dtls is None:
        return DEFAULT_TIMEOUT_S
    schedule = retransmit_schedule_s(profile.dtls.retransmit_min_ms, profile.dtls.retransmit_max_ms)
    return max(DEFAULT_TIMEOUT_S, schedule * DTLS_CLOCK_FACTOR + DTLS_TIMEOUT_MARGIN_S)


def parse_server_address(text: str, what: str = "--server") -> ServerAddress:
    """HOST:PORT, [IPv6]:PORT or a bare IPv6 address with the port after its last colon (::1:4433).

    The one address parser of every command; BadInput naming `what` otherwise."""
    example = "expected HOST:PORT, [IPv6]:PORT or IPv6:PORT, e.g. 192.0.2.10:8883 or [::1]:4433"
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or len(port) > 5:
        raise BadInput(f"{what} {text!r}: {example}")
    if not 0 < int(port) < 65536:
        raise BadInput(f"{what} {text!r}: port {int(port)} is out of range; use 1 to 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ipv6(host):
            raise BadInput(f"{what} {text!r}: {host!r} in brackets is not an IPv6 address; {example}")
    elif ":" in host:
        if not _is_ipv6(host):
            raise BadInput(f"{what} {text!r}: {example}")
    elif not _HOST_NAME.fullmatch(host):
        raise BadInput(f"{what} {text!r}: {host!r} is not a host name or address; {example}")
    return ServerAddress(host, int(port))


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def generate(profile_path: Path, kb: Knowledge, core: Core, optimize: str | None = None,
             knobs: tuple[tuple[str, str], ...] = (), lto: bool | None = None) -> GeneratedConfig:
    """Load, resolve and render one profile's config (not compile-checked: see validate).
    core: the target board's CPU core (Board.core), for arch-conditioned tuning;
    knobs: knob settings over the profile's tuning:; lto: over the profile's build.lto."""
    return configure(load(profile_path, kb, optimize, knobs, lto), kb, core)


def load(profile_path: Path, kb: Knowledge, optimize: str | None = None,
         knobs: tuple[tuple[str, str], ...] = (), lto: bool | None = None) -> Profile:
    """The profile with the caller's overrides of its optimize level, tuning and LTO."""
    profile = load_profile(profile_path, kb)
    if optimize is not None:
        profile = replace(profile, optimize=optimize)
    profile = with_knobs(profile, kb, dict(knobs))   # the harness asks for what the knobs chose
    if lto is not None:
        profile = replace(profile, lto=lto)
    return profile


def configure(profile: Profile, kb: Knowledge, core: Core) -> GeneratedConfig:
    """Resolve and render a loaded profile's config for a CPU core."""
    resolved = resolve(profile, kb, core)
    text = render_config(resolved, profile, kb)
    return GeneratedConfig(profile, resolved, text, config_sha256(text))


def compiler_for(board: Board) -> tuple[str, tuple[str, ...]]:
    return (board.cc, board.cflags)


def validate(gen: GeneratedConfig, board: Board, tree: MbedtlsTree, work: Path) -> None:
    """Prove the header passes mbedTLS's check_config.h with the board's compiler flags."""
    cc, cflags = compiler_for(board)
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work, prefix="validate-") as tmp:
        validate_config(gen.text, tree.dir, Path(tmp), tree.knowledge.check_headers, cc=cc, cflags=cflags)


def board_for(gen: GeneratedConfig, target: str | None, paths: Paths) -> Board:
    return load_board(target or gen.profile.target, paths.ports, None if target else gen.profile.target_where)


def test_pki_dir(profile: Profile) -> Path:
    """Beside the profile, so it can be committed: the firmware embeds the test root and the
    server sends the test chain, so a fresh PKI per clone would move ROM and heap figures."""
    return profile.path.parent / "test-pki" / profile.name


def reference_pki(profile: Profile) -> TestPki | None:
    """The committed test PKI the reference server and firmware use (None for pure PSK)."""
    if not profile.uses_certificates and profile.client_certificate is None:
        return None
    client_key = profile.client_certificate.key if profile.client_certificate else None
    return make_test_pki(profile.chain, profile.host, client_key, test_pki_dir(profile))


def choose_app(profile: Profile, requested: str | None, external: bool) -> App:
    """What follows the handshake: --app, else the profile's app:, else echo (reference) / none (--server).

    The reference servers only echo, so an mqtt/http profile measured against them echoes instead;
    asking for mqtt/http explicitly without --server is bad input.
    """
    base = profile.app or App(protocol="none" if external else "echo")
    if requested is not None:
        base = replace(base, protocol=requested)
        if not external and requested not in REFERENCE_APPS:
            raise BadInput(f"--app {requested}: the reference server only answers "
                           f"{' or '.join(REFERENCE_APPS)}; use --server HOST:PORT to talk {requested} "
                           "to a real server")
    elif not external and base.protocol not in REFERENCE_APPS:
        base = replace(base, protocol="echo")
    if profile.transport == "udp" and not external and base.protocol != "none":
        if requested is not None:
            raise BadInput(f"--app {requested}: the DTLS reference server (openssl s_server -dtls1_2) "
                           "answers nothing after the handshake; use --server HOST:PORT (e.g. a CoAP "
                           "server with --app coap) or --app none")
        base = replace(base, protocol="none")
    if base.protocol == "coap" and profile.transport != "udp":
        raise BadInput(f"{'--app coap' if requested else str(profile.path) + ': app: coap'}: CoAP is "
                       "spoken over DTLS here; it needs a transport: udp profile")
    client_id = base.client_id or f"tlsfit-{profile.name}"[:23]
    return replace(base, client_id=client_id)


def device_identity(profile: Profile, environ: Mapping[str, str]) -> Profile:
    """The profile with `key_file: ${NAME}` read from the environment (measure --server needs the
    device's real key; the reference server issues a test identity and never reads it)."""
    cert = profile.client_certificate
    if cert is None or cert.key_env is None:
        return profile
    value = environ.get(cert.key_env, "")
    if not value:
        raise BadInput(f"{profile.path}: error: tls.client_certificate.key_file is ${{{cert.key_env}}}, which is not "
                       f"set: export {cert.key_env}=/path/to/device.key for --server (without --server the "
                       "reference server uses a test identity and needs no key)")
    key_file = Path(value)
    if not key_file.is_file():
        raise BadInput(f"{profile.path}: error: {cert.key_env}={value}: no such file (tls.client_certificate.key_file)")
    return replace(profile, client_certificate=replace(cert, key_file=key_file))


def harness_input(gen: GeneratedConfig, kb: Knowledge, app: App, pki: TestPki | None,
                  external: bool, environ: Mapping[str, str] | None = None) -> HarnessInput:
    base = (harness_input_for_external(device_identity(gen.profile, environ or {}), gen.resolved, kb) if external
            else harness_input_for_reference(gen.profile, gen.resolved, kb, pki))
    base = replace(base, app=app.protocol, app_client_id=app.client_id, app_host=gen.profile.host,
                   app_path=app.path)
    dtls = gen.profile.dtls
    if dtls is not None:
        base = replace(base, datagram=True, retransmit_ms=(dtls.retransmit_min_ms, dtls.retransmit_max_ms),
                       mtu=dtls.mtu or 0, connection_id=dtls.connection_id)
    return base


def build(gen: GeneratedConfig, data: HarnessInput, board: Board, tree: MbedtlsTree, paths: Paths) -> Firmware:
    return build_firmware(gen.text, render_harness_data(data), board, tree.dir, paths.cache,
                          lto=gen.profile.lto, use_ccache=paths.ccache)


def _run_once(fw: Firmware, board: Board, upstream: ServerAddress, timeout_s: float,
              loss: LossPlan | None = None,
              udp: bool = False) -> tuple[HandshakeRun | None, WireSummary | None, str | None, dict | None]:
    relay = DatagramProxy(upstream.host, upstream.port, loss) if udp else WireProxy(upstream.host, upstream.port)
    with relay as proxy:
        try:
            if board.is_host:
                _, console = run_host(fw, "127.0.0.1", proxy.port, timeout_s, proxy=proxy)
            else:
                _, console = run_qemu(fw, board, proxy.port, timeout_s, proxy=proxy)
            run: HandshakeRun | None = parse_result(console)
            error = None
        except ToolMissing:
            raise  # not a handshake result: exit 3 with the install hint
        except MeasureError as e:  # RunAborted (proxy fault), RunTimeout, RunEnded (crash, exit)
            # stopped inside the application exchange: the handshake's own line still counts
            run, error = partial_result(getattr(e, "console", "")), str(e)
        fault = proxy.fault
    if udp and fault is not None and fault.kind == FAULT_UPSTREAM_UNREACHABLE:
        raise MeasureError(fault.message)   # unreachable: a tool failure (exit 3), as TCP's pre-flight
    if fault is not None and (run is None or not run.ok) and (error is None or fault.message not in error):
        error = f"{error}\n{fault.message}" if error else fault.message
    dtls = proxy.dtls().as_report() if isinstance(proxy, DatagramProxy) else None
    return run, proxy.summary(), error, dtls


def run(fw: Firmware, board: Board, profile: Profile, pki: TestPki | None, server: ServerAddress | None,
        server_impl: str, work: Path, timeout_s: float, kb: Knowledge,
        loss: LossPlan | None = None) -> RunOutcome:
    """One handshake of fw against `server`, or against a reference server shaped like the profile."""
    udp = profile.transport == "udp"
    if server is not None:
        info = ServerInfo(impl="external", version="", address=str(server))
        r, wire, error, dtls = _run_once(fw, board, server, timeout_s, loss, udp)
        return RunOutcome(r, wire, info, error, dtls)
    work.mkdir(parents=True, exist_ok=True)
    with start_reference_server(profile, pki, impl=server_impl, workdir=work) as srv:
        r, wire, error, dtls = _run_once(fw, board, ServerAddress("127.0.0.1", srv.port), timeout_s, loss, udp)
        info = srv.info
        if r is None or not r.ok:
            log = srv.log_text().strip()
            if log:
                error = (error + "\n" if error else "") + "server log:\n" + "\n".join(log.splitlines()[-15:])
    return RunOutcome(r, wire, info, error, dtls)


def board_for_core(board: Board, mcpu: str) -> Board:
    """The board running code built for another core of the architectures it executes (Armv6-M
    code on an Armv7-M board): its core replaced, its name saying so (own build cache)."""
    facts = core_facts(mcpu)
    if facts is None or not facts.mcpu or board.is_host:
        raise BadInput(f"cannot build for {mcpu} on {board.name}")
    core = find_core(facts.mcpu)
    own_flags = board.cflags[len(board.core.cflags):]
    return replace(board, name=f"{board.name}-as-{core.name}", core=core, cflags=core.cflags + own_flags)


def generate_for_board(profile_path: Path, kb: Knowledge, optimize: str | None, target: str | None,
                       paths: Paths, knobs: tuple[tuple[str, str], ...] = (), lto: bool | None = None,
                       core: str | None = None) -> tuple[GeneratedConfig, Board]:
    """The config for the board that runs it (the profile's target unless `target` is given):
    the board's CPU core decides the arch-conditioned tuning (core: built for that core)."""
    profile = load(profile_path, kb, optimize, knobs, lto)
    board = load_board(target or profile.target, paths.ports, None if target else profile.target_where)
    if core is not None:
        board = board_for_core(board, core)
    return configure(profile, kb, board.core), board


def measure(request: MeasureRequest, tlsfit_version: str, progress: Progress = _quiet) -> Measurement:
    """Generate, validate, build, run one handshake and return the finished report (nothing written:
    write_measurement writes it). A build that does not fit the board raises DoesNotFit carrying the
    does-not-fit record as its `measurement`."""
    kb = request.tree.knowledge
    asked_part = find_part(request.part, extra=request.parts) if request.part is not None else None  # bad input first
    gen, board = generate_for_board(request.profile, kb, request.optimize, request.target, request.paths,
                                    knobs=request.knobs, lto=request.lto, core=request.core)
    if request.server is not None and gen.profile.transport != "udp":
        # an unreachable server fails in seconds, before any build (UDP has no connection to try)
        check_server_reachable(request.server.host, request.server.port)
    external = request.server is not None
    if gen.profile.transport == "udp" and not board.datagram:
        raise BadInput(f"{gen.profile.path}: transport: udp: board {board.name} has no datagram transport "
                       "(board.yaml datagram: false); measure DTLS on an mps2-* board or --target host")
    if gen.profile.transport != "udp" and request.loss is not None:
        raise BadInput("--loss drops datagrams: it needs a transport: udp (DTLS) profile")
    app = choose_app(gen.profile, request.app, external)
    if board.qemu_argv:
        require_tool(board.qemu_argv[0])  # a missing QEMU fails before the build, with the apt-get hint
    progress(f"checking the config against mbedTLS {request.tree.version} ({len(gen.resolved.options)} options)")
    validate(gen, board, request.tree, request.paths.work)
    pki = None if external else reference_pki(gen.profile)
    data = harness_input(gen, kb, app, pki, external, request.environ)
    cannot_fit = buffers_cannot_fit(gen.profile, gen.resolved, kb, board)   # known before any build
    if cannot_fit is not None:
        progress(f"this shape cannot fit {board.name}'s heap: {cannot_fit}")
    progress(f"building mbedTLS and the harness for {board.name}")
    try:
        fw = build(gen, data, board, request.tree, request.paths)
    except DoesNotFit as exc:  # the record a profile x board matrix shows (still exit 2)
        exc.measurement = Measurement(request=request, generated=gen, board=board, app=app, report=does_not_fit_report(
            tlsfit_version=tlsfit_version, profile_name=gen.profile.name, target=board.name, cpu=board.cpu,
            mbedtls_version=request.tree.version, config_sha256=gen.sha256, optimize=gen.profile.optimize,
            overflows=exc.overflows, message=str(exc),
            limits={"flash": board.flash_limit, "ram": board.ram_limit}))
        raise
    footprint = read_footprint(fw.elf, fw.map_file, attribution="dwarf" if fw.lto else "map",
                               mbedtls_dir=request.tree.dir)
    where = str(request.server) if external else f"a reference {request.server_impl} server"
    progress(f"running the handshake on {board.name} against {where}")
    outcome = run(fw, board, gen.profile, pki, request.server, request.server_impl,
                  request.paths.work / gen.profile.name,
                  request.timeout_s if request.timeout_s is not None else run_timeout_s(gen.profile),
                  kb, request.loss)
    error = outcome.error
    cause = missing_client_certificate(gen.profile, outcome)
    if cause is not None:
        error = f"{cause}\n{error}" if error else cause
    if outcome.run is not None and not outcome.run.ok:  # out of heap: say the arena and the peak
        note = heap_exhausted_note(outcome.run.error_code, outcome.run.heap_peak,
                                   outcome.run.heap_overhead_peak, footprint, board)
        if note and cannot_fit is not None:
            note = f"{cannot_fit}\n{note}"   # the structural cause first
        error = f"{note}\n{error}" if note and error else (note or error)
    report = build_report(
        tlsfit_version=tlsfit_version, profile_name=gen.profile.name, target=board.name, cpu=board.cpu,
        mbedtls_version=request.tree.version, config_sha256=gen.sha256, footprint=footprint,
        run=outcome.run, wire=outcome.wire, server=outcome.server, config_text=gen.text,
        error=error, optimize=gen.profile.optimize, budget=gen.profile.budget,
        mbedtls_dir=request.tree.dir, app=app.protocol, server_kind="external" if external else "reference",
        clock=gen.profile.clock, lto=gen.profile.lto, tuning=dict(gen.profile.tuning),
        insecure=gen.profile.insecure,
        advice=tuple(dataclasses.asdict(a) for a in advise(gen.profile, gen.resolved, kb)))
    if outcome.dtls is not None:  # transport: udp: what the datagram relay saw
        report["transport"] = "udp"
        report["dtls"] = {**outcome.dtls, "loss": str(request.loss) if request.loss else None,
                          "firmware_retransmits": outcome.run.retransmits if outcome.run else None}
    part = asked_part or (find_part(gen.profile.part, extra=request.parts) if gen.profile.part is not None else None)
    on_part = None
    if part is not None and request.core is None:  # the part's figures from a build for its own architecture
        mcpu = part_core_build(part, board.arch, board.cpu)
        if mcpu is not None:
            on_part = measure(replace(request, core=mcpu, part=None, clock_mhz=None), tlsfit_version,
                              progress).report
    report = with_artifacts(report, fw.elf, fw.map_file)
    clock_hz = int(request.clock_mhz * 1_000_000) if request.clock_mhz is not None else None
    report = with_part(report, part, on_part, clock_hz)
    if part is None:  # with a part, its entry holds the one estimate (at --clock-mhz if given)
        report = with_time_estimate(report, request.clock_mhz)
    return Measurement(request=request, generated=gen, board=board, app=app, report=report, firmware=fw)


def missing_client_certificate(profile: Profile, outcome: RunOutcome) -> str | None:
    """The cause, when a failed handshake is a server demanding a client certificate the profile
    does not give (TLS 1.2: its CertificateRequest seen; TLS 1.3: its certificate_required alert)."""
    wire = outcome.wire
    run_ = outcome.run
    failed = run_ is None or not (run_.handshake_ok if run_.handshake_ok is not None else run_.ok)
    if not failed or wire is None or profile.client_certificate is not None:
        return None
    if not (wire.certificate_request or (wire.alert_received or "").startswith("certificate_required")):
        return None
    return ("cause: the server asks for a client certificate (mutual TLS) and this profile gives none: add "
            "tls.client_certificate {key: ..., cert: ..., key_file: ...} (tlsfit probe writes it)")


def write_measurement(m: Measurement, out_dir: Path) -> None:
    """report.json, report.md, report.html, the firmware (ELF, map) and the generated mbedtls_config.h
    in out_dir, each written atomically; for a does-not-fit record its report.json and the header."""
    if m.firmware is None:
        write_does_not_fit_record(m.report, out_dir)
    else:
        write_report_files(m.report, out_dir, m.generated.text, {"elf": m.firmware.elf, "map": m.firmware.map_file})
    write_if_changed(out_dir / CONFIG_FILE, m.generated.text)


def default_output_dir(build_dir: Path, m: Measurement) -> Path:
    """build/<profile>/<target>[-<level>][-lto][-<host>-<port>]: runs against real servers,
    optimize overrides and LTO builds get folders of their own, beside the reference run's."""
    leaf = m.board.name
    if m.request.optimize is not None:
        leaf += f"-{m.request.optimize}"
    if m.generated.profile.lto:
        leaf += "-lto"   # beside the plain build's report, not over it
    server = m.request.server
    if server is not None:
        safe_host = "".join(c if c.isalnum() or c in ".-" else "_" for c in server.host)
        leaf += f"-{safe_host}-{server.port}"
    return build_dir / m.generated.profile.name / leaf

"""`tlsfit measure`: run the pipeline for one or more profiles, write the report files, print a summary.

Output streams: progress (one line when a stage starts, one with its time when it ends) and problems go
to stderr; the summary table to stdout, or the report JSON with --json (the table then goes to stderr).
-q silences progress and the table, never errors.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from cli import EXIT_FAILED, EXIT_OK, VERSION
from cli.gen_cmd import print_warnings
from core.errors import TlsfitError
from core.write import check_output_dir
from measure.dgram_proxy import LossPlan, parse_loss
from measure.figures import DoesNotFit
from pipeline import (MeasureRequest, Measurement, MbedtlsTree, ServerAddress, Workspace, default_output_dir, measure,
                      open_mbedtls, parse_server_address, parse_shard, write_measurement)
from reports.fit import budget_excess


class Style:
    """ANSI colour for the terminal summary, or none (not a TTY, NO_COLOR, TERM=dumb)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def good(self, text: str) -> str:
        return self._wrap("32", text)

    def bad(self, text: str) -> str:
        return self._wrap("1;31", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)


class StageProgress:
    """The pipeline's progress callback: a line when a stage starts, its duration when the next starts."""

    def __init__(self, stream: TextIO, quiet: bool, style: Style, prefix: str = "",
                 clock: Callable[[], float] = time.monotonic):
        self.stream, self.quiet, self.style, self.prefix, self.clock = stream, quiet, style, prefix, clock
        self._stage: str | None = None
        self._started = 0.0

    def _say(self, text: str) -> None:
        if not self.quiet:
            print(f"tlsfit: {self.prefix}{text}", file=self.stream, flush=True)

    def __call__(self, line: str) -> None:
        self.finish()
        self._stage, self._started = line, self.clock()
        self._say(f"{line} ...")

    def finish(self, outcome: str = "done") -> None:
        if self._stage is not None:
            self._say(self.style.dim(f"{self._stage}: {outcome} in {self.clock() - self._started:.1f} s"))
            self._stage = None


@dataclass(frozen=True)
class MeasureRun:
    """What every profile of one `tlsfit measure` shares (the per-profile MeasureRequest is made from it)."""
    ws: Workspace
    tree: MbedtlsTree
    target: str | None
    server: ServerAddress | None
    server_impl: str
    timeout_s: float | None        # None: the pipeline's default for the profile
    optimize: str | None
    app: str | None
    part: str | None
    parts: tuple            # the user's own parts (--parts FILE): generator.parts.Part
    lto: bool | None
    clock_mhz: float | None
    loss: LossPlan | None
    output: Path | None             # -o: the report folder (with several profiles: the root of their folders)
    several: bool                   # several profiles (or --shard): each report in <output>/<profile>/<target>
    quiet: bool
    table_stream: TextIO
    style: Style

    def request(self, profile: Path) -> MeasureRequest:
        return MeasureRequest(profile=profile, tree=self.tree, paths=self.ws.paths(), environ=self.ws.environ,
                              target=self.target,
                              server=self.server, server_impl=self.server_impl, timeout_s=self.timeout_s,
                              optimize=self.optimize, app=self.app, loss=self.loss, lto=self.lto, part=self.part,
                              clock_mhz=self.clock_mhz, parts=self.parts)


def run_measure(ws: Workspace, profile: Path | list[Path], target: str | None, server: str | None,
                server_impl: str, output: Path | None, timeout: float | None, optimize: str | None = None,
                app: str | None = None, quiet: bool = False, as_json: bool = False,
                shard: str | None = None, part: str | None = None, lto: bool | None = None,
                clock_mhz: float | None = None, loss: str | None = None, parts_file: Path | None = None) -> int:
    loss_plan = parse_loss(loss) if loss is not None else None  # bad input before any work
    profiles = [profile] if isinstance(profile, Path) else list(profile)
    picked = parse_shard(shard).pick(profiles) if shard is not None else profiles
    several = len(profiles) > 1 or shard is not None
    from generator.parts import find_part, load_user_parts
    user_parts = load_user_parts(parts_file) if parts_file is not None else ()
    if part is not None:
        find_part(part, extra=user_parts)  # bad input before any work (the pipeline looks it up again)
    address = parse_server_address(server) if server is not None else None  # bad input before any work
    check_output_dir(ws.build, "build folder")  # caches and work files; then the reports' folder
    if output is not None:
        check_output_dir(output)
    tree = open_mbedtls(ws.mbedtls)
    if several:  # every profile is checked before any is measured: a bad one is exit 2 at once, said once
        from generator.profile import load_profile
        for path in picked:
            load_profile(path, tree.knowledge)
    style = Style(ws.wants_colour(sys.stdout.isatty() and not as_json))
    run = MeasureRun(ws=ws, tree=tree, target=target, server=address, server_impl=server_impl, timeout_s=timeout,
                     optimize=optimize, app=app, part=part, parts=user_parts, lto=lto, clock_mhz=clock_mhz, loss=loss_plan,
                     output=output, several=several, quiet=quiet,
                     table_stream=sys.stderr if as_json else sys.stdout, style=style)
    if several and not quiet:
        names = ", ".join(p.name for p in picked) or "none"
        print(f"tlsfit: shard {shard}: {len(picked)} of {len(profiles)} profiles: {names}" if shard
              else f"tlsfit: {len(picked)} profiles", file=sys.stderr)

    worst, reports, errors = EXIT_OK, [], []
    for position, path in enumerate(picked, 1):
        prefix = f"[{position}/{len(picked)} {path.stem}] " if several else ""
        progress = StageProgress(sys.stderr, quiet, style, prefix)
        try:
            code, report = _measure_one(run, path, progress)
        except TlsfitError as e:
            progress.finish("failed")
            if not several:
                raise
            # keep measuring the other profiles; main() maps the first error once they are done
            print(f"tlsfit: {path}: {e}", file=sys.stderr)
            errors.append(e)
            continue
        worst = max(worst, code)
        reports.append(report)
    if as_json:
        json.dump(reports[0] if not several and reports else reports, sys.stdout, sort_keys=True, indent=2)
        sys.stdout.write("\n")
    if errors:
        raise errors[0]
    return worst


def _out_dir(run: MeasureRun, m: Measurement) -> Path:
    if run.output is not None and not run.several:
        return run.output
    return default_output_dir(run.output if run.output is not None else run.ws.build, m)


def _measure_one(run: MeasureRun, path: Path, progress: StageProgress) -> tuple[int, dict]:
    style = run.style
    try:
        m = measure(run.request(path), VERSION, progress=progress)
    except DoesNotFit as exc:
        if exc.measurement is not None:  # report.json says so, for `tlsfit report`'s matrix; still exit 2
            unfit = exc.measurement
            out_dir = _out_dir(run, unfit)
            write_measurement(unfit, out_dir)
            progress.finish("does not fit")
            if not run.quiet:
                print(f"tlsfit: {path.name} does not fit {unfit.board.name}: {out_dir / 'report.json'} records "
                      "the overflow", file=sys.stderr)
        raise
    print_warnings(path, m.generated)
    out_dir = _out_dir(run, m)
    progress(f"writing report.json, report.md, report.html, mbedtls_config.h and the firmware to {out_dir}")
    write_measurement(m, out_dir)
    report = m.report
    progress.finish()
    if not run.quiet:
        print_summary(report, out_dir, run.table_stream, style)
    ok = report["handshake"]["ok"] and report["app"]["ok"] is not False
    over = budget_excess(report)
    for metric, used, limit in over:
        print(f"tlsfit: {path}: {style.bad('over budget')}: {metric} {used:,} B is {used - limit:,} B over "
              f"the profile's budget.{metric.split('.')[0]} of {limit:,} B", file=sys.stderr)
    if over:
        print("tlsfit: next: see report.md's largest modules and 'Cheaper choices', try --optimize size, "
              "or raise `budget:` in the profile if the growth is intended", file=sys.stderr)
    if not ok:
        host_hint = "" if report["target"] == "host" else \
            "rerun with --target host to tell a config problem from a board one, or "
        print(f"tlsfit: next: read the Error section of {out_dir / 'report.md'}; {host_hint}"
              "--server-impl gnutls for a second opinion", file=sys.stderr)
    return (EXIT_OK if ok and not over else EXIT_FAILED), report


def _figure(value: object, unit: str = " B") -> str:
    return f"{value:,}{unit}" if isinstance(value, int) else "-"


def _budget_note(used: int | None, limit: int | None, style: Style) -> str:
    if not limit or used is None:
        return ""
    if used > limit:
        return f" (budget {limit:,} B: {style.bad(f'OVER by {used - limit:,} B')})"
    return f" (budget {limit:,} B: {limit - used:,} B left)"


def print_summary(report: dict, out_dir: Path, stream: TextIO | None = None, style: Style | None = None) -> None:
    stream = stream or sys.stdout
    style = style or Style(False)
    hs, rom, ram, app = report["handshake"], report["rom"], report["ram"], report["app"]
    instr = hs.get("instructions")
    server = report["server"] or {}
    budget = report.get("budget") or {}
    part = report.get("part")
    verdict = style.good("ok") if hs["ok"] else style.bad("FAILED")
    rows = [
        ("profile / target", f"{report['profile']} / {report['target']} ({report['cpu']})"),
        ("config", f"{report['config_options']} options, optimize {report['optimize']}, "
                   f"mbedTLS {report['mbedtls_version']}"),
        ("handshake", f"{verdict}  {hs.get('version') or '-'}  "
                      f"{hs.get('ciphersuite') or '-'}  {hs.get('group') or '-'}"),
        ("after handshake", f"{app['protocol']}: "
                            + {True: style.good("ok"), False: style.bad("FAILED"), None: "not run"}[app["ok"]]
                            + (f" ({app['detail']})" if app.get("detail") else "")),
        ("ROM", f"{_figure(rom['total'])} total, {_figure(rom['mbedtls'])} mbedTLS"
                + _budget_note(rom["total"], budget.get("rom"), style)),
        ("RAM", f"{_figure(ram['total'])} = static {_figure(ram['static'])} + heap peak "
                f"{_figure(ram['heap_peak'])} + stack peak {_figure(ram['stack_peak'])}"
                + _budget_note(ram["total"], budget.get("ram"), style)),
        ("handshake work", f"{instr:,} guest instructions (not cycles)" if isinstance(instr, int)
                           else "not measured: the run gave no result" if ram.get("heap_peak") is None
                           else "not counted on this target"),
        ("bytes", f"{_figure(hs.get('bytes_sent'), '')} sent, {_figure(hs.get('bytes_received'), '')} received"),
        ("server", " ".join(str(x) for x in (server.get("impl", "-"), server.get("version", ""), "at",
                                              server.get("address", "-")) if x)),
    ]
    if part:
        fit = (f"flash {part['rom_used_pct']:.1f} % used ({part['rom_headroom']:,} B free), "
               f"RAM {_pct(part['ram_used_pct'])} used ({_figure(part['ram_headroom'])} free)")
        estimate = part.get("handshake_time_estimate")
        if estimate is not None:
            fit += (f"; handshake {estimate['low_ms']:,}-{estimate['high_ms']:,} ms at {part['clock_hz'] / 1e6:g} MHz "
                    f"(estimate; measured on {part['measured_on']})")
        rows.append((f"part {part['name']}", fit if part["fits"] else style.bad("DOES NOT FIT: ") + fit))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}", file=stream)
    shown_error = hs.get("error") if not hs["ok"] else app.get("error") if app["ok"] is False else None
    if not hs["ok"] or app["ok"] is False:
        what = "" if not hs["ok"] else f"{app['protocol']} exchange after the handshake failed: "
        print(f"  {'error':<{width}}  {what}{format_error(shown_error)}", file=sys.stderr)
    for key, text in (("alerts", format_alerts(shown_error)), ("verify", format_verify_flags(shown_error))):
        if text:
            print(f"  {key:<{width}}  {text}", file=sys.stderr)
    names = ["report.md", "report.html", *(report.get("artifacts") or {}).values()]
    print(f"  {'report':<{width}}  {out_dir / 'report.json'} (and {', '.join(names)})", file=stream)
    print(f"  {'open':<{width}}  {(out_dir / 'report.html').resolve().as_uri()}", file=stream)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def format_alerts(error: object) -> str | None:
    """E.g. "alert sent: unknown_ca / received: none" when either side sent an alert, else None."""
    if not isinstance(error, dict) or not (error.get("alert_sent") or error.get("alert_received")):
        return None
    return f"alert sent: {error.get('alert_sent') or 'none'} / received: {error.get('alert_received') or 'none'}"


def format_verify_flags(error: object) -> str | None:
    """The refused certificate's verification flags, e.g. "BADCERT_NOT_TRUSTED (The certificate
    is not correctly signed by the trusted CA.)", or None."""
    flags = error.get("verify_flags") if isinstance(error, dict) else None
    if not isinstance(flags, dict):
        return None
    names = [f"{f['name'].removeprefix('MBEDTLS_X509_')}" + (f" ({f['description']})" if f.get("description") else "")
             for f in flags.get("flags") or ()]
    return "; ".join(names) or f"flags {flags.get('hex')}"


def format_error(error: object) -> str:
    if isinstance(error, dict):
        return " ".join(str(error[k]) for k in ("hex", "name", "message") if error.get(k)) or "no mbedTLS error"
    return str(error)

"""`tlsfit report`, `diff` and `gate`: they read report.json files only, never rebuild anything.

Every report and baseline is checked against reports/schema.py when read, and every output path
before any work (exit 2 naming the file, the JSON path or the output path).
"""
from __future__ import annotations

import shlex
from pathlib import Path

from cli import EXIT_FAILED, EXIT_OK, InputError
from core.errors import TlsfitError
from pipeline.workspace import ROOT
from core.inputs import InputFileError
from core.write import check_output_dir, check_output_file, write_error, write_if_changed
from reports.diff import diff_reports, format_diff
from reports.gate import GateError, check, format_table, to_junit, to_markdown, write_baseline
from reports.limits import LimitsError, apply_overrides, load_limits
from reports.schema import fits, load_json, validate_baseline, validate_report
from reports.summary import write_summary

DEFAULT_LIMITS = ROOT / "ci" / "limits.yaml"


def read_json(path: Path, what: str) -> dict:
    """A report or baseline file, read with the input-file checks and validated against the schema."""
    try:
        data = load_json(path, what)
    except InputFileError as e:
        if e.message.startswith(f"cannot read {what}: no such file"):
            raise InputError(f"{path}: no such {what}; run `tlsfit measure` first, or check the path") from None
        raise
    if what == "baseline":
        validate_baseline(data, str(path))
    else:
        validate_report(data, str(path))
    return data


def read_fitting_report(path: Path) -> dict:
    """A report with figures to compare: a does-not-fit record has none (only `tlsfit report` shows it)."""
    data = read_json(path, "report")
    if not fits(data):
        over = ", ".join(f"{region} +{n:,} B" for region, n in data["overflow"].items())
        raise InputError(f"{path}: {data['profile']} does not fit {data['target']} ({over}): no figures to "
                         "compare; `tlsfit report` shows it in the profile x board matrix")
    return data


def run_report(reports: list[Path], output: Path) -> int:
    check_output_dir(output)
    write_summary([read_json(p, "report") for p in reports], output)
    print(f"wrote {output / 'summary.md'} and {output / 'summary.html'} ({len(reports)} reports)")
    return EXIT_OK


def run_diff(old: Path, new: Path) -> int:
    print(format_diff(diff_reports(read_fitting_report(old), read_fitting_report(new))))
    return EXIT_OK


def accept_command(baseline: Path, reports: list[Path]) -> str:
    """The command that rewrites this baseline from these reports; `make baseline` for tlsfit's own."""
    write = "tlsfit gate --write-baseline " + " ".join(shlex.quote(str(p)) for p in (baseline, *reports))
    if baseline.resolve() == (ROOT / "ci" / "baseline.json").resolve() and (ROOT / "Makefile").is_file():
        return f"make baseline (re-measures the shipped profiles), or {write}"
    return write


def _previous_baseline(path: Path) -> dict | None:
    """The baseline being rewritten, when it is one the gate reads (else it is simply replaced)."""
    if not path.is_file():
        return None
    try:
        return read_json(path, "baseline")
    except TlsfitError:
        return None


def run_gate(baseline: Path | None, write_baseline_to: Path | None, reports: list[Path],
             limits_file: Path | None, limit_overrides: list[str], junit: Path | None,
             summary: Path | None, verbose: bool = False) -> int:
    # output paths first: nothing is read or written when one cannot be used
    for path, what in ((write_baseline_to, "baseline"), (junit, "JUnit file")):
        if path is not None:
            check_output_file(path, what)
    if summary is not None:
        check_output_file(summary, "summary file", devices=True)
    loaded = [read_fitting_report(p) for p in reports]
    try:
        if write_baseline_to is not None:
            # figures that moved less than their noise limit keep the previous baseline's value
            previous = _previous_baseline(write_baseline_to)
            limits = apply_overrides(load_limits(limits_file or DEFAULT_LIMITS), limit_overrides)
            write_if_changed(write_baseline_to, write_baseline(loaded, previous, limits))
            print(f"wrote {write_baseline_to} ({len(loaded)} entries)")
            return EXIT_OK
        assert baseline is not None
        limits = apply_overrides(load_limits(limits_file or DEFAULT_LIMITS), limit_overrides)
        result = check(read_json(baseline, "baseline"), loaded, limits, str(baseline))
    except (GateError, LimitsError) as e:
        raise InputError(str(e)) from None
    print(format_table(result, verbose=verbose, accept=accept_command(baseline, reports)))
    if junit is not None:
        write_if_changed(junit, to_junit(result))
    if summary is not None:
        # Appended: $GITHUB_STEP_SUMMARY is shared by every step of a job.
        try:
            with summary.open("a", encoding="utf-8") as f:
                f.write(to_markdown(result))
        except OSError as exc:
            raise write_error(summary, exc, "append to") from None
    return EXIT_OK if result.ok else EXIT_FAILED

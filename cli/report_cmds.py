"""`tlsfit report`, `diff` and `gate`: they read report.json files only, never rebuild anything."""
from __future__ import annotations

import json
from pathlib import Path

from cli import EXIT_FAILED, EXIT_OK, InputError
from cli.paths import ROOT
from generator.write import write_if_changed
from reports.diff import diff_reports, format_diff
from reports.gate import GateError, check, format_table, to_junit, to_markdown, write_baseline
from reports.limits import LimitsError, apply_overrides, load_limits
from reports.summary import write_summary

DEFAULT_LIMITS = ROOT / "ci" / "limits.yaml"


def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}; run `tlsfit measure` first, or check the path") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); is this a tlsfit {what}?") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object; is this a tlsfit {what}?")
    return data


def run_report(reports: list[Path], output: Path) -> int:
    write_summary([read_json(p, "report") for p in reports], output)
    print(f"wrote {output / 'summary.md'} and {output / 'summary.html'} ({len(reports)} reports)")
    return EXIT_OK


def run_diff(old: Path, new: Path) -> int:
    print(format_diff(diff_reports(read_json(old, "report"), read_json(new, "report"))))
    return EXIT_OK


def run_gate(baseline: Path | None, write_baseline_to: Path | None, reports: list[Path],
             limits_file: Path | None, limit_overrides: list[str], junit: Path | None,
             summary: Path | None) -> int:
    loaded = [read_json(p, "report") for p in reports]
    try:
        if write_baseline_to is not None:
            write_if_changed(write_baseline_to, write_baseline(loaded))
            print(f"wrote {write_baseline_to} ({len(loaded)} entries)")
            return EXIT_OK
        assert baseline is not None
        limits = apply_overrides(load_limits(limits_file or DEFAULT_LIMITS), limit_overrides)
        result = check(read_json(baseline, "baseline"), loaded, limits)
    except (GateError, LimitsError) as e:
        raise InputError(str(e)) from None
    print(format_table(result))
    if junit is not None:
        write_if_changed(junit, to_junit(result))
    if summary is not None:
        # Appended: $GITHUB_STEP_SUMMARY is shared by every step of a job.
        with summary.open("a") as f:
            f.write(to_markdown(result))
    return EXIT_OK if result.ok else EXIT_FAILED

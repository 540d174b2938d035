"""`tlsfit comment BASE... --new NEW... [-o FILE]`: the sticky pull/merge-request comment (Markdown).

Arguments are report.json files or folders searched for them (a CI job's downloaded artifacts).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli import EXIT_OK, InputError


def add_comment_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("comment", help="pull-request comment: footprint deltas against the target branch",
                       description="Compare NEW reports with the target branch's BASE reports (report.json files "
                                   "or folders holding them) and write Markdown for a sticky pull/merge-request "
                                   "comment: what grew and by how much, the mbedTLS modules and config options "
                                   "that changed, links to report.html. The first line is the marker "
                                   "<!-- tlsfit --> the CI templates look for to update the comment in place. "
                                   "Exit 0 (the gate decides pass or fail).")
    c.add_argument("base", nargs="*", type=Path, metavar="BASE",
                   help="the target branch's reports (none: every report shows as new)")
    c.add_argument("--new", nargs="+", type=Path, required=True, metavar="NEW", help="this change's reports")
    c.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of stdout")
    c.add_argument("--link-base", metavar="URL",
                   help="prefix for report.html links (e.g. the CI artifacts URL); links are the report's path "
                        "relative to --link-root appended to it")
    c.add_argument("--link-root", type=Path, metavar="DIR", help="folder links are relative to (default: .)")
    c.add_argument("--title", default="tlsfit footprint", help="heading of the comment")
    c.add_argument("--note", help="a line shown under the heading (e.g. which commits are compared)")


def collect_reports(items: list[Path]) -> list[Path]:
    """report.json files named directly, or found below named folders (sorted, so runs agree)."""
    found: list[Path] = []
    for item in items:
        if item.is_dir():
            inside = sorted(item.rglob("report.json"))
            if not inside:
                raise InputError(f"{item}: no report.json below this folder; did the measure jobs run?")
            found += inside
        else:
            found.append(item)
    return found


def _link(path: Path, base: str | None, root: Path) -> str:
    html = path.parent / "report.html"
    try:
        relative = Path(os.path.relpath(html.resolve(), root.resolve()))
    except ValueError:
        relative = html
    text = relative.as_posix()
    return f"{base.rstrip('/')}/{text}" if base else text


def run_comment(args: argparse.Namespace) -> int:
    # imported here: the parser (and `tlsfit --help`) is built before set-up installs yaml and jinja2
    from cli.report_cmds import read_json
    from core.write import write_if_changed
    from reports.comment import compare, render_comment
    from reports.metrics import build_key
    from reports.schema import fits
    base_paths, new_paths = collect_reports(args.base), collect_reports(args.new)
    # a does-not-fit record (measure exit 2) has no figures to compare: left out, as before it existed
    base = [r for r in (read_json(p, "report") for p in base_paths) if fits(r)]
    loaded_new = [(read_json(p, "report"), p) for p in new_paths]
    new = [r for r, _ in loaded_new if fits(r)]
    new_paths = [p for r, p in loaded_new if fits(r)]
    root = args.link_root or Path.cwd()
    links = {build_key(r): _link(p, args.link_base, root) for r, p in zip(new, new_paths)}
    note = args.note if base else (args.note + "\n\n" if args.note else "") + \
        "No reports from the target branch to compare with: every figure shows as new."
    text = render_comment(compare(base, new, links), title=args.title, note=note)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_if_changed(args.output, text)
        print(f"wrote {args.output} ({len(new)} reports against {len(base)})", file=sys.stderr)
    return EXIT_OK

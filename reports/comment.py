"""The pull/merge-request comment: footprint deltas of new reports against the target branch's.

Compare (pure data) -> present (Markdown), as diff.py and gate.py do. The comment starts with
MARKER so a CI job can find its own earlier comment and update it in place (one sticky comment).
"""
from __future__ import annotations

from dataclasses import dataclass

from reports.metrics import METRICS, Metric, build_key, metric_value
from reports.render import render

MARKER = "<!-- tlsfit -->"
MODULES_SHOWN = 8        # largest module moves per report
OPTIONS_SHOWN = 20       # option names per report and direction
# Handshake instructions move about +-0.1 % between runs with the server's randomness (ci/README.md);
# smaller moves are shown but not called growth.
INSTRUCTION_NOISE_PERCENT = 1.0


@dataclass(frozen=True)
class MetricDelta:
    metric: Metric
    base: int | None
    new: int | None

    @property
    def delta(self) -> int | None:
        return None if self.base is None or self.new is None else self.new - self.base

    @property
    def percent(self) -> float | None:
        d = self.delta
        return None if d is None or not self.base else 100.0 * d / self.base

    @property
    def significant(self) -> bool:
        """A real move: any byte, or more than the run-to-run jitter of handshake instructions."""
        if not self.delta:
            return False
        if self.metric.unit == "instructions":
            return self.percent is None or abs(self.percent) >= INSTRUCTION_NOISE_PERCENT
        return True


@dataclass(frozen=True)
class ReportDelta:
    key: str                                  # "<profile>@<target>"
    status: str                               # "changed" | "unchanged" | "added" | "removed"
    ok: bool | None                           # the new handshake (None: removed)
    base_ok: bool | None
    metrics: tuple[MetricDelta, ...]
    modules: tuple[tuple[str, int | None, int | None], ...]   # (module, base, new), largest move first
    options_added: tuple[str, ...]
    options_removed: tuple[str, ...]
    link: str | None                          # where the new report.html is


@dataclass(frozen=True)
class Comparison:
    rows: tuple[ReportDelta, ...]

    @property
    def grew(self) -> tuple[ReportDelta, ...]:
        return tuple(r for r in self.rows if any(m.significant and (m.delta or 0) > 0 for m in r.metrics))


def _module_moves(base: dict, new: dict) -> tuple[tuple[str, int | None, int | None], ...]:
    old_modules = (base.get("rom") or {}).get("modules") or {}
    new_modules = (new.get("rom") or {}).get("modules") or {}
    moves = [(name, old_modules.get(name), new_modules.get(name))
             for name in set(old_modules) | set(new_modules) if old_modules.get(name) != new_modules.get(name)]
    moves.sort(key=lambda m: (-abs((m[2] or 0) - (m[1] or 0)), m[0]))
    return tuple(moves)


def compare(base_reports: list[dict], new_reports: list[dict], links: dict[str, str] | None = None) -> Comparison:
    """Pair reports by build_key (<profile>@<target>, whatever the level); links maps that key to the
    new report.html's address."""
    base_by = {build_key(r): r for r in base_reports}
    new_by = {build_key(r): r for r in new_reports}
    links = links or {}
    rows: list[ReportDelta] = []
    for key in sorted(set(base_by) | set(new_by)):
        base, new = base_by.get(key), new_by.get(key)
        metrics = tuple(MetricDelta(m, metric_value(base, m) if base else None, metric_value(new, m) if new else None)
                        for m in METRICS)
        options_old = set((base or {}).get("options") or ())
        options_new = set((new or {}).get("options") or ())
        if base is None:
            status = "added"
        elif new is None:
            status = "removed"
        else:
            same = not any(m.significant for m in metrics) and options_old == options_new
            status = "unchanged" if same else "changed"
        rows.append(ReportDelta(
            key=key, status=status,
            ok=bool(new["handshake"]["ok"]) if new else None,
            base_ok=bool(base["handshake"]["ok"]) if base else None,
            metrics=metrics,
            modules=_module_moves(base, new) if base and new else (),
            options_added=tuple(sorted(options_new - options_old)) if base else (),
            options_removed=tuple(sorted(options_old - options_new)) if new else (),
            link=links.get(key),
        ))
    return Comparison(tuple(rows))


def render_comment(comparison: Comparison, title: str = "tlsfit footprint", note: str | None = None) -> str:
    return render("comment.md.j2", c=comparison, marker=MARKER, title=title, note=note,
                  modules_shown=MODULES_SHOWN, options_shown=OPTIONS_SHOWN)

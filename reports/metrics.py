"""The figures summary, diff and gate compare, and how to read them from a report dict."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str                      # dotted key used in baselines, limits and flags
    path: tuple[str, ...]          # where it sits in report.json
    unit: str                      # "bytes" | "instructions"
    label: str


METRICS: tuple[Metric, ...] = (
    Metric("rom.total", ("rom", "total"), "bytes", "ROM total"),
    Metric("rom.mbedtls", ("rom", "mbedtls"), "bytes", "ROM mbedTLS"),
    Metric("ram.static", ("ram", "static"), "bytes", "RAM static"),
    Metric("ram.heap_peak", ("ram", "heap_peak"), "bytes", "heap peak"),
    Metric("ram.stack_peak", ("ram", "stack_peak"), "bytes", "stack peak"),
    Metric("ram.total", ("ram", "total"), "bytes", "RAM total"),
    Metric("handshake.instructions", ("handshake", "instructions"), "instructions", "handshake instructions"),
)
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def metric_value(report: dict, metric: Metric) -> int | None:
    """The figure, or None when the report has none (no run, host target without -icount)."""
    node: object = report
    for part in metric.path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, int) and not isinstance(node, bool) else None


def report_key(report: dict) -> str:
    """Baseline entry name: "<profile>@<target>"."""
    return f"{report['profile']}@{report['target']}"

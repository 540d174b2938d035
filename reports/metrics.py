"""The figures summary, diff and gate compare, and how to read them from a report dict."""
from __future__ import annotations

import re
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


DEFAULT_OPTIMIZE = "size"          # the level a report without "optimize" was built at
_LEVEL = re.compile(r"^[a-z0-9-]{1,32}$")
# HOST:PORT of a server given with `measure --server` (IPv6 in brackets)
_ADDRESS = re.compile(r"^(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$")
# what report_key() can produce, checked on every baseline entry name
ENTRY_KEY = re.compile(r"^[a-z0-9-]{1,64}@[a-z0-9-]{1,97}"
                       r"(?:@(?:[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5})?$")


def report_options(report: dict) -> list[str] | None:
    """The config option names report.json lists (sorted), or None when it has no such list."""
    options = report.get("options")
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        return None
    return sorted(set(options))


def legacy_key(report: dict) -> str:
    """The entry name baselines used before the level and server were part of it."""
    return f"{report['profile']}@{report['target']}"


def report_key(report: dict) -> str:
    """Baseline (and diff, summary, comment) entry name of one measured build.

    "<profile>@<target>" for the "size" level against tlsfit's reference server: every
    shipped profile's entry in ci/baseline.json. Any other optimize level adds "-<level>"
    to the target ("tls12-psk@mps2-an386-speed") and a real server given with
    `measure --server` adds "@<host>:<port>" ("x@mps2-an386@broker.example:8883"), so two
    levels or two servers of one profile can sit in one baseline.

    report.json records the level measured, not whether it came from the profile's
    `optimize:` or from `--optimize`, so the key follows the level alone: a profile whose
    own level is not "size" gets the suffix too. A baseline written before this rule
    still works: the gate falls back to the "<profile>@<target>" entry (legacy_key) when
    no report of the run claims that name, and says so.
    """
    key = legacy_key(report)
    level = report.get("optimize", DEFAULT_OPTIMIZE)
    if isinstance(level, str) and _LEVEL.match(level) and level != DEFAULT_OPTIMIZE:
        key += f"-{level}"
    return key + _server_suffix(report)


def _server_suffix(report: dict) -> str:
    """"@HOST:PORT" for a run against a real server, else ""."""
    server = report.get("server")
    if isinstance(server, dict) and server.get("kind") == "external":
        address = server.get("address")
        if isinstance(address, str) and _ADDRESS.match(address):
            return f"@{address}"
    return ""


def build_key(report: dict) -> str:
    """The same build across commits whatever its optimize level: report_key without the
    level suffix. A pull request that changes a profile's `optimize:` compares that
    profile with itself (tlsfit comment pairs by this)."""
    return legacy_key(report) + _server_suffix(report)

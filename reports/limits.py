"""How much each metric may grow before the gate fails: ci/limits.yaml plus command-line overrides.

A limit is an absolute allowance in bytes (or instructions), a percentage of
the baseline figure, or both. With both, the LARGER allowance applies: the
percentage lets big figures move in proportion, while the absolute part keeps
a few bytes of linker alignment from failing a small figure. Write only the
one you mean if you want the stricter behaviour.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from core.errors import BadInput
from core.inputs import InputFileError, excerpt, read_text
from core.located_yaml import Field, Reader, compose
from reports.metrics import BY_NAME, METRIC_NAMES

MAX_LIMITS_BYTES = 64 * 1024
MAX_PERCENT = 10_000.0


class LimitsError(BadInput):
    """A malformed limits file or --limit flag (a user error, exit 2)."""


@dataclass(frozen=True)
class Limit:
    absolute: int | None = None    # allowed growth in the metric's unit
    percent: float | None = None   # allowed growth relative to the baseline

    def allowance(self, baseline: int) -> float:
        candidates = [0.0]
        if self.absolute is not None:
            candidates.append(float(self.absolute))
        if self.percent is not None:
            candidates.append(baseline * self.percent / 100.0)
        return max(candidates)

    def describe(self) -> str:
        parts = []
        if self.absolute is not None:
            parts.append(f"+{self.absolute:,}")
        if self.percent is not None:
            parts.append(f"+{self.percent:g} %")
        return " or ".join(parts) if parts else "+0"


# Byte figures are exact for a given build: any growth is a change to review.
# Instructions move about ±0.1 % with the server's randomness (ECDSA signature
# length, NOTES.md), so they get room for that noise.
DEFAULT_LIMITS: dict[str, Limit] = {
    name: Limit(percent=1.0) if BY_NAME[name].unit == "instructions" else Limit(absolute=0)
    for name in METRIC_NAMES
}


@dataclass(frozen=True)
class Limits:
    per_metric: dict[str, Limit]
    # baseline entry -> metric -> limit: a measured noise of one build (the file says why)
    per_entry: dict[str, dict[str, Limit]] = field(default_factory=dict)

    def for_metric(self, name: str, entry: str | None = None) -> Limit:
        if entry is not None and name in self.per_entry.get(entry, {}):
            return self.per_entry[entry][name]
        return self.per_metric[name]


def default_limits() -> Limits:
    return Limits(per_metric=dict(DEFAULT_LIMITS))


# ASCII digits only: "\d" would also take Arabic-Indic or full-width digits.
_LIMIT_PART = re.compile(r"^\+?(?P<number>[0-9]{1,12}(?:\.[0-9]{1,6})?) ?(?P<percent>%)?$", re.ASCII)


def parse_limit_value(text: str, where: str) -> Limit:
    """"+512", "1%", "+512,+2%" -> Limit."""
    absolute: int | None = None
    pct: float | None = None
    for part in (p.strip() for p in str(text).split(",")):
        match = _LIMIT_PART.fullmatch(part)
        if not match:
            raise LimitsError(f"{where}: bad limit {excerpt(part)}; write +BYTES, +PERCENT% or both separated by "
                              "a comma, in ASCII digits (e.g. +512 or 1%)")
        if match["percent"]:
            pct = float(match["number"])
            if pct > MAX_PERCENT:
                raise LimitsError(f"{where}: limit {excerpt(part)} is over {MAX_PERCENT:g} %")
        elif "." in match["number"]:
            raise LimitsError(f"{where}: absolute limit {part!r} must be a whole number")
        else:
            absolute = int(match["number"])
    return Limit(absolute=absolute, percent=pct)


def parse_limit(text: str, where: str = "--limit") -> tuple[str, Limit]:
    """"rom.total=+512" -> ("rom.total", Limit(absolute=512)). Metric "bytes" means every byte metric."""
    metric, sep, value = text.partition("=")
    metric = metric.strip()
    if not sep:
        raise LimitsError(f"{where}: {excerpt(text)} is not METRIC=LIMIT (e.g. rom.total=+512 or handshake.instructions=2%)")
    if metric != "bytes" and metric not in BY_NAME:
        raise LimitsError(f"{where}: unknown metric {excerpt(metric)}; known: bytes, {', '.join(METRIC_NAMES)}")
    parts = [p.strip() for p in value.split(",")]
    for kind, is_kind in (("percent", lambda p: p.endswith("%")), ("byte", lambda p: not p.endswith("%"))):
        if sum(1 for p in parts if is_kind(p)) > 1:   # the last one would silently win
            raise LimitsError(f"{where}: {excerpt(text)} gives the {kind} allowance twice; write at most one "
                              "+BYTES and one +PERCENT% (e.g. rom.total=+512,+2%)")
    return metric, parse_limit_value(value, where)


def with_override(limits: Limits, metric: str, limit: Limit) -> Limits:
    names = [n for n in METRIC_NAMES if BY_NAME[n].unit == "bytes"] if metric == "bytes" else [metric]
    updated = dict(limits.per_metric)
    for name in names:
        updated[name] = limit
    return replace(limits, per_metric=updated)


def apply_overrides(limits: Limits, flags: list[str]) -> Limits:
    """Apply --limit METRIC=VALUE flags in order (later ones win)."""
    for flag in flags:
        metric, limit = parse_limit(flag)
        limits = with_override(limits, metric, limit)
    return limits


# The limits file's schema table (core/located_yaml.py); `limits:` and `entries:` have free keys
# (metric names, baseline entries), each checked here.
_SCHEMA = {"schema_version": Field("int"), "limits": Field("map"), "entries": Field("map")}
_TOP_HINT = " (keys are schema_version, limits and entries); is this a tlsfit limits file?"


def _error(path: object, line: int | None, message: str) -> LimitsError:
    where = f"{path}:{line}" if line is not None else str(path)
    return LimitsError(f"{where}: error: {message}")


def _limit_text(r: Reader, node: yaml.Node, where: str) -> str:
    value = r.scalar(node, where)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise r.fail(node, f"{where}: expected a limit such as +512 or 1%, got {excerpt(value)}")
    return str(value)


def load_limits(path: Path) -> Limits:
    """ci/limits.yaml (or the --limits file) as Limits; LimitsError (exit 2) at FILE:LINE when wrong."""
    try:
        text = read_text(path, "limits file", MAX_LIMITS_BYTES)
    except InputFileError as exc:
        raise LimitsError(str(exc).replace(": error: ", ": ", 1)) from None
    root = compose(text, path, _error, "limits file")
    if root is None:
        return default_limits()
    r = Reader(path, _error, top_hint=_TOP_HINT)
    top = r.mapping(root, "", _SCHEMA)
    version = r.get(top, "schema_version", "", _SCHEMA, 1)
    if version != 1:
        raise r.fail(top["schema_version"][1], f"schema_version {version}; this tlsfit reads 1")
    limits = default_limits()
    entries = r.get(top, "limits", "", _SCHEMA, {})
    # "bytes" first so a specific metric given in the same file overrides it.
    for metric in sorted(entries, key=lambda m: (m != "bytes", m)):
        key_node, node = entries[metric]
        at = f"{path}:{key_node.start_mark.line + 1}: error"
        name, limit = parse_limit(f"{metric}={_limit_text(r, node, f'limits.{metric}')}", at)
        limits = with_override(limits, name, limit)
    per_entry: dict[str, dict[str, Limit]] = {}
    for entry, (key_node, node) in r.get(top, "entries", "", _SCHEMA, {}).items():
        metrics = r.mapping(node, f"entries.{entry}", None, key_node)
        if not metrics:
            raise r.fail(key_node, f"entries.{entry}: expected a mapping of METRIC: LIMIT")
        for metric, (metric_node, value_node) in metrics.items():
            if metric == "bytes":
                raise r.fail(metric_node, f"entries.{entry}.bytes: expected one metric and a limit "
                             "such as +16 or 1%")
            at = f"{path}:{metric_node.start_mark.line + 1}: error: entries.{entry}"
            name, limit = parse_limit(f"{metric}={_limit_text(r, value_node, f'entries.{entry}.{metric}')}", at)
            per_entry.setdefault(entry, {})[name] = limit
    return replace(limits, per_entry=per_entry)

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


def limits_from_data(data: object, where: str) -> Limits:
    """From the parsed YAML: {"limits": {"bytes": "+0", "handshake.instructions": "1%", ...}}."""
    if data is None:
        return default_limits()
    if not isinstance(data, dict) or not isinstance(data.get("limits", {}), dict):
        raise LimitsError(f"{where}: expected a mapping with a 'limits' mapping of METRIC: LIMIT")
    unknown = set(data) - {"schema_version", "limits", "entries"}
    if unknown:
        raise LimitsError(f"{where}: unknown keys {excerpt(sorted(map(str, unknown)), 80)}; allowed: "
                          "schema_version, limits, entries")
    if data.get("schema_version", 1) != 1 or isinstance(data.get("schema_version"), bool):
        raise LimitsError(f"{where}: schema_version {excerpt(data.get('schema_version'))}; this tlsfit reads 1")
    limits = default_limits()
    entries = data.get("limits") or {}
    # "bytes" first so a specific metric given in the same file overrides it.
    for metric in sorted(entries, key=lambda m: (str(m) != "bytes", str(m))):
        value = entries[metric]
        if not isinstance(metric, str) or isinstance(value, bool) or not isinstance(value, (str, int)):
            raise LimitsError(f"{where}: limits.{excerpt(metric)}: expected a limit such as +512 or 1%, "
                              f"got {excerpt(value)}")
        name, limit = parse_limit(f"{metric}={value}", where)
        limits = with_override(limits, name, limit)
    per_entry: dict[str, dict[str, Limit]] = {}
    raw_entries = data.get("entries") or {}
    if not isinstance(raw_entries, dict):
        raise LimitsError(f"{where}: 'entries' must map a baseline entry (profile@target) to METRIC: LIMIT")
    for entry, metrics in raw_entries.items():
        if not isinstance(entry, str) or not isinstance(metrics, dict) or not metrics:
            raise LimitsError(f"{where}: entries.{excerpt(entry)}: expected a mapping of METRIC: LIMIT")
        for metric, value in metrics.items():
            if not isinstance(metric, str) or isinstance(value, bool) or not isinstance(value, (str, int)) \
                    or metric == "bytes":
                raise LimitsError(f"{where}: entries.{excerpt(entry)}.{excerpt(metric)}: expected one metric "
                                  "and a limit such as +16 or 1%")
            name, limit = parse_limit(f"{metric}={value}", f"{where}: entries.{entry}")
            per_entry.setdefault(entry, {})[name] = limit
    return replace(limits, per_entry=per_entry)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise LimitsError(f"{self.name}:{key_node.start_mark.line + 1}: error: limit {excerpt(key)} "
                                  "appears twice; keep one")
            seen.add(key) if isinstance(key, (str, int, float, bool)) else None
        return super().construct_mapping(node, deep=deep)


def load_limits(path: Path) -> Limits:
    try:
        text = read_text(path, "limits file", MAX_LIMITS_BYTES)
    except InputFileError as exc:
        raise LimitsError(str(exc).replace(": error: ", ": ", 1)) from None
    loader = _UniqueKeyLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise LimitsError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or 'syntax error'}") from None
    finally:
        loader.dispose()
    return limits_from_data(data, str(path))

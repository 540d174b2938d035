"""How much each metric may grow before the gate fails: ci/limits.yaml plus command-line overrides.

A limit is an absolute allowance in bytes (or instructions), a percentage of
the baseline figure, or both. With both, the LARGER allowance applies: the
percentage lets big figures move in proportion, while the absolute part keeps
a few bytes of linker alignment from failing a small figure. Write only the
one you mean if you want the stricter behaviour.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from reports.metrics import BY_NAME, METRIC_NAMES


class LimitsError(Exception):
    """A malformed limits file or --limit flag (a user error)."""


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

    def for_metric(self, name: str) -> Limit:
        return self.per_metric[name]


def default_limits() -> Limits:
    return Limits(per_metric=dict(DEFAULT_LIMITS))


_LIMIT_PART = re.compile(r"^\+?(?P<number>\d+(?:\.\d+)?)\s*(?P<percent>%)?$")


def parse_limit_value(text: str, where: str) -> Limit:
    """"+512", "1%", "+512,+2%" -> Limit."""
    absolute: int | None = None
    pct: float | None = None
    for part in (p.strip() for p in str(text).split(",")):
        match = _LIMIT_PART.match(part)
        if not match:
            raise LimitsError(f"{where}: bad limit {part!r}; write +BYTES, +PERCENT% or both separated by a comma")
        if match["percent"]:
            pct = float(match["number"])
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
        raise LimitsError(f"{where}: {text!r} is not METRIC=LIMIT (e.g. rom.total=+512 or handshake.instructions=2%)")
    if metric != "bytes" and metric not in BY_NAME:
        raise LimitsError(f"{where}: unknown metric {metric!r}; known: bytes, {', '.join(METRIC_NAMES)}")
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
    unknown = set(data) - {"schema_version", "limits"}
    if unknown:
        raise LimitsError(f"{where}: unknown keys {sorted(unknown)}")
    limits = default_limits()
    entries = data.get("limits") or {}
    # "bytes" first so a specific metric given in the same file overrides it.
    for metric in sorted(entries, key=lambda m: m != "bytes"):
        name, limit = parse_limit(f"{metric}={entries[metric]}", where)
        limits = with_override(limits, name, limit)
    return limits


def load_limits(path: Path) -> Limits:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LimitsError(f"{path}: cannot read limits: {exc}") from exc
    return limits_from_data(data, str(path))

"""Plain data of a tune run."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence, TypeVar

from core.errors import BadInput

T = TypeVar("T")


@dataclass(frozen=True)
class Candidate:
    """One build to try: the optimize level, knob settings over it, and link-time optimisation."""
    optimize: str
    knobs: tuple[tuple[str, str], ...]     # sorted (knob, setting); settings as generator/tuning.py keeps them
    lto: bool

    @property
    def key(self) -> str:
        """A stable, file-name-safe name, e.g. "size+lto+ecp_window=4"."""
        parts = [self.optimize] + (["lto"] if self.lto else []) + [f"{k}={v}" for k, v in self.knobs]
        return "+".join(parts)

    def as_dict(self) -> dict:
        return {"optimize": self.optimize, "knobs": dict(self.knobs), "lto": self.lto}

    @staticmethod
    def from_dict(d: dict) -> "Candidate":
        return Candidate(optimize=d["optimize"], knobs=tuple(sorted((k, str(v)) for k, v in d["knobs"].items())),
                         lto=bool(d["lto"]))


# status: "ok" (handshake proven), "failed" (built, handshake failed), "infeasible" (the candidate
# does not exist: reason), "error" (a tool failed: reason)
STATUSES = ("ok", "failed", "infeasible", "error")


@dataclass(frozen=True)
class Outcome:
    candidate: Candidate
    status: str
    reason: str | None = None
    config_sha256: str | None = None
    rom_total: int | None = None
    rom_mbedtls: int | None = None
    ram_total: int | None = None
    instructions: int | None = None
    handshake_ok: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "key": self.candidate.key, **self.candidate.as_dict(), "status": self.status, "reason": self.reason,
            "config_sha256": self.config_sha256,
            "rom": {"total": self.rom_total, "mbedtls": self.rom_mbedtls},
            "ram": {"total": self.ram_total},
            "handshake": {"ok": self.handshake_ok, "instructions": self.instructions},
            "seconds": round(self.seconds, 2),
        }

    @staticmethod
    def from_dict(d: dict) -> "Outcome":
        return Outcome(candidate=Candidate.from_dict(d), status=d["status"], reason=d.get("reason"),
                       config_sha256=d.get("config_sha256"), rom_total=d["rom"]["total"],
                       rom_mbedtls=d["rom"]["mbedtls"], ram_total=d["ram"]["total"],
                       instructions=d["handshake"]["instructions"], handshake_ok=bool(d["handshake"]["ok"]),
                       seconds=float(d.get("seconds") or 0.0))


def reason_kind(reason: str | None) -> str:
    """A failure reason's first line with its figures blanked: candidates failing for the same
    cause (the same words, other buffer sizes) are counted together and the cause said once."""
    text = (reason or "").strip()
    return re.sub(r"\d[\d,.]*", "#", text.splitlines()[0]) if text else ""


@dataclass(frozen=True)
class TuneBudget:
    rom: int | None = None                 # rom.total <= rom
    ram: int | None = None                 # ram.total <= ram
    handshake_ms: float | None = None      # estimated handshake time at mhz (the CPI range's high end)
    mhz: float | None = None

    def as_dict(self) -> dict:
        return {"rom": self.rom, "ram": self.ram, "handshake_ms": self.handshake_ms, "mhz": self.mhz}

    @property
    def empty(self) -> bool:
        return self.rom is None and self.ram is None and self.handshake_ms is None


_SIZE = re.compile(r"^(\d+)\s*([kKmM]?)(?:i?B)?$")
_TIME = re.compile(r"^(\d+(?:\.\d+)?)@(\d+(?:\.\d+)?)$")


def _bytes(text: str, where: str) -> int:
    m = _SIZE.match(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise BadInput(f"--budget {where}={text!r}: expected a positive number of bytes, e.g. 81920 or 80K")
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    return int(m.group(1)) * scale


def parse_budget(text: str) -> TuneBudget:
    """"rom=BYTES,ram=BYTES,handshake_ms=MS@MHZ" (any subset)."""
    values: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in ("rom", "ram", "handshake_ms"):
            raise BadInput(f"--budget {item!r}: expected rom=BYTES, ram=BYTES or handshake_ms=MS@MHZ "
                           "(e.g. --budget rom=48K,ram=32K,handshake_ms=500@64)")
        if key in values:
            raise BadInput(f"--budget: {key} given twice")
        if key == "handshake_ms":
            m = _TIME.match(value.strip())
            if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
                raise BadInput(f"--budget handshake_ms={value!r}: expected MS@MHZ, e.g. 500@64 (500 ms at 64 MHz)")
            values["handshake_ms"], values["mhz"] = float(m.group(1)), float(m.group(2))
        else:
            values[key] = _bytes(value, key)
    if not values:
        raise BadInput("--budget is empty; e.g. --budget rom=48K,ram=32K")
    return TuneBudget(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Shard:
    """The K-th of N deterministic shares of a list (K from 1): one CI matrix job each."""
    index: int      # K, 1-based
    count: int      # N

    def pick(self, items: Sequence[T]) -> list[T]:
        """Every count-th item starting at index: the shards of one list are disjoint and cover it."""
        return [item for position, item in enumerate(items) if position % self.count == self.index - 1]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, what: str = "--shard") -> Shard:
    """"K/N" with 1 <= K <= N: the one shard parser (tlsfit measure and tlsfit tune)."""
    m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise BadInput(f"{what} {text!r}: expected K/N with 1 <= K <= N, e.g. 2/4 (the CI matrix index "
                       "starting at 1, and the number of jobs)")
    return Shard(int(m.group(1)), int(m.group(2)))

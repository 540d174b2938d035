"""A shard's tune.json, read back for `tune --merge`: a report like any other, checked before use.

Read through the bounded reader (core/inputs.py: regular files only, size-capped, so a tune.json
linked to /dev/zero or a FIFO is refused at once) and parsed strictly (reports/schema.py
parse_json: no NaN, no duplicate keys). Then every field a merge or the choice reads is checked
and the first bad one is named by its JSON path, e.g.

    s1/tune.json: $.candidates[0].rom.total: expected a non-negative integer or null, got "20516"

(SchemaError: bad input, exit 2, never a traceback, nothing chosen). Checked:

    tlsfit_version, mbedtls_version, cpu   strings; profile, target: names [a-z0-9-]+
    fingerprint           object: profile_sha256, knowledge_sha256 (64 hex digits), server, server_impl
    search.knobs          object of known knob -> list of its known settings
    search.levels         list of optimize levels
    candidates[]          key (the one its optimize, lto and knobs make), optimize (a level), lto (bool),
                          knobs (object of known knob -> a known setting), status (ok, failed,
                          infeasible, error), reason (string or null), config_sha256 (64 hex or null),
                          rom.total, rom.mbedtls, ram.total, handshake.instructions (non-negative
                          integers or null), handshake.ok (bool), seconds (non-negative number),
                          ok consistent: status ok <=> handshake.ok true, and a proven candidate has
                          ROM and RAM figures; keys unique
    object_cache          null or {hits, misses: non-negative integers}

A merge also refuses a shard of another profile (name or content), target, knowledge base (mbedTLS
version or the knowledge file's content), server or tlsfit version: `expected_identity()` says what
this run is, `load_shard_outcomes(folder, expect=...)` compares.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from core.inputs import MIB, excerpt, read_text
from generator.knowledge import Knowledge, knowledge_for
from generator.model import OPTIMIZE_LEVELS
from reports.schema import SchemaError, json_path, parse_json
from tune.model import STATUSES, Candidate, Outcome

MAX_TUNE_JSON_BYTES = 16 * MIB
_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
PREFERS = ("size", "speed")
# what a merge compares between this run and each shard: (field, how it is said)
IDENTITY = (("tlsfit_version", "tlsfit version"), ("profile", "profile"), ("profile_sha256", "profile file content"),
            ("target", "target"), ("mbedtls_version", "mbedTLS version (knowledge base)"),
            ("knowledge_sha256", "knowledge base content"), ("server", "server"), ("server_impl", "reference server"))


class _Check:
    def __init__(self, where: str):
        self.where = where

    def fail(self, parts: tuple[str | int, ...], message: str) -> SchemaError:
        return SchemaError(f"{self.where}: {json_path(parts)}: {message}")

    def get(self, data: dict, key: str, parts: tuple[str | int, ...]) -> Any:
        if key not in data:
            raise self.fail((*parts, key), "missing")
        return data[key]

    def obj(self, value: Any, parts: tuple[str | int, ...]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(parts, f"expected an object, got {_shown(value)}")
        return value

    def lst(self, value: Any, parts: tuple[str | int, ...]) -> list:
        if not isinstance(value, list):
            raise self.fail(parts, f"expected a list, got {_shown(value)}")
        return value

    def count(self, value: Any, parts: tuple[str | int, ...], nullable: bool) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(parts, f"expected a non-negative integer{' or null' if nullable else ''}, "
                                   f"got {_shown(value)}")
        return value

    def text(self, value: Any, parts: tuple[str | int, ...], nullable: bool = False) -> str | None:
        if not isinstance(value, str) and not (nullable and value is None):
            raise self.fail(parts, f"expected a string{' or null' if nullable else ''}, got {_shown(value)}")
        return value

    def pattern(self, value: Any, parts: tuple[str | int, ...], rx: re.Pattern, what: str,
                nullable: bool = False) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not rx.match(value):
            raise self.fail(parts, f"expected {what}{' or null' if nullable else ''}, got {_shown(value)}")
        return value

    def boolean(self, value: Any, parts: tuple[str | int, ...]) -> bool:
        if not isinstance(value, bool):
            raise self.fail(parts, f"expected true or false, got {_shown(value)}")
        return value

    def one_of(self, value: Any, parts: tuple[str | int, ...], allowed: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise self.fail(parts, f"expected one of {', '.join(allowed)}, got {_shown(value)}")
        return value


def _shown(value: Any) -> str:
    kind = {dict: "an object", list: "a list"}.get(type(value))
    if kind:
        return kind
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return excerpt(value)


def _known_settings(kb: Knowledge, knob: str) -> tuple[str, ...]:
    k = kb.knobs[knob]
    return tuple(kb.groups) if k.kind == "group" else k.values


def _knob_settings(c: _Check, kb: Knowledge, value: Any, parts: tuple[str | int, ...]) -> dict[str, str]:
    knobs = c.obj(value, parts)
    out = {}
    for name, setting in knobs.items():
        if name not in kb.knobs:
            raise c.fail((*parts, name), f"not a knob of the knowledge base (known: {', '.join(kb.knobs)})")
        known = _known_settings(kb, name)
        text = str(setting).lower() if isinstance(setting, bool) else setting
        if isinstance(text, int) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str) or text not in known:
            raise c.fail((*parts, name), f"expected one of {', '.join(known)}, got {_shown(setting)}")
        out[name] = text
    return out


def _candidate(c: _Check, kb: Knowledge, row: Any, i: int) -> Outcome:
    at: tuple[str | int, ...] = ("candidates", i)
    row = c.obj(row, at)
    optimize = c.one_of(c.get(row, "optimize", at), (*at, "optimize"), OPTIMIZE_LEVELS)
    lto = c.boolean(c.get(row, "lto", at), (*at, "lto"))
    knobs = _knob_settings(c, kb, c.get(row, "knobs", at), (*at, "knobs"))
    candidate = Candidate(optimize=optimize, knobs=tuple(sorted(knobs.items())), lto=lto)
    key = c.text(c.get(row, "key", at), (*at, "key"))
    if key != candidate.key:
        raise c.fail((*at, "key"), f"is {_shown(key)} but its optimize, lto and knobs make {candidate.key!r}")
    status = c.one_of(c.get(row, "status", at), (*at, "status"), STATUSES)
    reason = c.text(row.get("reason"), (*at, "reason"), nullable=True)
    sha = c.pattern(row.get("config_sha256"), (*at, "config_sha256"), _SHA256, "64 hex digits", nullable=True)
    rom = c.obj(c.get(row, "rom", at), (*at, "rom"))
    ram = c.obj(c.get(row, "ram", at), (*at, "ram"))
    hs = c.obj(c.get(row, "handshake", at), (*at, "handshake"))
    rom_total = c.count(c.get(rom, "total", (*at, "rom")), (*at, "rom", "total"), nullable=True)
    rom_mbedtls = c.count(c.get(rom, "mbedtls", (*at, "rom")), (*at, "rom", "mbedtls"), nullable=True)
    ram_total = c.count(c.get(ram, "total", (*at, "ram")), (*at, "ram", "total"), nullable=True)
    instructions = c.count(c.get(hs, "instructions", (*at, "handshake")), (*at, "handshake", "instructions"),
                           nullable=True)
    ok = c.boolean(c.get(hs, "ok", (*at, "handshake")), (*at, "handshake", "ok"))
    if ok != (status == "ok"):
        raise c.fail((*at, "handshake", "ok"), f"is {str(ok).lower()} but the status is {status!r}: "
                                              "only a candidate proven by a handshake is ok")
    if status == "ok":
        for value, name in ((rom_total, "rom.total"), (rom_mbedtls, "rom.mbedtls"), (ram_total, "ram.total"),
                            (sha, "config_sha256")):
            if value is None:
                raise c.fail((*at, *name.split(".")), "a proven (ok) candidate has its measured figure here")
        if rom_mbedtls > rom_total:  # type: ignore[operator]
            raise c.fail((*at, "rom", "mbedtls"), f"{rom_mbedtls:,} is more than rom.total {rom_total:,}")
    seconds = row.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds < 0:
        raise c.fail((*at, "seconds"), f"expected a non-negative number, got {_shown(seconds)}")
    for flag in ("pareto", "within_budget"):
        if flag in row:
            c.boolean(row[flag], (*at, flag))
    return Outcome(candidate, status, reason=reason, config_sha256=sha, rom_total=rom_total,
                   rom_mbedtls=rom_mbedtls, ram_total=ram_total, instructions=instructions, handshake_ok=ok,
                   seconds=float(seconds))


def validate_tune_json(data: Any, where: str) -> tuple[dict, list[Outcome]]:
    """(the header, its outcomes) of a parsed tune.json that follows the schema above; else
    SchemaError naming the first bad field by its JSON path."""
    c = _Check(where)
    doc = c.obj(data, ())
    for key in ("tlsfit_version", "mbedtls_version", "cpu"):
        c.text(c.get(doc, key, ()), (key,))
    for key in ("profile", "target"):
        c.pattern(c.get(doc, key, ()), (key,), _NAME, "a name of [a-z0-9-]+ (at most 64)")
    c.text(doc.get("server"), ("server",), nullable=True)
    if "prefer" in doc:
        c.one_of(doc["prefer"], ("prefer",), PREFERS)
    fp = c.obj(c.get(doc, "fingerprint", ()), ("fingerprint",))
    for key in ("profile_sha256", "knowledge_sha256"):
        c.pattern(c.get(fp, key, ("fingerprint",)), ("fingerprint", key), _SHA256, "64 hex digits")
    c.text(fp.get("server"), ("fingerprint", "server"), nullable=True)
    c.text(fp.get("server_impl"), ("fingerprint", "server_impl"), nullable=True)
    try:
        kb = knowledge_for(doc["mbedtls_version"])
    except Exception as exc:  # noqa: BLE001 - an unknown or malformed version is the shard's fault
        raise c.fail(("mbedtls_version",), f"no knowledge base for it ({excerpt(str(exc), 120)})") from None
    search = c.obj(c.get(doc, "search", ()), ("search",))
    for i, level in enumerate(c.lst(c.get(search, "levels", ("search",)), ("search", "levels"))):
        c.one_of(level, ("search", "levels", i), OPTIMIZE_LEVELS)
    knobs = c.obj(c.get(search, "knobs", ("search",)), ("search", "knobs"))
    for name, settings in knobs.items():
        if name not in kb.knobs:
            raise c.fail(("search", "knobs", name), f"not a knob of the knowledge base (known: {', '.join(kb.knobs)})")
        known = _known_settings(kb, name)
        for j, setting in enumerate(c.lst(settings, ("search", "knobs", name))):
            if not isinstance(setting, str) or setting not in known:
                raise c.fail(("search", "knobs", name, j), f"expected one of {', '.join(known)}, got {_shown(setting)}")
    rows = c.lst(c.get(doc, "candidates", ()), ("candidates",))
    outcomes = [_candidate(c, kb, row, i) for i, row in enumerate(rows)]
    seen: dict[str, int] = {}
    for i, o in enumerate(outcomes):
        if o.candidate.key in seen:
            raise c.fail(("candidates", i, "key"), f"{o.candidate.key!r} is also candidates[{seen[o.candidate.key]}]")
        seen[o.candidate.key] = i
    cache = doc.get("object_cache")
    if cache is not None:
        cache = c.obj(cache, ("object_cache",))
        for key in ("hits", "misses"):
            c.count(c.get(cache, key, ("object_cache",)), ("object_cache", key), nullable=False)
    return doc, outcomes


def expected_identity(fingerprint: dict, *, profile: str, target: str) -> dict:
    """What a shard must have been made by and for to join this merge (the search's fingerprint,
    tune/search.py SearchContext.fingerprint(), with the profile's and board's names)."""
    return {"tlsfit_version": fingerprint["tlsfit_version"], "profile": profile,
            "profile_sha256": fingerprint["profile_sha256"], "target": target,
            "mbedtls_version": fingerprint["mbedtls_version"], "knowledge_sha256": fingerprint["knowledge_sha256"],
            "server": fingerprint.get("server"), "server_impl": fingerprint.get("server_impl")}


def shard_identity(header: dict) -> dict:
    fp = header["fingerprint"]
    return {"tlsfit_version": header["tlsfit_version"], "profile": header["profile"],
            "profile_sha256": fp["profile_sha256"], "target": header["target"],
            "mbedtls_version": header["mbedtls_version"], "knowledge_sha256": fp["knowledge_sha256"],
            "server": fp.get("server"), "server_impl": fp.get("server_impl")}


def check_identity(header: dict, expect: dict, where: str) -> None:
    """SchemaError naming the first way the shard differs from this run."""
    got = shard_identity(header)
    for key, what in IDENTITY:
        if got.get(key) != expect.get(key):
            path = f"$.fingerprint.{key}" if key in ("profile_sha256", "knowledge_sha256", "server", "server_impl") \
                else f"$.{key}"
            raise SchemaError(f"{where}: {path}: the shard was made for another {what} ({_shown(got.get(key))}, "
                              f"this run: {_shown(expect.get(key))}); rerun the shard with this tlsfit, profile "
                              "and target, or merge only shards of one search")


def load_shard_outcomes(folder: Path, expect: dict | None = None) -> tuple[dict, list[Outcome]]:
    """A finished shard's FOLDER/tune.json: (its header, its outcomes), checked; with `expect`
    (expected_identity()) also that it belongs to this search. SchemaError / InputFileError
    (bad input, exit 2) when it is not one."""
    path = Path(folder) / "tune.json"
    text = read_text(path, "tune.json", MAX_TUNE_JSON_BYTES)
    header, outcomes = validate_tune_json(parse_json(text, str(path), "tune.json"), str(path))
    if expect is not None:
        check_identity(header, expect, str(path))
    return header, outcomes

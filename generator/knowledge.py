"""The mbedTLS knowledge base: generator/data/mbedtls-<major>.<minor>.yaml as typed tables.

One file per mbedTLS minor version, named by the versions it covers; the one
used is chosen from the version found in the mbedTLS tree (knowledge_for) and
passed explicitly to every stage. The resolver reads these tables; no Python
module spells an mbedTLS option name (tests/test_no_option_names.py). Every
option rule keeps the line it was defined on, so a broken dependency chain can
say where each link comes from.
"""
from __future__ import annotations

import copyreg
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from core.errors import BadInput, TlsfitBug
from core.inputs import read_text
from core.located_yaml import Field, Reader, compose, construct, line_of

DATA_DIR = Path(__file__).resolve().parent / "data"
_DATA_NAME = re.compile(r"^mbedtls-(\d+)\.(\d+)\.yaml$")


class KnowledgeError(TlsfitBug):
    """The knowledge base is inconsistent, or the resolver hit a rule it cannot meet: a tlsfit bug."""


@dataclass(frozen=True)
class Suite:
    name: str              # IANA name
    macro: str             # MBEDTLS_TLS_* / MBEDTLS_TLS1_3_*
    id: int
    key_exchange: str      # MBEDTLS_KEY_EXCHANGE_*
    cipher: str            # MBEDTLS_CIPHER_*
    mac: str               # MBEDTLS_MD_*
    short_tag: bool
    versions: tuple[str, ...]


@dataclass(frozen=True)
class KeyExchange:
    macro: str
    label: str
    option: str
    ephemeral: str | None  # "ecdhe" | "ffdhe" | "static_ecdh" | None
    certificate: str | None  # "rsa" | "ec" | None
    psk: bool


@dataclass(frozen=True)
class Cipher:
    macro: str
    label: str
    options: tuple[str, ...]
    block: str | None
    mode: str


@dataclass(frozen=True)
class Hash:
    macro: str
    label: str
    option: str
    insecure: str | None = None    # why a signature made with it can be forged (needs allow_insecure)


@dataclass(frozen=True)
class Group:
    name: str
    id: int
    kind: str              # "ecdhe" | "ffdhe"
    option: str
    bytes: int
    nist: bool
    versions: tuple[str, ...]


@dataclass(frozen=True)
class SigAlg:
    name: str
    id: int
    key: str               # "rsa" | "ec"
    curve: str | None
    hash: str              # MBEDTLS_MD_*
    options: tuple[str, ...]
    handshake: tuple[str, ...]


@dataclass(frozen=True)
class KeyType:
    name: str
    kind: str              # "rsa" | "ec"
    bits: int
    curve: str | None
    cert_bytes: int


@dataclass(frozen=True)
class OptionRule:
    name: str
    requires: tuple[str, ...]
    requires_any: tuple[tuple[str, ...], ...]
    conflicts: tuple[str, ...]
    reason: str
    line: int
    value: str | None = None       # defined with this value unless the resolver gives one (PSA_WANT_* are 1)


@dataclass(frozen=True)
class Tuning:
    name: str
    when: tuple[str, ...]
    when_any: tuple[str, ...]
    unless: tuple[str, ...]
    levels: Mapping[str, str | None]   # optimize level -> value (None: plain #define)
    reason: str
    line: int
    only_ciphers: tuple[str, ...] = ()  # non-empty: every suite's cipher must be one of these
    arch: tuple[str, ...] = ()          # non-empty: only for a core whose arch (cores.yaml) is one of these
    unless_arch: tuple[str, ...] = ()   # never for a core whose arch is one of these


KNOB_KINDS = ("value", "flag", "random", "group", "driver", "fragment")
LEGACY_DRIVER = "legacy"   # a driver knob's setting for the built-in modules (no driver build)


@dataclass(frozen=True)
class Knob:
    """One tuning knob (`knobs:` in the data): a profile's `tuning:` sets it, `tlsfit tune` searches it.

    value: the option gets one of `values`; flag: the option is defined ("on") or not ("off");
    random: which DRBG (`choices`: value -> option); group: which of tls.groups the client offers;
    driver: "legacy" or the name of a driver build (`driver_builds:`), where the profile fits it;
    fragment: the max_fragment_length the client asks for (one of `values`), where the profile says
    the server honours it (it changes the profile's tls.max_fragment_length, hence the buffers).
    The knob applies only when every `when` option is already in the option set."""
    name: str
    kind: str
    option: str | None
    values: tuple[str, ...]
    choices: Mapping[str, str]
    when: tuple[str, ...]
    reason: str
    line: int
    when_any: tuple[str, ...] = ()  # non-empty: also one of these must be in the option set


@dataclass(frozen=True)
class RandomChoice:
    """One candidate random generator; the resolver takes the first that matches."""
    option: str
    when: tuple[str, ...]           # all must already be seeded
    levels: tuple[str, ...]         # optimize levels this entry applies to
    reason: str
    line: int


@dataclass(frozen=True)
class DriverBuild:
    """A build that swaps legacy modules for a PSA driver (today: p256-m for P-256-only TLS 1.3)."""
    name: str
    levels: tuple[str, ...]         # optimize levels it applies at
    versions: tuple[str, ...]       # the profile's tls.versions must be exactly these
    curves: tuple[str, ...]         # every group offered and every EC key must be one of these
    rsa: bool                       # False: no RSA key anywhere in the trust or client key
    any_cipher: tuple[str, ...]     # some suite must use one of these ciphers (empty: no condition)
    replace: Mapping[str, tuple[str, ...]]   # legacy option -> what is seeded instead
    add: tuple[tuple[str, str | None], ...]  # (option, value) added with the build
    psa_wants: Mapping[str, tuple[str, ...]]  # legacy option present -> PSA_WANT_* it needs
    reason: str
    line: int
    # CPU architecture -> the levels that do not choose it there (the driver knob still can)
    unless_arch: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True)
class Role:
    """An option the resolver sets for a profile field or build fact, named by its role."""
    option: str
    reason: str


@dataclass(frozen=True)
class BufferPolicy:
    full_record: int
    out_default: int
    out_client_certificate: int
    handshake_overhead: int
    client_hello: int              # the largest ClientHello tlsfit sends fits in this many bytes


@dataclass(frozen=True)
class Knowledge:
    """One knowledge-base file as read-only tables: every mapping is a MappingProxyType and every
    list a tuple, so the one cached instance (load_knowledge) cannot be changed by a caller."""
    source: Path
    mbedtls_version: str
    suites: Mapping[str, Suite]
    key_exchanges: Mapping[str, KeyExchange]
    tls13_modes: Mapping[str, str]
    ciphers: Mapping[str, Cipher]
    hashes: Mapping[str, Hash]
    groups: Mapping[str, Group]
    signature_algorithms: Mapping[str, SigAlg]
    unsupported_signature_algorithms: Mapping[str, str]
    key_types: Mapping[str, KeyType]
    options: Mapping[str, OptionRule]
    never: Mapping[str, str]
    tuning: tuple[Tuning, ...]
    buffers: BufferPolicy
    random_generators: tuple[RandomChoice, ...] = ()
    group_offer: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # optimize level -> "one" | "all"
    # versions whose supported_groups must also list the certificates' curves (TLS 1.2)
    certificate_curves_offered: tuple[str, ...] = ()
    driver_builds: tuple[DriverBuild, ...] = ()
    roles: Mapping[str, Role] = field(default_factory=lambda: _EMPTY)
    no_key_exchange: str = ""
    null_cipher: str = ""
    external_only: frozenset[str] = frozenset()
    check_headers: tuple[tuple[str, str], ...] = ()   # (option, header the check includes with it)
    limits: Mapping[str, int] = field(default_factory=lambda: _EMPTY)  # mbedTLS's fixed limits a profile must respect
    knobs: Mapping[str, Knob] = field(default_factory=lambda: _EMPTY)  # tuning knobs (profile `tuning:`, tlsfit tune)

    def limit(self, name: str) -> int:
        """A fixed mbedTLS limit (`limits:` in the data), e.g. "max_intermediate_ca"."""
        try:
            return self.limits[name]
        except KeyError:
            raise KnowledgeError(f"{self.source.name}: no limits.{name} entry") from None

    def role(self, name: str) -> Role:
        """The option playing `name` (e.g. "tls1_2", "x509"); a missing role is a knowledge-base bug."""
        try:
            return self.roles[name]
        except KeyError:
            raise KnowledgeError(f"{self.source.name}: no roles.{name} entry") from None

    def option(self, role: str) -> str:
        return self.role(role).option

    def where(self, option: str) -> str:
        """`file:line` where an option rule is defined, for error chains."""
        rule = self.options.get(option)
        return f"{self.source.name}:{rule.line}" if rule else f"{self.source.name}: (no rule)"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def read_only(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """A read-only view of a copy of `mapping` (what unpickling a knowledge-base table rebuilds)."""
    return MappingProxyType(dict(mapping))


def _pickle_mapping_proxy(proxy: MappingProxyType) -> tuple[Any, ...]:  # type: ignore[type-arg]
    return (read_only, (dict(proxy),))


# A knowledge base travels to tune's worker processes by pickle (and bench copies variants of it):
# a read-only mapping pickles and copies as a read-only view of a copy of its dict.
copyreg.pickle(MappingProxyType, _pickle_mapping_proxy)

# The knowledge base's schema table (core/located_yaml.py): its top-level tables, most of them
# required. A missing or misspelt table is a tlsfit bug reported at FILE:LINE.
_SCHEMA: dict[str, Field] = {
    "mbedtls_version": Field("str", True), "roles": Field("map", True), "no_key_exchange": Field("str", True),
    "null_cipher": Field("str", True), "external_only": Field("list"), "check_headers": Field("any"),
    "key_exchanges": Field("map", True), "tls13_modes": Field("map", True), "ciphers": Field("map", True),
    "hashes": Field("map", True), "groups": Field("map", True), "signature_algorithms": Field("map", True),
    "unsupported_signature_algorithms": Field("map", True), "key_types": Field("map", True),
    "options": Field("any", True), "limits": Field("map"), "never": Field("map", True),
    "tuning": Field("any", True), "knobs": Field("map"), "random_generators": Field("any"),
    "group_offer": Field("map"), "certificate_curves_offered": Field("list"), "driver_builds": Field("any"), "buffers": Field("map", True),
    "ciphersuites": Field("any", True),
}


def _kb_error(path: Any, line: int | None, message: str) -> KnowledgeError:
    where = f"{Path(path).name}:{line}" if line is not None else Path(path).name
    return KnowledgeError(f"{where}: {message}")


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


class UnsupportedMbedtls(BadInput):
    """The mbedTLS tree is of a version no knowledge base covers."""


def knowledge_files(data_dir: Path = DATA_DIR) -> dict[tuple[int, int], Path]:
    """(major, minor) -> the knowledge base covering every patch release of it."""
    out = {}
    for path in sorted(data_dir.glob("mbedtls-*.yaml")):
        m = _DATA_NAME.match(path.name)
        if m:
            out[(int(m.group(1)), int(m.group(2)))] = path
    return out


def parse_version(text: str) -> tuple[int, int, int]:
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise UnsupportedMbedtls(f"mbedTLS version {text!r} is not MAJOR.MINOR.PATCH")
    return int(parts[0]), int(parts[1]), int(parts[2])


def knowledge_for(version: str, where: str = "", data_dir: Path = DATA_DIR) -> Knowledge:
    """The knowledge base for mbedTLS `version` ("3.6.6"), or UnsupportedMbedtls saying what is known."""
    major, minor, _ = parse_version(version)
    files = knowledge_files(data_dir)
    path = files.get((major, minor))
    if path is None:
        known = ", ".join(f"{a}.{b}.x" for a, b in sorted(files)) or "none"
        raise UnsupportedMbedtls(
            f"mbedTLS {version}{' in ' + where if where else ''}: this tlsfit knows {known}; "
            f"point MBEDTLS_DIR at an mbedTLS {known} tree (make setup fetches the pinned one), "
            f"or add generator/data/mbedtls-{major}.{minor}.yaml for {major}.{minor}.x")
    return load_knowledge(path)


def load_knowledge(path: Path) -> Knowledge:
    """Load (once per path) and check one knowledge-base file."""
    return _load_cached(path.resolve())


MAX_KNOWLEDGE_BYTES = 4 << 20


@functools.cache
def _load_cached(path: Path) -> Knowledge:
    text = read_text(path, "knowledge base", MAX_KNOWLEDGE_BYTES)
    root = compose(text, path, _kb_error, "knowledge base")
    if root is None:
        raise _kb_error(path, 1, "the knowledge base is empty")
    Reader(path, _kb_error).mapping(root, "", _SCHEMA, required=True)   # every table there, none unknown or twice
    raw = construct(root, path, _kb_error)
    try:
        kb = _tables(raw, path)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _kb_error(path, None, f"a table entry is malformed ({type(exc).__name__}: {exc})") from None
    _check(kb)
    return kb


def _tables(raw: Mapping[str, Any], path: Path) -> Knowledge:
    """The constructed data (LineDict/LineList, core/located_yaml.py) as read-only typed tables."""
    suites = {}
    for entry in raw["ciphersuites"]:
        e = entry
        suites[e["name"]] = Suite(name=e["name"], macro=e["macro"], id=int(e["id"]),
                                  key_exchange=e["key_exchange"], cipher=e["cipher"], mac=e["mac"],
                                  short_tag=bool(e["short_tag"]), versions=_tuple(e["versions"]))
    options: dict[str, OptionRule] = {}
    for entry in raw["options"]:
        name = entry["name"]
        if name in options:
            raise _kb_error(path, line_of(entry), f"option {name} defined twice (first at line {options[name].line})")
        options[name] = OptionRule(name=name, requires=_tuple(entry.get("requires")),
                                   requires_any=tuple(_tuple(g) for g in entry.get("requires_any") or ()),
                                   conflicts=_tuple(entry.get("conflicts")),
                                   reason=entry["reason"], line=line_of(entry),
                                   value=None if entry.get("value") is None else str(entry["value"]))
    tuning = tuple(Tuning(name=t["name"], when=_tuple(t.get("when")), when_any=_tuple(t.get("when_any")),
                          unless=_tuple(t.get("unless")), levels=read_only(t["levels"]),
                          reason=t["reason"], line=line_of(t), only_ciphers=_tuple(t.get("only_ciphers")),
                          arch=_tuple(t.get("arch")), unless_arch=_tuple(t.get("unless_arch")))
                   for t in raw["tuning"])
    driver_builds = tuple(
        DriverBuild(name=d["name"], levels=_tuple(d["levels"]), versions=_tuple(d["versions"]),
                    curves=_tuple(d["curves"]), rsa=bool(d["rsa"]), any_cipher=_tuple(d.get("any_cipher")),
                    replace=read_only({k: _tuple(v) for k, v in d["replace"].items()}),
                    add=tuple((a["name"], None if a.get("value") is None else str(a["value"])) for a in d["add"]),
                    psa_wants=read_only({k: _tuple(v) for k, v in d["psa_wants"].items()}),
                    reason=d["reason"], line=line_of(d),
                    unless_arch=read_only({k: _tuple(v) for k, v in (d.get("unless_arch") or {}).items()}))
        for d in raw.get("driver_builds") or ())
    random_generators = tuple(RandomChoice(option=r["option"], when=_tuple(r.get("when")),
                                           levels=_tuple(r["levels"]), reason=r["reason"], line=line_of(r))
                              for r in raw.get("random_generators") or ())
    return Knowledge(
        source=path,
        mbedtls_version=str(raw["mbedtls_version"]),
        suites=read_only(suites),
        key_exchanges=read_only({k: KeyExchange(macro=k, **v) for k, v in raw["key_exchanges"].items()}),
        tls13_modes=read_only(raw["tls13_modes"]),
        ciphers=read_only({k: Cipher(macro=k, label=v["label"], options=_tuple(v["options"]), block=v["block"],
                                   mode=v["mode"]) for k, v in raw["ciphers"].items()}),
        hashes=read_only({k: Hash(macro=k, **v) for k, v in raw["hashes"].items()}),
        groups=read_only({k: Group(name=k, id=v["id"], kind=v["kind"], option=v["option"], bytes=v["bytes"],
                                 nist=v["nist"], versions=_tuple(v["versions"]))
                        for k, v in raw["groups"].items()}),
        signature_algorithms=read_only({k: SigAlg(name=k, id=v["id"], key=v["key"], curve=v["curve"], hash=v["hash"],
                                                options=_tuple(v["options"]), handshake=_tuple(v["handshake"]))
                                      for k, v in raw["signature_algorithms"].items()}),
        unsupported_signature_algorithms=read_only(raw["unsupported_signature_algorithms"]),
        key_types=read_only({k: KeyType(name=k, **v) for k, v in raw["key_types"].items()}),
        options=read_only(options),
        never=read_only(raw["never"]),
        tuning=tuning,
        buffers=BufferPolicy(**raw["buffers"]),
        random_generators=random_generators,
        group_offer=read_only(raw.get("group_offer") or {}),
        certificate_curves_offered=_tuple(raw.get("certificate_curves_offered") or ()),
        driver_builds=driver_builds,
        roles=read_only({k: Role(option=v["option"], reason=v["reason"]) for k, v in raw["roles"].items()}),
        no_key_exchange=str(raw["no_key_exchange"]),
        null_cipher=str(raw["null_cipher"]),
        external_only=frozenset(raw.get("external_only") or ()),
        check_headers=tuple((c["option"], c["header"]) for c in raw.get("check_headers") or ()),
        limits=read_only({k: int(v) for k, v in (raw.get("limits") or {}).items()}),
        knobs=_knobs(raw.get("knobs") or {}, path),
    )


def _knob_values(kind: str, entry: Mapping[str, Any]) -> tuple[tuple[str, ...], Mapping[str, str]]:
    if kind == "flag":
        return ("off", "on"), _EMPTY
    if kind == "random":
        choices = {str(k): str(v) for k, v in entry["choices"].items()}
        return tuple(choices), read_only(choices)
    if kind == "group":
        return (), _EMPTY
    return tuple(str(v) for v in entry["values"]), _EMPTY


def _knobs(raw: Mapping[str, Any], path: Path) -> Mapping[str, Knob]:
    out = {}
    for name, entry in raw.items():
        kind = entry.get("kind")
        if kind not in KNOB_KINDS:
            raise _kb_error(path, line_of(entry), f"knob {name}: kind {kind!r} is not one of {', '.join(KNOB_KINDS)}")
        values, choices = _knob_values(kind, entry)
        out[name] = Knob(name=name, kind=kind, option=entry.get("option"), values=values, choices=choices,
                         when=_tuple(entry.get("when")), reason=entry["reason"], line=line_of(entry),
                         when_any=_tuple(entry.get("when_any")))
    return read_only(out)


def _check(kb: Knowledge) -> None:
    """Every name a table refers to must be a known option or table key."""
    problems: list[str] = []

    def known(option: str, where: str) -> None:
        if option not in kb.options and option not in kb.never:
            problems.append(f"{where}: {option} has no rule in options:")

    for rule in kb.options.values():
        for dep in rule.requires + rule.conflicts + tuple(o for g in rule.requires_any for o in g):
            if dep not in kb.options and dep not in kb.never and dep not in kb.external_only:
                problems.append(f"{kb.source.name}:{rule.line}: {rule.name} refers to {dep}, which has no rule")
    for suite in kb.suites.values():
        if suite.key_exchange != kb.no_key_exchange and suite.key_exchange not in kb.key_exchanges:
            problems.append(f"suite {suite.name}: unknown key exchange {suite.key_exchange}")
        if suite.cipher not in kb.ciphers:
            problems.append(f"suite {suite.name}: unknown cipher {suite.cipher}")
        if suite.mac not in kb.hashes:
            problems.append(f"suite {suite.name}: unknown hash {suite.mac}")
    for kx in kb.key_exchanges.values():
        known(kx.option, f"key exchange {kx.label}")
    for cipher in kb.ciphers.values():
        for o in cipher.options:
            known(o, f"cipher {cipher.label}")
    for group in kb.groups.values():
        known(group.option, f"group {group.name}")
    for sig in kb.signature_algorithms.values():
        for o in sig.options:
            known(o, f"signature algorithm {sig.name}")
        if sig.hash not in kb.hashes:
            problems.append(f"signature algorithm {sig.name}: unknown hash {sig.hash}")
    for t in kb.tuning:
        known(t.name, f"{kb.source.name}:{t.line}")
    for r in kb.random_generators:
        known(r.option, f"{kb.source.name}:{r.line}")
    for k in kb.knobs.values():
        for o in (*((k.option,) if k.option else ()), *k.when, *k.when_any, *k.choices.values()):
            known(o, f"{kb.source.name}:{k.line}")
        if k.kind in ("value", "flag") and not k.option:
            problems.append(f"{kb.source.name}:{k.line}: knob {k.name} ({k.kind}) names no option")
    for d in kb.driver_builds:
        where = f"{kb.source.name}:{d.line}"
        for legacy, replacement in d.replace.items():
            for o in (legacy, *replacement):
                known(o, where)
        for o, _ in d.add:
            known(o, where)
        for legacy, wants in d.psa_wants.items():
            for o in (legacy, *wants):
                known(o, where)
    driver_names = {d.name for d in kb.driver_builds}
    for k in kb.knobs.values():
        if k.kind == "driver":
            for v in k.values:
                if v != LEGACY_DRIVER and v not in driver_names:
                    problems.append(f"{kb.source.name}:{k.line}: knob {k.name}: {v} is not a driver build")
    for t in kb.tuning:
        for c in t.only_ciphers:
            if c not in kb.ciphers:
                problems.append(f"{kb.source.name}:{t.line}: only_ciphers names unknown cipher {c}")
    for d in kb.driver_builds:
        for c in d.any_cipher:
            if c not in kb.ciphers:
                problems.append(f"{kb.source.name}:{d.line}: any_cipher names unknown cipher {c}")
    for mode in kb.tls13_modes.values():
        known(mode, "tls13_modes")
    for name, role in kb.roles.items():
        known(role.option, f"roles.{name}")
    for option, _ in kb.check_headers:
        known(option, "check_headers")
    if kb.null_cipher not in kb.ciphers:
        problems.append(f"null_cipher {kb.null_cipher} is not in ciphers:")
    if problems:
        raise KnowledgeError("knowledge base inconsistent:\n  " + "\n  ".join(problems))


"""Load and validate a tlsfit YAML profile into a Profile.

The file is read through core/located_yaml.py against the schema tables below;
generator/profile_doc.py is the file as written (for tools that write profiles).

Every error is a ProfileError(path, line, message) whose message says what is
wrong and how to fix it; `line` is the line of the offending key or value
(YAML node marks are kept for that).

Keys (DESIGN.md contract, plus tlsfit additions marked +):

    name (required, [a-z0-9-]+), description, target (default mps2-an386),
    clock+ (none | rtc; default none: certificate dates not checked),
    app+ (none | echo | mqtt | http, or {protocol, client_id, path}; default: echo with the
          reference server, none with --server),
    optimize+ (size | balanced | speed; default size),
    verify+ (required | none; default required), allow_insecure+ (bool; needed by verify: none, a NULL
          suite, a signature algorithm on SHA-1 or MD5, a PSK under 16 bytes or of one repeated byte;
          each then named in the generated header's opening comment),
    server: host (required), port (default 443)
    tls: versions (required), ciphersuites (required), groups, signature_algorithms,
         max_fragment_length, buffers {in, out}, sni, alpn, resumption,
         client_certificate {key (key type), cert+ (PEM/DER file), key_file+ (file)},
         psk {identity, key (hex)}
    trust: ca_files, chain {root, intermediates, leaf}, format+ (der | pem; default der)
    budget: {rom, ram}
    build+: {lto (bool; default false: no link-time optimisation)}
    tuning+: {knob: setting} over the optimize level's choices (knowledge base knobs:;
             `tlsfit tune` writes it)

Bounds (every string that reaches C, a certificate, a file name or a command line):
    the file itself: a regular UTF-8 file of at most 1 MiB (core/inputs.py);
    name and target: [a-z0-9-]+, at most 64 characters (they name files and folders);
    description: one line of at most 400 printable characters;
    server.host: an RFC 1123 host name (at most 253 characters, labels of at most 63; no space or
                 control character, a trailing line break included)
                 or an IPv4/IPv6 literal;
    tls.psk.identity: printable ASCII, at most the knowledge base's limits.psk_identity_max
                 and within the output record buffer;
    tls.alpn, app.client_id, app.path: printable ASCII; file names: at most 4096 characters;
    trust.chain.intermediates: at most the knowledge base's limits.max_intermediate_ca.

Defaults decided here:
- sni: true when a certificate is involved (it needs X.509 parsing),
  false for PSK-only profiles; an explicit value always wins.
- trust.chain (the reference server's test PKI shape), when absent:
  * with ca_files: root = key type of the first CA file, no intermediates, leaf =
    the root's type when the suites accept it, else the smallest key of the kind
    the suites need (rsa2048 / secp256r1);
  * without ca_files and verify: none: the smallest chain of the kind the suites need;
  * without ca_files and verify: required: error (nothing to trust).
  PSK-only profiles get no chain (None).
"""
from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.inputs import MIB, InputFileError, check_regular, excerpt, read_text
from core.x509 import key_type_from_text
from core.located_yaml import Entries, Field, Reader, compose, line_of, suggest
from core.errors import LocatedError
from generator.knowledge import Knowledge
from generator.parts import part_field
from generator.tuning import normalise_setting
from generator.model import (APPS, CLOCKS, OPTIMIZE_LEVELS, TRANSPORTS, App, Budget, Buffers, ChainShape,
                             ClientCertificate, Dtls, Profile, ProfileError, Psk, SuiteFacts)

NAME_PATTERN = re.compile(r"^[a-z0-9-]+$")
VERSIONS = ("1.2", "1.3")
MFL_VALUES = (512, 1024, 2048, 4096)
# key_file: ${NAME}: the device key's path from an environment variable (read by measure --server only)
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
MAX_CONTENT_LEN = 16384  # TLS maximum plaintext record
MIN_CONTENT_LEN = 512
OPENSSL_TIMEOUT_S = 10
MAX_PROFILE_BYTES = MIB          # a profile is a few KB; the cap keeps /dev/zero-like input out
MAX_CERT_FILE_BYTES = MIB        # a CA or client certificate file
MAX_NAME_LEN = 64                # name and target: file and folder names
MAX_DESCRIPTION_LEN = 400           # room for a probed "Probed HOST:PORT (date): TLS 1.x SUITE"
MAX_STRING_LEN = 255             # any other single string value
MAX_PATH_LEN = 4096
MAX_HOST_LEN = 253               # RFC 1123 / RFC 1035 text form
MAX_LIST_LEN = 64                # entries of any list (alpn, ca_files, ...)
# fullmatch only: `$` would also match before a trailing line break ("host\n")
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MIN_PSK_BYTES = 16               # below this a PSK is guessed offline from one recorded handshake


def printable_ascii(text: str) -> bool:
    """Only characters 0x20..0x7e: safe in a C string, a certificate and a command line."""
    return all(" " <= c <= "~" for c in text)


def host_problem(host: str) -> str | None:
    """Why `host` is not an RFC 1123 host name or an IP literal, or None when it is one."""
    if len(host) > MAX_HOST_LEN:
        return f"it is {len(host)} characters; a host name is at most {MAX_HOST_LEN}"
    if not printable_ascii(host) or " " in host:
        return "it is not a host name: it holds a space, a line break or another control or non-ASCII character"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.split(".")
    for label in labels:
        if not _HOST_LABEL.fullmatch(label):
            if len(label) > 63:
                return f"a label is {len(label)} characters; each dot-separated label is at most 63"
            return ("it is not a host name (RFC 1123: letters, digits and '-', dot-separated labels "
                    "of 1 to 63 characters) nor an IP address")
    if labels[-1].isdigit():
        return "it looks like an IP address but is not a valid one"
    return None


# The profile's schema tables (core/located_yaml.py): keys allowed in each mapping, with
# the required ones and, where the whole check is a kind, the kind.
_BUFFERS = {"in": Field("int", True, "in: 16384", lo=MIN_CONTENT_LEN, hi=MAX_CONTENT_LEN),
            "out": Field("int", True, "out: 4096", lo=MIN_CONTENT_LEN, hi=MAX_CONTENT_LEN)}
_CLIENT_CERTIFICATE = {"key": Field("str", True, "key: secp256r1"), "cert": Field(), "key_file": Field()}
_PSK = {"identity": Field("str", True, "identity: device-1"),
        "key": Field("any", True, "key: 00112233445566778899aabbccddeeff")}
_RETRANSMIT = {"min_ms": Field("int", lo=1, hi=600_000), "max_ms": Field("int", lo=1, hi=600_000)}
_TLS = {"versions": Field("list", True, "versions: ['1.2']"),
        "ciphersuites": Field("list", True, "ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]"),
        "groups": Field("list"), "offer_groups": Field("list"), "signature_algorithms": Field("list"),
        "max_fragment_length": Field(),
        "buffers": Field("map", fields=_BUFFERS), "sni": Field("bool"), "alpn": Field("list"),
        "resumption": Field("choice", choices=("none", "tickets")),
        "client_certificate": Field("map", fields=_CLIENT_CERTIFICATE), "psk": Field("map", fields=_PSK),
        "connection_id": Field("bool"), "retransmit": Field("map", fields=_RETRANSMIT), "mtu": Field("int")}
_CHAIN = {"root": Field("str", True, "root: rsa2048"), "intermediates": Field("list"),
          "leaf": Field("str", True, "leaf: rsa2048")}
_TRUST = {"ca_files": Field("list"), "chain": Field("map", fields=_CHAIN),
          "format": Field("choice", choices=("der", "pem"))}
_APP = {"protocol": Field("choice", True, "protocol: mqtt", choices=APPS), "client_id": Field("str"),
        "path": Field("str")}
_SERVER = {"host": Field("str", True, "host: example.com"), "port": Field("int", lo=1, hi=65535)}
_SCHEMA: dict[str, Field] = {
    "name": Field("str", True, "name: my-server"), "description": Field("str"), "target": Field("str"),
    "optimize": Field("choice", choices=OPTIMIZE_LEVELS), "verify": Field("choice", choices=("required", "none")),
    "allow_insecure": Field("bool"), "clock": Field("choice", choices=CLOCKS),
    "app": Field("any"),           # a protocol name, or a mapping of _APP
    "part": Field("str"), "transport": Field("choice", choices=TRANSPORTS),
    "server": Field("map", True, "server: {host: example.com, port: 443}", fields=_SERVER),
    "tls": Field("map", True, "tls: {versions: ['1.2'], ciphersuites: [...]}", fields=_TLS),
    "trust": Field("map", fields=_TRUST),
    "budget": Field("map", fields={"rom": Field(), "ram": Field()}),
    "build": Field("map", fields={"lto": Field("bool")}),
    "tuning": Field("map"),        # keys: the knowledge base's knobs (checked in _tuning)
}
_TOP_HINT = (" (keys are words like 'name' or 'server'); is this a tlsfit profile (name:, server:, tls: ...)?")


def _line(node: yaml.Node) -> int:
    return line_of(node)


def _reader(path: Path) -> Reader:
    return Reader(path, ProfileError, top_hint=_TOP_HINT, max_list=MAX_LIST_LEN, max_string=MAX_STRING_LEN)


def load_profile(path: Path, knowledge: Knowledge) -> Profile:
    """Load, validate and normalise the profile at `path` (errors name `path` as given)."""
    kb = knowledge
    r = _reader(path)
    try:
        text = read_text(path, "profile", MAX_PROFILE_BYTES)
    except InputFileError as exc:
        raise ProfileError(exc.path, exc.line, exc.message) from None
    root = compose(text, path, ProfileError, "profile")
    if root is None:
        raise ProfileError(path, 1, "profile is empty; start with 'name: my-server'")
    if not isinstance(root, yaml.MappingNode):
        raise ProfileError(path, _line(root), "this is not a tlsfit profile (a YAML mapping of name:, server:, "
                           "tls: ...)")
    top = r.mapping(root, "", _SCHEMA)
    return _build(r, kb, path, root, top)


def _build(r: Reader, kb: Knowledge, path: Path, root: yaml.Node, top: Entries) -> Profile:
    name_node = r.node(top, "name", "", _SCHEMA)
    name = r.string(name_node, "name", MAX_NAME_LEN)
    if not NAME_PATTERN.match(name):
        raise r.fail(name_node, f"name '{name}' must match [a-z0-9-]+ (lower-case letters, digits, '-'); "
                     f"try '{re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-') or 'my-server'}'")
    description = _description(r, top["description"][1]) if "description" in top else ""
    target = r.string(top["target"][1], "target", MAX_NAME_LEN) if "target" in top else "mps2-an386"
    if not NAME_PATTERN.match(target):
        raise r.fail(top["target"][1], f"target {excerpt(target)} must match [a-z0-9-]+ (a board folder name)")
    target_where = f"{path}:{_line(top['target'][1])}" if "target" in top else None
    optimize = r.get(top, "optimize", "", _SCHEMA, "size")
    verify = r.get(top, "verify", "", _SCHEMA, "required")
    allow_insecure = r.get(top, "allow_insecure", "", _SCHEMA, False)
    clock = r.get(top, "clock", "", _SCHEMA, "none")
    part = _part(r, top["part"][1]) if "part" in top else None
    build = r.get(top, "build", "", _SCHEMA, {})
    lto = r.get(build, "lto", "build", _SCHEMA["build"].fields or {}, False)
    app = _app(r, top["app"][1]) if "app" in top else None

    server = r.get(top, "server", "", _SCHEMA)
    host = _host(r, kb, r.node(server, "host", "server", _SERVER))
    port = r.get(server, "port", "server", _SERVER, 443)

    tls = r.get(top, "tls", "", _SCHEMA)
    versions_node = r.node(tls, "versions", "tls", _TLS)
    versions = _versions(r, versions_node)
    suites_node = r.node(tls, "ciphersuites", "tls", _TLS)
    suites = r.names(suites_node, "tls.ciphersuites", kb.suites, "ciphersuite")
    if not suites:
        raise r.fail(suites_node, "'tls.ciphersuites' is empty; list at least one IANA ciphersuite name")
    groups = r.names(tls["groups"][1], "tls.groups", kb.groups, "group") if "groups" in tls else []
    offer_groups = _offer_groups(r, kb, tls["offer_groups"][1], groups) if "offer_groups" in tls else ()
    sigalgs = (r.names(tls["signature_algorithms"][1], "tls.signature_algorithms", kb.signature_algorithms,
                       "signature algorithm", kb.unsupported_signature_algorithms)
               if "signature_algorithms" in tls else [])
    mfl = None
    if "max_fragment_length" in tls and r.scalar(tls["max_fragment_length"][1], "tls.max_fragment_length") is not None:
        node = tls["max_fragment_length"][1]
        value = r.scalar(node, "tls.max_fragment_length")
        if value not in MFL_VALUES or isinstance(value, bool):
            raise r.fail(node, f"'tls.max_fragment_length' is {value!r}; use one of 512, 1024, 2048, 4096 or null")
        mfl = int(value)
    buffers = None
    if "buffers" in tls:
        b = r.get(tls, "buffers", "tls", _TLS)
        buffers = Buffers(in_len=r.get(b, "in", "tls.buffers", _BUFFERS),
                          out_len=r.get(b, "out", "tls.buffers", _BUFFERS))
    alpn = [r.ascii_string(item, "tls.alpn", 255) for item in r.sequence(tls["alpn"][1], "tls.alpn")] \
        if "alpn" in tls else []
    resumption = r.get(tls, "resumption", "tls", _TLS, "none")
    client_cert = _client_certificate(r, kb, path, tls) if "client_certificate" in tls else None
    psk = _psk(r, kb, tls, mfl, buffers) if "psk" in tls else None

    trust = r.get(top, "trust", "", _SCHEMA, {})
    ca_files = _ca_files(r, path, trust["ca_files"][1]) if "ca_files" in trust else []
    trust_format = r.get(trust, "format", "trust", _TRUST, "der")
    chain_node = trust["chain"][1] if "chain" in trust else None
    chain = _chain(r, kb, trust["chain"]) if chain_node is not None else None
    budget = _budget(r, top["budget"][1]) if "budget" in top else None

    ctx = _Semantics(r=r, kb=kb, top=top, tls=tls, trust=trust, versions=versions, versions_node=versions_node,
                     suites=suites, groups=groups, sigalgs=sigalgs, psk=psk, ca_files=ca_files,
                     verify=verify, allow_insecure=allow_insecure)
    chain = ctx.check(chain, chain_node)
    ctx.check_fragments(mfl, buffers, client_cert)
    insecure = _insecure_choices(r, top, verify, allow_insecure, suites, sigalgs, psk, kb,
                                 tls["psk"] if "psk" in tls else None)
    transport = r.get(top, "transport", "", _SCHEMA, "tcp")
    dtls = _dtls(r, top, tls, transport, versions, versions_node)
    if app is not None and app.protocol == "coap" and transport != "udp":
        raise r.fail(top["app"][1], "app: coap is CoAP over DTLS; add 'transport: udp' or choose another app")
    cert_used = ctx.certificate_kinds() != set()
    sni = r.get(tls, "sni", "tls", _TLS, cert_used)

    return Profile(
        path=path.resolve(), name=name, description=description, host=host, port=port,
        versions=versions, ciphersuites=tuple(n for n, _ in suites), groups=tuple(n for n, _ in groups),
        signature_algorithms=tuple(n for n, _ in sigalgs), max_fragment_length=mfl, buffers=buffers,
        sni=sni, alpn=tuple(alpn), resumption=resumption, client_certificate=client_cert, psk=psk,
        ca_files=tuple(p for p, _ in ca_files), chain=chain, verify=verify, allow_insecure=allow_insecure,
        target=target, budget=budget, optimize=optimize, trust_format=trust_format,
        ca_key_types=tuple(ca_key_type(p) for p, _ in ca_files), clock=clock, app=app,
        suites=suite_facts(tuple(n for n, _ in suites), kb), part=part, transport=transport, dtls=dtls,
        lto=lto, tuning=_tuning(r, kb, top["tuning"][1], tuple(n for n, _ in groups), mfl) if "tuning" in top else (),
        insecure=insecure, target_where=target_where, offer_groups=offer_groups)


DTLS_VERSIONS = ("1.2",)          # mbedTLS 3.6 speaks DTLS 1.2 only
MIN_MTU = 256                     # below this not even a PSK ClientHello fits one datagram
MAX_RETRANSMIT_MS = 600_000
_DTLS_KEYS = ("connection_id", "retransmit", "mtu")


def _dtls(r: Reader, top: Entries, tls: Entries,
          transport: str, versions: tuple[str, ...], versions_node: yaml.Node) -> Dtls | None:
    """The DTLS settings of a transport: udp profile; None (and no DTLS key allowed) for tcp."""
    if transport != "udp":
        for key in _DTLS_KEYS:
            if key in tls:
                raise r.fail(tls[key][0], f"tls.{key} is a DTLS setting; add 'transport: udp' or remove it")
        return None
    if not set(versions) & set(DTLS_VERSIONS):
        raise r.fail(versions_node, "transport: udp speaks DTLS and mbedTLS 3.6 has DTLS 1.2 only; "
                     "use versions: [\"1.2\"] or transport: tcp")
    if set(versions) - set(DTLS_VERSIONS):
        raise r.fail(versions_node, "transport: udp: mbedTLS 3.6 has no DTLS 1.3; remove \"1.3\" from tls.versions")
    cid = r.boolean(tls["connection_id"][1], "tls.connection_id") if "connection_id" in tls else False
    lo, hi = 1000, 60000
    if "retransmit" in tls:
        key_node, node = tls["retransmit"]
        m = r.mapping(node, "tls.retransmit", _RETRANSMIT, key_node)
        if "min_ms" in m:
            lo = r.integer(m["min_ms"][1], "tls.retransmit.min_ms", 1, MAX_RETRANSMIT_MS)
        if "max_ms" in m:
            hi = r.integer(m["max_ms"][1], "tls.retransmit.max_ms", 1, MAX_RETRANSMIT_MS)
        if hi < lo:
            raise r.fail(key_node, f"tls.retransmit: max_ms ({hi}) is below min_ms ({lo}); the timeout doubles "
                         "from min_ms up to max_ms")
    mtu = r.integer(tls["mtu"][1], "tls.mtu", MIN_MTU, MAX_CONTENT_LEN) if "mtu" in tls else None
    return Dtls(connection_id=cid, retransmit_min_ms=lo, retransmit_max_ms=hi, mtu=mtu)


def _offer_groups(r: Reader, kb: Knowledge, node: yaml.Node, groups: list[tuple[str, yaml.Node]]) -> tuple[str, ...]:
    """tls.offer_groups: the ClientHello's supported_groups exactly, in order, instead of tlsfit's rule
    (the key-exchange group, then the certificates' curves TLS 1.2 needs). It must keep at least one
    group the server accepts for its key exchange."""
    offered = r.names(node, "tls.offer_groups", kb.groups, "group")
    names = tuple(n for n, _ in offered)
    accepted = {n for n, _ in groups}
    if not names:
        raise r.fail(node, "'tls.offer_groups' is empty; remove it to let tlsfit choose, or list groups")
    if accepted and not accepted & set(names):
        raise r.fail(node, f"'tls.offer_groups' ({', '.join(names)}) offers no group of tls.groups "
                           f"({', '.join(sorted(accepted))}), the ones the server accepts for its key exchange; "
                           "add one of them")
    return names


def _tuning(r: Reader, kb: Knowledge, node: yaml.Node, groups: tuple[str, ...],
            max_fragment_length: int | None) -> tuple[tuple[str, str], ...]:
    """`tuning:` knob -> setting over the optimize level's choices (knowledge base knobs:)."""
    m = r.mapping(node, "tuning", {name: Field() for name in kb.knobs})
    out = []
    for key, (_, value_node) in m.items():
        if kb.knobs[key].kind == "fragment" and max_fragment_length is None:
            raise r.fail(value_node, f"'tuning.{key}' asks for a max_fragment_length, but the profile has no "
                         "tls.max_fragment_length (so the server is not known to honour one): add it, or remove "
                         f"tuning.{key}")
        try:
            out.append((key, normalise_setting(kb.knobs[key], r.scalar(value_node, f"tuning.{key}"), groups)))
        except ValueError as exc:
            raise r.fail(value_node, f"'tuning.{key}' is {excerpt(r.scalar(value_node, f'tuning.{key}'))}: "
                         f"{exc}") from None
    return tuple(sorted(out))


def _part(r: Reader, node: yaml.Node) -> str:
    """A catalogue part's name, or the part's fields as text find_part reads (generator/parts.py)."""
    try:
        return part_field(node, r.path)
    except LocatedError as exc:
        raise r.fail(exc.line, exc.message) from None


def suite_facts(names: tuple[str, ...], kb: Knowledge) -> tuple[SuiteFacts, ...]:
    """The knowledge base's facts for each named suite (a TLS 1.3 suite's certificate: "any")."""
    out = []
    for name in names:
        suite = kb.suites[name]
        kx = kb.key_exchanges.get(suite.key_exchange)
        out.append(SuiteFacts(name=name, tls13=kx is None, psk=bool(kx and kx.psk),
                              certificate=kx.certificate if kx else "any"))
    return tuple(out)


def _app(r: Reader, node: yaml.Node) -> App:
    if isinstance(node, yaml.ScalarNode):
        return App(protocol=r.choice(node, "app", APPS))
    m = r.mapping(node, "app", _APP)
    protocol = r.get(m, "protocol", "app", _APP)
    client_id = r.string(m["client_id"][1], "app.client_id") if "client_id" in m else ""
    if len(client_id.encode()) > 23 or not printable_ascii(client_id):
        raise r.fail(m["client_id"][1], "'app.client_id' must be 1 to 23 printable characters (MQTT 3.1.1)")
    path = r.string(m["path"][1], "app.path") if "path" in m else "/"
    if not path.startswith("/") or not printable_ascii(path) or " " in path or len(path) > 200:
        raise r.fail(m["path"][1], "'app.path' must start with '/' and be at most 200 printable ASCII "
                     "characters without spaces")
    return App(protocol=protocol, client_id=client_id, path=path)


def _versions(r: Reader, node: yaml.Node) -> tuple[str, ...]:
    seen: list[str] = []
    for item in r.sequence(node, "tls.versions"):
        value = r.scalar(item, "tls.versions")
        text = f"{value:.1f}" if isinstance(value, float) else str(value)  # 1.2 written unquoted
        if text not in VERSIONS:
            raise r.fail(item, f"TLS version {value!r} is not supported; use \"1.2\" and/or \"1.3\"")
        if text not in seen:
            seen.append(text)
    if not seen:
        raise r.fail(node, "'tls.versions' is empty; list \"1.2\" and/or \"1.3\"")
    return tuple(v for v in VERSIONS if v in seen)


def _description(r: Reader, node: yaml.Node) -> str:
    value = r.string(node, "description", MAX_DESCRIPTION_LEN)
    if not value.isprintable():
        raise r.fail(node, f"'description' must be one line of at most {MAX_DESCRIPTION_LEN} printable "
                     "characters (no line breaks or control characters)")
    return value


def _host(r: Reader, kb: Knowledge, node: yaml.Node) -> str:
    host = r.string(node, "server.host", min(MAX_HOST_LEN, kb.limit("max_host_name_len")))
    problem = host_problem(host)
    if problem is not None:
        raise r.fail(node, f"'server.host' {excerpt(host)} is not valid: {problem}")
    return host


def _psk(r: Reader, kb: Knowledge, tls: Entries, mfl: int | None,
         buffers: Buffers | None) -> Psk:
    key_node, node = tls["psk"]
    m = r.mapping(node, "tls.psk", _PSK, key_node)
    id_node = r.node(m, "identity", "tls.psk", _PSK)
    # mbedTLS refuses an identity longer than its output record buffer (and than 2 length bytes)
    out_len = buffers.out_len if buffers is not None else (mfl or kb.buffers.out_default)
    limit = min(kb.limit("psk_identity_max"), out_len - kb.buffers.handshake_overhead)
    value = r.scalar(id_node, "tls.psk.identity")
    if isinstance(value, str) and len(value) > limit:
        raise r.fail(id_node, f"'tls.psk.identity' is {len(value):,} characters; mbedTLS sends at most {limit} "
                     f"here (its limit, and the {out_len}-byte output record buffer); shorten it")
    identity = r.ascii_string(id_node, "tls.psk.identity", limit)
    hex_node = r.node(m, "key", "tls.psk", _PSK)
    r.scalar(hex_node, "tls.psk.key")
    text = hex_node.value
    if len(text) > 128:
        raise r.fail(hex_node, f"'tls.psk.key' is {len(text):,} characters; use 1 to 64 bytes (2 to 128 hex digits)")  # raw text: digits-only keys must keep their leading zeros
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text):
        raise r.fail(hex_node, "'tls.psk.key' must be an even number of hex digits (e.g. 00112233...), "
                     "quoted if it starts with a digit")
    key = bytes.fromhex(text)
    if not 1 <= len(key) <= 64:
        raise r.fail(hex_node, f"'tls.psk.key' is {len(key)} bytes; use 1 to 64 bytes (16 or 32 is usual)")
    return Psk(identity=identity, key=key)


def _insecure_choices(r: Reader, top: Entries, verify: str, allow_insecure: bool,
                      suites: list[tuple[str, yaml.Node]], sigalgs: list[tuple[str, yaml.Node]],
                      psk: Psk | None, kb: Knowledge, psk_entry: tuple[yaml.Node, yaml.Node] | None
                      ) -> tuple[str, ...]:
    """What the profile chooses that an attacker can break: each refused unless allow_insecure: true,
    and then named (the generated header's opening comment lists them)."""
    found: list[tuple[yaml.Node, str, str]] = []   # (node, what it is, how to fix)
    if verify == "none":
        found.append((top["verify"][1], "verify: none: the server certificate is not verified", ""))
    for name, node in suites:
        if kb.suites[name].cipher == kb.null_cipher:
            found.append((node, f"{name}: NULL cipher, the traffic is not encrypted", ""))
    for name, node in sigalgs:
        alg = kb.signature_algorithms[name]
        why = kb.hashes[alg.hash].insecure
        if why:
            instead = next((n for n, a in kb.signature_algorithms.items()
                            if a.key == alg.key and not kb.hashes[a.hash].insecure), None)
            found.append((node, f"signature algorithm {name}: {why}",
                          f"use {instead} instead" if instead else "remove it"))
    if psk is not None and psk_entry is not None:
        hex_node = r.mapping(psk_entry[1], "tls.psk", _PSK, psk_entry[0])["key"][1]
        if len(psk.key) < MIN_PSK_BYTES:
            found.append((hex_node, f"tls.psk.key is {len(psk.key)} byte{'s' if len(psk.key) != 1 else ''}: "
                          "a key this short is guessed offline from one recorded handshake",
                          f"use a random key of at least {MIN_PSK_BYTES} bytes"))
        elif len(set(psk.key)) == 1:
            found.append((hex_node, f"tls.psk.key is one byte (0x{psk.key[0]:02x}) repeated: anyone can guess it",
                          "use a random key"))
    if not allow_insecure:
        # verify: none and NULL suites keep their own refusals (_Semantics.check)
        for node, what, fix in found:
            if fix:
                raise r.fail(node, f"{what}; {fix}, or add 'allow_insecure: true' if that is really intended")
    return tuple(what for _, what, _ in found)


def _client_certificate(r: Reader, kb: Knowledge, path: Path,
                        tls: Entries) -> ClientCertificate:
    key_node, node = tls["client_certificate"]
    m = r.mapping(node, "tls.client_certificate", _CLIENT_CERTIFICATE, key_node)
    kt_node = r.node(m, "key", "tls.client_certificate", _CLIENT_CERTIFICATE)
    key_type = r.string(kt_node, "tls.client_certificate.key")
    if key_type not in kb.key_types:
        raise r.fail(kt_node, f"unknown key type {excerpt(key_type)} in 'tls.client_certificate.key'"
                     f"{suggest(key_type, kb.key_types) or '; use one of: ' + ', '.join(kb.key_types)}")
    cert_file = key_file = None
    if "cert" in m:
        cert_file = _existing_file(r, path, m["cert"][1], "tls.client_certificate.cert")
        _check_x509(r, m["cert"][1], cert_file)
    key_env = None
    if "key_file" in m:
        env = _ENV_REFERENCE.fullmatch(r.string(m["key_file"][1], "tls.client_certificate.key_file", MAX_PATH_LEN))
        if env:   # the device key stays out of the repository: its path comes from the environment
            key_env = env.group(1)
        else:
            key_file = _existing_file(r, path, m["key_file"][1], "tls.client_certificate.key_file")
    if (cert_file is None) != (key_file is None and key_env is None):
        raise r.fail(key_node, "give both 'cert' and 'key_file' for a real device identity, or neither "
                     "(the reference server's test PKI then issues one)")
    return ClientCertificate(key=key_type, cert_file=cert_file, key_file=key_file, key_env=key_env)


def _existing_file(r: Reader, path: Path, node: yaml.Node, where: str) -> Path:
    rel = r.string(node, where, MAX_PATH_LEN)
    if "\0" in rel:
        raise r.fail(node, f"'{where}' holds a NUL character; give a file name")
    looked = path.parent / rel
    try:
        check_regular(looked, "file", MAX_CERT_FILE_BYTES)
    except InputFileError as exc:
        # "no such file" / "is a directory" / "is not a regular file" / "symbolic link loop"
        reason = exc.message.replace("cannot read file: ", "").split("; ")[0].replace("file is ", "is ")
        if reason == "no such file":
            reason = "not found"
        elif not reason.startswith("is "):
            reason = f"cannot be read: {reason}"
        raise r.fail(node, f"file {excerpt(rel, 80)} {reason} (looked in {looked}); "
                     "paths are relative to the profile file") from None
    try:
        return looked.resolve()
    except (OSError, RuntimeError) as exc:
        raise r.fail(node, f"'{where}' entry {excerpt(rel)}: cannot resolve the path ({exc})") from None


def _ca_files(r: Reader, path: Path, node: yaml.Node) -> list[tuple[Path, yaml.Node]]:
    out = []
    for item in r.sequence(node, "trust.ca_files"):
        file = _existing_file(r, path, item, "trust.ca_files")
        _check_x509(r, item, file)
        out.append((file, item))
    return out


def client_certificate_message(kb: Knowledge, cert: ClientCertificate) -> int:
    """Bytes of the client's Certificate handshake message: the device's certificate file(s) when
    given, else a certificate of its key type (the test PKI's size, kb key_types.cert_bytes)."""
    body = kb.key_types[cert.key].cert_bytes + 3
    if cert.cert_file is not None:
        body = sum(len(der) + 3 for der in _certificates_der(cert.cert_file)) or body
    return kb.buffers.handshake_overhead + body


def _certificates_der(file: Path) -> list[bytes]:
    """Each certificate of a PEM file (DER bytes), or the file itself when it is DER."""
    data = file.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return [data]
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", data, re.S)
    out = []
    for block in blocks:
        try:
            out.append(base64.b64decode(b"".join(block.split()), validate=True))
        except binascii.Error:
            continue
    return out


def _check_x509(r: Reader, node: yaml.Node, file: Path) -> None:
    if ca_key_type(file) is None and not _x509_parses(file):
        raise r.fail(node, f"{excerpt(node.value)} is not an X.509 certificate (PEM or DER) that openssl can read; "
                     "export the CA certificate itself, not a key or a bundle index")


def _openssl_x509(file: Path, inform: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "x509", "-noout", "-inform", inform, "-in", str(file), *args],
                          capture_output=True, text=True, timeout=OPENSSL_TIMEOUT_S, check=False)


def _x509_parses(file: Path) -> bool:
    return any(_openssl_x509(file, inform).returncode == 0 for inform in ("PEM", "DER"))


def ca_key_type(file: Path) -> str | None:
    """Key type of a certificate's public key ("rsa2048", "secp256r1", ...), or None if unreadable/unknown."""
    stat = file.stat()
    return _ca_key_type_cached(file.resolve(), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _ca_key_type_cached(file: Path, _mtime: int, _size: int) -> str | None:
    for inform in ("PEM", "DER"):
        done = _openssl_x509(file, inform, "-text")
        if done.returncode != 0:
            continue
        return key_type_from_text(done.stdout)
    return None


def _chain(r: Reader, kb: Knowledge, entry: tuple[yaml.Node, yaml.Node]) -> ChainShape:
    key_node, node = entry
    m = r.mapping(node, "trust.chain", _CHAIN, key_node)

    def key_type(n: yaml.Node, where: str) -> str:
        value = r.string(n, where)
        if value not in kb.key_types:
            raise r.fail(n, f"unknown key type {excerpt(value)} in '{where}'"
                         f"{suggest(value, kb.key_types) or '; use one of: ' + ', '.join(kb.key_types)}")
        return value

    root = key_type(r.node(m, "root", "trust.chain", _CHAIN), "trust.chain.root")
    leaf = key_type(r.node(m, "leaf", "trust.chain", _CHAIN), "trust.chain.leaf")
    inter_nodes = r.sequence(m["intermediates"][1], "trust.chain.intermediates") if "intermediates" in m else []
    most = kb.limit("max_intermediate_ca")
    if len(inter_nodes) > most:
        raise r.fail(m["intermediates"][1], f"'trust.chain.intermediates' lists {len(inter_nodes)} intermediate CAs; "
                     f"mbedTLS {kb.mbedtls_version} verifies chains of at most {most}; shorten the chain")
    inter = tuple(key_type(n, "trust.chain.intermediates") for n in inter_nodes)
    return ChainShape(root=root, intermediates=inter, leaf=leaf)


def _budget(r: Reader, node: yaml.Node) -> Budget:
    m = r.mapping(node, "budget", _SCHEMA["budget"].fields)

    def limit(key: str) -> int | None:
        if key not in m or r.scalar(m[key][1], f"budget.{key}") is None:
            return None
        return r.integer(m[key][1], f"budget.{key}", 1, 1 << 31)
    return Budget(rom=limit("rom"), ram=limit("ram"))


@dataclass
class _Semantics:
    """Cross-field refusals: each raises at the line of the key that is wrong."""
    r: Reader
    kb: Knowledge
    top: Entries
    tls: Entries
    trust: Entries
    versions: tuple[str, ...]
    versions_node: yaml.Node
    suites: list[tuple[str, yaml.Node]]
    groups: list[tuple[str, yaml.Node]]
    sigalgs: list[tuple[str, yaml.Node]]
    psk: Psk | None
    ca_files: list[tuple[Path, yaml.Node]]
    verify: str
    allow_insecure: bool

    def certificate_kinds(self) -> set[str]:
        """Leaf key kinds the suites accept from the server ("rsa"/"ec"; "any" for TLS 1.3)."""
        kinds: set[str] = set()
        for name, _ in self.suites:
            suite = self.kb.suites[name]
            if "1.3" in suite.versions:
                if self.psk is None or self.ca_files or "chain" in self.trust:
                    kinds.add("any")
            else:
                kx = self.kb.key_exchanges[suite.key_exchange]
                if kx.certificate:
                    kinds.add(kx.certificate)
        return kinds

    def leaf_signs(self) -> bool:
        """Whether the server's leaf key signs the handshake (TLS 1.3, or (EC)DHE with a certificate).

        RSA key transport and static ECDH only use the leaf key to decrypt or agree, so then no
        signature algorithm for the leaf's own key type is needed.
        """
        for name, _ in self.suites:
            suite = self.kb.suites[name]
            if "1.3" in suite.versions:
                return True
            kx = self.kb.key_exchanges[suite.key_exchange]
            if kx.certificate and kx.ephemeral in ("ecdhe", "ffdhe"):
                return True
        return False

    def check(self, chain: ChainShape | None, chain_node: yaml.Node | None) -> ChainShape | None:
        r, kb = self.r, self.kb
        if self.verify == "none" and not self.allow_insecure:
            raise r.fail(self.top["verify"][1], "verify: none accepts any server (no certificate check); "
                         "add 'allow_insecure: true' if that is really intended, or remove 'verify: none'")
        for version in self.versions:
            if not any(version in kb.suites[n].versions for n, _ in self.suites):
                raise r.fail(self.versions_node, f"tls.versions allows TLS {version} but no ciphersuite is a "
                             f"TLS {version} suite; add one or remove \"{version}\"")
        for name, node in self.suites:
            suite = kb.suites[name]
            if not set(suite.versions) & set(self.versions):
                want = "/".join(suite.versions)
                raise r.fail(node, f"{name} is a TLS {want} suite but tls.versions allows only "
                             f"{', '.join(self.versions)}; add \"{suite.versions[0]}\" to tls.versions or remove the suite")
            self._check_suite(name, node)
        for name, node in self.groups:
            group = kb.groups[name]
            if not set(group.versions) & set(self.versions):
                raise r.fail(node, f"group {name} is usable with TLS {'/'.join(group.versions)} only in mbedTLS 3.6 "
                             f"as configured by tlsfit; remove it or allow that version")
        kinds = self.certificate_kinds()
        if not kinds:
            return None
        has_trust = bool(self.ca_files) or chain is not None
        if not has_trust and self.verify == "required":
            node = self._first_cert_suite()
            raise r.fail(node, f"{node.value} authenticates the server with a certificate, but the profile gives "
                         "nothing to trust; add trust.ca_files (the server's root CA) or trust.chain "
                         "(the test PKI shape), or set verify: none with allow_insecure: true")
        if chain is None:
            chain = self._default_chain(kinds)
        else:
            self._check_leaf(chain, kinds, chain_node)
        self._check_sigalgs(chain, chain_node)
        return chain

    def _first_cert_suite(self) -> yaml.Node:
        for name, node in self.suites:
            suite = self.kb.suites[name]
            if "1.3" in suite.versions or self.kb.key_exchanges[suite.key_exchange].certificate:
                return node
        return self.suites[0][1]

    def _check_suite(self, name: str, node: yaml.Node) -> None:
        r, kb = self.r, self.kb
        suite = kb.suites[name]
        if suite.cipher == kb.null_cipher and not self.allow_insecure:
            raise r.fail(node, f"{name} does not encrypt (NULL cipher): anyone on the path reads the traffic; "
                         "choose an AEAD suite, or add 'allow_insecure: true' if that is really intended")
        usable = [g for g, _ in self.groups if set(kb.groups[g].versions) & set(suite.versions)]
        if "1.3" in suite.versions:
            needs_group = self.psk is None or self.ca_files or "chain" in self.trust
            if needs_group and not any(kb.groups[g].kind == "ecdhe" for g in usable):
                raise r.fail(node, f"{name} needs an (EC)DHE key share but tls.groups has no elliptic-curve group "
                             "usable with TLS 1.3; add e.g. 'groups: [secp256r1]' or 'x25519'")
            return
        kx = kb.key_exchanges[suite.key_exchange]
        if kx.psk and self.psk is None:
            raise r.fail(node, f"{name} is a PSK suite but the profile has no tls.psk; add "
                         "'psk: {identity: ..., key: <hex>}' or use a certificate suite")
        if kx.ephemeral in ("ecdhe", "static_ecdh") and not any(kb.groups[g].kind == "ecdhe" for g in usable):
            have = ", ".join(g for g, _ in self.groups) or "none"
            raise r.fail(node, f"{name} uses {kx.label} but tls.groups ({have}) has no elliptic-curve group for "
                         "TLS 1.2; add e.g. secp256r1 to tls.groups")

    def _default_chain(self, kinds: set[str]) -> ChainShape:
        wanted = {"rsa": "rsa2048", "ec": "secp256r1"}
        root = ca_key_type(self.ca_files[0][0]) if self.ca_files else None
        root_kind = self.kb.key_types[root].kind if root in self.kb.key_types else None
        if "any" in kinds or root_kind in kinds:
            leaf = root if root in self.kb.key_types else wanted["rsa" if "rsa" in kinds else "ec"]
        else:
            leaf = wanted["rsa" if "rsa" in kinds else "ec"]
        return ChainShape(root=root if root in self.kb.key_types else leaf, intermediates=(), leaf=leaf)

    def _check_leaf(self, chain: ChainShape, kinds: set[str], chain_node: yaml.Node | None) -> None:
        leaf_kind = self.kb.key_types[chain.leaf].kind
        if "any" not in kinds and leaf_kind not in kinds:
            node = self.r.mapping(chain_node, "trust.chain", _CHAIN)["leaf"][1]
            raise self.r.fail(node, f"trust.chain.leaf is {chain.leaf} ({leaf_kind.upper()}) but the ciphersuites "
                              f"need a server certificate with an {' or '.join(sorted(k.upper() for k in kinds))} key; "
                              "change the leaf key type or the ciphersuites")

    def _check_sigalgs(self, chain: ChainShape, chain_node: yaml.Node | None) -> None:
        r, kb = self.r, self.kb
        where = self.tls["signature_algorithms"][1] if "signature_algorithms" in self.tls else (
            self.top["tls"][0])
        tls13_only = self.versions == ("1.3",)
        algs = [kb.signature_algorithms[n] for n, _ in self.sigalgs]
        levels = [("root", chain.root), *((f"intermediate {i + 1}", k) for i, k in enumerate(chain.intermediates))]
        if self.leaf_signs():
            levels.append(("leaf", chain.leaf))
        for level, key_name in levels:
            kt = kb.key_types[key_name]
            ok = [a for a in algs if a.key == kt.kind and (not tls13_only or a.curve in (None, kt.curve))]
            if level == "leaf" and tls13_only:
                ok = [a for a in ok if "1.3" in a.handshake]
            if not ok:
                hint = ("rsa_pss_rsae_sha256" if tls13_only else "rsa_pkcs1_sha256") if kt.kind == "rsa" else (
                    f"ecdsa_{kt.curve}_sha{ {256: 256, 384: 384, 521: 512}[kt.bits] }")
                listed = ", ".join(n for n, _ in self.sigalgs) or "none"
                raise r.fail(where, f"tls.signature_algorithms ({listed}) cannot verify the chain's {level} key "
                             f"{key_name}; add {hint.replace(' ', '')}")

    def check_fragments(self, mfl: int | None, buffers: Buffers | None,
                        client_cert: ClientCertificate | None = None) -> None:
        r = self.r
        if client_cert is not None:
            need = client_certificate_message(self.kb, client_cert)
            what = (f"the client Certificate message (~{need:,} bytes: "
                    + (f"{client_cert.cert_file.name}" if client_cert.cert_file else f"a {client_cert.key} certificate")
                    + ")")
            if buffers is not None and buffers.out_len < need:
                node = self.tls["buffers"][1]
                raise r.fail(node, f"tls.buffers.out {buffers.out_len} cannot carry {what}: mbedTLS writes a "
                                   f"handshake message whole; make it at least {-(-need // 512) * 512}")
            if mfl is not None and mfl < need:
                fits = [v for v in MFL_VALUES if v >= need]
                raise r.fail(self.tls["max_fragment_length"][1],
                             f"max_fragment_length {mfl} cannot carry {what}: mbedTLS does not split an "
                             "outgoing TLS handshake message over records; "
                             + (f"use {fits[0]} or more" if fits else "remove max_fragment_length"))
        if mfl is not None and "1.2" not in self.versions:
            raise r.fail(self.tls["max_fragment_length"][1],
                         "max_fragment_length (RFC 6066) is TLS 1.2 only and mbedTLS ignores it in TLS 1.3; "
                         "remove it and size records with tls.buffers instead")
        if mfl is not None and buffers is not None and min(buffers.in_len, buffers.out_len) < mfl:
            raise r.fail(self.tls["buffers"][1], f"tls.buffers ({buffers.in_len}/{buffers.out_len}) are smaller "
                         f"than the negotiated max_fragment_length {mfl}; make both at least {mfl}")

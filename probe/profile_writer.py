"""Probe findings -> the cheapest choice among what the server accepts -> commented profile text.

generator/costs.py reads generator/data/costs.yaml (cost hints, each marked measured or
estimate); `decide` picks one version, suite, group and the signature
algorithms the chain and handshake need; `render_profile` returns the YAML
text, written through generator/profile_doc.py (the one profile writer). Pure functions: nothing here runs a client or writes a file.
"""
from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import yaml

from generator.costs import Cost, Costs
from generator.knowledge import Knowledge
from generator.profile_doc import ProfileDoc, quoted
from probe import ProbeError
from probe.chain import ChainInfo, certificate_sigalg
from probe.scan import ScanResult

RECORD_HEADER_BYTES = 4   # handshake message header (type + 24-bit length)
BUFFER_ROUND = 512


@dataclass(frozen=True)
class Decisions:
    version: str
    suite: str
    group: str | None
    groups: tuple[str, ...]               # the key-exchange group(s) the server accepts
    handshake_sigalg: str | None
    sigalgs: tuple[str, ...]              # handshake first, then what the chain's certificates need
    mfl: int | None
    buffers: tuple[int, int] | None       # (in, out) when MFL lets them shrink
    reasons: tuple[str, ...]              # comment lines, one per choice
    client_key: str | None = None         # mutual TLS: the key type assumed for the device's certificate
    client_note: str = ""                 # the comment beside client_certificate: the CAs the server accepts


def sanitize_name(host: str) -> str:
    """Profile name ([a-z0-9-]+) from a host name or address."""
    name = re.sub(r"[^a-z0-9-]+", "-", host.lower()).strip("-")
    return name or "probed-server"


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _suite_cost(kb: Knowledge, costs: Costs, name: str) -> tuple[float, ...]:
    s = kb.suites[name]
    kx = costs.get("key_exchanges", s.key_exchange).cost if "1.2" in s.versions else 0.0
    return (kx, costs.get("ciphers", s.cipher).cost, costs.get("hashes", s.mac).cost)


def _label(c: Cost) -> str:
    return f"{c.source}: {c.why}"


PREFERENCES = ("security", "size")   # probe --prefer: forward secrecy first, or the smallest build


def _forward_secret(kb: Knowledge, suite: str) -> bool:
    """TLS 1.3 always; TLS 1.2 with an ephemeral (EC)DHE key exchange."""
    s = kb.suites[suite]
    if s.key_exchange == kb.no_key_exchange:
        return True
    return kb.key_exchanges[s.key_exchange].ephemeral in ("ecdhe", "ffdhe")


def _check_chain_fits(scan: ScanResult, chain: ChainInfo, kb: Knowledge) -> None:
    """ProbeError (exit 3) when no mbedTLS client can take this server's chain, whatever the profile."""
    deepest = kb.limit("max_intermediate_ca")
    if len(chain.intermediates) > deepest:
        raise ProbeError(f"the server's chain cannot be handled by mbedTLS: {len(chain.intermediates)} intermediate "
                         f"CAs, more than the {deepest} mbedTLS verifies (its x509 intermediate-CA limit); the "
                         "server must send a shorter chain")
    need = scan.max_handshake_message + RECORD_HEADER_BYTES + kb.buffers.handshake_overhead
    if need > kb.buffers.full_record:
        raise ProbeError(f"the server's chain cannot be handled by mbedTLS: its largest handshake message (the "
                         f"Certificate chain) is {scan.max_handshake_message:,} bytes, and mbedTLS reassembles a "
                         f"handshake message in its input buffer, at most {kb.buffers.full_record:,} bytes of "
                         "content; the server must send a shorter chain")


def decide(scan: ScanResult, chain: ChainInfo, kb: Knowledge, costs: Costs,
           prefer: str = "security") -> Decisions:
    """Cheapest version, suite, group and signature algorithms among those the server accepted.

    prefer "security": a forward-secret suite whenever the server accepts one, then the cheapest;
    "size": the cheapest whatever it gives up (static RSA included), and the comment says what."""
    _check_chain_fits(scan, chain, kb)
    reasons: list[str] = []
    leaf_kind = kb.key_types[chain.leaf.key_type].kind if chain.leaf.key_type else None
    usable: dict[str, list[str]] = {}
    for v in scan.versions:
        ok = []
        for s in scan.suites[v]:
            suite = kb.suites[s]
            if kb.ciphers[suite.cipher].mode == "NULL":  # no encryption: never chosen
                continue
            if v == "1.2":
                kx = kb.key_exchanges[suite.key_exchange]
                if kx.ephemeral == "ecdhe" and not scan.groups.get(v):
                    continue
                if kx.certificate and leaf_kind and kx.certificate != leaf_kind and kx.ephemeral != "static_ecdh":
                    continue
            elif not scan.groups.get(v):
                continue
            ok.append(s)
        if ok:
            usable[v] = ok
    if not usable:
        raise ProbeError("the server's accepted suites need a key-share group or key type that could not be "
                         f"confirmed (suites: {', '.join(s for v in scan.versions for s in scan.suites[v])})")
    version = min(usable, key=lambda v: costs.get("versions", v).cost)
    vc = costs.get("versions", version)
    reasons.append(f"version TLS {version}: cheapest accepted ({_label(vc)})")
    candidates = usable[version]
    secret = [s for s in candidates if _forward_secret(kb, s)]
    if prefer == "security" and secret:
        candidates = secret
    suite = min(candidates, key=lambda s: _suite_cost(kb, costs, s))
    s = kb.suites[suite]
    why = [_label(costs.get("ciphers", s.cipher))]
    if version == "1.2":
        why.insert(0, _label(costs.get("key_exchanges", s.key_exchange)))
    reasons.append(f"suite {suite}: cheapest accepted{' forward-secret' if prefer == 'security' and secret else ''} "
                   f"({'; '.join(why)})")
    cheaper = min(usable[version], key=lambda x: _suite_cost(kb, costs, x))
    if cheaper != suite:
        reasons.append(f"  trade-off: {cheaper} is also accepted and cheaper, but has no forward secrecy "
                       "(a leaked server key decrypts every recorded session); probe --prefer size picks it")
    elif not _forward_secret(kb, suite):
        reasons.append("  gives up forward secrecy: a leaked server key decrypts every recorded session"
                       + (" (the server accepts no forward-secret suite tlsfit can use)" if not secret else
                          " (chosen with --prefer size)"))

    group = None
    needs_group = version == "1.3" or kb.key_exchanges[s.key_exchange].ephemeral == "ecdhe"
    if needs_group:
        accepted = scan.groups[version]
        # A group on a curve the chain already links adds no curve code, and keeps a P-256-only
        # build on the p256-m driver (the resolver's choice); another curve links a second one.
        chain_curves = {c.key_type for c in (chain.leaf, *chain.intermediates, chain.root)
                        if c.key_type in kb.groups}
        linked = [g for g in accepted if g in chain_curves]
        group = min(linked or accepted, key=lambda g: costs.get("groups", g).cost)
        if linked:
            reasons.append(f"group {group}: accepted, and the chain's certificates already link its curve: no "
                           "second curve's code (a P-256-only build stays on the p256-m driver)")
            others = [g for g in accepted if g not in linked]
            if others:
                reasons.append(f"  trade-off: {', '.join(others)} also accepted; each links a second curve "
                               "implementation beside the chain's (more ROM; and off p256-m, more handshake work)")
        else:
            reasons.append(f"group {group}: cheapest accepted ({_label(costs.get('groups', group))})")

    handshake = _handshake_sigalg(scan, chain, kb, costs, version, suite)
    if handshake:
        reasons.append(f"handshake signature {handshake}: cheapest accepted for the leaf's "
                       f"{chain.leaf.key_label} key ({_label(costs.get('signature_algorithms', handshake))})")
    sigalgs = [handshake] if handshake else []
    signers = [*chain.intermediates, chain.root]
    for cert, signer in zip((chain.leaf, *chain.intermediates), signers):
        alg = certificate_sigalg(cert, signer, kb)
        if alg is None:
            raise ProbeError(f"certificate '{cert.common_name}' is signed with {cert.signature}, which mbedTLS 3.6 "
                             "cannot verify (tlsfit knows no matching signature algorithm)")
        if alg not in sigalgs:
            sigalgs.append(alg)
            reasons.append(f"signature {alg}: verifies '{cert.common_name}' (signed with {cert.signature})")

    client_key, client_note, client_need = _client_identity(scan, kb, version, sigalgs, reasons)
    mfl = None
    buffers = None
    fitting = [v for v in scan.mfl if v >= client_need] if version == "1.2" else []
    if fitting:
        mfl = min(fitting)
        need = scan.max_handshake_message + RECORD_HEADER_BYTES + kb.buffers.handshake_overhead
        in_len = max(mfl, -(-need // BUFFER_ROUND) * BUFFER_ROUND)
        buffers = (in_len, mfl)
        reasons.append(f"max_fragment_length {mfl}: smallest value the server honours"
                       + (f" that carries the client Certificate message (~{client_need} bytes; mbedTLS sends a "
                          "handshake message in one record)" if client_key else "")
                       + f"; input buffer {in_len} holds its largest handshake message "
                       f"({scan.max_handshake_message} bytes, reassembled in the input buffer)")
    elif version == "1.2" and scan.mfl:
        reasons.append(f"max_fragment_length: none of the values the server honours ({', '.join(map(str, scan.mfl))}) "
                       f"carries the client Certificate message (~{client_need} bytes): full-size buffers")
    # The key exchange's group only: the resolver adds the certificates' curves where TLS 1.2 needs them.
    groups = (group,) if group else ()
    return Decisions(version=version, suite=suite, group=group, groups=groups, handshake_sigalg=handshake,
                     sigalgs=tuple(sigalgs), mfl=mfl, buffers=buffers, reasons=tuple(reasons),
                     client_key=client_key, client_note=client_note)


# OpenSSL's name of a signature algorithm the CertificateRequest lists -> the key kind it signs with
_REQUEST_KINDS = {"ECDSA": "ec", "RSA": "rsa", "RSA-PSS": "rsa", "rsa_pss_pss": "rsa"}
# the key type assumed for a device whose certificate the probe cannot see, per kind (cheapest first)
_ASSUMED_CLIENT_KEYS = (("ec", "secp256r1"), ("rsa", "rsa2048"))


def _client_identity(scan: ScanResult, kb: Knowledge, version: str, sigalgs: list[str],
                     reasons: list[str]) -> tuple[str | None, str, int]:
    """Mutual TLS: the key type assumed for the device's certificate, the comment naming what the
    server accepts, and the size of the client's Certificate message (0 without mutual TLS).
    Adds the signature algorithm the device signs its CertificateVerify with to `sigalgs`."""
    auth = scan.client_auth
    if auth is None:
        return None, "", 0
    if not auth.required:   # asked, but the handshake went on without one (gnutls-serv's default)
        reasons.append("the server asks for a client certificate but completes the handshake without one: "
                       "no client_certificate written (add one if the server authorises devices by it)")
        return None, "", 0
    kinds = {_REQUEST_KINDS.get(s.split("+")[0].split("_sha")[0]) for s in auth.sigalgs} - {None}
    key = next((k for kind, k in _ASSUMED_CLIENT_KEYS if not kinds or kind in kinds), None)
    if key is None or key not in kb.key_types:
        raise ProbeError("the server asks for a client certificate signed with "
                         f"{', '.join(auth.sigalgs) or 'no algorithm tlsfit knows'}, none of which tlsfit's "
                         "knowledge base can make")
    kt = kb.key_types[key]
    rsa_scheme = "rsa_pss_rsae" if version == "1.3" else "rsa_pkcs1"   # TLS 1.3 signs RSA with PSS only
    sign = next((n for n, a in kb.signature_algorithms.items()
                 if a.key == kt.kind and a.curve in (None, kt.curve) and a.hash.endswith("SHA256")
                 and (kt.kind != "rsa" or n.startswith(rsa_scheme))), None)
    if sign and sign not in sigalgs:
        sigalgs.append(sign)
    need = kb.buffers.handshake_overhead + 3 + kb.key_types[key].cert_bytes
    cas = "; ".join(auth.ca_names) or "any (it lists none)"
    reasons.append("mutual TLS: the server asks for a client certificate"
                   + (" and ends the handshake without one" if auth.required else "")
                   + f"; CAs it accepts: {cas}")
    reasons.append(f"  client_certificate key {key}: assumed (the probe cannot see your device's certificate); "
                   f"its Certificate message is taken as ~{need} bytes. Set 'cert:' and 'key_file:' to the "
                   "device's own files for `measure --server`; the reference server uses a test identity of "
                   "this key type")
    return key, f"fill in cert: and key_file: (the device's); the server accepts certificates from: {cas}", need


def _handshake_sigalg(scan: ScanResult, chain: ChainInfo, kb: Knowledge, costs: Costs,
                      version: str, suite: str) -> str | None:
    s = kb.suites[suite]
    if version == "1.2":
        kx = kb.key_exchanges[s.key_exchange]
        if not kx.certificate or kx.ephemeral not in ("ecdhe", "ffdhe"):
            return None
    leaf = kb.key_types.get(chain.leaf.key_type or "")
    if leaf is None:
        raise ProbeError(f"the server's certificate has a {chain.leaf.key_label} key, which tlsfit's mbedTLS 3.6 "
                         f"knowledge base does not cover (known: {', '.join(kb.key_types)})")
    fits = []
    for name in scan.sigalgs.get(version, ()):
        a = kb.signature_algorithms[name]
        if a.key != leaf.kind:
            continue
        if version == "1.3" and a.curve not in (None, leaf.curve):
            continue
        fits.append(name)
    if not fits:
        raise ProbeError(f"no signature algorithm the server accepted for TLS {version} fits its "
                         f"{chain.leaf.key_label} key (accepted: {', '.join(scan.sigalgs.get(version, ())) or 'none'})")
    return min(fits, key=lambda n: costs.get("signature_algorithms", n).cost)


def _wrap(text: str, prefix: str = "# ", width: int = 100) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(prefix) + len(line) + 1 + len(w) > width:
            lines.append(prefix + line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    if line:
        lines.append(prefix + line)
    return lines


def render_profile(scan: ScanResult, chain: ChainInfo, d: Decisions, kb: Knowledge, *, name: str,
                   server_host: str, root_file: str, target: str = "mps2-an386",
                   today: datetime.date | None = None) -> str:
    """The profile YAML text, every choice commented (what else the server accepts, and why this one)."""
    today = today or datetime.date.today()
    t = scan.target
    out: list[str] = [
        f"# Written by `tlsfit probe {t.address}`"
        + (f" --sni {t.sni}" if t.sni and t.sni != t.host else "") + f" on {today.isoformat()}.",
        "# What the server accepted, asked with real TLS clients (openssl s_client, gnutls-cli),",
        "# limited to what mbedTLS 3.6 implements; the cheapest accepted choice is used.",
        "# Cost hints: generator/data/costs.yaml ('measured' = measured on an mbedTLS Cortex-M build,",
        "# 'estimate' = a rank, not measured). Review before use.",
        "#",
        "# Server accepts:",
    ]
    for v in scan.versions:
        order = {True: "server's order", False: "server follows the client's order",
                 None: "one suite"}[scan.server_order.get(v)]
        out += _wrap(f"TLS {v} suites ({order}): {', '.join(scan.suites[v])}", "#   ")
        out += _wrap(f"TLS {v} groups: {', '.join(scan.groups.get(v, ())) or 'none needed/none accepted'}", "#   ")
        out += _wrap(f"TLS {v} handshake signatures: {', '.join(scan.sigalgs.get(v, ())) or 'none'}", "#   ")
    links = [f"leaf {chain.leaf.key_label} ({chain.leaf.signature})"]
    links += [f"intermediate {c.key_label} '{c.common_name}' ({c.signature})" for c in chain.intermediates]
    links += [f"root {chain.root.key_label} '{chain.root.common_name}' from {chain.root_source}"]
    out += _wrap("served chain: " + " <- ".join(links)
                 + (" (the server also sends the root)" if chain.served_root else ""), "#   ")
    out += _wrap(f"max_fragment_length honoured (TLS 1.2): {', '.join(map(str, scan.mfl)) or 'none'}", "#   ")
    rsl = {True: "accepted (mbedTLS 3.6 has an option for it, off by default; no profile key yet)",
           False: "not accepted", None: "not measured (no TLS 1.3, or gnutls-cli unavailable)"}[scan.record_size_limit]
    out += _wrap(f"record_size_limit (TLS 1.3, gnutls-cli): {rsl}", "#   ")
    out += _wrap(f"session tickets: {'issued' if scan.tickets else 'none seen'}", "#   ")
    if scan.alpn_offered:
        out += _wrap(f"ALPN offered {', '.join(scan.alpn_offered)}: "
                     f"{'selected ' + scan.alpn_selected if scan.alpn_selected else 'none selected'}", "#   ")
    out += _wrap(f"largest record in the handshake: {scan.max_record} bytes; largest handshake message: "
                 f"{scan.max_handshake_message} bytes", "#   ")
    if scan.untestable:
        out += _wrap("not testable with these clients: " + "; ".join(scan.untestable), "#   ")
    out += _wrap("PSK suites cannot be probed without the key; add tls.psk and a PSK suite by hand if the "
                 "server has one for this device.", "#   ")
    out += ["#", "# Choices:"]
    for r in d.reasons:
        out += _wrap(r, "#   " if not r.startswith("  ") else "#       ")

    doc = ProfileDoc.new("\n".join(out))
    doc.set("name", name)
    doc.set("description", f"Probed {t.address} ({today.isoformat()}): TLS {d.version} {d.suite}")
    doc.set("server", {"host": server_host, "port": t.port})
    doc.set_flow("server", False)
    doc.set("tls.versions", [quoted(d.version)])
    doc.set_flow("tls", False)
    doc.set("tls.ciphersuites", [d.suite])
    if d.group:
        doc.set("tls.groups", list(d.groups),
                comment=("key exchange only: tlsfit also offers the certificates' curves where TLS 1.2 "
                         "needs them" if d.version == "1.2" else None))
    if d.sigalgs:
        doc.set("tls.signature_algorithms", list(d.sigalgs))
    if d.version == "1.2":
        doc.set("tls.max_fragment_length", d.mfl if d.mfl else None,
                comment=None if d.mfl else "the server honours none: buffers derived (16384 in)")
    if d.buffers:
        doc.set("tls.buffers", {"in": d.buffers[0], "out": d.buffers[1]})
    if d.client_key:
        doc.set("tls.client_certificate", {"key": d.client_key}, comment=d.client_note)
        doc.set_flow("tls.client_certificate")
    doc.set("tls.sni", bool(t.sni))
    if scan.alpn_selected:
        doc.set("tls.alpn", [scan.alpn_selected])
    doc.set("tls.resumption", "none",
            comment="the server issues tickets: 'tickets' resumes at some ROM cost" if scan.tickets else None)
    doc.set("trust.ca_files", [root_file])
    doc.set_flow("trust", False)
    doc.set("trust.chain", {"root": chain.root.key_type,
                            "intermediates": [c.key_type or "" for c in chain.intermediates],
                            "leaf": chain.leaf.key_type})
    doc.set_flow("trust.chain")
    doc.set("target", target)
    for c in (chain.leaf, *chain.intermediates, chain.root):
        if c.key_type is None:
            raise ProbeError(f"certificate '{c.common_name}' has a {c.key_label} key, which tlsfit's mbedTLS 3.6 "
                             f"knowledge base does not cover (known: {', '.join(kb.key_types)})")
    return doc.dump()


def profile_data(text: str) -> dict[str, Any]:
    """Parse rendered profile text back (tests and sanity checks)."""
    return yaml.safe_load(text)

"""Run real TLS clients against one server and report what it accepts.

Every client run is bounded (CLIENT_TIMEOUT_S) and offers exactly one thing
to test (one group, one signature algorithm, one fragment length), so a
handshake that completes proves the server accepts it. Only what the mbedTLS
knowledge base knows is offered; what OpenSSL cannot express is listed in
ScanResult.untestable, never guessed.
"""
from __future__ import annotations

import re
import selectors
import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from generator.knowledge import Knowledge
from probe import ProbeError
from measure import children
from measure.model import MeasureError
from measure.server import parse_openssl_stdnames

CLIENT_TIMEOUT_S = 8.0        # one openssl/gnutls client run, handshake included
CONNECT_TIMEOUT_S = 3.0       # plain TCP reachability check
TICKET_WAIT_S = 1.5           # how long to wait for TLS 1.3 NewSessionTicket after the handshake
PARALLEL_CLIENTS = 3          # concurrent client runs (cheap: each is one short process)
MAX_ELIMINATION_ROUNDS = 80   # bound on the "offer all, remove the pick" loop
MFL_VALUES = (512, 1024, 2048, 4096)
OPENSSL_SECLEVEL = "@SECLEVEL=0"  # let OpenSSL offer what the server might still accept

# KB signature scheme name -> OpenSSL -sigalgs name, where they differ.
OPENSSL_SIGALG_NAMES: dict[str, str] = {"ecdsa_sha1": "ECDSA+SHA1", "rsa_pkcs1_sha1": "RSA+SHA1"}
# OpenSSL "Server Temp Key" names -> KB group names.
OPENSSL_TEMP_KEY_GROUPS: dict[str, str] = {"X25519": "x25519", "X448": "x448", "prime256v1": "secp256r1",
                                           "secp384r1": "secp384r1", "secp521r1": "secp521r1"}
VERSION_FLAGS: dict[str, str] = {"1.2": "-tls1_2", "1.3": "-tls1_3"}
OPENSSL_VERSION_NAMES: dict[str, str] = {"TLSv1.2": "1.2", "TLSv1.3": "1.3", "TLSv1.1": "1.1", "TLSv1": "1.0"}


@dataclass(frozen=True)
class Target:
    host: str                 # where to connect
    port: int
    sni: str | None           # server_name to send (None: none)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ClientAuth:
    """What a server's CertificateRequest asked for (mutual TLS)."""
    ca_names: tuple[str, ...]         # distinguished names of the CAs it accepts client certificates from
    sigalgs: tuple[str, ...]          # OpenSSL names of the signature algorithms it accepts ("ECDSA+SHA256")
    required: bool | None             # True: it ended the handshake without one (alert); None: not seen


@dataclass(frozen=True)
class ClientRun:
    """What one client run saw."""
    ok: bool                          # handshake completed with a cipher
    client_failed: bool               # the client refused before sending a ClientHello (option unknown)
    got_reply: bool                   # the server sent at least one record header
    not_tls: bool                     # the server's first bytes are not a TLS record
    server_alert: str | None          # alert description the server sent, if any
    version: str | None               # "1.2" | "1.3" | "1.1" | "1.0"
    cipher: str | None                # OpenSSL name (TLS 1.3: IANA name)
    temp_key: str | None              # "Server Temp Key" text
    alpn: str | None
    mfl_echoed: bool
    ticket: bool                      # a NewSessionTicket arrived
    max_record: int                   # largest record the server sent (header length field)
    max_handshake_message: int        # largest handshake message body the server sent
    certificates: tuple[str, ...]     # served chain (PEM), leaf first, when -showcerts was given
    tail: str                         # last lines of output, for error messages
    client_auth: ClientAuth | None = None   # the server sent a CertificateRequest


@dataclass(frozen=True)
class ScanResult:
    target: Target
    versions: tuple[str, ...]                    # accepted, of "1.2", "1.3"
    suites: dict[str, tuple[str, ...]]           # version -> IANA names, in the order the server picked them
    server_order: dict[str, bool | None]         # version -> True: server's own order; False: follows client; None: one suite
    groups: dict[str, tuple[str, ...]]           # version -> accepted KB groups
    sigalgs: dict[str, tuple[str, ...]]          # version -> accepted KB signature schemes (handshake signatures)
    mfl: tuple[int, ...]                         # max_fragment_length values honoured (TLS 1.2)
    record_size_limit: bool | None               # TLS 1.3 record_size_limit echoed (None: not measured)
    alpn_offered: tuple[str, ...]
    alpn_selected: str | None
    tickets: bool | None                         # issues session tickets (None: not measured)
    max_record: int                              # largest record during the handshakes (bytes)
    max_handshake_message: int                   # largest handshake message (bytes, body)
    certificates: tuple[str, ...]                # served chain, leaf first (PEM)
    untestable: tuple[str, ...] = field(default=())   # KB items the clients cannot offer, with why
    client_auth: ClientAuth | None = None        # the server asks for a client certificate (mutual TLS)


# ---------------------------------------------------------------- parsing

_RECORD_IN = re.compile(r"^<<< [^\n]*RecordHeader \[length 0005\]\n\s+([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}) "
                        r"([0-9a-f]{2}) ([0-9a-f]{2})", re.M)
_HANDSHAKE_IN = re.compile(r"^<<< TLS [\d.]+, Handshake \[length ([0-9a-f]+)\], (\w+)", re.M)
_CIPHER = re.compile(r"^(?:New|Reused), (TLSv[\d.]+|SSLv3), Cipher is (\S+)", re.M)
_ALERT_IN = re.compile(r"^<<< [^\n]*Alert \[length [0-9a-f]+\], (?:fatal|warning) (\w+)", re.M)
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n?", re.S)


def parse_openssl_output(text: str) -> ClientRun:
    """Read `openssl s_client -msg -tlsextdebug [-showcerts]` output (pure)."""
    cipher_m = _CIPHER.search(text)
    ok = bool(cipher_m) and cipher_m.group(2) != "(NONE)"
    sent_hello = ">>> " in text and "ClientHello" in text
    records = [(int(m.group(4), 16) << 8) | int(m.group(5), 16) for m in _RECORD_IN.finditer(text)]
    messages = [int(m.group(1), 16) for m in _HANDSHAKE_IN.finditer(text)]
    alert = _ALERT_IN.search(text)
    temp = re.search(r"^Server Temp Key: (.+)$", text, re.M)
    alpn = re.search(r"^ALPN protocol: (.+)$", text, re.M)
    chain_part = text.split("Certificate chain", 1)[1].split("\n---\n", 1)[0] if "Certificate chain" in text else ""
    return ClientRun(
        ok=ok,
        client_failed=not sent_hello,
        got_reply="<<< " in text,
        not_tls="Not TLS data or unknown version" in text or "wrong version number" in text
                and "<<< TLS" not in text,
        server_alert=alert.group(1) if alert else None,
        version=OPENSSL_VERSION_NAMES.get(cipher_m.group(1)) if ok and cipher_m else None,
        cipher=cipher_m.group(2) if ok and cipher_m else None,
        temp_key=temp.group(1).strip() if temp else None,
        alpn=alpn.group(1).strip() if alpn else None,
        mfl_echoed='TLS server extension "max fragment length"' in text,
        ticket=bool(re.search(r"Handshake \[length [0-9a-f]+\], NewSessionTicket", text)) and "<<< " in text,
        max_record=max(records, default=0),
        max_handshake_message=max(messages, default=0),
        certificates=tuple(m.group(0) if m.group(0).endswith("\n") else m.group(0) + "\n"
                           for m in _PEM.finditer(chain_part)),
        tail="\n".join(text.strip().splitlines()[-6:]),
        client_auth=_client_auth(text, alert.group(1) if alert else None),
    )


# alerts a server sends when the client gave no certificate it can use
_NO_CERTIFICATE_ALERTS = ("handshake_failure", "certificate_required", "bad_certificate", "unknown_ca")


def _client_auth(text: str, alert: str | None) -> ClientAuth | None:
    """The CertificateRequest s_client saw (-msg), with the CA names and signature algorithms it printed."""
    if not re.search(r"^<<< TLS [\d.]+, Handshake \[length [0-9a-f]+\], CertificateRequest", text, re.M):
        return None
    names: list[str] = []
    block = re.search(r"^Acceptable client certificate CA names\n(.*?)^(?=\S[^=\n]*:)", text, re.M | re.S)
    if block:
        names = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    sigalgs = re.search(r"^Requested Signature Algorithms: (.+)$", text, re.M)
    return ClientAuth(ca_names=tuple(names), sigalgs=tuple(sigalgs.group(1).split(":")) if sigalgs else (),
                      required=True if alert in _NO_CERTIFICATE_ALERTS else None)


def temp_key_group(temp_key: str | None) -> str | None:
    """KB group name from OpenSSL's "Server Temp Key: ECDH, prime256v1, 256 bits" / "X25519, 253 bits"."""
    if not temp_key:
        return None
    for part in (p.strip() for p in temp_key.split(",")):
        if part in OPENSSL_TEMP_KEY_GROUPS:
            return OPENSSL_TEMP_KEY_GROUPS[part]
        if re.fullmatch(r"(?:secp|brainpoolP)\d+[rk]1", part):
            return part
    return None


# ---------------------------------------------------------------- running clients


def run_client(argv: list[str], timeout: float, *, input: bytes | str | None = None,
               text: bool = False) -> subprocess.CompletedProcess:
    """Like subprocess.run with captured output, but through tlsfit's child registry (so
    SIGTERM stops it too); on timeout the client's group is stopped and TimeoutExpired
    carries its output."""
    proc = children.popen(argv, what=argv[0], stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text)
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        children.stop(proc, grace_s=0)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, output=out, stderr=err) from exc
    children.release(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)

def openssl_cipher_names(timeout: float = CLIENT_TIMEOUT_S) -> dict[str, str]:
    """IANA -> OpenSSL name for every suite this openssl can offer (TLS 1.3 names map to themselves)."""
    try:
        done = run_client(["openssl", "ciphers", "-stdname", f"ALL:COMPLEMENTOFALL:{OPENSSL_SECLEVEL}"],
                          timeout, text=True)
    except (MeasureError, subprocess.TimeoutExpired) as exc:
        raise ProbeError(f"cannot run 'openssl ciphers': {exc}; install Debian's openssl package") from exc
    if done.returncode != 0:
        raise ProbeError(f"'openssl ciphers' failed: {done.stderr.strip()}")
    return parse_openssl_stdnames(done.stdout)


def run_openssl(target: Target, args: list[str], *, wait_tickets: bool = False,
                timeout: float = CLIENT_TIMEOUT_S) -> ClientRun:
    """One `openssl s_client` handshake with `args` added; output parsed.

    With wait_tickets, stdin stays open until a NewSessionTicket shows up or
    TICKET_WAIT_S after the handshake, since TLS 1.3 tickets follow it.
    """
    argv = ["openssl", "s_client", "-connect", target.address, "-msg", "-tlsextdebug"]
    argv += ["-servername", target.sni] if target.sni else ["-noservername"]
    argv += args
    if not wait_tickets:
        try:
            done = run_client(argv, timeout)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"") + (exc.stderr or b"")
            return parse_openssl_output(out.decode(errors="replace") + "\n(client timed out)")
        return parse_openssl_output((done.stdout + done.stderr).decode(errors="replace"))
    return parse_openssl_output(_run_until_ticket(argv, timeout))


def _run_until_ticket(argv: list[str], timeout: float) -> str:
    proc = children.popen(argv, what="openssl s_client", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    handshake_done_at: float | None = None
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                now = time.monotonic()
                limit = deadline if handshake_done_at is None else min(deadline, handshake_done_at + TICKET_WAIT_S)
                if now >= limit:
                    break
                if not sel.select(timeout=limit - now):
                    continue
                data = proc.stdout.read1(65536)  # type: ignore[attr-defined]
                if not data:
                    break
                chunks.append(data)
                text = b"".join(chunks)
                if handshake_done_at is None and b"Cipher is" in text:
                    handshake_done_at = time.monotonic()
                if b"NewSessionTicket" in text and b"Cipher is" in text:
                    break
        finally:
            if proc.stdin:
                proc.stdin.close()  # EOF: s_client shuts the connection down
                proc.stdin = None   # so communicate() does not touch it
            try:
                rest, _ = proc.communicate(timeout=2)
                chunks.append(rest or b"")
            except subprocess.TimeoutExpired:
                children.stop(proc, grace_s=0)
                rest, _ = proc.communicate()
                chunks.append(rest or b"")
            children.release(proc)
    return b"".join(chunks).decode(errors="replace")


def check_reachable(target: Target, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ProbeError naming the address unless a TCP connection opens."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise ProbeError(f"cannot resolve host '{target.host}': {exc.strerror}") from exc
    except ConnectionRefusedError as exc:
        raise ProbeError(f"cannot connect to {target.address}: connection refused "
                         "(nothing listens there; check the host and port)") from exc
    except TimeoutError as exc:
        raise ProbeError(f"cannot connect to {target.address}: no answer within {timeout:g} s") from exc
    except OSError as exc:
        raise ProbeError(f"cannot connect to {target.address}: {exc.strerror or exc}") from exc


def run_gnutls_record_size_limit(target: Target, timeout: float = CLIENT_TIMEOUT_S) -> bool | None:
    """Whether a TLS 1.3 server echoes record_size_limit (RFC 8449); None if gnutls-cli is missing or failed."""
    if shutil.which("gnutls-cli") is None:
        return None
    argv = ["gnutls-cli", "-p", str(target.port), target.host, "--insecure", "--recordsize", "1024", "-d", "4",
            "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3"]
    argv += [f"--sni-hostname={target.sni}"] if target.sni else ["--disable-sni"]
    try:
        done = run_client(argv, timeout)
    except subprocess.TimeoutExpired:
        return None
    text = (done.stdout + done.stderr).decode(errors="replace")
    if "Handshake was completed" not in text:
        return None
    return "Parsing extension 'Record Size Limit/28'" in text


# ---------------------------------------------------------------- the scan

def _suite_args(version: str, offer: list[str]) -> list[str]:
    if version == "1.3":
        return ["-tls1_3", "-ciphersuites", ":".join(offer)]
    return ["-tls1_2", "-cipher", ":".join(offer) + ":" + OPENSSL_SECLEVEL]


def eliminate(target: Target, version: str, offer: list[str],
              extra: list[str] | None = None) -> tuple[list[str], list[ClientRun]]:
    """Offer all of `offer` (OpenSSL names), record the pick, remove it, repeat until no handshake."""
    picked: list[str] = []
    runs: list[ClientRun] = []
    remaining = list(offer)
    for _ in range(MAX_ELIMINATION_ROUNDS):
        if not remaining:
            break
        run = run_openssl(target, _suite_args(version, remaining) + (extra or []))
        runs.append(run)
        if not run.ok or run.cipher not in remaining:
            break
        picked.append(run.cipher)
        remaining.remove(run.cipher)
    return picked, runs


def scan(target: Target, kb: Knowledge, openssl_names: dict[str, str], alpn: tuple[str, ...] = (),
         ) -> ScanResult:
    """Probe `target` for everything in `kb` that openssl/gnutls clients can offer.

    Raises ProbeError when the server is unreachable, does not speak TLS, or
    accepts no suite of the knowledge base (naming what it did accept).
    """
    check_reachable(target)
    to_iana = {v: k for k, v in openssl_names.items()}
    untestable: list[str] = []
    kb_offer: dict[str, list[str]] = {"1.2": [], "1.3": []}
    for name, suite in kb.suites.items():
        if kb.key_exchanges.get(suite.key_exchange) and kb.key_exchanges[suite.key_exchange].psk:
            continue  # PSK suites need the key: not probeable
        if "1.3" in suite.versions:
            kb_offer["1.3"].append(name)  # -ciphersuites takes IANA names; OpenSSL 3.0 has all five
            continue
        if name not in openssl_names:
            untestable.append(name)
            continue
        kb_offer["1.2"].append(openssl_names[name])

    if untestable:
        untestable[:] = [f"{len(untestable)} TLS 1.2 suites openssl cannot offer ("
                         + ", ".join(untestable[:3]) + (", ..." if len(untestable) > 3 else "") + ")"]
    openssl_names = {**openssl_names, **{n: n for n in kb_offer["1.3"]}}
    suites: dict[str, tuple[str, ...]] = {}
    order: dict[str, bool | None] = {}
    all_runs: list[ClientRun] = []
    for version in ("1.2", "1.3"):
        picked, runs = eliminate(target, version, kb_offer[version])
        all_runs += runs
        if picked:
            suites[version] = tuple(to_iana.get(p, p) for p in picked)
            order[version] = _server_order(target, version, picked)
    if not suites:
        _explain_nothing(target, all_runs, openssl_names, to_iana)

    versions = tuple(v for v in ("1.2", "1.3") if v in suites)
    base = {v: _suite_args(v, [openssl_names[s] for s in suites[v]]) for v in versions}
    shows = [run_openssl(target, base[v] + ["-showcerts"], wait_tickets=True) for v in versions]
    chain = next((r.certificates for r in reversed(shows) if r.ok and r.certificates), ())
    curve = leaf_curve(chain[0]) if chain else None
    groups = {v: _accepted_groups(target, kb, v, suites[v], openssl_names, untestable, curve) for v in versions}
    sigalgs = {v: _accepted_sigalgs(target, kb, v, suites[v], openssl_names, untestable) for v in versions}

    mfl: tuple[int, ...] = ()
    if "1.2" in versions:
        runs = _parallel([base["1.2"] + ["-maxfraglen", str(n)] for n in MFL_VALUES], target)
        mfl = tuple(n for n, r in zip(MFL_VALUES, runs) if r.ok and r.mfl_echoed)
    rsl = run_gnutls_record_size_limit(target) if "1.3" in versions else None

    alpn_selected = None
    if alpn:
        run = run_openssl(target, base[versions[-1]] + ["-alpn", ",".join(alpn)])
        alpn_selected = run.alpn if run.ok else None

    tickets = any(r.ticket for r in shows if r.ok)
    return ScanResult(
        target=target, versions=versions, suites=suites, server_order=order, groups=groups, sigalgs=sigalgs,
        mfl=mfl, record_size_limit=rsl, alpn_offered=alpn, alpn_selected=alpn_selected, tickets=tickets,
        max_record=max((r.max_record for r in shows), default=0),
        max_handshake_message=max((r.max_handshake_message for r in shows), default=0),
        certificates=chain, untestable=tuple(untestable),
        client_auth=next((r.client_auth for r in shows if r.client_auth is not None), None))


def _parallel(arg_lists: list[list[str]], target: Target) -> list[ClientRun]:
    with ThreadPoolExecutor(max_workers=PARALLEL_CLIENTS) as pool:
        return list(pool.map(lambda a: run_openssl(target, a), arg_lists))


def _server_order(target: Target, version: str, picked: list[str]) -> bool | None:
    """Does the server impose its own order? Offer the picks reversed and see what it takes."""
    if len(picked) < 2:
        return None
    run = run_openssl(target, _suite_args(version, list(reversed(picked))))
    if not run.ok:
        return None
    return run.cipher == picked[0]


def leaf_curve(pem: str) -> str | None:
    """KB group name of an EC certificate's curve (None: not EC, or unknown)."""
    try:
        done = run_client(["openssl", "x509", "-noout", "-text"], CLIENT_TIMEOUT_S, input=pem, text=True)
    except subprocess.TimeoutExpired:
        return None
    m = re.search(r"ASN1 OID: (\S+)", done.stdout)
    return OPENSSL_TEMP_KEY_GROUPS.get(m.group(1), m.group(1)) if m else None


def _accepted_groups(target: Target, kb: Knowledge, version: str, suites: tuple[str, ...],
                     openssl_names: dict[str, str], untestable: list[str],
                     cert_curve: str | None) -> tuple[str, ...]:
    """Groups the server takes for the key share, offered one at a time.

    TLS 1.2 (RFC 8422 5.1): supported_groups also names the curves the client
    can verify, and servers refuse an ECDSA certificate whose curve is not
    listed; so the certificate's curve follows the tested group, and a group
    counts as accepted only when the server's key share uses it.
    """
    if version == "1.2":
        ecdhe = [s for s in suites if kb.key_exchanges[kb.suites[s].key_exchange].ephemeral == "ecdhe"]
        if not ecdhe:
            return ()
        offer = [openssl_names[s] for s in ecdhe]
    else:
        offer = [openssl_names[s] for s in suites]
    names = [g.name for g in kb.groups.values() if g.kind == "ecdhe" and version in g.versions]
    if version == "1.2":
        untestable.append("ffdhe groups in TLS 1.2 (the server sends its own DHE parameters)")
    def offered(g: str) -> str:
        if version == "1.2" and cert_curve in kb.groups and cert_curve != g:
            return f"{g}:{cert_curve}"
        return g
    runs = _parallel([_suite_args(version, offer) + ["-groups", offered(g)] for g in names], target)
    accepted = []
    for g, run in zip(names, runs):
        if run.ok and (offered(g) == g or temp_key_group(run.temp_key) == g):
            accepted.append(g)
        elif run.ok:
            untestable.append(f"group {g} in TLS {version} (the server preferred the certificate's curve "
                              f"{cert_curve} when both were offered)")
        elif run.client_failed:
            untestable.append(f"group {g} in TLS {version} (openssl refuses to offer it)")
    return tuple(accepted)


def _accepted_sigalgs(target: Target, kb: Knowledge, version: str, suites: tuple[str, ...],
                      openssl_names: dict[str, str], untestable: list[str]) -> tuple[str, ...]:
    if version == "1.2":
        signing = [s for s in suites if kb.key_exchanges[kb.suites[s].key_exchange].certificate
                   and kb.key_exchanges[kb.suites[s].key_exchange].ephemeral in ("ecdhe", "ffdhe")]
        if not signing:
            return ()
        offer = [openssl_names[s] for s in signing]
    else:
        offer = [openssl_names[s] for s in suites]
    names = [a.name for a in kb.signature_algorithms.values() if version in a.handshake]
    runs = _parallel([_suite_args(version, offer) + ["-sigalgs", OPENSSL_SIGALG_NAMES.get(n, n)] for n in names],
                     target)
    # A client that sends no ClientHello here has no suite left for that key kind: not accepted.
    return tuple(n for n, run in zip(names, runs) if run.ok)


def _explain_nothing(target: Target, runs: list[ClientRun], openssl_names: dict[str, str],
                     to_iana: dict[str, str]) -> None:
    """No KB suite was accepted: raise a ProbeError saying whether it is TLS at all and what it accepts."""
    if runs and all(r.not_tls for r in runs):
        raise ProbeError(f"{target.address} does not speak TLS (its reply is not a TLS record; "
                         "is it a plain TCP or HTTP port?)")
    if runs and not any(r.got_reply for r in runs):
        raise ProbeError(f"{target.address} does not speak TLS (it closed the connection or stayed silent "
                         "after a ClientHello)")
    other: list[str] = []
    every = [n for n in openssl_names.values() if not n.startswith("TLS_")]
    for flag, version in (("-tls1_2", "1.2"), ("-tls1_1", "1.1"), ("-tls1", "1.0")):
        remaining = list(every)
        for _ in range(MAX_ELIMINATION_ROUNDS):
            run = run_openssl(target, [flag, "-cipher", ":".join(remaining) + ":" + OPENSSL_SECLEVEL])
            if not run.ok or run.cipher not in remaining:
                break
            other.append(f"{to_iana.get(run.cipher, run.cipher)} (TLS {version})")
            remaining.remove(run.cipher)
    alerts = sorted({r.server_alert for r in runs if r.server_alert})
    what = ", ".join(other) if other else "nothing any openssl client could offer"
    raise ProbeError(f"{target.address} speaks TLS but accepts no TLS 1.2/1.3 cipher suite that mbedTLS 3.6 "
                     f"implements; it accepted: {what}"
                     + (f" (server alert: {', '.join(alerts)})" if alerts else ""))

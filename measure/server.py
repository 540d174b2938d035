"""The reference server: openssl s_server or gnutls-serv restricted to EXACTLY a profile.

So a client config that only works by luck (a suite, group or signature
algorithm the real server would refuse) fails here too. Argument building is
pure (tables + functions); start_reference_server() runs it.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from core.errors import TlsfitBug
from generator.model import Profile, SuiteFacts
from measure import children
from measure.model import MeasureError, ServerInfo
from measure.pki import TestPki

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
TOOL_TIMEOUT_S = 30.0
BIND_ATTEMPTS = 3
POLL_S = 0.02
TCP_LISTEN_STATE = "0A"
UDP_BOUND_STATE = "07"     # /proc/net/udp: TCP_CLOSE, i.e. bound and unconnected  # /proc/net/tcp "st" column


class ServerUnsupported(MeasureError):
    """The profile asks for something the chosen reference server cannot do."""


@dataclass(frozen=True)
class ServerFiles:
    """Files the server reads; written by server.py into its work dir."""
    cert_file: Path | None        # leaf (openssl) / leaf + intermediates (gnutls)
    chain_file: Path | None       # intermediates (openssl -cert_chain)
    key_file: Path | None
    ca_file: Path | None          # to verify client certificates
    psk_file: Path | None         # gnutls --pskpasswd
    dh_file: Path | None          # openssl -dhparam for TLS 1.2 DHE


def _suite_facts(profile: Profile) -> tuple[SuiteFacts, ...]:
    if tuple(s.name for s in profile.suites) != profile.ciphersuites:
        raise TlsfitBug(f"profile {profile.name}: suite facts do not match tls.ciphersuites "
                        "(a Profile changed without generator.profile.suite_facts)")
    return profile.suites


def _tls12_suites(profile: Profile) -> list[str]:
    return [s.name for s in _suite_facts(profile) if not s.tls13]


def _tls13_suites(profile: Profile) -> list[str]:
    return [s.name for s in _suite_facts(profile) if s.tls13]


def needs_certificate(profile: Profile) -> bool:
    """Whether some allowed handshake authenticates the server with a certificate (decided at load)."""
    return profile.uses_certificates


# ---------------------------------------------------------------- openssl

OPENSSL_VERSION_ARGS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("1.2",): ("-tls1_2",),
    ("1.3",): ("-tls1_3",),
    ("1.2", "1.3"): ("-min_protocol", "TLSv1.2", "-max_protocol", "TLSv1.3"),
}

# TLS SignatureScheme names OpenSSL 3.0 does not take as they are.
OPENSSL_SIGALG_NAMES: dict[str, str] = {
    "ecdsa_sha1": "ECDSA+SHA1",
    "ecdsa_sha224": "ECDSA+SHA224",
    "rsa_pkcs1_sha224": "RSA+SHA224",
}

# Group names OpenSSL 3.0 takes as they are (it also knows P-256 etc.).
OPENSSL_GROUPS = frozenset({
    "secp256r1", "secp384r1", "secp521r1", "x25519", "x448",
    "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1",
    "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192",
})
# OpenSSL 3.0 has no TLS 1.3 brainpool code points (added in 3.2).
OPENSSL_TLS12_ONLY_GROUPS = frozenset({"brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"})


def openssl_args(profile: Profile, files: ServerFiles, port: int,
                 suite_names: dict[str, str], naccept: int | None) -> list[str]:
    """s_server arguments; suite_names maps IANA -> OpenSSL names of TLS 1.2 suites."""
    versions = tuple(sorted(profile.versions))
    if versions not in OPENSSL_VERSION_ARGS:
        raise ServerUnsupported(f"openssl s_server: unsupported versions {profile.versions}")
    if profile.transport == "udp":
        # DTLS 1.2: s_server refuses -rev there (it only prints what it gets: app none), and it
        # stops at the end of its standard input, which start_reference_server keeps open
        args = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-dtls1_2"]
    else:
        args = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-rev",
                *OPENSSL_VERSION_ARGS[versions]]
    if naccept is not None:
        args += ["-naccept", str(naccept)]

    tls12, tls13 = _tls12_suites(profile), _tls13_suites(profile)
    if "1.2" in profile.versions:
        if not tls12:
            raise ServerUnsupported("profile allows TLS 1.2 but lists no TLS 1.2 ciphersuite")
        unknown = [s for s in tls12 if s not in suite_names]
        if unknown:
            raise ServerUnsupported(f"openssl s_server does not know {', '.join(unknown)}")
        # SECLEVEL 0: the profile, not OpenSSL's default policy, says what is
        # allowed (level 1 refuses SHA-1 signatures that a profile may need).
        args += ["-cipher", ":".join(suite_names[s] for s in tls12) + ":@SECLEVEL=0"]
    if "1.3" in profile.versions:
        if not tls13:
            raise ServerUnsupported("profile allows TLS 1.3 but lists no TLS 1.3 ciphersuite")
        args += ["-ciphersuites", ":".join(tls13)]

    unknown_groups = [g for g in profile.groups if g not in OPENSSL_GROUPS]
    if unknown_groups:
        raise ServerUnsupported(f"openssl s_server: unknown groups {', '.join(unknown_groups)}")
    if profile.versions == ("1.3",) and profile.groups \
            and all(g in OPENSSL_TLS12_ONLY_GROUPS for g in profile.groups):
        raise ServerUnsupported("OpenSSL 3.0 has no TLS 1.3 brainpool groups")
    if profile.groups:
        args += ["-groups", ":".join(profile.groups + _client_certificate_curve(profile))]
    if files.dh_file is not None:
        args += ["-dhparam", str(files.dh_file)]
    if profile.signature_algorithms:
        args += ["-sigalgs", ":".join(OPENSSL_SIGALG_NAMES.get(s, s)
                                      for s in profile.signature_algorithms)]

    if profile.resumption != "tickets":
        args += ["-no_ticket", "-num_tickets", "0"]
    if profile.alpn:
        args += ["-alpn", ",".join(profile.alpn)]

    if files.cert_file is not None and files.key_file is not None:
        args += ["-cert", str(files.cert_file), "-key", str(files.key_file)]
        if files.chain_file is not None:
            args += ["-cert_chain", str(files.chain_file)]
        if profile.sni and files.chain_file is None:
            # A wrong SNI gets a fatal unrecognized_name, as from a real
            # virtual-hosting server; s_server only checks it with a 2nd cert,
            # and that one cannot carry intermediates (-cert_chain is ctx 1's).
            args += ["-servername", profile.host, "-servername_fatal",
                     "-cert2", str(files.cert_file), "-key2", str(files.key_file)]
    else:
        args.append("-nocert")
    if profile.psk is not None:
        args += ["-psk", profile.psk.key.hex(), "-psk_identity", profile.psk.identity]
        if "1.3" in profile.versions and not profile.groups:
            args.append("-allow_no_dhe_kex")  # TLS 1.3 psk_ke: PSK without (EC)DHE
    if files.ca_file is not None:
        args += ["-Verify", "4", "-CAfile", str(files.ca_file), "-verify_return_error"]
    return args


def parse_openssl_stdnames(listing: str) -> dict[str, str]:
    """IANA -> OpenSSL name from `openssl ciphers -stdname` output lines
    ("TLS_X - X-NAME  TLSv1.2 Kx=..."). TLS 1.3 suites map to themselves."""
    names: dict[str, str] = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "-":
            names[fields[0]] = fields[2]
    return names


# ---------------------------------------------------------------- gnutls

GNUTLS_VERSIONS: dict[str, str] = {"1.2": "VERS-TLS1.2", "1.3": "VERS-TLS1.3"}

# IANA key exchange part (between TLS_ and _WITH_) -> gnutls keyword.
GNUTLS_KX: dict[str, str] = {
    "RSA": "RSA",
    "DHE_RSA": "DHE-RSA",
    "DHE_DSS": "DHE-DSS",
    "ECDHE_RSA": "ECDHE-RSA",
    "ECDHE_ECDSA": "ECDHE-ECDSA",
    "PSK": "PSK",
    "DHE_PSK": "DHE-PSK",
    "ECDHE_PSK": "ECDHE-PSK",
    "RSA_PSK": "RSA-PSK",
}

# IANA cipher part -> (gnutls keyword, AEAD). Matched longest first, so
# AES_128_CCM_8 wins over AES_128_CCM.
GNUTLS_CIPHERS: dict[str, tuple[str, bool]] = {
    "AES_128_GCM": ("AES-128-GCM", True),
    "AES_256_GCM": ("AES-256-GCM", True),
    "AES_128_CCM": ("AES-128-CCM", True),
    "AES_256_CCM": ("AES-256-CCM", True),
    "AES_128_CCM_8": ("AES-128-CCM-8", True),
    "AES_256_CCM_8": ("AES-256-CCM-8", True),
    "CHACHA20_POLY1305": ("CHACHA20-POLY1305", True),
    "CAMELLIA_128_GCM": ("CAMELLIA-128-GCM", True),
    "CAMELLIA_256_GCM": ("CAMELLIA-256-GCM", True),
    "AES_128_CBC": ("AES-128-CBC", False),
    "AES_256_CBC": ("AES-256-CBC", False),
    "CAMELLIA_128_CBC": ("CAMELLIA-128-CBC", False),
    "CAMELLIA_256_CBC": ("CAMELLIA-256-CBC", False),
    "3DES_EDE_CBC": ("3DES-CBC", False),
}

# IANA trailing hash of a non-AEAD suite -> gnutls MAC keyword.
GNUTLS_MACS: dict[str, str] = {"SHA": "SHA1", "SHA256": "SHA256", "SHA384": "SHA384"}

# TLS SignatureScheme -> gnutls SIGN- keywords. ECDSA code points have a
# TLS 1.2 name (hash only) and a TLS 1.3 name (curve bound): both are needed.
GNUTLS_SIGALGS: dict[str, tuple[str, ...]] = {
    "rsa_pkcs1_sha1": ("SIGN-RSA-SHA1",),
    "rsa_pkcs1_sha256": ("SIGN-RSA-SHA256",),
    "rsa_pkcs1_sha384": ("SIGN-RSA-SHA384",),
    "rsa_pkcs1_sha512": ("SIGN-RSA-SHA512",),
    "rsa_pss_rsae_sha256": ("SIGN-RSA-PSS-RSAE-SHA256",),
    "rsa_pss_rsae_sha384": ("SIGN-RSA-PSS-RSAE-SHA384",),
    "rsa_pss_rsae_sha512": ("SIGN-RSA-PSS-RSAE-SHA512",),
    "rsa_pss_pss_sha256": ("SIGN-RSA-PSS-SHA256",),
    "rsa_pss_pss_sha384": ("SIGN-RSA-PSS-SHA384",),
    "rsa_pss_pss_sha512": ("SIGN-RSA-PSS-SHA512",),
    "ecdsa_sha1": ("SIGN-ECDSA-SHA1",),
    "ecdsa_secp256r1_sha256": ("SIGN-ECDSA-SHA256", "SIGN-ECDSA-SECP256R1-SHA256"),
    "ecdsa_secp384r1_sha384": ("SIGN-ECDSA-SHA384", "SIGN-ECDSA-SECP384R1-SHA384"),
    "ecdsa_secp521r1_sha512": ("SIGN-ECDSA-SHA512", "SIGN-ECDSA-SECP521R1-SHA512"),
    "ed25519": ("SIGN-EDDSA-ED25519",),
    "ed448": ("SIGN-EDDSA-ED448",),
}

# Groups gnutls 3.7 speaks in TLS (no brainpool).
GNUTLS_GROUPS: dict[str, str] = {
    "secp256r1": "GROUP-SECP256R1",
    "secp384r1": "GROUP-SECP384R1",
    "secp521r1": "GROUP-SECP521R1",
    "x25519": "GROUP-X25519",
    "x448": "GROUP-X448",
    "ffdhe2048": "GROUP-FFDHE2048",
    "ffdhe3072": "GROUP-FFDHE3072",
    "ffdhe4096": "GROUP-FFDHE4096",
    "ffdhe6144": "GROUP-FFDHE6144",
    "ffdhe8192": "GROUP-FFDHE8192",
}


@dataclass(frozen=True)
class SuiteParts:
    kx: str | None       # gnutls keyword; None for TLS 1.3 suites
    cipher: str
    mac: str             # "AEAD" or a MAC keyword


def _client_certificate_curve(profile: Profile) -> tuple[str, ...]:
    """OpenSSL checks a TLS 1.2 client certificate's curve against its own -groups ("wrong curve"):
    a real server that asks for that certificate accepts its curve, so the reference one does too."""
    cert = profile.client_certificate
    if cert is None or "1.2" not in profile.versions or cert.key in profile.groups or cert.key not in OPENSSL_GROUPS:
        return ()
    return (cert.key,)


def gnutls_suite_parts(iana_name: str) -> SuiteParts:
    """Split TLS_<KX>_WITH_<CIPHER>_<HASH> (or TLS_<CIPHER>_<HASH>) into gnutls keywords."""
    if not iana_name.startswith("TLS_"):
        raise ServerUnsupported(f"not an IANA ciphersuite name: {iana_name}")
    body = iana_name[len("TLS_"):]
    kx_part, _, rest = body.rpartition("_WITH_")
    kx = None
    if kx_part:
        if kx_part not in GNUTLS_KX:
            raise ServerUnsupported(f"gnutls-serv: no key exchange keyword for {iana_name}")
        kx = GNUTLS_KX[kx_part]
    cipher_token = max((t for t in GNUTLS_CIPHERS if rest == t or rest.startswith(t + "_")),
                       key=len, default=None)
    if cipher_token is None:
        raise ServerUnsupported(f"gnutls-serv: no cipher keyword for {iana_name}")
    cipher, aead = GNUTLS_CIPHERS[cipher_token]
    hash_token = rest[len(cipher_token):].lstrip("_")
    if aead:
        mac = "AEAD"  # the trailing hash of an AEAD suite is its PRF, not a MAC
    elif hash_token in GNUTLS_MACS:
        mac = GNUTLS_MACS[hash_token]
    else:
        raise ServerUnsupported(f"gnutls-serv: no MAC keyword for {iana_name}")
    return SuiteParts(kx, cipher, mac)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def gnutls_priority(profile: Profile) -> tuple[str, tuple[str, ...]]:
    """Priority string for the profile, and what it allows beyond the profile.

    gnutls priorities are sets of key exchanges x ciphers x MACs: a profile
    whose suites are not such a full product also allows the cross terms,
    which are returned as warnings.
    """
    parts = [gnutls_suite_parts(s) for s in profile.ciphersuites]
    tls12 = [p for p in parts if p.kx is not None]
    kxs = _unique([p.kx for p in tls12 if p.kx is not None])
    if profile.psk is not None and "1.3" in profile.versions:
        # TLS 1.3 PSK modes are key exchange keywords too.
        kxs = _unique(kxs + (["ECDHE-PSK", "DHE-PSK"] if profile.groups else ["PSK"]))
    ciphers = _unique([p.cipher for p in parts])
    macs = _unique([p.mac for p in parts])

    missing_groups = [g for g in profile.groups if g not in GNUTLS_GROUPS]
    if missing_groups:
        raise ServerUnsupported(f"gnutls-serv: groups not supported: {', '.join(missing_groups)}")
    missing_sigs = [s for s in profile.signature_algorithms if s not in GNUTLS_SIGALGS]
    if missing_sigs:
        raise ServerUnsupported(f"gnutls-serv: signature algorithms not supported: "
                                f"{', '.join(missing_sigs)}")

    tokens = ["NONE"] + [f"+{GNUTLS_VERSIONS[v]}" if profile.transport != "udp" else f"+VERS-DTLS{v}"
                         for v in profile.versions]
    tokens += [f"+{k}" for k in kxs] + [f"+{c}" for c in ciphers] + [f"+{m}" for m in macs]
    tokens += [f"+{k}" for s in profile.signature_algorithms for k in GNUTLS_SIGALGS[s]]
    if not profile.signature_algorithms:
        # gnutls refuses a priority without any signature algorithm even when
        # no handshake signs (PSK only); with no certificate none can be used.
        tokens.append("+SIGN-ALL")
    tokens += [f"+{GNUTLS_GROUPS[g]}" for g in profile.groups]
    tokens += ["+COMP-NULL"]

    # What the product allows that the profile does not list.
    wanted = {(p.kx, p.cipher, p.mac) for p in tls12}
    aead_ciphers = {c for c, aead in GNUTLS_CIPHERS.values() if aead}
    extra = sorted(f"{k} {c} {m}" for k in kxs for c in ciphers for m in macs
                   if (k, c, m) not in wanted and "1.2" in profile.versions
                   and any(p.kx == k for p in tls12)
                   and (m == "AEAD") == (c in aead_ciphers))
    warnings = tuple(f"gnutls priority also allows TLS 1.2 {e}" for e in extra)
    return ":".join(tokens), warnings


def gnutls_args(profile: Profile, files: ServerFiles, port: int, priority: str) -> list[str]:
    args = ["gnutls-serv", "--port", str(port), "--echo", "--priority", priority]
    if profile.transport == "udp":
        args.append("--udp")  # DTLS: the priority string's VERS-DTLS1.2 (gnutls_priority)
    if files.cert_file is not None and files.key_file is not None:
        args += ["--x509certfile", str(files.cert_file), "--x509keyfile", str(files.key_file)]
    if files.psk_file is not None:
        args += ["--pskpasswd", str(files.psk_file)]
    if files.ca_file is not None:
        args += ["--require-client-cert", "--verify-client-cert",
                 "--x509cafile", str(files.ca_file)]
    else:
        args.append("--disable-client-cert")
    if profile.resumption != "tickets":
        args.append("--noticket")
    for proto in profile.alpn:
        args += ["--alpn", proto]
    if profile.sni:
        args += ["--sni-hostname", profile.host, "--sni-hostname-fatal"]
    return args


# ---------------------------------------------------------------- running

IMPL_NAMES: dict[str, str] = {"openssl": "openssl s_server", "gnutls": "gnutls-serv"}
VERSION_COMMANDS: dict[str, tuple[str, ...]] = {
    "openssl": ("openssl", "version"),
    "gnutls": ("gnutls-serv", "--version"),
}


def _run_tool(args: list[str]) -> str:
    """stdout of a short tool run; ToolMissing (with the Debian package) if not installed."""
    done = children.run(args, TOOL_TIMEOUT_S, " ".join(args), text=True)
    if done.returncode != 0:
        raise MeasureError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def check_gnutls_priority(priority: str) -> None:
    """gnutls-serv only parses its priority at the first handshake (and then
    calls an incomplete one a "Syntax error"); check it now."""
    done = children.run(["gnutls-cli", "--priority", priority, "--list"], TOOL_TIMEOUT_S,
                        "gnutls-cli --list", text=True)
    if done.returncode != 0:
        raise ServerUnsupported(f"gnutls rejects priority {priority!r}: "
                                f"{(done.stdout + done.stderr).strip()[:300]}")


def impl_version(impl: str) -> str:
    """e.g. "OpenSSL 3.0.19 27 Jan 2026" / "gnutls-serv 3.7.9"."""
    first = _run_tool(list(VERSION_COMMANDS[impl])).splitlines()[0]
    return first.split(" (Library")[0].strip()


def openssl_suite_names() -> dict[str, str]:
    """IANA -> OpenSSL names, asked from the installed openssl (no hand table)."""
    return parse_openssl_stdnames(_run_tool(
        ["openssl", "ciphers", "-stdname", "ALL:eNULL:@SECLEVEL=0"]))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_listening(port: int, udp: bool = False) -> bool:
    """Whether some socket listens on `port` (udp: is bound to it), read from /proc so
    that no probe connection is made (s_server -naccept would count it)."""
    state = UDP_BOUND_STATE if udp else TCP_LISTEN_STATE
    tables = ("/proc/net/udp", "/proc/net/udp6") if udp else ("/proc/net/tcp", "/proc/net/tcp6")
    for table in map(Path, tables):
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == state \
                    and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _write_server_files(profile: Profile, pki: TestPki | None, impl: str,
                        workdir: Path) -> ServerFiles:
    cert = chain = key = ca = psk = dh = None
    if needs_certificate(profile) or (pki is not None and profile.chain is not None):
        if pki is None:
            raise MeasureError(f"profile {profile.name} needs a server certificate: "
                               "pass a TestPki")
        key = pki.server_key_file
        if impl == "gnutls":  # gnutls-serv reads the whole chain from one file
            cert = workdir / "server_chain.pem"
            cert.write_bytes(pki.server_chain_pem)
        else:
            cert, chain = pki.server_cert_file, pki.server_chain_file
    if profile.client_certificate is not None:
        if pki is None or pki.client_ca_pem is None:
            raise MeasureError(f"profile {profile.name} demands a client certificate: "
                               "pass a TestPki made with a client key")
        ca = workdir / "client_ca.pem"
        ca.write_bytes(pki.client_ca_pem)
    if profile.psk is not None and impl == "gnutls":
        psk = workdir / "psk.passwd"
        psk.write_text(f"{profile.psk.identity}:{profile.psk.key.hex()}\n")
    ffdhe = [g for g in profile.groups if g.startswith("ffdhe")]
    if impl == "openssl" and ffdhe and "1.2" in profile.versions:
        # s_server's TLS 1.2 DHE ignores -groups; pin the profile's first FFDHE group.
        dh = workdir / f"{ffdhe[0]}.pem"
        if not dh.is_file():
            _run_tool(["openssl", "genpkey", "-genparam", "-algorithm", "DH",
                       "-pkeyopt", f"group:{ffdhe[0]}", "-out", str(dh)])
    return ServerFiles(cert, chain, key, ca, psk, dh)


class RunningServer:
    """A started reference server; stop() (or leaving the `with`) kills its process group."""

    def __init__(self, impl: str, process: subprocess.Popen[bytes], port: int, log_file: Path,
                 args: list[str], version: str, warnings: tuple[str, ...]):
        self.impl = impl
        self.process = process
        self.port = port
        self.log_file = log_file
        self.args = args
        self.warnings = warnings
        self.info = ServerInfo(impl=IMPL_NAMES[impl], version=version,
                               address=f"127.0.0.1:{port}")
        self._remove_on_stop: Path | None = None  # a temporary work dir
        self.udp = False                           # a DTLS server (bound, not listening)
        self._cleanup_handle: int | None = None

    @property
    def remove_on_stop(self) -> Path | None:
        return self._remove_on_stop

    @remove_on_stop.setter
    def remove_on_stop(self, path: Path | None) -> None:
        """A folder stop() removes; also removed if tlsfit is interrupted (SIGTERM/SIGINT)."""
        if self._cleanup_handle is not None:
            children.unregister_cleanup(self._cleanup_handle)
            self._cleanup_handle = None
        self._remove_on_stop = path
        if path is not None:
            self._cleanup_handle = children.register_cleanup(
                lambda: shutil.rmtree(path, ignore_errors=True))

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self._kill()
        if self.remove_on_stop is not None:
            shutil.rmtree(self.remove_on_stop, ignore_errors=True)
            self.remove_on_stop = None

    def _kill(self) -> None:
        # the server leads its own process group (measure.children): TERM, then KILL
        children.stop(self.process, grace_s=STOP_TIMEOUT_S)


def build_server_args(profile: Profile, files: ServerFiles, impl: str, port: int,
                      naccept: int | None) -> tuple[list[str], tuple[str, ...]]:
    """Command line for `impl`, and warnings about what it cannot restrict."""
    if impl == "openssl":
        warnings: tuple[str, ...] = ()
        if profile.sni and files.chain_file is not None:
            warnings += ("openssl s_server cannot check SNI with intermediates: not enforced",)
        if profile.psk is not None:
            warnings += ("openssl s_server only logs a wrong PSK identity; gnutls-serv refuses it",)
        return openssl_args(profile, files, port, openssl_suite_names(), naccept), warnings
    if impl == "gnutls":
        priority, warnings = gnutls_priority(profile)
        check_gnutls_priority(priority)
        if naccept is not None:
            warnings += ("gnutls-serv has no -naccept: it serves until stopped",)
        return gnutls_args(profile, files, port, priority), warnings
    raise ServerUnsupported(f"unknown server implementation {impl!r}; "
                            f"known: {', '.join(IMPL_NAMES)}")


def start_reference_server(profile: Profile, pki: TestPki | None, impl: str = "openssl",
                           workdir: Path | None = None,
                           naccept: int | None = None) -> RunningServer:
    """Start `impl` restricted to `profile` on a free 127.0.0.1 port, wait until it listens.

    workdir holds the server's log and the files it reads (None: a temporary
    directory, removed on stop). naccept=None serves until stopped. Raises
    ServerUnsupported if the implementation cannot express the profile,
    MeasureError if it fails to start.
    """
    if impl not in IMPL_NAMES:
        raise ServerUnsupported(f"unknown server implementation {impl!r}; "
                                f"known: {', '.join(IMPL_NAMES)}")
    children.require_tool(VERSION_COMMANDS[impl][0])  # ToolMissing names the Debian package
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="tlsfit-server-"))
        try:
            server = start_reference_server(profile, pki, impl, workdir, naccept)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        server.remove_on_stop = workdir
        return server
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    files = _write_server_files(profile, pki, impl, workdir)
    version = impl_version(impl)
    last_log = ""
    for attempt in range(BIND_ATTEMPTS):
        port = free_port()
        args, warnings = build_server_args(profile, files, impl, port, naccept)
        log_file = workdir / f"{impl}-server-{port}.log"
        with log_file.open("wb") as log:
            # DTLS s_server ends at the end of its standard input: give it a pipe kept open
            stdin = subprocess.PIPE if profile.transport == "udp" else subprocess.DEVNULL
            process = children.popen(args, what=IMPL_NAMES[impl], stdout=log,
                                     stderr=subprocess.STDOUT, cwd=workdir, stdin=stdin)
        server = RunningServer(impl, process, port, log_file, args, version, warnings)
        server.udp = profile.transport == "udp"
        if _wait_listening(server):
            return server
        server.stop()
        last_log = server.log_text()
        if "in use" not in last_log.lower():  # only a lost port race is worth a retry
            break
    raise MeasureError(f"{IMPL_NAMES[impl]} did not start:\n  {' '.join(args)}\n{last_log}")


def _wait_listening(server: RunningServer) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.alive():
            return False
        if is_listening(server.port, server.udp):
            return True
        time.sleep(POLL_S)
    return False

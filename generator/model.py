"""Plain data passed between stages. No behaviour beyond trivial helpers.

Profile is what a YAML profile says, validated and normalised (paths made
absolute). ResolvedConfig is what the resolver decides. Later stages
(measure, reports) read these types and never call back into the loader or
the resolver.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import LocatedError


OPTIMIZE_LEVELS = ("size", "balanced", "speed")  # profile `optimize:` values, smallest first
APPS = ("none", "echo", "mqtt", "http", "coap")   # profile `app:` values: what follows the handshake
TRANSPORTS = ("tcp", "udp")                       # profile `transport:` values (udp: DTLS)
CLOCKS = ("none", "rtc")                          # profile `clock:` values


class ProfileError(LocatedError):
    """A user error in a profile: printed as `FILE:LINE: error: message`, exit 2."""


@dataclass(frozen=True)
class Psk:
    identity: str
    key: bytes


@dataclass(frozen=True)
class ClientCertificate:
    key: str                      # key type, e.g. "secp256r1" or "rsa2048"
    cert_file: Path | None = None  # real device cert/key (for --server); test PKI otherwise
    key_file: Path | None = None
    key_env: str | None = None     # key_file: ${NAME}: the environment variable naming the key file (read at run time)


@dataclass(frozen=True)
class ChainShape:
    """Shape of the test PKI the reference server uses: key type per level."""
    root: str                      # "rsa2048" | "rsa3072" | "rsa4096" | "secp256r1" | "secp384r1" | "secp521r1"
    intermediates: tuple[str, ...]
    leaf: str


@dataclass(frozen=True)
class Buffers:
    in_len: int
    out_len: int


@dataclass(frozen=True)
class Budget:
    rom: int | None
    ram: int | None


@dataclass(frozen=True)
class SuiteFacts:
    """What the knowledge base says of one profile ciphersuite, decided at load time so that
    later stages (the reference server) never re-derive it from the IANA name."""
    name: str                      # IANA name
    tls13: bool                    # a TLS 1.3 suite (no key exchange of its own)
    psk: bool                      # authenticated by a pre-shared key
    certificate: str | None        # key kind of the server certificate it needs: "rsa" | "ec" | None


@dataclass(frozen=True)
class Dtls:
    """DTLS settings of a `transport: udp` profile (tls.connection_id, tls.retransmit, tls.mtu)."""
    connection_id: bool = False    # RFC 9146: offer a Connection ID (the server must support it)
    retransmit_min_ms: int = 1000  # mbedtls_ssl_conf_handshake_timeout (mbedTLS defaults: 1 s .. 60 s)
    retransmit_max_ms: int = 60000
    mtu: int | None = None         # largest datagram (mbedtls_ssl_set_mtu); None: no limit


@dataclass(frozen=True)
class App:
    """What the firmware does after the handshake (profile `app:`, or `measure --app`)."""
    protocol: str                  # one of APPS
    client_id: str = ""            # mqtt: CONNECT client id ("" -> tlsfit-<profile name>)
    path: str = "/"                # http: request path


@dataclass(frozen=True)
class Profile:
    path: Path                     # the YAML file (absolute)
    name: str
    description: str
    host: str                      # SNI and certificate host name check
    port: int
    versions: tuple[str, ...]      # ("1.2",), ("1.3",) or ("1.2", "1.3")
    ciphersuites: tuple[str, ...]  # IANA names, preference order
    groups: tuple[str, ...]        # TLS group names, preference order
    signature_algorithms: tuple[str, ...]  # TLS SignatureScheme names
    max_fragment_length: int | None
    buffers: Buffers | None        # None: derived by the resolver
    sni: bool
    alpn: tuple[str, ...]
    resumption: str                # "none" | "tickets"
    client_certificate: ClientCertificate | None
    psk: Psk | None
    ca_files: tuple[Path, ...]     # absolute paths
    chain: ChainShape | None
    verify: str                    # "required" (default) | "none" (needs allow_insecure)
    allow_insecure: bool
    target: str
    budget: Budget | None
    optimize: str                  # "size" (default) | "balanced" | "speed"
    trust_format: str = "der"      # "der" | "pem": how the firmware holds trust anchors
    ca_key_types: tuple[str | None, ...] = ()  # key type of each ca_files entry (None: not recognised)
    clock: str = "none"            # "none" | "rtc": whether certificate dates are checked
    app: App | None = None         # None: the caller's default (echo with the reference server, else none)
    suites: tuple[SuiteFacts, ...] = ()  # one per ciphersuite, same order (knowledge-base facts)
    part: str | None = None        # a part of generator/data/parts.yaml: used % and time estimates
    lto: bool = False              # build: {lto}: library and harness linked with -flto
    tuning: tuple[tuple[str, str], ...] = ()  # tuning: knob -> setting (knowledge base knobs:), sorted
    transport: str = "tcp"         # "tcp" (TLS) | "udp" (DTLS 1.2)
    dtls: Dtls | None = None       # set exactly when transport is "udp"
    # what allow_insecure: true lets through (verify: none, a NULL suite, a SHA-1 signature, a weak PSK)
    insecure: tuple[str, ...] = ()
    target_where: str | None = None
    offer_groups: tuple[str, ...] = ()       # tls.offer_groups: the exact supported_groups (empty: tlsfit's rule)  # "FILE:LINE" of the profile's target: key (None: the default target)

    @property
    def uses_certificates(self) -> bool:
        """Whether some handshake the profile allows authenticates the server with a certificate."""
        return self.chain is not None


@dataclass(frozen=True)
class Option:
    """One #define in the generated header."""
    name: str                      # the mbedTLS macro
    value: str | None              # None for a plain #define
    reasons: tuple[str, ...]       # why it is there, e.g. "ciphersuite X -> ECDHE-ECDSA key exchange"


@dataclass(frozen=True)
class ResolvedConfig:
    profile_name: str
    options: tuple[Option, ...]    # sorted by name; deterministic
    warnings: tuple[str, ...] = field(default=())
    # What the other optimize levels would do differently: "OPTION at LEVEL[, ...]: why", sorted.
    other_levels: tuple[str, ...] = field(default=())
    # What the firmware offers, decided once here and carried to the harness and server.
    offered_groups: tuple[str, ...] = field(default=())
    offered_suites: tuple[str, ...] = field(default=())
    offered_signature_algorithms: tuple[str, ...] = field(default=())
    driver: str | None = None            # the PSA driver build used (driver_builds), None: built-in modules
    fitting_drivers: tuple[str, ...] = field(default=())  # driver builds the profile could use at some level

    def has(self, name: str) -> bool:
        return any(o.name == name for o in self.options)

    def value(self, name: str) -> str | None:
        for o in self.options:
            if o.name == name:
                return o.value
        raise KeyError(name)

"""Plain data produced by the measure stage (build -> run -> figures)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ToolFailure


class MeasureError(ToolFailure):
    """A failure of the tool chain around the handshake (build, QEMU, server start).

    Not a handshake failure: those are HandshakeRun(ok=False)."""


@dataclass(frozen=True)
class Firmware:
    """A linked harness image for one (config, target)."""
    target: str
    elf: Path                      # ELF (board) or executable (host)
    map_file: Path                 # linker map file
    config_sha256: str
    lto: bool = False              # library and harness linked with link-time optimisation


@dataclass(frozen=True)
class StateWork:
    state: str                     # mbedTLS handshake state name, e.g. "SERVER_KEY_EXCHANGE"
    instructions: int


@dataclass(frozen=True)
class HandshakeRun:
    """What the harness reported on its console (one machine-readable line)."""
    ok: bool                       # handshake and the application exchange (app none:
                                   # close_notify) both succeeded
    error_code: int                # mbedTLS return code (negative) or 0
    error_stage: str | None        # "setup" | "handshake" | "write" | "read" | None when ok
    version: str | None            # "TLS 1.2" / "TLS 1.3"
    ciphersuite: str | None        # IANA name, e.g. "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    bytes_sent: int
    bytes_received: int
    instructions: int | None       # guest instructions in the handshake, waits excluded; None on host
    heap_peak: int                 # peak of live requested bytes
    heap_overhead_peak: int        # allocator bookkeeping at the arena's peak (not in heap_peak)
    stack_peak: int                # bytes of stack touched (painting)
    states: tuple[StateWork, ...] = field(default=())
    # --- added fields (defaults keep older result lines and callers working) ---
    # instructions (and every state's figure) exclude the harness allocator's
    # own work and the probes that count it; both are reported here instead
    allocator_instructions: int | None = None  # inside tlsfit_heap_calloc/free during the handshake
    allocations: int | None = None             # calloc calls during the handshake
    probe_instructions: int | None = None      # cost of counting the allocator (already removed)
    stack_harness: int | None = None  # deepest harness frames under an mbedTLS call; mbedTLS's
                                      # stack is stack_peak - stack_harness
    handshake_ok: bool | None = None  # the handshake alone
    handshake_bytes_sent: int | None = None      # TLS bytes on the wire up to HANDSHAKE_OVER
    handshake_bytes_received: int | None = None
    app: str | None = None            # "none" | "echo" | "mqtt" | "http"
    app_ok: bool | None = None        # exchange and close_notify succeeded; None for app none
    app_bytes_sent: int | None = None      # application plaintext written (mbedtls_ssl_write)
    app_bytes_received: int | None = None  # application plaintext read (mbedtls_ssl_read)
    app_detail: str | None = None     # "echo reversed", "CONNACK rc=0", "HTTP/1.1 200 OK"
    retransmits: int | None = None    # DTLS: flights the firmware resent after a timer expired (TLS: None)
    verify_flags: int | None = None   # mbedtls_ssl_get_verify_result(): MBEDTLS_X509_BADCERT_* bits
                                      # (0: verified; None: no X.509 in the build, or no verification ran)


@dataclass(frozen=True)
class WireSummary:
    """What the host saw on the wire between the target and the server (measure/proxy.py)."""
    bytes_client_to_server: int
    bytes_server_to_client: int
    group: str | None              # negotiated group name (ServerKeyExchange / key_share), if any
    version: str | None            # from ServerHello
    alert: str | None              # first fatal alert seen, e.g. "bad_certificate (from client)"
    # the first alert each side sent (close_notify aside), e.g. "unknown_ca"; "encrypted alert"
    # when it travelled encrypted; None: that side sent none
    alert_sent: str | None = None      # by the client (the firmware)
    alert_received: str | None = None  # by the server
    certificate_request: bool = False  # the server asked for a client certificate (mutual TLS)


@dataclass(frozen=True)
class Footprint:
    """ROM and static RAM of a linked image, from its ELF and map file (measure/figures.py)."""
    rom_total: int                 # ALLOC|EXEC + read-only PROGBITS + .data load image
    rom_mbedtls: int               # part of rom_total from mbedTLS's object files
    modules: dict[str, int]        # mbedTLS object file name -> ROM bytes, e.g. {"ecp.o": 9000}
    ram_static: int                # .data + .bss, without the reserved heap arena and stack
    heap_arena: int                # bytes reserved for the heap arena (not counted in ram_static)
    stack_reserved: int            # bytes reserved for the stack (not counted in ram_static)
    # ram_static split by the object that defines each byte; the two sum to ram_static
    ram_static_mbedtls: int | None = None  # mbedTLS's objects + the contexts an application holds
                                           # for it (ports/common/app_contexts.c)
    ram_static_harness: int | None = None  # measurement bookkeeping, board, libc, padding
    attribution: str = "map"       # how modules were found: "map" (archive members) | "dwarf" (symbols' sources)
    lto: dict | None = None        # "dwarf": the method and the bytes inlined, traced and left unattributed
    symbols: dict[str, int] = field(default_factory=dict)  # "ecp.o:mbedtls_ecp_mul" -> ROM bytes (mbedTLS's)


@dataclass(frozen=True)
class HarnessInput:
    """Per-profile data compiled into the harness (measure/firmware_data.py renders it as C)."""
    server_name: str               # SNI and certificate host name check
    verify: bool                   # False only for profiles with verify: none + allow_insecure
    ca_der: tuple[bytes, ...]      # trusted CA certificates, DER (no PEM parser needed on target)
    client_cert_der: tuple[bytes, ...]  # client chain for mutual TLS, leaf first; empty if none
    client_key_der: bytes | None
    psk_identity: bytes | None
    psk_key: bytes | None
    alpn: tuple[str, ...]
    max_fragment_length: int | None  # 512..4096, requested with mbedtls_ssl_conf_max_frag_len
    message: bytes = b"tlsfit ping\n"  # line sent after the handshake; the server echoes it
    group_ids: tuple[int, ...] = ()  # TLS NamedGroup ids in the profile's preference order
    app: str = "echo"              # after the handshake: "none" | "echo" | "mqtt" | "http"
    app_client_id: str = ""        # MQTT client id (app mqtt; empty: the broker assigns one)
    app_host: str = ""             # HTTP Host header (app http; empty: server_name)
    app_path: str = "/"            # HTTP request path (app http)
    datagram: bool = False         # transport: udp -> DTLS over framed datagrams (TLSFIT_DATAGRAM)
    retransmit_ms: tuple[int, int] = (1000, 60000)  # DTLS handshake timeout range (min, max)
    mtu: int = 0                   # DTLS datagram limit (mbedtls_ssl_set_mtu), 0: none
    connection_id: bool = False    # DTLS: offer an RFC 9146 Connection ID


@dataclass(frozen=True)
class ServerInfo:
    impl: str                      # e.g. "openssl s_server" / "gnutls-serv" / "external"
    version: str                   # e.g. "OpenSSL 3.0.17 1 Jul 2025"
    address: str                   # "127.0.0.1:4433"

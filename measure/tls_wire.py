"""Parse the cleartext part of a recorded TLS byte stream (bytes in, data out).

Only what is visible without keys: records, the handshake messages before
ChangeCipherSpec (ServerHello, TLS 1.2 ServerKeyExchange), cleartext alerts.
Tolerates truncated streams (a proxy may stop mid-record).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

CT_CHANGE_CIPHER_SPEC = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPLICATION_DATA = 23
RECORD_HEADER_LEN = 5

HS_SERVER_HELLO = 2
HS_SERVER_KEY_EXCHANGE = 12
HANDSHAKE_HEADER_LEN = 4

EXT_SUPPORTED_VERSIONS = 43
EXT_KEY_SHARE = 51

# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest.
HELLO_RETRY_REQUEST_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()

# ServerKeyExchange ECParameters.curve_type for a named curve (RFC 8422 5.4).
EC_CURVE_TYPE_NAMED = 3

VERSION_NAMES: dict[int, str] = {
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}

# IANA TLS Supported Groups registry.
GROUP_NAMES: dict[int, str] = {
    0x0016: "secp256k1",
    0x0017: "secp256r1",
    0x0018: "secp384r1",
    0x0019: "secp521r1",
    0x001A: "brainpoolP256r1",
    0x001B: "brainpoolP384r1",
    0x001C: "brainpoolP512r1",
    0x001D: "x25519",
    0x001E: "x448",
    0x001F: "brainpoolP256r1tls13",
    0x0020: "brainpoolP384r1tls13",
    0x0021: "brainpoolP512r1tls13",
    0x0100: "ffdhe2048",
    0x0101: "ffdhe3072",
    0x0102: "ffdhe4096",
    0x0103: "ffdhe6144",
    0x0104: "ffdhe8192",
}

# IANA TLS Alert registry.
ALERT_DESCRIPTIONS: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    60: "export_restriction",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    111: "certificate_unobtainable",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
}
ALERT_LEVELS: dict[int, str] = {1: "warning", 2: "fatal"}

# RFC 7919 primes have their top and bottom 64 bits all set; with that shape
# the bit length names the group.
FFDHE_SIZES: dict[int, str] = {2048: "ffdhe2048", 3072: "ffdhe3072", 4096: "ffdhe4096",
                               6144: "ffdhe6144", 8192: "ffdhe8192"}


@dataclass(frozen=True)
class Record:
    content_type: int
    version: int
    fragment: bytes  # may be shorter than the header said if the stream was cut
    offset: int      # of the record header in its stream


@dataclass(frozen=True)
class Alert:
    level: str        # "warning" | "fatal" | "encrypted"
    description: str  # e.g. "bad_certificate"; "unknown" for an encrypted one
    offset: int       # of its record in the stream: orders alerts across directions


@dataclass(frozen=True)
class FlowInfo:
    """What one direction's cleartext shows."""
    records: tuple[Record, ...]
    handshake_types: tuple[int, ...]    # cleartext handshake message types, in order
    first_alert: Alert | None           # first non-close_notify alert (or encrypted alert)
    truncated: bool                     # stream ended inside a record
    application_data_records: int


@dataclass(frozen=True)
class ServerHelloInfo:
    version: str | None          # negotiated (supported_versions wins over legacy_version)
    cipher_suite: int
    key_share_group: str | None  # TLS 1.3
    hello_retry: bool            # a HelloRetryRequest preceded it
    hrr_group: str | None        # group the HelloRetryRequest asked for


def split_records(stream: bytes) -> tuple[tuple[Record, ...], bool]:
    """Records of a stream, and whether it ended inside one."""
    records: list[Record] = []
    pos = 0
    while pos + RECORD_HEADER_LEN <= len(stream):
        ctype = stream[pos]
        version = int.from_bytes(stream[pos + 1:pos + 3], "big")
        length = int.from_bytes(stream[pos + 3:pos + 5], "big")
        body = stream[pos + RECORD_HEADER_LEN:pos + RECORD_HEADER_LEN + length]
        records.append(Record(ctype, version, body, pos))
        pos += RECORD_HEADER_LEN + length
    return tuple(records), pos != len(stream)


def cleartext_handshake(records: tuple[Record, ...]) -> bytes:
    """Concatenated handshake bytes sent before this side's ChangeCipherSpec.

    TLS 1.3 compatibility mode also sends CCS right after the cleartext part,
    and without it the next records are application_data, which stops us too.
    """
    out = bytearray()
    for rec in records:
        if rec.content_type in (CT_CHANGE_CIPHER_SPEC, CT_APPLICATION_DATA):
            break
        if rec.content_type == CT_HANDSHAKE:
            out += rec.fragment
    return bytes(out)


def split_handshake(data: bytes) -> tuple[tuple[int, bytes], ...]:
    """(type, body) of each complete handshake message."""
    msgs: list[tuple[int, bytes]] = []
    pos = 0
    while pos + HANDSHAKE_HEADER_LEN <= len(data):
        length = int.from_bytes(data[pos + 1:pos + 4], "big")
        end = pos + HANDSHAKE_HEADER_LEN + length
        if end > len(data):
            break
        msgs.append((data[pos], data[pos + HANDSHAKE_HEADER_LEN:end]))
        pos = end
    return tuple(msgs)


def _alert_of(records: tuple[Record, ...]) -> Alert | None:
    encrypted = False
    for rec in records:
        if rec.content_type == CT_CHANGE_CIPHER_SPEC:
            encrypted = True
        elif rec.content_type == CT_APPLICATION_DATA:
            # After application data an encrypted alert is most likely close_notify.
            return None
        elif rec.content_type == CT_ALERT:
            if encrypted or len(rec.fragment) != 2:
                return Alert("encrypted", "unknown", rec.offset)
            desc = ALERT_DESCRIPTIONS.get(rec.fragment[1], f"alert_{rec.fragment[1]}")
            if desc != "close_notify":
                return Alert(ALERT_LEVELS.get(rec.fragment[0], f"level_{rec.fragment[0]}"), desc,
                             rec.offset)
    return None


def flow_info(stream: bytes) -> FlowInfo:
    records, truncated = split_records(stream)
    return FlowInfo(
        records=records,
        handshake_types=tuple(t for t, _ in split_handshake(cleartext_handshake(records))),
        first_alert=_alert_of(records),
        truncated=truncated,
        application_data_records=sum(r.content_type == CT_APPLICATION_DATA for r in records),
    )


def group_name(group_id: int) -> str:
    return GROUP_NAMES.get(group_id, f"group_0x{group_id:04x}")


def version_name(version: int) -> str:
    return VERSION_NAMES.get(version, f"version_0x{version:04x}")


def _extensions(body: bytes, pos: int) -> dict[int, bytes]:
    exts: dict[int, bytes] = {}
    if pos + 2 > len(body):
        return exts
    end = min(len(body), pos + 2 + int.from_bytes(body[pos:pos + 2], "big"))
    pos += 2
    while pos + 4 <= end:
        ext_type = int.from_bytes(body[pos:pos + 2], "big")
        length = int.from_bytes(body[pos + 2:pos + 4], "big")
        exts[ext_type] = body[pos + 4:pos + 4 + length]
        pos += 4 + length
    return exts


def parse_server_hello(server_stream: bytes) -> ServerHelloInfo | None:
    """The (last) ServerHello in the server's stream, HelloRetryRequest noted."""
    records, _ = split_records(server_stream)
    hrr_group: str | None = None
    hello_retry = False
    # After an HRR the server's CCS may come before the real ServerHello, so
    # collect handshake records across CCS until application data.
    data = b"".join(r.fragment for r in records
                    if r.content_type == CT_HANDSHAKE) if _has_hrr(records) \
        else cleartext_handshake(records)
    result: ServerHelloInfo | None = None
    for msg_type, body in split_handshake(data):
        if msg_type != HS_SERVER_HELLO or len(body) < 38:
            continue
        legacy_version = int.from_bytes(body[0:2], "big")
        random = body[2:34]
        sid_len = body[34]
        pos = 35 + sid_len
        if pos + 3 > len(body):
            continue
        suite = int.from_bytes(body[pos:pos + 2], "big")
        exts = _extensions(body, pos + 3)
        version = legacy_version
        if len(exts.get(EXT_SUPPORTED_VERSIONS, b"")) == 2:
            version = int.from_bytes(exts[EXT_SUPPORTED_VERSIONS], "big")
        key_share = exts.get(EXT_KEY_SHARE, b"")
        share_group = group_name(int.from_bytes(key_share[0:2], "big")) \
            if len(key_share) >= 2 else None
        if random == HELLO_RETRY_REQUEST_RANDOM:
            hello_retry, hrr_group = True, share_group
            continue
        result = ServerHelloInfo(version_name(version), suite, share_group, hello_retry, hrr_group)
        break
    return result


def _has_hrr(records: tuple[Record, ...]) -> bool:
    first = next((r for r in records if r.content_type == CT_HANDSHAKE), None)
    return (first is not None and len(first.fragment) >= 38 and first.fragment[0] == HS_SERVER_HELLO
            and first.fragment[6:38] == HELLO_RETRY_REQUEST_RANDOM)


def _ecdhe_group(body: bytes, pos: int) -> str | None:
    """Group of ECParameters at `pos`, if the bytes there look like a named curve."""
    if pos + 4 > len(body) or body[pos] != EC_CURVE_TYPE_NAMED:
        return None
    gid = int.from_bytes(body[pos + 1:pos + 3], "big")
    point_len = body[pos + 3]
    if gid not in GROUP_NAMES or pos + 4 + point_len > len(body):
        return None
    return GROUP_NAMES[gid]


def _dhe_group(body: bytes, pos: int) -> str | None:
    """ffdheN for an RFC 7919-shaped prime, dheN for any other, None if not DH params."""
    if pos + 2 > len(body):
        return None
    p_len = int.from_bytes(body[pos:pos + 2], "big")
    p = body[pos + 2:pos + 2 + p_len]
    g_pos = pos + 2 + p_len
    if p_len < 64 or len(p) != p_len or g_pos + 2 > len(body):
        return None
    g_len = int.from_bytes(body[g_pos:g_pos + 2], "big")
    y_pos = g_pos + 2 + g_len
    if y_pos + 2 > len(body):
        return None
    if y_pos + 2 + int.from_bytes(body[y_pos:y_pos + 2], "big") > len(body):
        return None
    bits = int.from_bytes(p, "big").bit_length()
    rfc7919_shape = p[:8] == b"\xff" * 8 and p[-8:] == b"\xff" * 8
    if rfc7919_shape and bits in FFDHE_SIZES:
        return FFDHE_SIZES[bits]
    return f"dhe{bits}"


def server_key_exchange_group(body: bytes) -> str | None:
    """Group of a TLS 1.2 ServerKeyExchange: ECDHE, DHE, or either after a PSK hint."""
    candidates = [0]
    if len(body) >= 2:  # *_PSK suites put psk_identity_hint<0..2^16-1> first
        candidates.append(2 + int.from_bytes(body[0:2], "big"))
    for pos in candidates:
        group = _ecdhe_group(body, pos) or _dhe_group(body, pos)
        if group is not None:
            return group
    return None


def tls12_key_exchange_group(server_stream: bytes) -> str | None:
    records, _ = split_records(server_stream)
    for msg_type, body in split_handshake(cleartext_handshake(records)):
        if msg_type == HS_SERVER_KEY_EXCHANGE:
            return server_key_exchange_group(body)
    return None


def negotiated_group(server_stream: bytes) -> str | None:
    """TLS 1.3 key_share group, else the TLS 1.2 ServerKeyExchange group."""
    hello = parse_server_hello(server_stream)
    if hello is not None and hello.key_share_group is not None:
        return hello.key_share_group
    return tls12_key_exchange_group(server_stream)


def describe_alert(alert: Alert, direction: str) -> str:
    """Text for WireSummary.alert, e.g. "bad_certificate (from client)"."""
    if alert.level == "encrypted":
        return f"encrypted alert (from {direction})"
    suffix = "" if alert.level == "fatal" else f", {alert.level}"
    return f"{alert.description} (from {direction}{suffix})"


# ---------------------------------------------------------------- how far a flow got

# IANA TLS HandshakeType registry (the ones a TLS 1.2/1.3 session shows).
HANDSHAKE_NAMES: dict[int, str] = {
    0: "HelloRequest",
    1: "ClientHello",
    2: "ServerHello",
    4: "NewSessionTicket",
    5: "EndOfEarlyData",
    8: "EncryptedExtensions",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
    22: "CertificateStatus",
    24: "KeyUpdate",
}
# A server that stops after one of these owes more of the same flight
# (TLS 1.2: up to ServerHelloDone; TLS 1.3: the encrypted rest after ServerHello).
SERVER_FLIGHT_CONTINUES = frozenset({2, 11, 12, 13, 22})
# A client that stops after one of these is still writing its flight (TLS 1.2:
# Certificate, ClientKeyExchange, CertificateVerify, then ChangeCipherSpec + Finished)
# and may be computing the next message (a signature, the key exchange).
CLIENT_FLIGHT_CONTINUES = frozenset({11, 15, 16})
TLS_RECORD_TYPES = frozenset({CT_CHANGE_CIPHER_SPEC, CT_ALERT, CT_HANDSHAKE, CT_APPLICATION_DATA})


def handshake_name(msg_type: int) -> str:
    return HANDSHAKE_NAMES.get(msg_type, f"handshake type {msg_type}")


@dataclass(frozen=True)
class FlowPosition:
    """Where one direction of a session stopped (for timeouts and silent peers)."""
    last: str | None     # last visible thing sent, e.g. "ServerHello", "ChangeCipherSpec",
                         # "encrypted records", "alert handshake_failure"; None: nothing
    incomplete: bool     # it stopped inside a record, a handshake message, or (server)
                         # a cleartext flight that has more to come: the sender owes bytes


def flow_position(stream: bytes, sender: str) -> FlowPosition:
    """How far `sender` ("client" | "server") got in its stream; tolerates any bytes."""
    if not stream:
        return FlowPosition(None, False)
    if stream[0] not in TLS_RECORD_TYPES or (len(stream) > 1 and stream[1] != 3):
        return FlowPosition(f"{len(stream)} bytes that are not TLS", False)
    records, truncated = split_records(stream)
    if not records:
        return FlowPosition("part of a record header", True)
    last_rec = records[-1]
    encrypted = any(r.content_type in (CT_CHANGE_CIPHER_SPEC, CT_APPLICATION_DATA)
                    for r in records[:-1])
    if last_rec.content_type == CT_ALERT:
        alert = _alert_of((last_rec,)) if not encrypted else Alert("encrypted", "unknown", 0)
        if alert is None:  # close_notify in the clear
            return FlowPosition("alert close_notify", truncated)
        return FlowPosition("encrypted alert" if alert.level == "encrypted"
                            else f"alert {alert.description}", truncated)
    if last_rec.content_type == CT_CHANGE_CIPHER_SPEC:
        return FlowPosition("ChangeCipherSpec", True)  # its Finished follows
    if last_rec.content_type == CT_APPLICATION_DATA or encrypted:
        return FlowPosition("encrypted records", truncated)
    # cleartext handshake: name the last complete message
    data = b"".join(r.fragment for r in records if r.content_type == CT_HANDSHAKE)
    msgs = split_handshake(data)
    used = sum(HANDSHAKE_HEADER_LEN + len(body) for _, body in msgs)
    if not msgs:
        kind = handshake_name(data[0]) if data else "handshake message"
        return FlowPosition(f"part of {kind}", True)
    msg_type, body = msgs[-1]
    name = handshake_name(msg_type)
    if msg_type == HS_SERVER_HELLO and body[2:34] == HELLO_RETRY_REQUEST_RANDOM:
        name = "HelloRetryRequest"
    incomplete = truncated or used < len(data)
    continues = SERVER_FLIGHT_CONTINUES if sender == "server" else CLIENT_FLIGHT_CONTINUES
    if name != "HelloRetryRequest" and msg_type in continues:
        incomplete = True
    return FlowPosition(name, incomplete)


HS_CERTIFICATE_REQUEST = 13


def certificate_requested(server_stream: bytes) -> bool:
    """Whether the server's cleartext flight holds a CertificateRequest (TLS 1.2; TLS 1.3 encrypts
    it, and then its certificate_required alert says the same)."""
    records, _ = split_records(server_stream)
    data = b"".join(r.fragment for r in records if r.content_type == CT_HANDSHAKE)
    return any(msg_type == HS_CERTIFICATE_REQUEST for msg_type, _ in split_handshake(data))

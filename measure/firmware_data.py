"""Render the per-profile data compiled into the harness (templates/harness_data.c.j2).

The text is the generated header tlsfit_profile_config.h: compile-time facts
(TLSFIT_HAS_*, TLSFIT_APP) that keep unused mbedTLS calls out of the image,
plus the data (layout: ports/common/tlsfit_profile_data.h), defined once by
ports/common/profile_data.c. Output is deterministic: the same HarnessInput
always gives the same text (so the firmware cache works).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from generator.render import TEMPLATES
from measure.model import HarnessInput, MeasureError

TEMPLATES_DIR = TEMPLATES
TEMPLATE_NAME = "harness_data.c.j2"
BYTES_PER_LINE = 12

# HarnessInput.app -> TLSFIT_APP value (ports/common/tlsfit_profile_data.h)
APP_MACROS = {"none": "TLSFIT_APP_NONE", "echo": "TLSFIT_APP_ECHO",
              "mqtt": "TLSFIT_APP_MQTT", "http": "TLSFIT_APP_HTTP", "coap": "TLSFIT_APP_COAP"}
MQTT_KEEPALIVE_S = 60
MQTT_CLEAN_SESSION = 0x02
MQTT_PROTOCOL_LEVEL_311 = 4
MQTT_CONNECT = 0x10


@dataclass(frozen=True)
class _Blob:
    name: str
    size: int
    lines: tuple[str, ...]


def c_string(text: str) -> str:
    """A C string literal; every byte outside printable ASCII as an octal escape."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F and ch != "?":  # '?' avoids trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _blob(name: str, data: bytes) -> _Blob:
    lines = tuple(", ".join(f"0x{b:02x}" for b in data[i:i + BYTES_PER_LINE]) + ","
                  for i in range(0, len(data), BYTES_PER_LINE))
    return _Blob(name=name, size=len(data), lines=lines)


def _mqtt_remaining_length(n: int) -> bytes:
    """MQTT variable-length integer (7 bits per byte, high bit = more)."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise MeasureError("MQTT client id longer than 65535 bytes")
    return len(raw).to_bytes(2, "big") + raw


def mqtt_connect_packet(client_id: str) -> bytes:
    """MQTT 3.1.1 CONNECT: clean session, keepalive 60 s, no will, no credentials."""
    body = (_mqtt_string("MQTT") + bytes([MQTT_PROTOCOL_LEVEL_311, MQTT_CLEAN_SESSION])
            + MQTT_KEEPALIVE_S.to_bytes(2, "big") + _mqtt_string(client_id))
    return bytes([MQTT_CONNECT]) + _mqtt_remaining_length(len(body)) + body


def http_request(host: str, path: str = "/") -> bytes:
    """GET path HTTP/1.1 with Host and Connection: close."""
    for what, text in (("Host header", host), ("path", path)):
        if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in text):
            raise MeasureError(f"HTTP {what} {text!r} has a space or control character")
    if not path.startswith("/"):
        raise MeasureError(f"HTTP path {path!r} must start with '/'")
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("utf-8")


# RFC 7252: version 1, type CON, code 0.01 GET, option 11 Uri-Path; ports/common/app_coap.c
# reads the message id and token back from these bytes and sends a second request from them
COAP_VERSION = 1
COAP_CON = 0
COAP_GET = 0x01
COAP_URI_PATH = 11
COAP_MESSAGE_ID = 0x7f01
COAP_TOKEN = b"tlsfit01"          # 8 bytes, the longest token RFC 7252 allows
COAP_REQUEST_MAX = 255            # TLSFIT_COAP_REQUEST_MAX in app_coap.c


def _coap_option_nibble(value: int) -> tuple[int, bytes]:
    """An option delta or length: the 4-bit field and its extended bytes (RFC 7252 3.1)."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, (value - 269).to_bytes(2, "big")


def coap_get_request(path: str = "/") -> bytes:
    """A confirmable CoAP GET of path, one Uri-Path option per segment ("/" or "": none)."""
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in path) or not path.startswith("/"):
        raise MeasureError(f"CoAP path {path!r} must start with '/' and have no space or control character")
    msg = bytearray([(COAP_VERSION << 6) | (COAP_CON << 4) | len(COAP_TOKEN), COAP_GET])
    msg += COAP_MESSAGE_ID.to_bytes(2, "big") + COAP_TOKEN
    last = 0
    for segment in filter(None, path.split("/")):
        raw = segment.encode("utf-8")
        delta, delta_ext = _coap_option_nibble(COAP_URI_PATH - last)
        length, length_ext = _coap_option_nibble(len(raw))
        msg += bytes([(delta << 4) | length]) + delta_ext + length_ext + raw
        last = COAP_URI_PATH
    if len(msg) > COAP_REQUEST_MAX:
        raise MeasureError(f"CoAP request for {path!r} is {len(msg)} bytes; the harness sends at most "
                           f"{COAP_REQUEST_MAX}: use a shorter app.path")
    return bytes(msg)


def app_request(inp: HarnessInput) -> bytes | None:
    """The bytes the harness sends after the handshake, built here so the C
    side only sends them and checks the answer."""
    if inp.app not in APP_MACROS:
        raise MeasureError(f"unknown app '{inp.app}' (known: {', '.join(APP_MACROS)})")
    if inp.app == "echo":
        return inp.message
    if inp.app == "mqtt":
        return mqtt_connect_packet(inp.app_client_id)
    if inp.app == "http":
        return http_request(inp.app_host or inp.server_name, inp.app_path)
    if inp.app == "coap":
        return coap_get_request(inp.app_path)
    return None


def render_harness_data(inp: HarnessInput, templates_dir: Path = TEMPLATES_DIR) -> str:
    """The generated header tlsfit_profile_config.h for this profile (facts + data)."""
    blobs: list[_Blob] = []

    def add(name: str, data: bytes | None) -> str:
        if not data:
            return "NULL, 0u"
        blobs.append(_blob(name, data))
        return f"{name}, {len(data)}u"

    ca = []
    for i, der in enumerate(inp.ca_der):
        blobs.append(_blob(f"s_ca_{i}", der))
        ca.append((f"s_ca_{i}", len(der)))
    client_cert = []
    for i, der in enumerate(inp.client_cert_der):
        blobs.append(_blob(f"s_client_cert_{i}", der))
        client_cert.append((f"s_client_cert_{i}", len(der)))
    context = {
        "server_name": c_string(inp.server_name),
        "verify": 1 if inp.verify else 0,
        "ca": ca,
        "client_cert": client_cert,
        "client_key": add("s_client_key", inp.client_key_der),
        "psk_identity": add("s_psk_identity", inp.psk_identity),
        "psk_key": add("s_psk_key", inp.psk_key),
        "alpn": [c_string(p) for p in inp.alpn],
        "max_fragment_length": inp.max_fragment_length or 0,
        "message": add("s_message", app_request(inp)),
        "groups": inp.group_ids,
        "has_psk": 1 if inp.psk_key else 0,
        "app_macro": APP_MACROS[inp.app],
        "datagram": inp.datagram,
        "retransmit_ms": inp.retransmit_ms,
        "mtu": inp.mtu,
        "connection_id": 1 if inp.connection_id else 0,
        "blobs": blobs,
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    return env.get_template(TEMPLATE_NAME).render(**context)

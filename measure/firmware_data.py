"""Render the per-profile data compiled into the harness (templates/harness_data.c.j2).

The C layout is ports/common/tlsfit_profile_data.h. Output is deterministic:
the same HarnessInput always gives the same text (so the firmware cache works).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from measure.model import HarnessInput

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_NAME = "harness_data.c.j2"
BYTES_PER_LINE = 12


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


def render_harness_data(inp: HarnessInput, templates_dir: Path = TEMPLATES_DIR) -> str:
    """C source defining `tlsfit_profile_data` for this profile."""
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
        "message": add("s_message", inp.message),
        "groups": inp.group_ids,
        "blobs": blobs,
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    return env.get_template(TEMPLATE_NAME).render(**context)

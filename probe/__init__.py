"""tlsfit probe: ask a live TLS server what it accepts, within what mbedTLS 3.6 can do.

Library code only: plain frozen dataclasses in and out, no printing, no exits.
`scan` runs real TLS clients (openssl s_client, gnutls-cli), `chain` reads the
served certificates and finds the root, `profile_writer` turns the findings
into a commented profile text. The CLI (cli/probe_cmd.py) wires them together.
"""
from __future__ import annotations

from core.errors import ToolFailure


class ProbeError(ToolFailure):
    """The server cannot be probed or cannot be served by mbedTLS 3.6: CLI exit 3.

    Unreachable address, not TLS, nothing mbedTLS 3.6 can negotiate, root CA not found.
    A ToolFailure, so cli/main.py already prints `tlsfit: error: ...` and returns 3.
    """

"""`tlsfit probe HOST:PORT`: ask a live server what it accepts and write a commented profile.

Exit codes (DESIGN.md): 0 written; 2 bad input; 3 unreachable, not TLS, nothing mbedTLS 3.6
can do, root CA not found (probe.ProbeError). The flow is pipeline.probe: every input is
checked before the scan, and the profile and its root certificate are written atomically,
only after the profile passes the same validation `tlsfit gen` runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli import EXIT_OK

if TYPE_CHECKING:  # the parser is built before set-up; the pipeline is imported to run
    from pipeline import Workspace


def add_probe_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("probe", help="ask a live TLS server what it accepts; write a profile",
                       description="Run real TLS clients (openssl s_client, gnutls-cli) against HOST:PORT "
                                   "([IPv6]:PORT or IPv6:PORT for IPv6), find what it accepts that mbedTLS 3.6 "
                                   "implements, and write a commented profile choosing the cheapest of it. "
                                   "Exit 0 written, 2 bad input, 3 unreachable / not TLS / nothing mbedTLS can "
                                   "do / root CA not found.")
    p.add_argument("address", metavar="HOST:PORT")
    p.add_argument("--sni", metavar="NAME", help="server name to send and check (default: HOST if a name)")
    p.add_argument("--ca", type=Path, metavar="FILE",
                   help="root CA (PEM) that anchors the server's chain (default: search the system trust store)")
    p.add_argument("--alpn", metavar="LIST", help="comma-separated ALPN protocols to offer, e.g. mqtt,x-amzn-mqtt-ca")
    p.add_argument("-o", "--output", type=Path, metavar="PROFILE",
                   help="profile file to write (default: ./<name>.yaml); the root goes to certs/ next to it")
    p.add_argument("--prefer", choices=("security", "size"), default="security",
                   help="security (default): a forward-secret suite whenever the server accepts one; size: "
                        "the smallest build, static RSA included (the profile's comments say what it gives up)")
    p.add_argument("--name", metavar="NAME",
                   help="the profile's name (default: the -o file's name without .yaml, else the server name)")
    return p


def run_probe(ws: Workspace, address: str, sni: str | None = None, ca: Path | None = None,
              alpn: str | None = None, output: Path | None = None, name: str | None = None,
              prefer: str = "security") -> int:
    from pipeline import ProbeRequest, knowledge_without_build, parse_server_address, probe
    request = ProbeRequest(address=parse_server_address(address, "address"),
                           knowledge=knowledge_without_build(ws.mbedtls), output=output, name=name, sni=sni, ca=ca,
                           alpn=tuple(p.strip() for p in alpn.split(",")) if alpn is not None else (),
                           prefer=prefer)
    result = probe(request, progress=lambda line: print(f"tlsfit: probe: {line}", file=sys.stderr, flush=True))
    d, chain = result.decisions, result.chain
    print(f"wrote {result.profile} (name {result.name}, TLS {d.version} {d.suite}"
          + (f", {d.group}" if d.group else "")
          + f", chain {chain.leaf.key_type} <- {len(chain.intermediates)} intermediate(s) <- {chain.root.key_type}"
          + f", root {result.root}; {result.seconds:.1f} s)")
    for warning in result.warnings:
        print(f"tlsfit: probe: warning: {warning}", file=sys.stderr)
    return EXIT_OK

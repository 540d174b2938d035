"""`tlsfit probe HOST:PORT`: ask a live server what it accepts and write a commented profile.

Exit codes (DESIGN.md): 0 written; 2 bad input (InputError); 3 unreachable,
not TLS, nothing mbedTLS 3.6 can do, root CA not found (probe.ProbeError).
The profile and the root certificate next to it are written atomically, and
only after the profile passes the same validation `tlsfit gen` runs.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from cli import EXIT_OK, InputError

ADDRESS = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d{1,5})$")


def add_probe_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("probe", help="ask a live TLS server what it accepts; write a profile",
                       description="Run real TLS clients (openssl s_client, gnutls-cli) against HOST:PORT, "
                                   "find what it accepts that mbedTLS 3.6 implements, and write a commented "
                                   "profile choosing the cheapest of it. Exit 0 written, 2 bad input, "
                                   "3 unreachable / not TLS / nothing mbedTLS can do / root CA not found.")
    p.add_argument("address", metavar="HOST:PORT")
    p.add_argument("--sni", metavar="NAME", help="server name to send and check (default: HOST if a name)")
    p.add_argument("--ca", type=Path, metavar="FILE",
                   help="root CA (PEM) that anchors the server's chain (default: search the system trust store)")
    p.add_argument("--alpn", metavar="LIST", help="comma-separated ALPN protocols to offer, e.g. mqtt,x-amzn-mqtt-ca")
    p.add_argument("-o", "--output", type=Path, metavar="PROFILE",
                   help="profile file to write (default: ./<name>.yaml); the root goes to certs/ next to it")
    return p


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT -> (host, port); InputError otherwise."""
    m = ADDRESS.match(text.strip())
    if not m:
        raise InputError(f"'{text}' is not HOST:PORT (e.g. broker.example.com:8883 or 127.0.0.1:4433)")
    port = int(m.group("port"))
    if not 1 <= port <= 65535:
        raise InputError(f"port {port} in '{text}' is out of range; use 1 to 65535")
    return (m.group("v6") or m.group("host")), port


def _check_inputs(ca: Path | None, alpn: str | None, output: Path | None, sni: str | None) -> tuple[str, ...]:
    if ca is not None:
        try:
            text = ca.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise InputError(f"cannot read --ca {ca}: {exc.strerror}") from exc
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise InputError(f"--ca {ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    if sni is not None and not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", sni):
        raise InputError(f"--sni '{sni}' is not a host name")
    protocols: tuple[str, ...] = ()
    if alpn is not None:
        protocols = tuple(p.strip() for p in alpn.split(","))
        if not all(0 < len(p.encode()) <= 255 for p in protocols):
            raise InputError(f"--alpn '{alpn}': give comma-separated protocol names of 1 to 255 bytes")
    if output is not None:
        parent = output.parent if str(output.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"-o {output}: folder {parent} does not exist; create it first")
        if output.is_dir():
            raise InputError(f"-o {output} is a folder; give the profile file name, e.g. {output}/server.yaml")
    return protocols


def _atomic_write(path: Path, data: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_probe(address: str, sni: str | None = None, ca: Path | None = None, alpn: str | None = None,
              output: Path | None = None, trust_store: Path | None = None) -> int:
    from cli.paths import PINNED_MBEDTLS
    from generator.knowledge import knowledge_for
    from probe import ProbeError
    from probe.chain import SYSTEM_TRUST_STORE, analyse_chain
    from probe.profile_writer import decide, is_ip, load_costs, render_profile, sanitize_name
    from probe.scan import Target, openssl_cipher_names, scan

    started = time.monotonic()
    host, port = parse_address(address)
    protocols = _check_inputs(ca, alpn, output, sni)
    if shutil.which("openssl") is None:
        raise ProbeError("openssl is not installed; run 'apt-get install openssl'")
    kb = knowledge_for(PINNED_MBEDTLS)
    server_host = sni or host
    target = Target(host=host, port=port, sni=sni or (None if is_ip(host) else host))
    found = scan(target, kb, openssl_cipher_names(), protocols)
    chain = analyse_chain(found.certificates, kb, ca, trust_store or SYSTEM_TRUST_STORE)
    decisions = decide(found, chain, kb, load_costs())

    name = sanitize_name(server_host)
    path = output if output is not None else Path(f"{name}.yaml")
    root_name = f"{sanitize_name(chain.root.common_name)}.pem"
    root_rel = f"certs/{root_name}"
    text = render_profile(found, chain, decisions, kb, name=name, server_host=server_host, root_file=root_rel)

    certs_dir = path.parent / "certs"
    certs_dir.mkdir(exist_ok=True)
    root_path = certs_dir / root_name
    created_root = not root_path.exists()
    _atomic_write(root_path, chain.root.pem)
    _validate_or_undo(path, text, kb, root_path if created_root else None)
    _atomic_write(path, text)
    print(f"wrote {path} (TLS {decisions.version} {decisions.suite}"
          + (f", {decisions.group}" if decisions.group else "")
          + f", chain {chain.leaf.key_type} <- {len(chain.intermediates)} intermediate(s) <- {chain.root.key_type}"
          + f", root {root_path}; {time.monotonic() - started:.1f} s)")
    return EXIT_OK


def _validate_or_undo(path: Path, text: str, kb: object, created_root: Path | None) -> None:
    """Load the text as `tlsfit gen` would, from a temporary file next to `path`; a failure is a tlsfit bug."""
    from core.errors import BadInput
    from generator.profile import load_profile
    from probe import ProbeError

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check.yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        load_profile(Path(tmp), kb)  # type: ignore[arg-type]
    except BadInput as exc:
        if created_root is not None:
            created_root.unlink(missing_ok=True)
        raise ProbeError(f"tlsfit bug: the probed profile does not validate ({exc}); please report it "
                         "with the server's address") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)

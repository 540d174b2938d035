"""`probe` as a library call: a live server's address in, a validated profile and its root CA out.

    scan -> chain -> decide -> render -> validate -> write the root, then the profile

Every input (the output path and its folder, --ca, --sni, --alpn, --name) is checked before the
first packet; the root certificate and the profile are written atomically, and only after the
profile passes the same loader `tlsfit gen` runs. Nothing printed; progress through a callback.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from core.errors import BadInput
from core.inputs import read_text
from core.write import check_output_dir, check_output_file, write_if_changed
from generator.costs import load_costs
from generator.knowledge import Knowledge
from generator.profile import MAX_CERT_FILE_BYTES, MAX_NAME_LEN, load_profile
from pipeline.stages import ServerAddress
from probe import ProbeError
from probe.chain import SYSTEM_TRUST_STORE, ChainInfo, analyse_chain
from probe.profile_writer import Decisions, decide, is_ip, render_profile, sanitize_name
from probe.scan import Target, openssl_cipher_names, scan

Progress = Callable[[str], None]
CERTS_DIR = "certs"                      # the root CA goes here, beside the profile
_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_LEN - 1}}}")
_SNI = re.compile(r"[A-Za-z0-9.-]{1,253}")


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class ProbeRequest:
    address: ServerAddress
    knowledge: Knowledge                 # what mbedTLS can do (pipeline.knowledge_without_build)
    output: Path | None = None           # the profile file; None: <name>.yaml in the current folder
    name: str | None = None              # the profile's name; None: the output file's stem, else the host
    sni: str | None = None               # server name to send and check; None: the host if it is a name
    ca: Path | None = None               # root CA (PEM); None: search the trust store
    alpn: tuple[str, ...] = ()           # ALPN protocols to offer
    trust_store: Path = SYSTEM_TRUST_STORE


@dataclass(frozen=True)
class ProbeResult:
    profile: Path                        # the profile written
    root: Path                           # its root certificate (certs/<root>.pem beside it)
    name: str                            # the profile's name
    decisions: Decisions                 # version, suite, group, ... chosen, with the reasons
    chain: ChainInfo                     # the served chain and where its root was found
    seconds: float


def profile_name(request: ProbeRequest) -> str:
    """--name, else the -o file's stem, else the host (the SNI when given), as a file-safe name."""
    if request.name is not None:
        if not _NAME.fullmatch(request.name):
            raise BadInput(f"--name {request.name!r}: give 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit (it names build folders)")
        return request.name
    if request.output is not None:
        stem = request.output.stem
        return stem if _NAME.fullmatch(stem) else sanitize_name(stem)
    return sanitize_name(request.sni or request.address.host)


def profile_path(request: ProbeRequest, name: str) -> Path:
    return request.output if request.output is not None else Path(f"{name}.yaml")


def check_request(request: ProbeRequest) -> tuple[str, Path]:
    """(name, profile path) once every input is usable: BadInput (exit 2) before any packet is sent."""
    if request.sni is not None and not _SNI.fullmatch(request.sni):
        raise BadInput(f"--sni '{request.sni}' is not a host name")
    if not all(0 < len(p.encode()) <= 255 for p in request.alpn):
        raise BadInput(f"--alpn '{','.join(request.alpn)}': give comma-separated protocol names of 1 to 255 bytes")
    if request.ca is not None:
        text = read_text(request.ca, "--ca file", MAX_CERT_FILE_BYTES)  # no FIFOs, devices, /dev/zero
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise BadInput(f"--ca {request.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    name = profile_name(request)
    path = profile_path(request, name)
    parent = path.parent
    if path.is_dir():
        raise BadInput(f"-o {path} is a folder; give the profile file name, e.g. {path}/server.yaml")
    if not parent.is_dir():
        raise BadInput(f"-o {path}: folder {parent} does not exist; create it first")
    check_output_file(path, "profile file")
    check_output_dir(parent / CERTS_DIR, "certificate folder")
    return name, path


def _yaml_name(name: str) -> str:
    """The name as a YAML scalar that reads back as a string (e.g. "2024" or "true" quoted)."""
    return name if yaml.safe_load(name) == name else json.dumps(name)


def probe(request: ProbeRequest, progress: Progress = _quiet) -> ProbeResult:
    """Ask the server what it accepts, choose the cheapest of it and write the profile and its root.

    BadInput: an input is unusable (nothing sent, nothing written). ProbeError (a ToolFailure):
    unreachable, not TLS, nothing mbedTLS can do, root CA not found (nothing written)."""
    started = time.monotonic()
    name, path = check_request(request)
    if shutil.which("openssl") is None:
        raise ProbeError("openssl is not installed; run 'apt-get install openssl'")
    kb = request.knowledge
    host = request.address.host
    server_host = request.sni or host
    target = Target(host=host, port=request.address.port, sni=request.sni or (None if is_ip(host) else host))
    progress(f"asking {target.address} what it accepts (openssl s_client, gnutls-cli)")
    found = scan(target, kb, openssl_cipher_names(), request.alpn)
    progress("reading the served chain and finding its root")
    chain = analyse_chain(found.certificates, kb, request.ca, request.trust_store)
    decisions = decide(found, chain, kb, load_costs())
    root_name = f"{sanitize_name(chain.root.common_name)}.pem"
    text = render_profile(found, chain, decisions, kb, name=_yaml_name(name), server_host=server_host,
                          root_file=f"{CERTS_DIR}/{root_name}")
    root_path = path.parent / CERTS_DIR / root_name
    created_root = not root_path.exists()
    write_if_changed(root_path, chain.root.pem)
    _validate_or_undo(path, text, kb, root_path if created_root else None)
    write_if_changed(path, text)
    return ProbeResult(profile=path, root=root_path, name=name, decisions=decisions, chain=chain,
                       seconds=time.monotonic() - started)


def _validate_or_undo(path: Path, text: str, kb: Knowledge, created_root: Path | None) -> None:
    """Load the text as `tlsfit gen` would, from a temporary file next to `path` (so the relative
    CA path resolves); a failure removes a root written by this run and is a tlsfit bug."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check.yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        load_profile(Path(tmp), kb)
    except BadInput as exc:
        if created_root is not None:
            created_root.unlink(missing_ok=True)
            try:
                created_root.parent.rmdir()   # the certs folder, when this run made it and it is empty
            except OSError:
                pass
        raise ProbeError(f"tlsfit bug: the probed profile does not validate ({exc}); please report it "
                         "with the server's address") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)

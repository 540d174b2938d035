"""`probe` as a library call: a live server's address in, a validated profile and its root CA out.

    scan -> chain -> decide -> render -> validate -> write the root, then the profile

Every input (the output path and its folder, --ca, --sni, --alpn, --name) is checked before the
first packet; the root certificate and the profile are written atomically, and only after the
profile passes the same loader `tlsfit gen` runs. Nothing printed; progress through a callback.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


from core.errors import BadInput
from core.inputs import read_text
from core.write import check_output_dir, check_output_file, write_if_changed
from generator.costs import load_costs
from generator.knowledge import Knowledge
from generator.profile import MAX_CERT_FILE_BYTES, MAX_NAME_LEN, load_profile
from pipeline.stages import ServerAddress
from probe import ProbeError
from probe.chain import SYSTEM_TRUST_STORE, ChainInfo, analyse_chain
from probe.profile_writer import PREFERENCES, Decisions, decide, is_ip, render_profile, sanitize_name
from probe.scan import Target, check_reachable, openssl_cipher_names, run_client, scan

OPENSSL_TIMEOUT_S = 10.0                 # one `openssl x509` look at the leaf

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
    prefer: str = "security"             # "security": forward secrecy first; "size": the smallest build


@dataclass(frozen=True)
class ProbeResult:
    profile: Path                        # the profile written
    root: Path                           # its root certificate (certs/<root>.pem beside it)
    name: str                            # the profile's name
    decisions: Decisions                 # version, suite, group, ... chosen, with the reasons
    chain: ChainInfo                     # the served chain and where its root was found
    seconds: float
    warnings: tuple[str, ...] = ()       # what will fail or weaken later: a host the leaf does not name, an expired leaf


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
    if request.prefer not in PREFERENCES:
        raise BadInput(f"--prefer {request.prefer!r}: not one of {', '.join(PREFERENCES)}")
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
    check_reachable(target)  # an unreachable server fails before any progress is shown
    progress(f"asking {target.address} what it accepts (openssl s_client, gnutls-cli)")
    found = scan(target, kb, openssl_cipher_names(), request.alpn)
    progress("reading the served chain and finding its root")
    chain = analyse_chain(found.certificates, kb, request.ca, request.trust_store)
    decisions = decide(found, chain, kb, load_costs(), request.prefer)
    root_path = root_file(path.parent / CERTS_DIR, chain.root.common_name, chain.root.pem)
    text = render_profile(found, chain, decisions, kb, name=name, server_host=server_host,
                          root_file=f"{CERTS_DIR}/{root_path.name}")
    created_root = not root_path.exists()
    write_if_changed(root_path, chain.root.pem)
    _validate_or_undo(path, text, kb, root_path if created_root else None)
    write_if_changed(path, text)
    return ProbeResult(profile=path, root=root_path, name=name, decisions=decisions, chain=chain,
                       seconds=time.monotonic() - started, warnings=leaf_warnings(chain.leaf.pem, server_host))


def root_file(folder: Path, common_name: str, pem: str) -> Path:
    """certs/<root CN>.pem, unless a different certificate already has that name (another server's
    root, or one made to look like it): then certs/<root CN>-<sha256 of this one, 16 hex>.pem. An
    existing file is only ever rewritten with the same certificate."""
    plain = folder / f"{sanitize_name(common_name)}.pem"
    try:
        existing = plain.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return plain
    if existing.strip() == pem.strip():
        return plain
    der_hex = hashlib.sha256(pem.strip().encode()).hexdigest()[:16]
    return folder / f"{sanitize_name(common_name)}-{der_hex}.pem"


def leaf_warnings(leaf_pem: str, host: str) -> tuple[str, ...]:
    """A host name the leaf does not cover (the handshake will fail CN_MISMATCH), an expired leaf."""
    warnings: list[str] = []
    check = ["-checkip", host] if is_ip(host) else ["-checkhost", host]
    done = run_client(["openssl", "x509", "-noout", *check, "-ext", "subjectAltName", "-subject"], OPENSSL_TIMEOUT_S,
                      input=leaf_pem, text=True)
    if "does NOT match" in done.stdout:
        names = re.findall(r"(?:DNS|IP Address):([^,\s]+)", done.stdout)
        warnings.append(f"the server's certificate does not name {host}"
                        + (f" (it names {', '.join(names[:4])}{', ...' if len(names) > 4 else ''})" if names else "")
                        + ": mbedTLS will refuse it (CN_MISMATCH); probe again with --sni NAME, a name it covers")
    expired = run_client(["openssl", "x509", "-noout", "-checkend", "0", "-enddate"], OPENSSL_TIMEOUT_S,
                         input=leaf_pem, text=True)
    if expired.returncode == 1:
        end = expired.stdout.strip().removeprefix("notAfter=").splitlines()[0] if expired.stdout.strip() else "?"
        warnings.append(f"the server's certificate expired ({end}): a device with 'clock: rtc' will refuse it")
    return tuple(warnings)


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

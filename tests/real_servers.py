"""Real TLS servers (Debian's mosquitto and nginx-light) and DTLS CoAP servers (libcoap3-bin's
coap-server-openssl / coap-server-gnutls) on free 127.0.0.1 ports, for tests.

Each runs in the foreground in its own process group, with every file it
writes (config, pid, logs, temp folders) in a folder the test owns, and is
stopped by process group; stop() then checks that its PIDs are gone.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from measure.pki import TestPki
from measure.server import free_port, is_listening

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.05


@dataclass
class RealServer:
    name: str
    process: subprocess.Popen
    port: int
    workdir: Path
    log_file: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def group_pids(self) -> set[int]:
        """Live PIDs in the server's process group (nginx without master: one)."""
        pids: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid and fields[0] != "Z":  # pgrp, state
                pids.add(int(entry.name))
        return pids

    def stop(self) -> set[int]:
        """SIGTERM the group, SIGKILL after STOP_TIMEOUT_S; returns the PIDs that were
        in the group (all gone when this returns, or AssertionError)."""
        pids = self.group_pids() | {self.process.pid}
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.group_pids() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        left = self.group_pids()
        assert not left, f"{self.name} left processes behind: {sorted(left)}"
        return pids


def _start(name: str, argv: list[str], port: int, workdir: Path, log_file: Path,
           udp: bool = False) -> RealServer:
    with log_file.open("ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=workdir,
                                   start_new_session=True)
    server = RealServer(name, process, port, workdir, log_file)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if is_listening(port, udp=udp):
            return server
        time.sleep(POLL_S)
    server.stop()
    raise RuntimeError(f"{name} did not start: {' '.join(argv)}\n{server.log_text()}")


def start_mosquitto(pki: TestPki, workdir: Path) -> RealServer:
    """mosquitto 2.0 with one TLS 1.2 listener on 127.0.0.1, anonymous clients allowed.
    `user root`: otherwise it drops to the mosquitto user and cannot read the test's files."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_file = workdir / "mosquitto.log"
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        "user root\n"
        "per_listener_settings false\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "log_dest stderr\n"
        "log_type all\n"
        f"listener {port} 127.0.0.1\n"
        f"cafile {pki.root_file}\n"
        f"certfile {pki.server_cert_file}\n"
        f"keyfile {pki.server_key_file}\n"
        "tls_version tlsv1.2\n")
    return _start("mosquitto", ["mosquitto", "-c", str(conf)], port, workdir, log_file)


def start_nginx(pki: TestPki, host: str, workdir: Path) -> RealServer:
    """nginx (nginx-light) in the foreground, one process (no master), serving
    `GET /` over TLS 1.2 on 127.0.0.1; every file it writes lives in workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_file = workdir / "error.log"
    chain = workdir / "server-chain.pem"
    chain.write_bytes(pki.server_chain_pem)
    temp = {k: workdir / k for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir(exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(f"""daemon off;
master_process off;
worker_processes 1;
pid {workdir / 'nginx.pid'};
error_log {log_file} info;
events {{ worker_connections 64; }}
http {{
    access_log {workdir / 'access.log'};
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {host};
        ssl_certificate {chain};
        ssl_certificate_key {pki.server_key_file};
        ssl_protocols TLSv1.2;
        location / {{
            default_type text/plain;
            return 200 "tlsfit ok\\n";
        }}
    }}
}}
""")
    argv = ["nginx", "-p", str(workdir), "-e", str(log_file), "-c", str(conf)]
    return _start("nginx", argv, port, workdir, log_file)


COAP_PORT_TRIES = 20


def start_coap_server(psk_key: str, workdir: Path, impl: str = "openssl", hint: str = "CoAP") -> RealServer:
    """libcoap's example server (Debian libcoap3-bin) on 127.0.0.1 with one PSK (psk_key: the key as
    text, as -k takes it). It listens for plain CoAP on a port P and for DTLS on P+1: the returned
    server's port is P+1. It serves /, /.well-known/core, /time, /async and /example_data."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_file = workdir / f"coap-server-{impl}.log"
    for _ in range(COAP_PORT_TRIES):
        port = free_port()
        if port + 1 < 65536 and not is_listening(port + 1, udp=True) and not is_listening(port + 1):
            break
    else:
        raise RuntimeError("no two free consecutive ports for coap-server")
    argv = [f"coap-server-{impl}", "-A", "127.0.0.1", "-p", str(port), "-k", psk_key, "-h", hint, "-v", "6"]
    return _start(f"coap-server-{impl}", argv, port + 1, workdir, log_file, udp=True)

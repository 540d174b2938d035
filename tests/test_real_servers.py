"""`tlsfit measure --server` against real servers: Debian's mosquitto and nginx-light,
each with a TLS 1.2 ECDHE-ECDSA P-256 listener on a free 127.0.0.1 port and a
test PKI, stopped (and checked gone) by a fixture finalizer.

The --app cases need the harness's post-handshake protocols (--app none|mqtt|http);
they run the real CLI in QEMU, a few seconds each."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from generator.model import ChainShape
from measure.pki import TestPki, make_test_pki
from real_servers import RealServer, start_mosquitto, start_nginx

ROOT = Path(__file__).resolve().parents[1]
HOST = "broker.tlsfit.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_test_pki(ChainShape("secp256r1", (), "secp256r1"), HOST, None,
                         tmp_path_factory.mktemp("real-pki"))


def _server(request: pytest.FixtureRequest, server: RealServer) -> RealServer:
    def stop() -> None:
        pids = server.stop()
        assert pids and all(not Path(f"/proc/{pid}").exists()
                            or (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
                            for pid in pids)
    request.addfinalizer(stop)
    return server


@pytest.fixture(scope="module")
def mosquitto(request: pytest.FixtureRequest, pki: TestPki,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    yield _server(request, start_mosquitto(pki, tmp_path_factory.mktemp("mosquitto")))


@pytest.fixture(scope="module")
def nginx(request: pytest.FixtureRequest, pki: TestPki,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    yield _server(request, start_nginx(pki, HOST, tmp_path_factory.mktemp("nginx")))


def write_profile(folder: Path, pki: TestPki, port: int, name: str) -> Path:
    """A TLS 1.2 ECDHE-ECDSA P-256 profile trusting the test root, host = the cert's host."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "root.pem").write_bytes(pki.root_pem)
    profile = folder / f"{name}.yaml"
    profile.write_text(f"""name: {name}
description: a real server on 127.0.0.1 with a test PKI
server:
  host: {HOST}
  port: {port}
tls:
  versions: ["1.2"]
  ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  groups: [secp256r1]
  signature_algorithms: [ecdsa_secp256r1_sha256]
trust:
  ca_files: [root.pem]
target: mps2-an386
""")
    return profile


def measure(profile: Path, server: RealServer, app: str, out: Path) -> tuple[subprocess.CompletedProcess[str], dict | None]:
    proc = subprocess.run([sys.executable, str(ROOT / "tlsfit"), "measure", str(profile),
                           "--server", server.address, "--app", app, "--timeout", "100",
                           "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    report_file = out / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    return proc, report


def test_servers_run_in_their_own_folders(mosquitto: RealServer, nginx: RealServer) -> None:
    """The fixtures themselves: both listen, one process each, logs in the test's folder."""
    for server in (mosquitto, nginx):
        assert server.process.poll() is None, server.log_text()
        assert server.group_pids() == {server.process.pid}
        assert server.log_file.is_relative_to(server.workdir)


@pytest.mark.parametrize("which, app", [
    ("mosquitto", "none"),
    ("mosquitto", "mqtt"),
    ("nginx", "none"),
    ("nginx", "http"),
])
def test_measure_against_real_server(which: str, app: str, request: pytest.FixtureRequest,
                                     pki: TestPki, tmp_path: Path) -> None:
    server: RealServer = request.getfixturevalue(which)
    profile = write_profile(tmp_path, pki, server.port, f"real-{which}")
    proc, report = measure(profile, server, app, tmp_path / "out")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, f"{proc.stderr}\n--- {which} log:\n{server.log_text()[-2000:]}"
    assert report is not None
    assert report["handshake"]["ok"] is True
    assert report["handshake"]["version"] == "TLS 1.2"
    assert report["handshake"]["ciphersuite"] == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    assert report["server"]["address"] == server.address
    assert report["app"]["protocol"] == app
    assert report["app"]["ok"] is (None if app == "none" else True), report["app"]
    assert server.process.poll() is None  # the server outlived the session

"""scripts/ci-local.sh end to end: a scratch firmware repository with two commits that change a profile;
the .deb is installed, both commits measured on two shards, merged, gated, and the PR comment written."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from test_install import MBEDTLS, ROOT, build_deb, needs_mbedtls


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def firmware_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "firmware"
    (repo / "profiles").mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "ci@example.com")
    git(repo, "config", "user.name", "ci")
    psk = (ROOT / "profiles" / "tls12-psk.yaml").read_text()
    for name in ("sensor", "gateway"):
        (repo / "profiles" / f"{name}.yaml").write_text(psk.replace("name: tls12-psk", f"name: {name}"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two PSK profiles")
    with (repo / "profiles" / "sensor.yaml").open("a") as f:
        f.write("optimize: speed\n")     # bigger AES tables and unrolled SHA-256: ROM grows
    git(repo, "commit", "-qam", "sensor: optimize for speed")
    return repo


@needs_mbedtls
def test_ci_local_two_commits(firmware_repo: Path, tmp_path: Path) -> None:
    deb = build_deb(tmp_path / "deb")
    work = tmp_path / "ci"
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env.update(TLSFIT_DEB=str(deb), WORK=str(work), MBEDTLS_DIR=str(MBEDTLS), SHARDS="2", NO_COLOR="1")
    done = subprocess.run([str(ROOT / "scripts" / "ci-local.sh"), str(firmware_repo)], env=env,
                          capture_output=True, text=True, timeout=600)
    # the gate fails: the change grew the sensor's ROM against the target branch
    assert done.returncode == 1, done.stderr
    assert "gate FAILED" in done.stdout + done.stderr
    # two shards per side, each with one of the two profiles
    for side in ("base", "head"):
        shard_reports = [sorted(p.relative_to(work / side).parts[1] for p in (work / side / f"shard-{k}").rglob("report.json"))
                         for k in (1, 2)]
        assert sorted(sum(shard_reports, [])) == ["gateway", "sensor"] and all(len(s) == 1 for s in shard_reports)
    assert (work / "summary" / "summary.html").is_file()
    comment = (work / "comment.md").read_text()
    assert comment.startswith("<!-- tlsfit -->\n")
    assert "1 of 2 grew" in comment
    sensor = next(line for line in comment.splitlines() if line.startswith("| `sensor@"))
    gateway = next(line for line in comment.splitlines() if line.startswith("| `gateway@"))
    assert "(**+" in sensor and "(**+" not in gateway
    assert "options removed:" in comment and "MBEDTLS_AES_FEWER_TABLES" in comment
    assert "report.html](head/shard-" in comment
    assert "gate" in (work / "job-summary.md").read_text().lower()
    # the repository itself was only read
    status = subprocess.run(["git", "-C", str(firmware_repo), "status", "--porcelain"], capture_output=True,
                            text=True, check=True, timeout=60).stdout
    assert status.strip() in ("", "?? build/")

"""An installed tlsfit (the .deb unpacked into a scratch root, and `make install PREFIX=...`) works from
any directory: outputs relative to the current directory, caches in $XDG_CACHE_HOME/tlsfit."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
TARBALL = ROOT / "build" / "deps" / "mbedtls_3.6.6.orig.tar.bz2"
needs_mbedtls = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")


def build_deb(out: Path) -> Path:
    done = subprocess.run([str(ROOT / "packaging" / "deb" / "build-deb.sh"), str(out)],
                          capture_output=True, text=True, timeout=120, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="module")
def installed(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=60)
    return root


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_file() and not path.is_symlink():
            h.update(path.read_bytes())
    return h.hexdigest()


def env_for(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MBEDTLS_DIR", "XDG_CACHE_HOME")}
    env.update(XDG_CACHE_HOME=str(cache), NO_COLOR="1", **extra)
    return env


def test_deb_metadata_and_layout(deb: Path, installed: Path) -> None:
    assert deb.name == "tlsfit_0.1.0_all.deb"
    info = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Architecture", "Depends"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    assert "Package: tlsfit" in info and "Architecture: all" in info
    depends = {d.strip() for d in info.split("Depends:")[1].split(",")}
    for package in ("python3-jinja2", "python3-yaml", "python3-pyelftools", "gcc-arm-none-eabi", "qemu-system-arm"):
        assert package in depends
    # every Depends is a package scripts/setup.sh installs in a checkout too
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert all(f'"{d}:' in setup for d in depends), depends
    assert os.readlink(installed / "usr/bin/tlsfit") == "../lib/tlsfit/tlsfit"
    lib = installed / "usr/lib/tlsfit"
    assert (lib / "INSTALLED").is_file() and (lib / "ci/limits.yaml").is_file()
    assert (lib / "scripts/setup.sh").is_file() and (lib / "ports").is_dir()
    assert not list(lib.rglob("__pycache__")) and not (lib / "tests").exists()


@needs_mbedtls
def test_setup_fetches_into_the_user_cache(installed: Path, tmp_path: Path) -> None:
    # A pre-downloaded tarball stands in for Debian's source package: setup still checks the
    # pinned sha256 and unpacks into $XDG_CACHE_HOME/tlsfit/deps.
    if not TARBALL.is_file():
        pytest.skip("orig tarball not cached in build/deps")
    cache = tmp_path / "cache"
    (cache / "tlsfit" / "deps").mkdir(parents=True)
    shutil.copy(TARBALL, cache / "tlsfit" / "deps" / TARBALL.name)
    done = subprocess.run([str(installed / "usr/bin/tlsfit"), "setup"], cwd=tmp_path, env=env_for(cache),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    tree = cache / "tlsfit" / "deps" / "mbedtls-3.6.6"
    assert (tree / ".tlsfit-verified").is_file() and (tree / "include/mbedtls/build_info.h").is_file()
    # a corrupted tarball is refused with the next step to take
    shutil.rmtree(tree)
    (cache / "tlsfit" / "deps" / TARBALL.name).write_bytes(b"not mbedtls")
    bad = subprocess.run([str(installed / "usr/bin/tlsfit"), "setup"], cwd=tmp_path, env=env_for(cache),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 3
    assert "sha256" in bad.stderr and "tlsfit: next:" in bad.stderr


@needs_mbedtls
def test_installed_gen_and_measure_from_another_directory(installed: Path, tmp_path: Path) -> None:
    firmware = tmp_path / "firmware"
    (firmware / "profiles").mkdir(parents=True)
    shutil.copy(ROOT / "profiles" / "tls12-psk.yaml", firmware / "profiles" / "tls12-psk.yaml")
    cache = tmp_path / "cache"
    env = env_for(cache, MBEDTLS_DIR=str(MBEDTLS))
    tlsfit = str(installed / "usr/bin/tlsfit")
    lib_before = tree_digest(installed / "usr/lib/tlsfit")

    gen = subprocess.run([tlsfit, "gen", "profiles/tls12-psk.yaml"], cwd=firmware, env=env,
                         capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr
    assert (firmware / "build/tlsfit/tls12-psk/mbedtls_config.h").is_file()

    done = subprocess.run([tlsfit, "measure", "profiles/tls12-psk.yaml", "--part", "nrf52840"], cwd=firmware,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = firmware / "build/tlsfit/tls12-psk/mps2-an386"
    for name in ("report.json", "report.md", "report.html", "firmware.elf", "firmware.map"):
        assert (out / name).is_file(), name
    assert "nrf52840" in (out / "report.md").read_text()
    # the compiled mbedTLS went to the user cache, nothing into the installed tree or the checkout
    assert any((cache / "tlsfit" / "cache").iterdir())
    assert tree_digest(installed / "usr/lib/tlsfit") == lib_before
    # one progress line per stage start and one with its time at its end
    starts = [l for l in done.stderr.splitlines() if l.endswith(" ...")]
    ends = [l for l in done.stderr.splitlines() if " s" in l and ": done in " in l]
    assert len(starts) == len(ends) >= 3
    assert "report.html" in done.stdout and "optimize size" in done.stdout

    # -o is relative to the current directory too
    sub = firmware / "sub"
    sub.mkdir()
    again = subprocess.run([tlsfit, "measure", "../profiles/tls12-psk.yaml", "-q", "-o", "out"], cwd=sub,
                           env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (sub / "out/report.json").is_file() and again.stdout == "" and again.stderr == ""


def test_make_install_prefix(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"PREFIX={prefix}"], check=True, timeout=120,
                   capture_output=True)
    tlsfit = prefix / "bin" / "tlsfit"
    done = subprocess.run([str(tlsfit), "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.stdout.strip() == "tlsfit 0.1.0"
    # gen --no-validate needs neither mbedTLS nor a compiler: outputs land in ./build/tlsfit
    shutil.copy(ROOT / "profiles" / "tls12-psk.yaml", tmp_path / "p.yaml")
    gen = subprocess.run([str(tlsfit), "gen", "p.yaml", "--no-validate"], cwd=tmp_path,
                         env=env_for(tmp_path / "cache"), capture_output=True, text=True, timeout=60)
    assert gen.returncode == 0, gen.stderr
    assert (tmp_path / "build/tlsfit/tls12-psk/mbedtls_config.h").is_file()


def test_checkout_launcher_keeps_its_layout() -> None:
    from pipeline.workspace import is_installed, workspace
    assert not is_installed()
    ws = workspace({"HOME": "/nonexistent"})
    assert ws.build == ROOT / "build" and ws.cache == ROOT / "build" / "cache"
    assert ws.mbedtls == (ROOT / "build" / "deps" / "mbedtls-3.6.6").resolve()


def test_installed_layout_uses_xdg_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.workspace import workspace
    ws = workspace({"XDG_CACHE_HOME": str(tmp_path / "x")}, cwd=tmp_path / "fw", installed=True)
    assert ws.build == tmp_path / "fw" / "build" / "tlsfit"
    assert ws.cache == tmp_path / "x" / "tlsfit" / "cache"
    assert ws.mbedtls == tmp_path / "x" / "tlsfit" / "deps" / "mbedtls-3.6.6"
    assert workspace({"HOME": str(tmp_path), "XDG_CACHE_HOME": "relative"}, installed=True).cache == \
        tmp_path / ".cache" / "tlsfit" / "cache"
    assert workspace({"HOME": str(tmp_path), "MBEDTLS_DIR": str(tmp_path)}, installed=True).mbedtls == tmp_path


def test_colour_only_on_a_tty_without_no_color() -> None:
    from pipeline.workspace import workspace
    assert workspace({}).wants_colour(True)
    assert not workspace({}).wants_colour(False)
    assert not workspace({"NO_COLOR": ""}).wants_colour(True)
    assert not workspace({"TERM": "dumb"}).wants_colour(True)


@needs_mbedtls
def test_measure_over_budget_exits_1_with_json(tmp_path: Path) -> None:
    text = (ROOT / "profiles" / "tls12-psk.yaml").read_text()
    (tmp_path / "p.yaml").write_text(text + "budget: {rom: 20000}\n")
    done = subprocess.run([str(ROOT / "tlsfit"), "measure", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "out"),
                           "--json"], capture_output=True, text=True, timeout=300, env=env_for(tmp_path / "c"))
    assert done.returncode == 1, done.stderr
    report = __import__("json").loads(done.stdout)
    assert report["handshake"]["ok"] is True
    over = report["rom"]["total"] - 20_000
    assert f"rom.total {report['rom']['total']:,} B is {over:,} B over the profile's budget.rom of 20,000 B" in done.stderr
    assert f"OVER by {over:,} B" in done.stderr          # the table goes to stderr with --json
    assert "tlsfit: next:" in done.stderr
    assert report["artifacts"] == {"elf": "firmware.elf", "map": "firmware.map"}


def test_shard_picks_disjoint_covering_sets() -> None:
    from pipeline import parse_shard
    items = [Path(f"p{i}.yaml") for i in range(5)]
    picked = [parse_shard(f"{k}/3").pick(items) for k in (1, 2, 3)]
    assert sorted(sum(picked, []), key=str) == items and all(picked)
    for bad in ("0/2", "3/2", "x", "1/0"):
        with pytest.raises(Exception, match="--shard"):
            parse_shard(bad)

"""Issue 10: link-time optimisation, DWARF attribution, knobs (profile tuning:) and `tlsfit tune`.

Real builds and real QEMU handshakes against the reference server; the default part keeps to
tls12-psk (seconds per candidate), the broader search is marked slow.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from pipeline.workspace import workspace
from core.errors import BadInput, Infeasible
from generator.knowledge import knowledge_for
from generator.model import ProfileError
from generator.profile import load_profile
from generator.resolve import resolve
from pipeline import MeasureRequest, measure, open_mbedtls
from tune.front import pareto_keys
from tune.model import Candidate, Outcome, parse_budget
from generator.cores import find_core

# the default target's core (mps2-an386 runs the shipped profiles)
M4 = find_core("cortex-m4")

ROOT = Path(__file__).resolve().parent.parent
PSK = ROOT / "profiles" / "tls12-psk.yaml"
KB = knowledge_for("3.6.6")


def tlsfit(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "tlsfit"), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _measure(profile: Path, **changes: object) -> dict:
    ws = workspace()
    request = MeasureRequest(profile=profile, tree=open_mbedtls(ws.mbedtls), paths=ws.paths(), **changes)
    return measure(request, "test").report


# ---------------------------------------------------------------- LTO and DWARF attribution

def test_lto_build_handshakes_smaller_with_modules_from_dwarf() -> None:
    plain = _measure(PSK, lto=False)
    lto = _measure(PSK, lto=True)
    assert plain["handshake"]["ok"] and lto["handshake"]["ok"], lto["handshake"]
    assert plain["build"] == {"lto": False} and lto["build"] == {"lto": True}
    assert plain["rom"]["attribution"] == "map" and lto["rom"]["attribution"] == "dwarf"
    assert lto["rom"]["mbedtls"] > 0
    assert sum(lto["rom"]["modules"].values()) == lto["rom"]["mbedtls"]
    assert {"ssl_tls.o", "ccm.o", "aes.o"} <= set(lto["rom"]["modules"])
    assert lto["rom"]["total"] < plain["rom"]["total"]
    assert lto["rom"]["mbedtls"] < plain["rom"]["mbedtls"]
    assert 0 < lto["ram"]["static_mbedtls"] <= lto["ram"]["static"]


def test_header_says_whether_lto_was_built(tmp_path: Path) -> None:
    for flag, said in (("--lto", "link-time optimisation: mbedTLS and the application compiled with -flto"),
                       ("--no-lto", "no link-time optimisation")):
        r = tlsfit("gen", str(PSK), flag, "--no-validate", "-o", str(tmp_path / flag))
        assert r.returncode == 0, r.stderr
        head = (tmp_path / flag / "mbedtls_config.h").read_text().split("*/")[0]
        assert said in head


# ---------------------------------------------------------------- knobs and the profile's tuning:

def _write(tmp_path: Path, extra: str) -> Path:
    text = PSK.read_text(encoding="utf-8") + textwrap.dedent(extra)
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_profile_tuning_and_build_keys(tmp_path: Path) -> None:
    p = load_profile(_write(tmp_path, "build: {lto: true}\ntuning: {sha256_smaller: false, drbg: ctr}\n"), KB)
    assert p.lto is True and p.tuning == (("drbg", "ctr"), ("sha256_smaller", "off"))
    config = resolve(p, KB, M4)
    sha_smaller = KB.knobs["sha256_smaller"].option
    assert not config.has(sha_smaller)
    assert config.has(KB.knobs["drbg"].choices["ctr"]) and not config.has(KB.knobs["drbg"].choices["hmac"])


def test_profile_tuning_errors_point_at_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "tuning:\n  ecp_windw: 4\n")
    with pytest.raises(ProfileError) as e:
        load_profile(path, KB)
    lines = path.read_text().splitlines()
    assert str(e.value).startswith(f"{path}:{len(lines)}:") and "did you mean 'ecp_window'" in str(e.value)
    path = _write(tmp_path, "tuning:\n  ecp_window: 9\n")
    with pytest.raises(ProfileError, match="must be one of: 2, 3, 4, 5, 6"):
        load_profile(path, KB)
    with pytest.raises(ProfileError, match="build.lto' must be true or false"):
        load_profile(_write(tmp_path, "build: {lto: maybe}\n"), KB)


def test_knob_that_does_not_apply_is_infeasible() -> None:
    with pytest.raises(Infeasible, match="tuning.ecp_window: does not apply"):
        resolve(load_profile(PSK, KB), KB, M4, knobs={"ecp_window": "4"})


def test_budget_parsing() -> None:
    b = parse_budget("rom=48K,ram=32768,handshake_ms=500@64")
    assert (b.rom, b.ram, b.handshake_ms, b.mhz) == (48 * 1024, 32768, 500.0, 64.0)
    for bad in ("rom=", "flash=1", "handshake_ms=500", "rom=1,rom=2", ""):
        with pytest.raises(BadInput):
            parse_budget(bad)


def test_pareto_flags_by_dominance() -> None:
    def o(key: str, rom: int, ram: int, instr: int, status: str = "ok") -> Outcome:
        return Outcome(Candidate(key, (), False), status, rom_total=rom, rom_mbedtls=1, ram_total=ram,
                       instructions=instr, handshake_ok=status == "ok")
    outcomes = [o("a", 10, 10, 10), o("b", 9, 11, 10), o("c", 11, 11, 11), o("d", 1, 1, 1, "failed")]
    assert pareto_keys(outcomes) == {"a", "b"}
    # work within 0.5 % is the same work (run-to-run noise): less RAM for 0.3 % more work dominates,
    # 10 % less work does not fall to it
    noisy = [o("x", 10, 10, 100_000), o("y", 10, 9, 100_300), o("z", 10, 10, 90_000)]
    assert pareto_keys(noisy) == {"y", "z"}


# ---------------------------------------------------------------- tlsfit tune on tls12-psk

def _dominates(p: dict, q: dict) -> bool:
    """p dominates q: no larger in ROM and RAM, work no larger beyond 0.5 % noise, better in one."""
    (r1, m1, w1), (r2, m2, w2) = ((x["rom"]["total"], x["ram"]["total"], x["handshake"]["instructions"])
                                  for x in (p, q))
    same_work = abs(w1 - w2) <= 0.005 * max(w1, w2)
    no_worse = r1 <= r2 and m1 <= m2 and (w1 <= w2 or same_work)
    return no_worse and (r1 < r2 or m1 < m2 or (w1 < w2 and not same_work))


def test_tune_psk_small_search(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    r = tlsfit("tune", str(PSK), "--knobs", "sha256_smaller,aes_fewer_tables", "--levels", "size", "-o", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((out / "tune.json").read_text())
    rows = doc["candidates"]
    single = [row for row in rows if len(row["knobs"]) <= 1]
    assert len(single) == 6  # size and two one-knob moves, each without and with LTO
    # then the combination step: the moves on the Pareto front tried together, none twice
    combined = rows[6:]
    assert all(len(row["knobs"]) >= 2 or row["lto"] for row in combined)
    assert len({row["key"] for row in rows}) == len(rows)
    keys = {row["key"] for row in rows}
    assert {"size", "size+lto", "size+sha256_smaller=off", "size+lto+aes_fewer_tables=off"} <= keys
    for row in rows:
        assert row["status"] == "ok" and row["handshake"]["ok"] is True, row
        for field in ("pareto", "within_budget"):
            assert isinstance(row[field], bool)
        assert row["rom"]["total"] > row["rom"]["mbedtls"] > 0
        assert row["ram"]["total"] > 0 and row["handshake"]["instructions"] > 0
        assert row["within_budget"]  # no budget: every proven candidate is within
    front = [row for row in rows if row["pareto"]]
    assert front and doc["pareto"] == [row["key"] for row in front]
    for row in rows:  # the flags are consistent: the front is exactly the undominated set
        dominated = any(_dominates(other, row) for other in rows)
        assert row["pareto"] == (not dominated), row["key"]
    smallest = min(rows, key=lambda row: (row["rom"]["total"], row["ram"]["total"]))
    assert doc["chosen"] == smallest["key"] and smallest["lto"] is True
    assert (out / "tune.md").read_text().count("| ") > 4 and "<svg" in (out / "tune.html").read_text()

    # the written profile loads and measures to the figures tune reported
    written = out / "tls12-psk.yaml"
    assert doc["chosen_profile"] == str(written)
    profile = load_profile(written, KB)
    assert profile.lto is True
    report = _measure(written)
    assert report["handshake"]["ok"] and report["build"]["lto"] is True
    assert report["rom"]["total"] == smallest["rom"]["total"]
    assert report["config_sha256"] == smallest["config_sha256"]
    assert abs(report["ram"]["total"] - smallest["ram"]["total"]) <= 64
    assert abs(report["handshake"]["instructions"] - smallest["handshake"]["instructions"]) \
        <= 0.02 * smallest["handshake"]["instructions"]

    # an impossible budget: no candidate within it (the candidates come from the cache), exit 1
    again = tlsfit("tune", str(PSK), "--knobs", "sha256_smaller,aes_fewer_tables", "--levels", "size",
                   "--budget", "rom=1000", "-o", str(out), "-q")
    assert again.returncode == 1, again.stderr[-2000:]
    doc = json.loads((out / "tune.json").read_text())
    assert doc["chosen"] is None and not any(row["within_budget"] for row in doc["candidates"])
    assert all(row["pareto"] == (row["key"] in doc["pareto"]) for row in doc["candidates"])


def test_tune_shards_merge_to_the_whole(tmp_path: Path) -> None:
    args = ["--knobs", "sha256_smaller", "--levels", "size", "--lto", "off", "-q"]
    for k in (1, 2):
        r = tlsfit("tune", str(PSK), *args, "--shard", f"{k}/2", "-o", str(tmp_path / f"s{k}"))
        assert r.returncode == 0, r.stderr[-2000:]
    shares = [json.loads((tmp_path / f"s{k}" / "tune.json").read_text())["candidates"] for k in (1, 2)]
    assert len(shares[0]) == len(shares[1]) == 1
    r = tlsfit("tune", str(PSK), *args, "--merge", str(tmp_path / "s1"), str(tmp_path / "s2"),
               "-o", str(tmp_path / "all"))
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((tmp_path / "all" / "tune.json").read_text())
    assert sorted(row["key"] for row in doc["candidates"]) == ["size", "size+sha256_smaller=off"]
    assert (tmp_path / "all" / "tls12-psk.yaml").is_file()


@pytest.mark.skipif(shutil.which("ccache") is None, reason="ccache is not installed (apt-get install ccache)")
def test_tune_reports_the_object_cache(tmp_path: Path) -> None:
    args = ["--knobs", "sha256_smaller", "--levels", "size", "--lto", "off", "-o", str(tmp_path)]
    r = tlsfit("tune", str(PSK), *args)
    assert r.returncode == 0, r.stderr[-2000:]
    cache = json.loads((tmp_path / "tune.json").read_text())["object_cache"]
    assert cache["tool"] == "ccache"
    assert isinstance(cache["hits"], int) and isinstance(cache["misses"], int) and cache["hits"] >= 0
    assert cache["hit_rate"] is None or 0.0 <= cache["hit_rate"] <= 1.0
    assert "Object cache (ccache): " in (tmp_path / "tune.md").read_text() and "Object cache (ccache): " in r.stdout
    # turned off: null, and said so (the candidates come from DIR/candidates)
    off = subprocess.run([str(ROOT / "tlsfit"), "tune", str(PSK), *args, "-q"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env={**os.environ, "TLSFIT_NO_CCACHE": "1"})
    assert off.returncode == 0, off.stderr[-2000:]
    assert json.loads((tmp_path / "tune.json").read_text())["object_cache"] is None
    assert "Object cache: none" in (tmp_path / "tune.md").read_text()


def test_tune_bad_input_exits_2(tmp_path: Path) -> None:
    assert tlsfit("tune", str(PSK), "--budget", "flash=1", "-o", str(tmp_path)).returncode == 2
    assert tlsfit("tune", str(PSK), "--knobs", "warp_drive", "-o", str(tmp_path)).returncode == 2
    assert tlsfit("tune", str(PSK), "--shard", "3/2", "-o", str(tmp_path)).returncode == 2


@pytest.mark.slow
def test_tune_ecdhe_default_search(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    r = tlsfit("tune", str(ROOT / "profiles" / "tls12-ecdhe-ecdsa.yaml"), "-j", "2", "--prefer", "speed",
               "-o", str(out), timeout=3600)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((out / "tune.json").read_text())
    assert len(doc["candidates"]) >= 24
    # P-256 runs on p256-m at every level: the built-in ECP is the driver knob's other setting
    assert {"driver", "out_buffer"} <= set(doc["search"]["knobs"])
    assert any(row["key"].endswith("driver=legacy") and row["status"] == "ok" for row in doc["candidates"])
    ok = [row for row in doc["candidates"] if row["status"] == "ok"]
    fastest = min(ok, key=lambda row: row["handshake"]["instructions"])
    assert doc["chosen"] == fastest["key"]
    # the smallest ROM is on the front; two builds can tie on ROM and RAM (balanced+lto and
    # size+lto+driver=p256-m) and then the handshake's instruction noise picks which one is
    fewest = min(row["rom"]["total"] for row in ok)
    assert any(row["pareto"] for row in ok if row["rom"]["total"] == fewest)
    # the fastest work is on the front, up to the 0.5 % of run-to-run noise the front ignores
    least = fastest["handshake"]["instructions"]
    assert any(row["pareto"] for row in ok if row["handshake"]["instructions"] <= least * 1.005)


def test_chosen_profile_keeps_the_users_comments_and_relative_paths(tmp_path: Path) -> None:
    """Issue 21: tune's chosen profile is the user's own file with the chosen knobs patched in; it can be
    committed as it is, and `tlsfit gen` accepts it where tune writes it (another folder)."""
    from tune.output import chosen_profile_text
    src = tmp_path / "mine"
    (src / "certs").mkdir(parents=True)
    (src / "certs" / "root.pem").write_bytes((ROOT / "profiles" / "certs" / "AmazonRootCA1.pem").read_bytes())
    original = ("# my broker: keep this note\n"
                + (ROOT / "profiles" / "aws-iot-core.yaml").read_text()
                .replace("ca_files: [certs/AmazonRootCA1.pem]", "ca_files: [certs/root.pem]  # the broker's root")
                .replace("target: mps2-an386\n", "target: mps2-an386\noptimize: size   # my choice\n"))
    (src / "aws.yaml").write_text(original)
    profile = load_profile(src / "aws.yaml", KB)
    chosen = Outcome(candidate=Candidate(optimize="speed", knobs=(("ecp_window", "4"),), lto=True), status="ok",
                     rom_total=70_000, ram_total=30_000, instructions=90_000_000, handshake_ok=True)
    out = tmp_path / "tune-out"
    text = chosen_profile_text(profile, KB, chosen, f"tlsfit tune -o {out}", out)
    assert text.startswith("# Written by tlsfit tune from aws.yaml: candidate ")
    for line in original.splitlines():
        if line.lstrip().startswith("#"):
            assert line in text, line                        # every comment line of the user's file
    assert re.search(r"\n  ca_files: \[\.\./mine/certs/root\.pem\] +# the broker's root\n", text)  # relative, from out/
    assert re.search(r"\noptimize: speed +# my choice\n", text)
    assert "build: {lto: true}\n" in text and "tuning: {ecp_window: 4}\n" in text
    out.mkdir()
    (out / "aws.yaml").write_text(text)
    tuned = load_profile(out / "aws.yaml", KB)
    assert tuned.ca_files == ((src / "certs" / "root.pem").resolve(),)
    assert (tuned.optimize, tuned.lto, tuned.tuning) == ("speed", True, (("ecp_window", "4"),))
    gen = tlsfit("gen", str(out / "aws.yaml"), "--no-validate", "-o", str(tmp_path / "gen"))
    assert gen.returncode == 0, gen.stderr
    # tuning the tuned file again: still one "Written by" head, nothing else lost
    again = chosen_profile_text(tuned, KB, chosen, "again", out)
    assert again.count("# Written by tlsfit tune") == 1 and "# my broker: keep this note\n" in again
    assert "ca_files: [../mine/certs/root.pem]" in again

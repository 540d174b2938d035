"""Issue 23 item 3: shard files are reports: `tune --merge` checks each tune.json by a schema,
refuses shards of another search, and reads through the bounded reader.

One real shard is made by a real `tlsfit tune --shard 1/2` (a real build and handshake); the
tampered copies are that file with one field changed.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from reports.schema import SchemaError
from tune.shards import expected_identity, load_shard_outcomes

ROOT = Path(__file__).resolve().parent.parent
PSK = ROOT / "profiles" / "tls12-psk.yaml"
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
ARGS = ["--knobs", "sha256_smaller", "--levels", "size", "--lto", "off", "-q"]
pytestmark = pytest.mark.skipif(not MBEDTLS.is_dir(), reason="mbedTLS source not set up (make setup)")


def tlsfit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "tlsfit"), *args], cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "MBEDTLS_DIR": str(MBEDTLS)})


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("shards")
    for k in (1, 2):
        r = tlsfit("tune", str(PSK), *ARGS, "--shard", f"{k}/2", "-o", str(base / f"s{k}"))
        assert r.returncode == 0, r.stderr[-2000:]
    return base / "s1", base / "s2"


def _tampered(src: Path, dst: Path, change) -> Path:
    doc = json.loads((src / "tune.json").read_text())
    change(doc)
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "tune.json").write_text(json.dumps(doc))
    return dst


def _set(path: str, value):
    def change(doc: dict) -> None:
        *head, last = path.split(".")
        node = doc
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return change


def _ok_row(doc: dict) -> dict:
    return next(r for r in doc["candidates"] if r["status"] == "ok")


def _fail_marked_ok(doc: dict) -> None:
    row = doc["candidates"][0]
    row["status"], row["handshake"]["ok"] = "failed", True


TAMPERED = {
    "knobs as a list": (_set("candidates.0.knobs", ["ecp_window", "4"]), r"\$\.candidates\[0\]\.knobs: expected an object, got a list"),
    "unknown knob": (_set("candidates.0.knobs", {"warp_drive": "9"}), r"\$\.candidates\[0\]\.knobs\.warp_drive: not a knob"),
    "unknown setting": (_set("candidates.0.knobs", {"sha256_smaller": "maybe"}),
                        r"\$\.candidates\[0\]\.knobs\.sha256_smaller: expected one of off, on, got 'maybe'"),
    "rom.total a string": (_set("candidates.0.rom.total", "20516"),
                           r"\$\.candidates\[0\]\.rom\.total: expected a non-negative integer or null, got '20516'"),
    "optimize evil": (_set("candidates.0.optimize", "evil"),
                      r"\$\.candidates\[0\]\.optimize: expected one of size, balanced, speed, got 'evil'"),
    "negative ROM": (_set("candidates.0.rom.total", -5), r"\$\.candidates\[0\]\.rom\.total: expected a non-negative"),
    "failed marked ok": (_fail_marked_ok, r"\$\.candidates\[0\]\.handshake\.ok: is true but the status is 'failed'"),
    "status ok, handshake failed": (_set("candidates.0.handshake.ok", False),
                                    r"\$\.candidates\[0\]\.handshake\.ok: is false but the status is 'ok'"),
    "key that lies": (_set("candidates.0.key", "speed+lto"), r"\$\.candidates\[0\]\.key: is 'speed\+lto' but"),
    "status unknown": (_set("candidates.0.status", "great"), r"\$\.candidates\[0\]\.status: expected one of ok"),
    "no fingerprint": (lambda d: d.pop("fingerprint"), r"\$\.fingerprint: missing"),
    "candidates not a list": (_set("candidates", {"a": 1}), r"\$\.candidates: expected a list"),
    "searched knob unknown": (_set("search.knobs", {"warp": ["1"]}), r"\$\.search\.knobs\.warp: not a knob"),
}


@pytest.mark.parametrize("case", list(TAMPERED), ids=lambda c: c.replace(" ", "-"))
def test_tampered_shard_is_refused_by_json_path(shards: tuple[Path, Path], tmp_path: Path, case: str) -> None:
    change, message = TAMPERED[case]
    folder = _tampered(shards[0], tmp_path / "bad", change)
    with pytest.raises(SchemaError, match=rf"^{folder / 'tune.json'}: " + message):
        load_shard_outcomes(folder)


OTHER_SEARCH = {
    "another target": (_set("target", "microbit"), r"\$\.target: the shard was made for another target"),
    "another tlsfit version": (_set("tlsfit_version", "0.0.9"),
                               r"\$\.tlsfit_version: the shard was made for another tlsfit version"),
    "another profile": (_set("profile", "tls13-only"), r"\$\.profile: the shard was made for another profile"),
    "another profile content": (_set("fingerprint.profile_sha256", "0" * 64),
                                r"\$\.fingerprint\.profile_sha256: the shard was made for another profile file"),
    "another knowledge base": (_set("fingerprint.knowledge_sha256", "1" * 64),
                               r"\$\.fingerprint\.knowledge_sha256: the shard was made for another knowledge base"),
    "another server": (_set("fingerprint.server", "192.0.2.1:443"),
                       r"\$\.fingerprint\.server: the shard was made for another server"),
}


@pytest.mark.parametrize("case", list(OTHER_SEARCH), ids=lambda c: c.replace(" ", "-"))
def test_shard_of_another_search_is_refused(shards: tuple[Path, Path], tmp_path: Path, case: str) -> None:
    good, _ = load_shard_outcomes(shards[0])
    expect = expected_identity(good["fingerprint"], profile=good["profile"], target=good["target"])
    load_shard_outcomes(shards[0], expect)            # its own search: accepted
    change, message = OTHER_SEARCH[case]
    folder = _tampered(shards[0], tmp_path / "other", change)
    with pytest.raises(SchemaError, match=message):
        load_shard_outcomes(folder, expect)


@pytest.mark.parametrize("case", ["failed marked ok", "optimize evil", "rom.total a string", "knobs as a list",
                                  "unknown knob", "negative ROM"])
def test_merge_of_a_tampered_shard_exits_2_and_chooses_nothing(shards: tuple[Path, Path], tmp_path: Path,
                                                               case: str) -> None:
    bad = _tampered(shards[0], tmp_path / "bad", TAMPERED[case][0])
    out = tmp_path / "merged"
    r = tlsfit("tune", str(PSK), *ARGS, "--merge", str(bad), str(shards[1]), "-o", str(out))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert f"{bad / 'tune.json'}: $.candidates[0]." in r.stderr
    assert not out.exists() or not any(out.iterdir())      # nothing chosen, nothing written


def test_merge_refuses_another_target_and_version_on_the_command_line(shards: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    for name, change in (("target", _set("target", "microbit")), ("version", _set("tlsfit_version", "9.9.9"))):
        bad = _tampered(shards[0], tmp_path / name, change)
        r = tlsfit("tune", str(PSK), *ARGS, "--merge", str(bad), str(shards[1]), "-o", str(tmp_path / f"m-{name}"))
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert "the shard was made for another" in r.stderr


def test_merge_of_good_shards_still_chooses(shards: tuple[Path, Path], tmp_path: Path) -> None:
    r = tlsfit("tune", str(PSK), *ARGS, "--merge", str(shards[0]), str(shards[1]), "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((tmp_path / "tune.json").read_text())
    assert sorted(row["key"] for row in doc["candidates"]) == ["size", "size+sha256_smaller=off"]
    assert doc["fingerprint"]["knowledge_sha256"] and doc["chosen"]


def test_tune_json_linked_to_dev_zero_is_refused_at_once(shards: tuple[Path, Path], tmp_path: Path) -> None:
    folder = tmp_path / "zero"
    folder.mkdir()
    (folder / "tune.json").symlink_to("/dev/zero")
    r = tlsfit("tune", str(PSK), *ARGS, "--merge", str(folder), str(shards[1]), "-o", str(tmp_path / "m"))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "is not a regular file" in r.stderr and "Traceback" not in r.stderr
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "tune.json")
    r = tlsfit("tune", str(PSK), *ARGS, "--merge", str(fifo), "-o", str(tmp_path / "m2"))
    assert r.returncode == 2 and "is not a regular file" in r.stderr, r.stderr[-2000:]


def test_duplicate_keys_and_nan_are_refused(shards: tuple[Path, Path], tmp_path: Path) -> None:
    text = (shards[0] / "tune.json").read_text()
    folder = tmp_path / "nan"
    folder.mkdir()
    doc = json.loads(text)
    _ok_row(doc)["seconds"] = float("nan")
    (folder / "tune.json").write_text(json.dumps(doc))
    with pytest.raises(SchemaError, match="NaN is not a JSON number"):
        load_shard_outcomes(folder)

"""ProfileDoc: the profile file as written, comments and relative paths kept through load, patch, dump."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from generator.knowledge import knowledge_for
from generator.model import ProfileError
from generator.profile import load_profile
from generator.profile_doc import ProfileDoc

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "profiles").glob("*.yaml"))
KB = knowledge_for("3.6.6")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_profile_round_trips_byte_for_byte(path: Path) -> None:
    assert ProfileDoc.load(path).dump() == path.read_text()


@pytest.mark.parametrize("text", [
    "# top\nname: a  # eol\ntls:\n  ciphersuites:\n  - TLS_A\n  - TLS_B   # second\n",     # dashes at the key's column
    "name: 'a'\ntls:\n    versions:\n        - \"1.2\"\n",                                 # four-space indents
    "name: a\ntls:\n  max_fragment_length: null   # none honoured\n",
    "name: a\n\n\n# spaced out\nserver: {host: a.example, port: 1}\n\n# the end\n",
])
def test_other_layouts_round_trip(text: str) -> None:
    """(Not every layout: ruamel.yaml normalises the spaces inside a flow mapping, {a: 1,   b: 2}.)"""
    assert ProfileDoc.loads(text).dump() == text


def test_patching_fields_keeps_every_comment_and_the_rest_of_the_file() -> None:
    original = (ROOT / "profiles" / "aws-iot-core.yaml").read_text()
    doc = ProfileDoc.loads(original)
    doc.set("name", "aws-tuned")
    doc.set("optimize", "speed", comment="chosen by tlsfit tune")
    doc.set("build.lto", True)
    doc.set("tuning", {"ecp_window": 4, "drbg": "ctr"})
    doc.set("tls.groups", ["x25519"])
    doc.set("tls.client_certificate", {"key": "secp256r1"})
    text = doc.dump()
    for line in original.splitlines():
        if line.lstrip().startswith("#"):
            assert line in text, line
    data = yaml.safe_load(text)
    assert data["name"] == "aws-tuned" and data["optimize"] == "speed" and data["build"] == {"lto": True}
    assert data["tuning"] == {"ecp_window": 4, "drbg": "ctr"} and data["tls"]["groups"] == ["x25519"]
    assert data["tls"]["client_certificate"] == {"key": "secp256r1"}
    assert "optimize: speed  # chosen by tlsfit tune\n" in text
    assert "  groups: [x25519]\n" in text        # the user's flow list stays a flow list
    assert doc.get("build.lto") is True and "tls.alpn" in doc and "tls.nothing" not in doc
    untouched = {k: v for k, v in yaml.safe_load(original).items() if k not in ("name", "tls")}
    assert {k: data[k] for k in untouched} == untouched


def test_a_patched_quoted_value_keeps_its_quotes() -> None:
    doc = ProfileDoc.loads('tls:\n  psk: {identity: a, key: "00112233445566778899aabbccddeeff"}\n')
    doc.set("tls.psk.key", "ffeeddccbbaa99887766554433221100")
    assert doc.dump() == 'tls:\n  psk: {identity: a, key: "ffeeddccbbaa99887766554433221100"}\n'


def test_relocate_keeps_relative_paths_relative_and_pointing_at_the_same_files(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    (src / "certs").mkdir(parents=True)
    ca = (ROOT / "profiles" / "certs" / "AmazonRootCA1.pem").read_bytes()
    (src / "certs" / "root.pem").write_bytes(ca)
    text = ((ROOT / "profiles" / "aws-iot-core.yaml").read_text()
            .replace("[certs/AmazonRootCA1.pem]", "[certs/root.pem, /abs/other.pem]")
            .replace("  resumption: none\n", "  resumption: none\n  client_certificate:\n"
                     "    key: secp256r1\n    cert: 'certs/dev.pem'  # the device\n    key_file: certs/dev.key\n"))
    (src / "p.yaml").write_text(text)
    doc = ProfileDoc.load(src / "p.yaml")
    out = tmp_path / "elsewhere" / "deeper"
    doc.relocate(out)
    moved = doc.dump()
    assert "ca_files: [../../mine/certs/root.pem, /abs/other.pem]" in moved
    assert re.search(r"\n    cert: '../../mine/certs/dev.pem' +# the device\n", moved)
    assert "    key_file: ../../mine/certs/dev.key\n" in moved
    assert (out / "../../mine/certs/root.pem").resolve() == (src / "certs" / "root.pem").resolve()


def test_not_a_profile_document_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"^p.yaml:2: error: not valid YAML"):
        ProfileDoc.loads("name: a\n  bad: [\n", Path("p.yaml"))
    with pytest.raises(ProfileError, match="not a tlsfit profile"):
        ProfileDoc.loads("- a\n", Path("p.yaml"))


def test_a_written_document_loads_as_a_profile(tmp_path: Path) -> None:
    doc = ProfileDoc.new("made by a test\nsecond line")
    doc.set("name", "made")
    doc.set("server", {"host": "a.example", "port": 4433})
    doc.set("tls.versions", ["1.2"])
    doc.set("tls.ciphersuites", ["TLS_PSK_WITH_AES_128_CCM_8"])
    doc.set("tls.psk", {"identity": "dev", "key": "00112233445566778899aabbccddeeff"})
    doc.data["tls"].fa.set_block_style()
    (tmp_path / "made.yaml").write_text(doc.dump())
    assert doc.dump().startswith("# made by a test\n# second line\nname: made\n")
    profile = load_profile(tmp_path / "made.yaml", KB)
    assert profile.port == 4433 and profile.psk is not None and profile.psk.identity == "dev"

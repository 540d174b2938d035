"""core/located_yaml.py: lines kept, schema tables checked, every refusal at FILE:LINE."""
from __future__ import annotations

import pytest

from core.errors import LocatedError
from core.located_yaml import Field, LineDict, LineList, Reader, compose, load

SCHEMA = {"name": Field("str", True, "name: x"), "port": Field("int", lo=1, hi=65535),
          "mode": Field("choice", choices=("fast", "small")), "flags": Field("list"),
          "inner": Field("map", fields={"lto": Field("bool", True, "lto: true")})}


def refused(text: str, read=lambda r, m: None) -> str:
    r = Reader("f.yaml")
    with pytest.raises(LocatedError) as err:
        root = compose(text, "f.yaml")
        read(r, r.mapping(root, "", SCHEMA, required=True))
    return str(err.value)


def test_values_by_schema_kind() -> None:
    r = Reader("f.yaml")
    m = r.mapping(compose("name: a\nport: 443\nmode: fast\nflags: [x, y]\ninner:\n  lto: false\n", "f.yaml"),
                  "", SCHEMA, required=True)
    assert r.get(m, "port", "", SCHEMA) == 443 and r.get(m, "mode", "", SCHEMA) == "fast"
    assert r.get(m, "flags", "", SCHEMA) == ("x", "y")
    inner = r.get(m, "inner", "", SCHEMA)
    assert r.get(inner, "lto", "inner", SCHEMA["inner"].fields) is False
    assert r.get(m, "absent", "", {"absent": Field("int")}, 7) == 7


def test_refusals_name_the_line() -> None:
    assert refused("name: a\nprot: 1\n") == "f.yaml:2: error: unknown key 'prot'; did you mean 'port'?"
    assert refused("port: 1\n") == "f.yaml:1: error: missing required key 'name'; add e.g. 'name: x'"
    assert refused("name: a\nname: b\n") == "f.yaml:2: error: key 'name' appears twice; keep one"
    assert refused("name: a\ninner:\n  speed: 1\n", lambda r, m: r.get(m, "inner", "", SCHEMA)) == (
        "f.yaml:3: error: unknown key 'inner.speed'; allowed here: lto")
    # YAML 1.1 reads `on:` as the boolean true: no key of any table, and never echoed
    assert refused("name: a\ninner:\n  on: 1\n", lambda r, m: r.get(m, "inner", "", SCHEMA)) == (
        "f.yaml:3: error: this line holds no key tlsfit knows in 'inner'; allowed here: lto")
    assert refused("name: a\nport: 0\n", lambda r, m: r.get(m, "port", "", SCHEMA)) == (
        "f.yaml:2: error: 'port' is 0; it must be between 1 and 65535")
    assert refused("name: a\nmode: fats\n", lambda r, m: r.get(m, "mode", "", SCHEMA)) == (
        "f.yaml:2: error: 'mode' is 'fats'; use one of: fast, small; did you mean 'fast'?")
    missing_inner = refused("name: a\ninner: {}\n", lambda r, m: r.get(r.get(m, "inner", "", SCHEMA), "lto", "inner",
                                                                        SCHEMA["inner"].fields))
    assert missing_inner == "f.yaml:2: error: missing required key 'inner.lto'; add e.g. 'lto: true'"
    assert refused("name: [a\n").startswith("f.yaml:2: error: not valid YAML: ")
    assert refused("- a\n") == "f.yaml:1: error: 'the file' must be a mapping (key: value lines); got a list"


def test_constructed_data_keeps_lines_and_refuses_twice() -> None:
    data = load("# c\na:\n  - {b: 1}\n  - [2]\nc: {d: 3}\n", "f.yaml")
    assert isinstance(data, LineDict) and data.line == 2 and data.line_of("c") == 5
    assert isinstance(data["a"], LineList) and data["a"].line == 3 and data["a"][0].line == 3
    assert data == {"a": [{"b": 1}, [2]], "c": {"d": 3}}
    with pytest.raises(LocatedError, match=r"^f.yaml:3: error: key 'x' appears twice in this mapping; keep one$"):
        load("a:\n  x: 1\n  x: 2\n", "f.yaml")

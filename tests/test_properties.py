"""Property tests (Debian python3-hypothesis) for what reads untrusted input and what writes C.

Random and mutated inputs must end in a clean result or the contract's exception (BadInput: exit 2),
never another exception; a rendered header must hold no code but the options' #define lines,
whatever text the profile carries, and a few such headers are compiled against mbedTLS.
Derandomized and bounded: the suite runs in a few seconds of `make test`.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.errors import BadInput
from generator.knowledge import knowledge_for
from generator.profile import load_profile
from generator.render import _comment_safe, render_config
from generator.resolve import resolve
from generator.validate import validate_config
from reports.diff import diff_reports
from reports.gate import check, write_baseline
from reports.limits import LimitsError, default_limits, parse_limit
from reports.schema import SchemaError, parse_json, validate_baseline, validate_report
from tests.conftest import make_profile
from tests.test_hardening import sample_report
from generator.cores import find_core

# the default target's core (mps2-an386 runs the shipped profiles)
M4 = find_core("cortex-m4")

ROOT = Path(__file__).resolve().parent.parent
KB = knowledge_for("3.6.6")
MBEDTLS = ROOT / "build" / "deps" / "mbedtls-3.6.6"
FAST = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Any text, control characters, comment markers, trigraphs and backslashes included.
_TOKENS = st.sampled_from(["*/", "/*", "??/", "??", "\\", "\n", "\r\n", "#define EVIL 1", "#include <x>", "//",
                           "a", " ", "-", ".", ":", "\0", "\x0b", "\x7f", "\u00e9", "\u2028", "'", '"', "*", "/", "?"])
NASTY = st.one_of(st.lists(_TOKENS, max_size=12).map("".join),
                  st.text(alphabet=st.sampled_from(list("ab1 -.:*/?\\#\"'\n\r\t\0\x0b\x7f\u00e9{}"))
                          | st.characters(), max_size=40))

BASE_PROFILE = """name: prop
description: property test
server:
  host: broker.example.com
  port: 8883
tls:
  versions: ["1.2"]
  ciphersuites: [TLS_PSK_WITH_AES_128_CCM_8]
  psk: {identity: device-1, key: "00112233445566778899aabbccddeeff"}
  alpn: [mqtt]
budget: {rom: 81920}
"""


def code_lines(header: str) -> list[str]:
    """What a C preprocessor sees outside comments: trigraph ??/ and line splices first, then comments."""
    text = header.replace("??/", "\\").replace("\\\n", "")
    assert "//" not in re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    code = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return [line.strip() for line in code.splitlines() if line.strip()]


def expected_code(resolved) -> list[str]:
    defines = [f"#define {o.name}" + (f" {o.value}" if o.value is not None else "") for o in resolved.options]
    return ["#ifndef TLSFIT_MBEDTLS_CONFIG_H", "#define TLSFIT_MBEDTLS_CONFIG_H", *defines, "#endif"]


@FAST
@given(NASTY)
def test_comment_escaper_keeps_text_inside_one_comment(text: str) -> None:
    safe = _comment_safe(text)
    assert "*/" not in safe and "/*" not in safe and "??" not in safe
    assert "\n" not in safe and "\r" not in safe and safe.isprintable()
    assert not safe.endswith("\\")
    assert code_lines(f"/* {safe} */\nint x;\n") == ["int x;"]


@FAST
@given(description=NASTY, host=NASTY, warning=NASTY)
def test_rendered_header_holds_only_the_option_defines(description: str, host: str, warning: str) -> None:
    # the profile loader refuses such text; the renderer must be safe on its own all the same
    profile = make_profile("broker.example.com", 8883)
    resolved = resolve(profile, KB, M4)
    resolved = dataclasses.replace(resolved, warnings=(warning,), other_levels=(warning,))
    header = render_config(resolved, dataclasses.replace(profile, description=description, host=host), KB)
    assert code_lines(header) == expected_code(resolved)


def _mutations() -> st.SearchStrategy[str]:
    lines = BASE_PROFILE.splitlines()

    @st.composite
    def mutate(draw) -> str:
        out = list(lines)
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(out) - 1))
            kind = draw(st.sampled_from(["value", "line", "delete", "dup"]))
            if kind == "value" and ":" in out[i]:
                key = out[i].split(":", 1)[0]
                out[i] = f"{key}: {draw(st.one_of(NASTY, st.builds(json.dumps, NASTY), st.integers().map(str)))}"
            elif kind == "line":
                out.insert(i, draw(NASTY))
            elif kind == "delete":
                del out[i]
            else:
                out.insert(i, out[i])
        return "\n".join(out) + "\n"
    return mutate()


@pytest.fixture(scope="module")
def scratch() -> Path:
    path = Path(tempfile.mkdtemp(prefix="tlsfit-prop-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_base_profile_loads(scratch: Path) -> None:
    (scratch / "base.yaml").write_text(BASE_PROFILE)
    assert load_profile(scratch / "base.yaml", KB).host == "broker.example.com"


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=_mutations())
def test_mutated_profiles_load_or_are_bad_input_and_never_inject(scratch: Path, text: str) -> None:
    path = scratch / "mutated.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        profile = load_profile(path, KB)
        resolved = resolve(profile, KB, M4)
    except BadInput:
        return
    for value in (profile.name, profile.host, profile.description, *profile.alpn,
                  profile.psk.identity if profile.psk else ""):
        assert all(" " <= c for c in value) and "\n" not in value
    assert code_lines(render_config(resolved, profile, KB)) == expected_code(resolved)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_random_bytes_as_a_profile_are_bad_input(scratch: Path, data: bytes) -> None:
    path = scratch / "bytes.yaml"
    path.write_bytes(data)
    with pytest.raises(BadInput):
        load_profile(path, KB)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or not MBEDTLS.is_dir(),
                    reason="needs arm-none-eabi-gcc and the mbedTLS tree (make setup)")
@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(description=NASTY, host=NASTY)
@example(description="*/\n#error injected\n/*", host="a\\")
@example(description="x ??/", host="*/ int injected; /*")
def test_headers_with_hostile_text_still_compile(scratch: Path, description: str, host: str) -> None:
    profile = make_profile("broker.example.com", 8883)
    resolved = resolve(profile, KB, M4)
    header = render_config(resolved, dataclasses.replace(profile, description=description + "*??/", host=host), KB)
    validate_config(header, MBEDTLS, scratch / "compile", KB.check_headers)


# ---------------------------------------------------------------- reports, baselines, limits

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**12) | st.floats() | NASTY,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NASTY, inner, max_size=3),
                           max_leaves=6)

REPORT_PATHS = [("schema_version",), ("profile",), ("target",), ("rom",), ("rom", "total"), ("rom", "mbedtls"),
                ("rom", "modules"), ("rom", "modules", "ecp.o"), ("ram",), ("ram", "static"), ("ram", "heap_peak"),
                ("ram", "total"), ("ram", "stack_harness"), ("handshake",), ("handshake", "ok"),
                ("handshake", "error"), ("handshake", "instructions"), ("app",), ("app", "ok"), ("budget",),
                ("config_sha256",)]


@st.composite
def mutated_report(draw) -> dict:
    report = sample_report()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(REPORT_PATHS))
        node = report
        for part in path[:-1]:
            if not isinstance(node, dict):
                break
            node = node.setdefault(part, {})
        else:
            if isinstance(node, dict):
                if draw(st.booleans()):
                    node[path[-1]] = draw(JSON_VALUES)
                else:
                    node.pop(path[-1], None)
    return report


@FAST
@given(report=mutated_report())
def test_mutated_reports_are_valid_or_schema_errors_and_valid_ones_are_usable(report: dict) -> None:
    try:
        validate_report(report, "r.json")
    except SchemaError as e:
        assert str(e).startswith("r.json: $") and "\n" not in str(e)
        return
    diff_reports(report, copy.deepcopy(report))
    try:
        text = write_baseline([report])
    except BadInput:
        assert not report["handshake"]["ok"]
        return
    baseline = json.loads(text)
    validate_baseline(baseline, "b.json")
    assert check(baseline, [report], default_limits()).ok


@FAST
@given(entry=st.dictionaries(st.sampled_from(["rom.total", "rom.mbedtls", "ram.static", "ram.heap_peak",
                                              "ram.stack_peak", "ram.total", "handshake.instructions", "x"]),
                             JSON_VALUES, max_size=8),
       version=st.sampled_from([1, 1, 2, "1", True, None]))
def test_baselines_are_valid_or_schema_errors_never_unchecked(entry: dict, version: object) -> None:
    baseline = {"schema_version": version, "entries": {"demo@mps2-an386": entry}}
    try:
        validate_baseline(baseline, "b.json")
    except SchemaError:
        return
    result = check(baseline, [sample_report()], default_limits())
    # every metric was compared: none skipped because the baseline lacked it
    checked = {row.metric for row in result.rows if row.key == "demo@mps2-an386"}
    assert {"rom.total", "ram.total", "handshake.instructions"} <= checked


@FAST
@given(text=NASTY)
def test_json_reader_is_strict(text: str) -> None:
    try:
        parse_json(text, "x.json", "report")
    except SchemaError as e:
        assert str(e).startswith("x.json")


@FAST
@given(text=NASTY)
def test_limit_flags_parse_or_are_limits_errors(text: str) -> None:
    try:
        metric, limit = parse_limit(f"rom.total={text}")
    except LimitsError:
        return
    assert re.fullmatch(r"[+0-9., %]+", text)
    assert limit.absolute is None or limit.absolute >= 0

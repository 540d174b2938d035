"""Smaller contract breaks (issue 23 item 11, issue 18 item 4): multi-profile commands check every
profile first; repeated --limit parts are refused; report strings are schema-checked and escaped in
Markdown; a run stopped after its handshake keeps the handshake's line; a silent QEMU end says how."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from measure.harness_result import partial_result
from measure.qemu import silent_end
from reports.comment import compare, render_comment
from reports.limits import LimitsError, parse_limit
from reports.render import code_span, md_text
from reports.schema import SchemaError, validate_report
from test_reports import make_report

ROOT = Path(__file__).resolve().parent.parent
TLSFIT = ROOT / "tlsfit"


def test_multi_profile_measure_checks_every_profile_before_measuring(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('name: bad\nserver: {host: x.example.com, port: 1}\ntls:\n  versions: ["9.9"]\n')
    done = subprocess.run([sys.executable, str(TLSFIT), "measure", str(ROOT / "profiles" / "tls12-psk.yaml"),
                           str(bad), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("TLS version '9.9' is not supported") == 1, done.stderr
    assert f"{bad}:4: error:" in done.stderr
    assert "building" not in done.stderr                 # nothing was measured
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", ["rom.total=+5,+6", "rom.total=1%,2%", "bytes=+1,+5,2%"])
def test_repeated_limit_parts_are_refused(text: str) -> None:
    with pytest.raises(LimitsError) as exc:
        parse_limit(text)
    assert "twice" in str(exc.value)


def test_one_absolute_and_one_percent_part_still_work() -> None:
    metric, limit = parse_limit("rom.total=+512,2%")
    assert metric == "rom.total" and (limit.absolute, limit.percent) == (512, 2.0)


def test_schema_refuses_option_and_module_names_that_are_not_names() -> None:
    bad_option = copy.deepcopy(make_report())
    bad_option["options"] = ["MBEDTLS_X`](x) ![i](https://evil.example/i.png) `"]
    with pytest.raises(SchemaError) as exc:
        validate_report(bad_option, "r.json")
    assert "$.options[0]" in str(exc.value)
    bad_module = copy.deepcopy(make_report())
    bad_module["rom"]["modules"]["![i](https://evil.example/i.png)"] = 1
    with pytest.raises(SchemaError) as exc:
        validate_report(bad_module, "r.json")
    assert "module file name" in str(exc.value)
    validate_report(make_report(), "r.json")              # the real shape passes


def test_comment_code_spans_hold_a_backtick() -> None:
    """Even past the schema (a library caller), an option name cannot leave its code span."""
    new = copy.deepcopy(make_report())
    evil = "MBEDTLS_X`](x) ![i](https://evil.example/i.png)"
    new["options"] = new["options"] + [evil]
    text = render_comment(compare([make_report()], [new]))
    assert f"``{evil}``" in text
    assert code_span("a`b") == "``a`b``" and code_span("`a") == "`` `a ``"
    assert md_text("200 ![i](u) *x*") == "200 \\!\\[i\\]\\(u\\) \\*x\\*"


def test_report_md_escapes_the_server_answer() -> None:
    from measure.model import HandshakeRun
    from reports.report import render_markdown
    from test_reports import run
    answer = "HTTP/1.1 200 ![i](https://evil.example/i.png)"
    report = make_report(run=HandshakeRun(**{**run().__dict__, "ok": False, "app_ok": False, "handshake_ok": True,
                                              "app_detail": answer}), app="http")
    md = render_markdown(report)
    assert "![i](" not in md and "\\!\\[i\\]" in md


HANDSHAKE_LINE = ('TLSFIT-HANDSHAKE {"ok":0,"err":0,"stage":"","version":"TLSv1.2","suite":"TLS-PSK-WITH-AES-128-CCM-8",'
                  '"sent":120,"recv":142,"instr":556159,"heap_peak":20417,"heap_overhead":159,"stack_peak":1092,'
                  '"echo":"none","hs_ok":1,"hs_sent":120,"hs_recv":142,"app":"echo","app_ok":0,"app_sent":0,'
                  '"app_recv":0,"app_detail":"","close_ok":0,"states":[["CLIENT_HELLO",46197]]}')


def test_partial_result_keeps_the_handshake_and_fails_the_app() -> None:
    run = partial_result(f"boot\r\n{HANDSHAKE_LINE}\r\n")
    assert run is not None
    assert run.handshake_ok is True and run.ok is False and run.app_ok is False
    assert run.instructions == 556159 and run.heap_peak == 20417 and run.stack_peak == 1092
    assert run.error_stage == "app" and run.app_bytes_sent is None
    assert partial_result("nothing here") is None
    final = HANDSHAKE_LINE.replace("TLSFIT-HANDSHAKE", "TLSFIT-RESULT")
    assert partial_result(f"{HANDSHAKE_LINE}\n{final}\n") is None   # a full result wins


def test_silent_end_says_how_qemu_ended() -> None:
    killed = silent_end("QEMU", 0, "", "qemu-system-arm: terminating on signal 15 from pid 7 (x)\n", None)
    assert killed.startswith("QEMU was stopped by another process (qemu-system-arm: terminating on signal 15")
    assert "the firmware printed nothing" in killed
    crashed = silent_end("QEMU", -11, "", "", None)
    assert crashed.startswith("QEMU crashed (killed by SIGSEGV)")
    after = silent_end("QEMU", 0, HANDSHAKE_LINE + "\n", "", None)
    assert "the handshake had succeeded" in after and "TLSFIT-HANDSHAKE" not in after

"""tlsfit comment: pairing, growth vs jitter, modules and options that moved, the marker line."""
from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

from reports.comment import MARKER, compare, render_comment
from test_reports import make_report

ROOT = Path(__file__).resolve().parent.parent


def grown() -> dict:
    r = copy.deepcopy(make_report())
    r["rom"]["total"] += 512
    r["rom"]["modules"]["ecp.o"] += 512
    r["rom"]["modules"]["gcm.o"] = 100
    r["options"] = r["options"] + ["MBEDTLS_GCM_C"]
    return r


def test_growth_modules_and_options() -> None:
    c = compare([make_report()], [grown()], {"demo@mps2-an386": "https://ci/x/report.html"})
    (row,) = c.rows
    assert row.status == "changed" and c.grew == (row,)
    rom = next(m for m in row.metrics if m.metric.name == "rom.total")
    assert (rom.base, rom.new, rom.delta) == (60_000, 60_512, 512)
    assert row.modules[0] == ("ecp.o", 20_000, 20_512) and ("gcm.o", None, 100) in row.modules
    assert row.options_added == ("MBEDTLS_GCM_C",) and row.options_removed == ()
    text = render_comment(c)
    assert text.splitlines()[0] == MARKER
    assert "1 of 1 grew" in text and "60,512 (**+512**, +0.9 %)" in text
    assert "[report.html](https://ci/x/report.html)" in text and "`MBEDTLS_GCM_C`" in text
    assert "+—" not in text


def test_instruction_jitter_is_not_growth() -> None:
    r = copy.deepcopy(make_report())
    r["handshake"]["instructions"] += 5
    c = compare([make_report()], [r])
    assert c.grew == () and c.rows[0].status == "unchanged"
    assert "no change in 1 report" in render_comment(c)


def test_added_and_removed_reports() -> None:
    c = compare([make_report("old")], [make_report("new")])
    assert [(r.key, r.status) for r in c.rows] == [("new@mps2-an386", "added"), ("old@mps2-an386", "removed")]
    text = render_comment(c)
    assert "(new)" in text and "(removed)" in text


def test_cli_reads_folders_and_writes_file(tmp_path: Path) -> None:
    for side, report in (("base", make_report()), ("new", grown())):
        (tmp_path / side / "demo").mkdir(parents=True)
        (tmp_path / side / "demo" / "report.json").write_text(json.dumps(report))
    done = subprocess.run([str(ROOT / "tlsfit"), "comment", "base", "--new", "new", "-o", "c.md",
                           "--link-base", "https://ci.example/artifacts"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "(https://ci.example/artifacts/new/demo/report.html)" in (tmp_path / "c.md").read_text()
    missing = subprocess.run([str(ROOT / "tlsfit"), "comment", "nowhere", "--new", "new"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "tlsfit: next:" in missing.stderr

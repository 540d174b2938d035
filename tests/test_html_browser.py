"""report.html in a real headless browser: it renders, draws its SVG charts and runs its script without errors."""
from __future__ import annotations

import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from reports.report import write_report_files
from reports.summary import write_summary
from test_reports import CONFIG_TEXT, make_report

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed (apt-get install chromium)"),
]


def _chromium(args: list[str], profile_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile_dir}",
               "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = b""
    offset = 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            idat += data[offset + 8:offset + 8 + length]
        offset += 12 + length
    return width, height, zlib.decompress(idat)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    write_report_files(make_report(), out, CONFIG_TEXT)
    return out


def test_report_screenshot_is_not_blank(rendered: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = _chromium([f"--screenshot={shot}", "--window-size=1200,1600", (rendered / "report.html").as_uri()],
                     tmp_path / "profile")
    assert not _console_errors(done.stderr), done.stderr
    width, height, raw = _png_pixels(shot)
    assert (width, height) == (1200, 1600)
    # A blank or unstyled page has a handful of byte values; text, bars and colours give many.
    assert len(set(raw)) > 64


def test_report_dom_has_charts_and_no_script_errors(rendered: Path, tmp_path: Path) -> None:
    done = _chromium(["--dump-dom", (rendered / "report.html").as_uri()], tmp_path / "profile")
    assert not _console_errors(done.stderr), done.stderr
    dom = done.stdout
    assert dom.count("<svg") == 3
    modules = make_report()["rom"]["modules"]
    assert len(re.findall(r"<rect[^>]*><title>[^<]*ROM", dom)) == len(modules)
    assert dom.count("<tr>") == len(modules) + 1


def test_module_table_sorts_on_click(rendered: Path, tmp_path: Path) -> None:
    # Drive the page like a user: click the "ROM bytes" header once (ascending).
    page = (rendered / "report.html").read_text()
    click = '<script>document.querySelectorAll("#modules th")[1].click();</script>'
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.replace("</body>", click + "</body>"))
    done = _chromium(["--dump-dom", clicked.as_uri()], tmp_path / "profile")
    assert not _console_errors(done.stderr), done.stderr
    table = done.stdout[done.stdout.index('id="modules"'):]
    order = re.findall(r"<tr><td>([^<]+)</td>", table)
    modules = make_report()["rom"]["modules"]
    assert order == sorted(modules, key=modules.get)
    assert order != list(modules)  # the page starts largest first, so the click did something


def test_summary_renders(tmp_path: Path) -> None:
    write_summary([make_report("a"), make_report("b", target="mps2-an385")], tmp_path)
    done = _chromium(["--dump-dom", (tmp_path / "summary.html").as_uri()], tmp_path / "profile")
    assert not _console_errors(done.stderr), done.stderr
    assert done.stdout.count("<svg") == 2 and done.stdout.count("<rect") >= 6


# ---------------------------------------------------------------- every page at desktop and phone widths

PROBE = """<script>
(function () {
  var r = {scroll: document.documentElement.scrollWidth, width: window.innerWidth, clipped: [], charts: 0};
  document.querySelectorAll("svg.chart").forEach(function (svg) {
    r.charts += 1;
    var view = svg.viewBox.baseVal;
    svg.querySelectorAll("text").forEach(function (t) {
      var b = t.getBBox();
      if (b.x < -0.5 || b.x + b.width > view.width + 0.5) r.clipped.push(t.textContent);
    });
  });
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
})();
</script>"""

TLS12_STATES = ["CLIENT_HELLO", "SERVER_HELLO", "SERVER_CERTIFICATE", "SERVER_KEY_EXCHANGE", "SERVER_HELLO_DONE",
                "CLIENT_KEY_EXCHANGE", "CLIENT_CHANGE_CIPHER_SPEC", "CLIENT_FINISHED",
                "SERVER_CHANGE_CIPHER_SPEC", "SERVER_FINISHED", "FLUSH_BUFFERS", "HANDSHAKE_WRAPUP"]


def _pages(out: Path) -> list[Path]:
    from generator.model import Budget
    from generator.parts import find_part
    from reports.fit import with_part

    report = with_part(make_report("aws-iot-core", budget=Budget(rom=52_400, ram=40_960)), find_part("nrf52840"))
    report["handshake"]["states"] = [{"state": s, "instructions": 1_000_000 * (i + 1)}
                                     for i, s in enumerate(TLS12_STATES)]
    report["ram"]["heap_overhead"] = None
    write_report_files(report, out / "report", CONFIG_TEXT)
    host = make_report("aws-iot-core", target="host")
    host["rom"]["total"] = 900_000       # x86-64 code is far bigger than the Cortex-M builds
    reports = [report, with_part(make_report("tls12-psk", target="mps2-an385"), find_part("samd21")), host,
               make_report("letsencrypt-ecdsa-with-a-long-name", target="mps2-an505")]
    write_summary(reports, out / "summary")
    return [out / "report" / "report.html", out / "summary" / "summary.html"]


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_fits_the_window(tmp_path: Path, width: int) -> None:
    import json
    for page in _pages(tmp_path / "pages"):
        probed = tmp_path / f"probe-{page.name}"
        probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
        done = _chromium([f"--window-size={width},900", "--dump-dom", probed.as_uri()], tmp_path / "profile")
        assert not _console_errors(done.stderr), done.stderr
        result = json.loads(re.search(r'<pre id="probe">([^<]*)</pre>', done.stdout).group(1))
        assert result["charts"] >= 2, page
        assert result["clipped"] == [], (page.name, width, result["clipped"])
        assert result["scroll"] <= result["width"], (page.name, width, result)
        dom = done.stdout
        assert "+—" not in dom and "external ()" not in dom and "console tail:\n\n" not in dom


def test_part_and_host_rendering(tmp_path: Path) -> None:
    report_page, summary_page = _pages(tmp_path / "pages")
    done = _chromium(["--window-size=1280,900", "--dump-dom", report_page.as_uri()], tmp_path / "profile")
    dom = done.stdout
    assert 'id="part"' in dom and "nrf52840" in dom and "ROM over by 7,600" in dom
    assert "CLIENT_CHANGE_CIPHER_SPEC" in dom and "SERVER_CHANGE_CIPHER_SPEC" in dom
    summary = _chromium(["--window-size=1280,900", "--dump-dom", summary_page.as_uri()], tmp_path / "profile").stdout
    # the host run has a chart of its own: three footprint/work charts, not two
    assert summary.count("<svg") == 3 and "on the Linux host" in summary
    assert "flash used %" in summary

"""What allow_insecure: true lets through is named in report.json and report.md, not only the header."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_weak_psk_is_named_in_the_report(tmp_path: Path) -> None:
    text = (ROOT / "profiles" / "tls12-psk.yaml").read_text()
    weak = text.replace('key: "00112233445566778899aabbccddeeff"', 'key: "0011223344556677"') + "allow_insecure: true\n"
    profile = tmp_path / "weak.yaml"
    profile.write_text(weak)
    done = subprocess.run([str(ROOT / "tlsfit"), "measure", str(profile), "--target", "host", "-o", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["insecure"] and "tls.psk.key is 8 bytes" in report["insecure"][0]
    assert "INSECURE (allow_insecure: true)" in (tmp_path / "out" / "report.md").read_text()
    strict = subprocess.run([str(ROOT / "tlsfit"), "gen", str(ROOT / "profiles" / "tls12-psk.yaml"), "-o",
                             str(tmp_path / "strict")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert strict.returncode == 0

"""Profile keys `app:` and `clock:`: parsed with FILE:LINE errors, carried to the firmware and the config."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from generator.knowledge import knowledge_for
from generator.model import App, ProfileError
from generator.profile import load_profile
from pipeline import choose_app, generate
from generator.cores import find_core

M4 = find_core("cortex-m4")  # the default target's core (mps2-an386)

KB = knowledge_for("3.6.6")  # the pinned mbedTLS's knowledge base
ROOT = Path(__file__).resolve().parent.parent
BASE = (ROOT / "profiles" / "tls12-ecdhe-ecdsa.yaml").read_text()


def _profile(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(BASE.replace("name: tls12-ecdhe-ecdsa", "name: p") + extra)
    # the profile names the test chain only; no files to copy
    return path


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_app_scalar_and_mapping(tmp_path: Path) -> None:
    assert load_profile(_profile(tmp_path, "app: mqtt\n"), KB).app == App("mqtt")
    p = load_profile(_profile(tmp_path, "app: {protocol: http, path: /health}\n"), KB)
    assert p.app == App("http", path="/health")
    assert load_profile(_profile(tmp_path, ""), KB).app is None


@pytest.mark.parametrize("extra, needle, message", [
    ("app: smtp\n", "app: smtp", "'app' is 'smtp'; use one of: none, echo, mqtt, http"),
    ("app: {protocol: mqtt, client_id: this-client-id-is-far-too-long}\n", "client_id",
     "'app.client_id' must be 1 to 23 printable characters"),
    ("app: {protocol: http, path: 'no slash'}\n", "path:", "'app.path' must start with '/'"),
    ("app: {protocl: http}\n", "protocl", "unknown key 'app.protocl'; did you mean 'protocol'?"),
    ("clock: ntp\n", "clock:", "'clock' is 'ntp'; use one of: none, rtc"),
])
def test_bad_app_or_clock_names_file_and_line(tmp_path: Path, extra: str, needle: str, message: str) -> None:
    path = _profile(tmp_path, extra)
    with pytest.raises(ProfileError) as err:
        load_profile(path, KB)
    assert str(err.value).startswith(f"{path}:{_line_of(path, needle)}: error: ")
    assert message in str(err.value)


def test_clock_rtc_checks_dates_and_none_warns(tmp_path: Path) -> None:
    rtc = generate(_profile(tmp_path, "clock: rtc\n"), KB, M4)
    for role in ("time", "time_date", "time_source", "time_ms", "time_gmtime"):
        assert rtc.resolved.has(KB.option(role))
    assert not any("NOT checked" in w for w in rtc.resolved.warnings)
    none = generate(_profile(tmp_path, "clock: none\n"), KB, M4)
    assert not none.resolved.has(KB.option("time_date"))
    assert any("NOT checked" in w for w in none.resolved.warnings)


def test_clock_rtc_adds_nothing_without_certificates() -> None:
    """PSK profiles have no dates to check: clock: rtc costs them nothing."""
    psk = generate(ROOT / "profiles" / "tls12-psk.yaml", KB, M4)
    assert not psk.resolved.has(KB.option("time"))


def test_choose_app_defaults_and_reference_limits(tmp_path: Path) -> None:
    plain = load_profile(_profile(tmp_path, ""), KB)
    assert choose_app(plain, None, external=False).protocol == "echo"
    assert choose_app(plain, None, external=True).protocol == "none"
    assert choose_app(plain, "none", external=False).protocol == "none"
    mqtt = load_profile(_profile(tmp_path, "app: mqtt\n"), KB)
    assert choose_app(mqtt, None, external=True) == App("mqtt", client_id="tlsfit-p")
    # the reference servers only echo: a profile's mqtt falls back, an explicit --app mqtt is refused
    assert choose_app(mqtt, None, external=False).protocol == "echo"
    with pytest.raises(BadInput, match="reference server only answers none or echo"):
        choose_app(plain, "mqtt", external=False)

"""Issue 11: every bad input exits 2 with one clear line, nothing half-written, nothing injected.

Mostly CLI runs of ./tlsfit gen / gate / diff / report (gen with --no-validate: no compiler needed
for these refusals) checking the exit code, a message naming the file/path/field, no traceback,
and that nothing was written.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
from pathlib import Path

import pytest

from generator.knowledge import knowledge_for
from generator.model import ChainShape
from measure.build import first_error
from measure.pki import make_test_pki

ROOT = Path(__file__).resolve().parent.parent
KB = knowledge_for("3.6.6")

PSK_TLS = """tls:
  versions: ["1.2"]
  ciphersuites: [TLS_PSK_WITH_AES_128_CCM_8]
  psk: {identity: device-1, key: "00112233445566778899aabbccddeeff"}
"""
ECDSA_TLS = """tls:
  versions: ["1.2"]
  ciphersuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  groups: [secp256r1]
  signature_algorithms: [ecdsa_secp256r1_sha256]
"""


def tlsfit(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "tlsfit"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> str:
    """Exit `code`, no traceback, and the first stderr line holds every needle."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    assert "Traceback" not in out, out
    first = proc.stderr.splitlines()[0]
    for needle in needles:
        assert needle in first, first
    return first


def gen(profile: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return tlsfit("gen", "--no-validate", str(profile), "-o", str(out))


def write_profile(tmp: Path, body: str, name: str = "p.yaml") -> Path:
    path = tmp / name
    path.write_text(body)
    return path


# ---------------------------------------------------------------- injection and bounds

def test_host_with_comment_end_and_newlines_is_refused(tmp_path: Path) -> None:
    p = write_profile(tmp_path, 'name: inj\nserver:\n  host: "a*/\\n#define EVIL 1\\n/*"\n' + PSK_TLS)
    first = assert_refused(gen(p, tmp_path / "out"), f"{p}:3: error:", "server.host", "not valid")
    assert "\n" not in first and "#define" in first  # quoted as an escaped excerpt, on one line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("host, why", [
    ("a.example,DNS:evil.example", "not a host name"),
    ("evil\nsubjectAltName = DNS:x", "not a host name"),
    ("a" * 64 + ".example", "at most 63"),
    (("a" * 60 + ".") * 5 + "com", "at most 253"),
    ("999.1.1.1", "IP address"),
])
def test_host_must_be_an_rfc1123_name_or_ip(tmp_path: Path, host: str, why: str) -> None:
    p = write_profile(tmp_path, f"name: h\nserver:\n  host: {json.dumps(host)}\n" + PSK_TLS)
    assert_refused(gen(p, tmp_path / "out"), f"{p}:3:", why)


@pytest.mark.parametrize("host", ["broker.example.com", "192.0.2.1", "2001:db8::1", "a-b.c1", "localhost",
                                  "a" * 63 + "." + "b" * 63 + ".example"])
def test_valid_hosts_are_accepted(tmp_path: Path, host: str) -> None:
    p = write_profile(tmp_path, f"name: h\nserver:\n  host: {json.dumps(host)}\n" + PSK_TLS)
    proc = gen(p, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert f"{host}:443" in (tmp_path / "out" / "mbedtls_config.h").read_text()


def test_long_description_and_name_are_refused_with_the_limit(tmp_path: Path) -> None:
    p = write_profile(tmp_path, f"name: d\ndescription: {'x' * 5000}\nserver: {{host: a.example}}\n" + PSK_TLS)
    assert_refused(gen(p, tmp_path / "o1"), f"{p}:2:", "description", "at most 400")
    p = write_profile(tmp_path, 'name: d\ndescription: "two\\nlines"\nserver: {host: a.example}\n' + PSK_TLS)
    assert_refused(gen(p, tmp_path / "o2"), f"{p}:2:", "one line")
    p = write_profile(tmp_path, f"name: {'a' * 300}\nserver: {{host: a.example}}\n" + PSK_TLS)
    assert_refused(gen(p, tmp_path / "o3"), f"{p}:1:", "'name' is 300 characters; at most 64")
    assert not any((tmp_path / o).exists() for o in ("o1", "o2", "o3"))


@pytest.mark.parametrize("identity, needle", [
    ('"a\\0b"', "printable ASCII"),
    ('"caf\\u00e9"', "printable ASCII"),
    ('"' + "i" * 70000 + '"', "at most"),
])
def test_psk_identity_is_printable_and_within_mbedtls_limit(tmp_path: Path, identity: str, needle: str) -> None:
    body = PSK_TLS.replace("identity: device-1", f"identity: {identity}")
    p = write_profile(tmp_path, "name: psk\nserver: {host: a.example}\n" + body)
    assert_refused(gen(p, tmp_path / "out"), f"{p}:6:", "tls.psk.identity", needle)


def test_psk_identity_limit_follows_the_output_buffer(tmp_path: Path) -> None:
    out_len = KB.buffers.out_default
    limit = out_len - KB.buffers.handshake_overhead
    for length, ok in ((limit, True), (limit + 1, False)):
        body = PSK_TLS.replace("identity: device-1", f"identity: {'i' * length}")
        p = write_profile(tmp_path, "name: psk\nserver: {host: a.example}\n" + body)
        proc = gen(p, tmp_path / f"out{length}")
        assert (proc.returncode == 0) == ok, proc.stderr
        if not ok:
            assert f"at most {limit}" in proc.stderr


def test_chain_depth_is_limited_by_the_knowledge_base(tmp_path: Path) -> None:
    most = KB.limit("max_intermediate_ca")
    assert most == 8  # include/mbedtls/x509.h MBEDTLS_X509_MAX_INTERMEDIATE_CA
    for n, ok in ((most, True), (12, False)):
        chain = ", ".join(["secp256r1"] * n)
        p = write_profile(tmp_path, "name: deep\nserver: {host: a.example}\n" + ECDSA_TLS
                          + f"trust:\n  chain: {{root: secp256r1, intermediates: [{chain}], leaf: secp256r1}}\n")
        proc = gen(p, tmp_path / f"out{n}")
        if ok:
            assert proc.returncode == 0, proc.stderr
        else:
            assert_refused(proc, f"{p}:9:", "12 intermediate CAs", f"at most {most}")


# ---------------------------------------------------------------- input files

def test_input_files_are_checked_before_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert_refused(gen(fifo, tmp_path / "o"), str(fifo), "not a regular file")  # never hangs
    (tmp_path / "dir.yaml").mkdir()
    assert_refused(gen(tmp_path / "dir.yaml", tmp_path / "o"), "is a directory")
    assert_refused(gen(Path("/dev/zero"), tmp_path / "o"), "/dev/zero", "not a regular file")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    assert_refused(gen(tmp_path / "loop1", tmp_path / "o"), "symbolic link loop")
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n" + "#" * (1 << 20))
    assert_refused(gen(big, tmp_path / "o"), str(big), "at most 1 MiB")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: x\ndescription: caf\xe9\n")
    assert_refused(gen(bad, tmp_path / "o"), f"{bad}:2: error:", "not UTF-8", "0xe9")
    assert not (tmp_path / "o").exists()


def test_a_file_that_is_not_yaml_is_not_echoed(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$y$j9T$SECRETHASHSECRETHASH:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n")
    first = assert_refused(gen(secret, tmp_path / "o"), f"{secret}:1:", "tlsfit profile")
    message = first.split(": error: ", 1)[1]
    assert "SECRET" not in message and "root" not in message and "20228" not in message


@pytest.mark.parametrize("entry, reason", [("cadir", "is a directory"), ("fifo.pem", "is not a regular file"),
                                           ("loop.pem", "symbolic link loop"), ("nope.pem", "not found")])
def test_ca_files_entries_say_what_is_wrong(tmp_path: Path, entry: str, reason: str) -> None:
    (tmp_path / "cadir").mkdir()
    os.mkfifo(tmp_path / "fifo.pem")
    (tmp_path / "loop.pem").symlink_to(tmp_path / "loop.pem")
    p = write_profile(tmp_path, "name: ca\nserver: {host: a.example}\n" + ECDSA_TLS
                      + f"trust:\n  ca_files: [{entry}]\n")
    assert_refused(gen(p, tmp_path / "out"), f"{p}:9:", f"'{entry}'", reason)


# ---------------------------------------------------------------- output paths

@pytest.mark.parametrize("kind", ["file", "under-file", "proc"])
def test_gen_output_path_checked_before_work(tmp_path: Path, kind: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep")
    out = {"file": afile, "under-file": afile / "sub", "proc": Path("/proc/tlsfit-out")}[kind]
    proc = gen(ROOT / "profiles" / "tls12-psk.yaml", out)
    assert_refused(proc, str(out))
    assert afile.read_text() == "keep"


def test_target_is_a_name_not_a_path(tmp_path: Path) -> None:
    proc = tlsfit("gen", str(ROOT / "profiles" / "tls12-psk.yaml"), "--target", "../../..", "-o", str(tmp_path / "o"))
    assert_refused(proc, "'../../..' is not a board name")


# ---------------------------------------------------------------- reports and baselines

def sample_report() -> dict:
    return {
        "schema_version": 1, "tlsfit_version": "0.1.0", "profile": "demo", "target": "mps2-an386",
        "config_sha256": "ab" * 32,
        "rom": {"total": 60_000, "mbedtls": 44_000, "other": 16_000, "modules": {"ecp.o": 44_000}},
        "ram": {"static": 3_000, "heap_peak": 6_900, "stack_peak": 1_600, "total": 11_500,
                "static_mbedtls": 1_000, "stack_harness": 200, "stack_mbedtls": 1_400},
        "handshake": {"ok": True, "error": None, "instructions": 100_000_000, "bytes_sent": 300,
                      "allocator_instructions": 5_000, "allocations": 40},
        "app": {"protocol": "echo", "ok": True}, "server": {"kind": "reference"}, "clock": "none",
        "advice": [], "budget": None,
    }


def _set(path: tuple, value: object):
    def change(report: dict) -> None:
        node = report
        for part in path[:-1]:
            node = node[part]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return change


BAD_REPORTS = {
    "no-profile": (_set(("profile",), KeyError), "$.profile: missing"),
    "no-target": (_set(("target",), KeyError), "$.target: missing"),
    "rom-list": (_set(("rom",), [1, 2]), "$.rom: expected an object, got a list"),
    "string": (_set(("rom", "total"), "12"), '$.rom.total: expected a non-negative integer, got "12"'),
    "float": (_set(("rom", "total"), 12.5), "$.rom.total: expected a non-negative integer, got 12.5"),
    "negative": (_set(("ram", "heap_peak"), -1), "$.ram.heap_peak: expected a non-negative integer"),
    "bool-figure": (_set(("ram", "static"), True), "$.ram.static: expected a non-negative integer"),
    "null-when-ok": (_set(("ram", "total"), None), "$.ram.total: expected a non-negative integer, got null"),
    "schema": (_set(("schema_version",), 999), "$.schema_version: this tlsfit reads report schema_version 1"),
    "ok-string": (_set(("handshake", "ok"), "yes"), '$.handshake.ok: expected true or false, got "yes"'),
    "module": (_set(("rom", "modules", "ssl tls.o"), "x"), '$.rom.modules["ssl tls.o"]: expected'),
    "error-string": (_set(("handshake", "error"), "boom"), "$.handshake.error: expected an object"),
    "instr-string": (_set(("handshake", "instructions"), "1"), "$.handshake.instructions: expected"),
    "app-ok": (_set(("app", "ok"), "yes"), "$.app.ok: expected true or false or null"),
}


@pytest.mark.parametrize("case", sorted(BAD_REPORTS))
def test_bad_report_is_exit_2_with_the_json_path(tmp_path: Path, case: str) -> None:
    change, needle = BAD_REPORTS[case]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(sample_report()))
    report = sample_report()
    change(report)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(report))
    assert_refused(tlsfit("diff", str(good), str(bad)), f"{bad}: {needle}")
    baseline = tmp_path / "baseline.json"
    assert_refused(tlsfit("gate", "--write-baseline", str(baseline), str(bad)), f"{bad}: {needle}")
    assert not baseline.exists()


def test_bad_report_against_a_baseline_is_exit_2_not_a_regression(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(sample_report()))
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(good)).returncode == 0
    for case in ("no-profile", "string", "null-when-ok"):
        change, needle = BAD_REPORTS[case]
        report = sample_report()
        change(report)
        bad = tmp_path / f"{case}.json"
        bad.write_text(json.dumps(report))
        assert_refused(tlsfit("gate", "--baseline", str(baseline), str(bad)), f"{bad}: {needle}")


def test_nan_and_duplicate_keys_are_not_json_reports(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(sample_report()))
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps(sample_report()).replace('"total": 60000', '"total": NaN'))
    assert_refused(tlsfit("diff", str(good), str(nan)), str(nan), "NaN")
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps(sample_report())[:-1] + ', "profile": "other"}')
    assert_refused(tlsfit("diff", str(good), str(dup)), str(dup), "appears twice")


@pytest.mark.parametrize("figure", [None, KeyError, "1", 1.5, -3])
def test_baseline_figure_missing_or_not_an_integer_is_an_error(tmp_path: Path, figure: object) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(sample_report()))
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(report)).returncode == 0
    data = json.loads(baseline.read_text())
    _set(("entries", "demo@mps2-an386", "rom.total"), figure)(data)
    baseline.write_text(json.dumps(data))
    needle = "missing" if figure is KeyError else "expected a non-negative integer"
    assert_refused(tlsfit("gate", "--baseline", str(baseline), str(report)),
                   f'{baseline}: $.entries["demo@mps2-an386"]["rom.total"]: {needle}')


def test_instructions_not_counted_on_either_side_is_fine_but_one_sided_fails(tmp_path: Path) -> None:
    host = sample_report()
    host["handshake"]["instructions"] = None   # e.g. the host target
    path = tmp_path / "report.json"
    path.write_text(json.dumps(host))
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(path)).returncode == 0
    assert json.loads(baseline.read_text())["entries"]["demo@mps2-an386"]["handshake.instructions"] is None
    assert tlsfit("gate", "--baseline", str(baseline), str(path)).returncode == 0
    counted = tmp_path / "counted.json"
    counted.write_text(json.dumps(sample_report()))
    proc = tlsfit("gate", "--baseline", str(baseline), str(counted))
    assert proc.returncode == 1 and "baseline has no handshake.instructions" in proc.stdout


@pytest.mark.parametrize("flag", ["--junit", "--summary", "--write-baseline"])
def test_gate_outputs_that_are_folders_are_refused_before_work(tmp_path: Path, flag: str) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(sample_report()))
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(report)).returncode == 0
    folder = tmp_path / "folder"
    folder.mkdir()
    args = ["--write-baseline", str(folder)] if flag == "--write-baseline" else ["--baseline", str(baseline), flag,
                                                                                str(folder)]
    assert_refused(tlsfit("gate", *args, str(report)), str(folder), "folder")
    assert list(folder.iterdir()) == []


def test_limits_file_with_duplicate_keys_and_unicode_digits(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(sample_report()))
    baseline = tmp_path / "baseline.json"
    assert tlsfit("gate", "--write-baseline", str(baseline), str(report)).returncode == 0
    limits = tmp_path / "limits.yaml"
    limits.write_text("schema_version: 1\nlimits:\n  bytes: +0\n  bytes: +100000\n")
    assert_refused(tlsfit("gate", "--baseline", str(baseline), str(report), "--limits", str(limits)),
                   f"{limits}:4:", "appears twice")
    for value in ("+\u0661\u0662", "+\uff11", "+1e3"):
        assert_refused(tlsfit("gate", "--baseline", str(baseline), str(report), "--limit", f"rom.total={value}"),
                       "--limit", "ASCII digits")


def test_report_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(sample_report()))
    afile = tmp_path / "afile"
    afile.write_text("")
    assert_refused(tlsfit("report", str(report), "-o", str(afile)), str(afile), "is a file")


# ---------------------------------------------------------------- test PKI and build messages

def _make_pki(args: tuple[str, str]) -> str:
    out_dir, host = args
    pki = make_test_pki(ChainShape("secp256r1", (), "secp256r1"), host, None, Path(out_dir))
    return pki.root_pem.decode()


def test_concurrent_test_pki_generation_is_locked(tmp_path: Path) -> None:
    out = tmp_path / "pki"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        roots = pool.map(_make_pki, [(str(out), "broker.example.com")] * 4)
    assert len(set(roots)) == 1  # one generated, the others reused it
    assert json.loads((out / "manifest.json").read_text())["host"] == "broker.example.com"


def test_long_host_goes_into_the_san_with_a_short_cn(tmp_path: Path) -> None:
    host = "a" * 40 + "." + "b" * 30 + ".example.com"
    pki = make_test_pki(ChainShape("secp256r1", (), "secp256r1"), host, None, tmp_path / "pki")
    text = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName",
                           "-in", str(pki.server_cert_file)], capture_output=True, text=True, timeout=30).stdout
    assert f"DNS:{host}" in text and "CN = tlsfit test server" in text


def test_ip_host_gets_an_ip_san(tmp_path: Path) -> None:
    pki = make_test_pki(ChainShape("secp256r1", (), "secp256r1"), "192.0.2.7", None, tmp_path / "pki")
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(pki.server_cert_file)],
                          capture_output=True, text=True, timeout=30).stdout
    assert "IP Address:192.0.2.7" in text


def test_first_error_is_the_compilers_not_the_command_line() -> None:
    compile_log = ["arm-none-eabi-gcc -Os -Wall -Werror -c ssl_tls.c -o ssl_tls.o",
                   "In file included from ssl_tls.c:3:",
                   "ssl_tls.c:12:3: error: unknown type name 'foo'",
                   "make: *** [build.mk:40: ssl_tls.o] Error 1"]
    assert first_error(compile_log) == "ssl_tls.c:12:3: error: unknown type name 'foo'"
    link_log = ["arm-none-eabi-gcc -Werror -Wl,--gc-sections -o tlsfit.elf main.o libmbedtls.a",
                "/usr/bin/arm-none-eabi-ld: main.o: in function `main':",
                "main.c:(.text.main+0x8): undefined reference to `mbedtls_foo'",
                "collect2: error: ld returned 1 exit status"]
    assert first_error(link_log) == "main.c:(.text.main+0x8): undefined reference to `mbedtls_foo'"
    assert first_error(["cc -Werror -c x.c", "make: *** [x.o] Error 2"]) == "make: *** [x.o] Error 2"
    assert first_error(["arm-none-eabi-gcc -Werror=implicit-function-declaration -c a.c"]) is None

"""probe refuses a chain no mbedTLS client can take, saying so (exit 3), never "tlsfit bug".

Real chains made here with openssl, served by openssl s_server: one deeper than mbedTLS's
intermediate-CA limit, one whose Certificate message outgrows mbedTLS's largest input buffer.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from test_probe import free_port, server

ROOT = Path(__file__).resolve().parent.parent
HOST = "big.example.com"


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _chain(d: Path, intermediates: int, san_names: int) -> tuple[Path, Path, Path, Path]:
    """root.pem, chain.pem (intermediates, leaf's issuer first), leaf.pem, leaf.key: all P-256."""
    (d / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n")
    names = ",".join([f"DNS:{HOST}"] + [f"DNS:host-{i:05}.padding.example.com" for i in range(san_names)])
    (d / "leaf.ext").write_text(f"subjectAltName={names}\n")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca0.key", "-out", "ca0.pem", "-subj", "/CN=limit root", "-days", "30",
             cwd=d)
    for i in range(1, intermediates + 1):
        _openssl("req", *ec, "-keyout", f"ca{i}.key", "-out", f"ca{i}.csr", "-subj", f"/CN=limit ca {i}", cwd=d)
        _openssl("x509", "-req", "-in", f"ca{i}.csr", "-CA", f"ca{i - 1}.pem", "-CAkey", f"ca{i - 1}.key",
                 "-CAcreateserial", "-out", f"ca{i}.pem", "-days", "30", "-extfile", "ca.ext", cwd=d)
    last = intermediates
    _openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={HOST}", cwd=d)
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", f"ca{last}.pem", "-CAkey", f"ca{last}.key",
             "-CAcreateserial", "-out", "leaf.pem", "-days", "30", "-extfile", "leaf.ext", cwd=d)
    chain = d / "chain.pem"
    chain.write_text("".join((d / f"ca{i}.pem").read_text() for i in range(last, 0, -1)))
    return d / "ca0.pem", chain, d / "leaf.pem", d / "leaf.key"


def _probe(tmp_path: Path, intermediates: int, san_names: int) -> subprocess.CompletedProcess[str]:
    root, chain, leaf, key = _chain(tmp_path, intermediates, san_names)
    port = free_port()
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-tls1_2", "-cert", str(leaf), "-key", str(key),
            "-cert_chain", str(chain), "-rev", "-quiet"]
    out = tmp_path / "out" / "p.yaml"
    out.parent.mkdir()
    with server(argv, port):
        done = subprocess.run([str(ROOT / "tlsfit"), "probe", f"127.0.0.1:{port}", "--sni", HOST, "--ca", str(root),
                               "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    certs = out.parent / "certs"
    assert not out.exists()                                       # nothing written for a refused chain
    assert not certs.exists() or not any(certs.iterdir())
    return done


def test_chain_deeper_than_mbedtls_verifies(tmp_path: Path) -> None:
    done = _probe(tmp_path, intermediates=9, san_names=0)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "the server's chain cannot be handled by mbedTLS: 9 intermediate CAs, more than the 8" in done.stderr
    assert "tlsfit bug" not in done.stderr and "Traceback" not in done.stderr


def test_chain_larger_than_the_input_buffer(tmp_path: Path) -> None:
    done = _probe(tmp_path, intermediates=1, san_names=500)      # a leaf of about 19 KB
    assert done.returncode == 3, done.stdout + done.stderr
    assert "the server's chain cannot be handled by mbedTLS: its largest handshake message" in done.stderr
    assert "at most 16,384 bytes" in done.stderr and "tlsfit bug" not in done.stderr


def _root_and_leaf(d: Path, cn: str, host: str) -> tuple[Path, Path, Path]:
    d.mkdir(parents=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "root.key", "-out", "root.pem", "-subj", f"/CN={cn}", "-days", "30",
             cwd=d)
    (d / "leaf.ext").write_text(f"subjectAltName=DNS:{host}\n")
    _openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={host}", cwd=d)
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial",
             "-out", "leaf.pem", "-days", "30", "-extfile", "leaf.ext", cwd=d)
    return d / "root.pem", d / "leaf.pem", d / "leaf.key"


def test_two_roots_with_one_name_both_keep_working(tmp_path: Path) -> None:
    """The second server's root (same CN, other key) never replaces the first's: both profiles measure."""
    out = tmp_path / "profiles"
    out.mkdir()
    written = []
    for name in ("a", "b"):
        root, leaf, key = _root_and_leaf(tmp_path / name, "Same Name Root", HOST)
        port = free_port()
        argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-tls1_2", "-cert", str(leaf), "-key", str(key),
                "-rev", "-quiet"]
        with server(argv, port):
            done = subprocess.run([str(ROOT / "tlsfit"), "probe", f"127.0.0.1:{port}", "--sni", HOST, "--ca", str(root),
                                   "-o", str(out / f"{name}.yaml")], cwd=ROOT, capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stderr
            measured = subprocess.run([str(ROOT / "tlsfit"), "measure", str(out / f"{name}.yaml"), "--server",
                                       f"127.0.0.1:{port}", "--target", "host", "--app", "none", "-o",
                                       str(tmp_path / f"m-{name}")], cwd=ROOT, capture_output=True, text=True,
                                      timeout=600)
            assert measured.returncode == 0, measured.stdout + measured.stderr
        written.append(sorted(p.name for p in (out / "certs").iterdir()))
    assert len(written[1]) == 2 and written[0][0] in written[1]           # the first root file is untouched


def test_a_host_the_certificate_does_not_name_is_warned_about(tmp_path: Path) -> None:
    root, leaf, key = _root_and_leaf(tmp_path / "pki", "Warn Root", HOST)
    port = free_port()
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-tls1_2", "-cert", str(leaf), "-key", str(key),
            "-rev", "-quiet"]
    with server(argv, port):
        done = subprocess.run([str(ROOT / "tlsfit"), "probe", f"127.0.0.1:{port}", "--ca", str(root),
                               "-o", str(tmp_path / "p.yaml")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"does not name 127.0.0.1 (it names {HOST})" in done.stderr and "--sni" in done.stderr

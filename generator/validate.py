"""Compile-check a generated mbedtls_config.h against mbedTLS's own check_config.h.

One translation unit, -fsyntax-only: fast (well under a second) and it runs
every #error in check_config.h and the config_adjust_*.h headers. The
config_adjust headers also *undefine* options whose prerequisites are off
(SSL_CLI_C without SSL_TLS_C, say) without a word, so the unit then checks
that every option the header defines is still defined: a header that does not
mean what it says is a tlsfit bug too.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from core.errors import TlsfitBug, ToolFailure

COMPILE_TIMEOUT_S = 60



class ConfigBug(TlsfitBug):
    """The generated header does not compile against mbedTLS: a tlsfit bug."""


class CompilerNotFound(ToolFailure):
    """The compiler that checks the header is not installed (a set-up problem, not a bug)."""


def validate_config(header_text: str, mbedtls_dir: Path, workdir: Path, check_headers: tuple[tuple[str, str], ...],
                    cc: str = "arm-none-eabi-gcc", cflags: tuple[str, ...] = ()) -> None:
    """Compile the header against mbedTLS's checks; `check_headers` (knowledge base) are
    (option, header) pairs whose header is included when the option is defined."""
    workdir.mkdir(parents=True, exist_ok=True)
    header = workdir / "tlsfit_check_config.h"
    header.write_text(header_text, encoding="utf-8")
    defined = set(re.findall(r"^#define\s+(\w+)", header_text, flags=re.M))
    includes = ["mbedtls/build_info.h", "mbedtls/ssl.h"]
    includes += [h for option, h in check_headers if option in defined]
    source = workdir / "tlsfit_check_config.c"
    kept = "".join(f"#if !defined({name})\n#error \"{name} is defined in the config but mbedTLS's "
                   f"config_adjust headers dropped it (a prerequisite is missing)\"\n#endif\n"
                   for name in sorted(defined))
    source.write_text("".join(f"#include \"{h}\"\n" for h in includes) + kept
                      + "int tlsfit_check_config_unit;\n", encoding="utf-8")
    cmd = [cc, *cflags, "-std=c99", "-fsyntax-only", "-Werror=implicit-function-declaration",
           f"-I{mbedtls_dir / 'include'}", f"-I{workdir}",
           f"-DMBEDTLS_CONFIG_FILE=\"{header.name}\"", str(source)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise CompilerNotFound(f"compiler '{cc}' not found; run 'make setup' (installs gcc-arm-none-eabi)") from exc
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "error" in line]
        raise ConfigBug("generated config fails mbedTLS's checks:\n" + "\n".join(errors or done.stderr.splitlines()))

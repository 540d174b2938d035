"""`tlsfit setup`: fetch and verify the pinned mbedTLS source (scripts/setup.sh) into tlsfit's deps folder.

From a checkout that is build/deps/; for an installed tlsfit it is the user cache
($XDG_CACHE_HOME/tlsfit/deps), so no write access to /usr/lib/tlsfit is needed.
The pin itself (version, Debian version, sha256) is generator/pin.py; setup.sh reads it
through `tlsfit setup --print-pin`.
"""
from __future__ import annotations

import sys

from cli import EXIT_OK
from core.errors import ToolFailure
from generator.pin import PIN
from measure import children
from pipeline.workspace import Workspace, setup_environment

SETUP_TIMEOUT_S = 900.0   # apt-get update + source download on a slow mirror (and up to 120 s for the apt lock)


def run_setup(ws: Workspace, check_packages: bool) -> int:
    script = ws.root / "scripts" / "setup.sh"
    env = setup_environment(ws)
    if not check_packages:
        env["TLSFIT_SKIP_PACKAGES"] = "1"
    done = children.run(["bash", str(script)], timeout_s=SETUP_TIMEOUT_S, what="scripts/setup.sh",
                        text=True, env=env)
    sys.stdout.write(done.stdout)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise ToolFailure(f"set-up failed (exit {done.returncode}). Next: fix what it says above and run "
                          f"`tlsfit setup` again, or point MBEDTLS_DIR at an mbedTLS {PIN.version} source tree")
    where = env.get("MBEDTLS_DIR") or str(ws.mbedtls)
    print(f"tlsfit: mbedTLS ready: {where}")
    return EXIT_OK

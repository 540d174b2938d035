"""`tlsfit setup`: fetch and verify the pinned mbedTLS source (scripts/setup.sh) into tlsfit's deps folder.

From a checkout that is build/deps/; for an installed tlsfit it is the user cache
($XDG_CACHE_HOME/tlsfit/deps), so no write access to /usr/lib/tlsfit is needed.
"""
from __future__ import annotations

import sys

from cli import EXIT_OK
from cli.paths import setup_environment, workspace
from core.errors import ToolFailure
from measure import children

SETUP_TIMEOUT_S = 900.0   # apt-get update + source download on a slow mirror


def run_setup(check_packages: bool) -> int:
    ws = workspace()
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
                          "`tlsfit setup` again, or point MBEDTLS_DIR at an mbedTLS 3.6.6 source tree")
    where = env.get("MBEDTLS_DIR") or str(ws.mbedtls)
    print(f"tlsfit: mbedTLS ready: {where}")
    return EXIT_OK

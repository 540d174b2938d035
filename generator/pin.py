"""The mbedTLS release tlsfit pins: the one place its version, Debian version and sha256 are written.

Plain Python, standard library only: `tlsfit setup --print-pin` prints it for scripts/setup.sh,
which runs before python3-yaml and python3-jinja2 may be installed.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MbedtlsPin:
    version: str            # upstream release, e.g. "3.6.6"
    debian_version: str     # the Debian source package it is fetched from
    sha256: str             # of the upstream tarball (Debian's .orig.tar.bz2)

    @property
    def orig_tarball(self) -> str:
        return f"mbedtls_{self.version}.orig.tar.bz2"

    @property
    def tree_name(self) -> str:
        """The folder the verified source is unpacked into (under the deps folder)."""
        return f"mbedtls-{self.version}"

    def shell(self) -> str:
        """KEY=value lines a shell script can `eval` (every value is [A-Za-z0-9.~_-]: no quoting needed)."""
        return (f"PIN_VERSION={self.version}\nPIN_DEB_VERSION={self.debian_version}\n"
                f"PIN_ORIG={self.orig_tarball}\nPIN_SHA256={self.sha256}\n")


PIN = MbedtlsPin(version="3.6.6", debian_version="3.6.6-0.1~deb13u1",
                 sha256="8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a")

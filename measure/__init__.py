"""tlsfit measure stage: build per target, run in QEMU (or on the host) against a server, extract figures."""

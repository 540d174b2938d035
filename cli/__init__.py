"""tlsfit command line: parses arguments, runs the stages in order, maps errors to exit codes."""

from core.errors import BadInput

VERSION = "0.1.0"

# Exit codes of the CLI contract (DESIGN.md).
EXIT_OK = 0
EXIT_FAILED = 1      # handshake failed, or the gate found a regression
EXIT_BAD_INPUT = 2   # bad profile, bad arguments, missing files
EXIT_TOOL_ERROR = 3  # the tool chain around the handshake broke (build, QEMU, server start)


class InputError(BadInput):
    """Bad input that is not a profile (a missing report, a malformed limit): exit 2."""

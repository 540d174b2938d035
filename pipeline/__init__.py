"""tlsfit's pipeline as a library: profile -> config -> firmware -> handshake -> report.

Import from here; the CLI (cli/), the benchmarks (scripts/), probe and tune do.
"""
from pipeline.stages import (GeneratedConfig, MeasureRequest, Measurement, Paths, RunOutcome, ServerAddress,
                             board_for, build, choose_app, default_output_dir, generate, generate_for_board, harness_input,
                             measure, parse_server_address, reference_pki, run, validate)
from pipeline.tree import MbedtlsTree, SetupError, open_mbedtls, read_version

__all__ = [
    "GeneratedConfig", "MeasureRequest", "Measurement", "MbedtlsTree", "Paths", "RunOutcome", "ServerAddress",
    "SetupError", "board_for", "build", "choose_app", "default_output_dir", "generate", "generate_for_board", "harness_input",
    "measure", "open_mbedtls", "parse_server_address", "read_version", "reference_pki", "run", "validate",
]

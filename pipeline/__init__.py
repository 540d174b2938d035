"""tlsfit's pipeline as a library: the only way in for the CLI (cli/) and the benchmarks (scripts/).

    measure   profile -> config -> firmware -> handshake -> the finished report (pipeline.stages)
    probe     a live server -> a validated profile and its root CA (pipeline.probe_flow)
    tune      a profile -> the Pareto front of its tuning knobs and the chosen build (pipeline.tune_flow)

Plain data in (a request dataclass), plain data out (a result dataclass), progress through an
optional callback taking one line of text; nothing printed, no argv, no environment: the
front-end reads the environment once (`workspace()`) and passes what it found down.
"""
from __future__ import annotations

from pipeline.probe_flow import ProbeRequest, ProbeResult, probe
from pipeline.stages import (CONFIG_FILE, GeneratedConfig, MeasureRequest, Measurement, Paths, RunOutcome,
                             ServerAddress, board_for, build, choose_app, configure, default_output_dir, generate,
                             generate_for_board, harness_input, measure, parse_server_address, reference_pki,
                             run, validate, write_measurement)
from pipeline.tree import MbedtlsTree, SetupError, knowledge_without_build, open_mbedtls, read_version
from pipeline.tune_flow import TuneRequest, TuneResult, tune
from pipeline.workspace import Workspace, workspace
from tune.model import Shard, TuneBudget, parse_budget, parse_shard

__all__ = [
    "CONFIG_FILE", "GeneratedConfig", "MbedtlsTree", "MeasureRequest", "Measurement", "Paths", "ProbeRequest",
    "ProbeResult", "RunOutcome", "ServerAddress", "SetupError", "Shard", "TuneBudget", "TuneRequest",
    "TuneResult", "Workspace", "board_for", "build", "choose_app", "configure", "default_output_dir", "generate",
    "generate_for_board", "harness_input", "knowledge_without_build", "measure", "open_mbedtls",
    "parse_budget", "parse_server_address", "parse_shard", "probe", "read_version", "reference_pki", "run",
    "tune", "validate", "workspace", "write_measurement",
]

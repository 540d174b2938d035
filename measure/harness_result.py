"""Parse the harness's one machine-readable console line into a HandshakeRun.

    TLSFIT-RESULT {"ok":1,"err":0,"stage":"","version":"TLSv1.2",...}

written by ports/common/harness.c (prv_print_line); keep the two in step.

With an application exchange the harness prints a TLSFIT-HANDSHAKE line of the same
shape first, as soon as the handshake succeeded: when the run is stopped from outside
during the exchange (the server fell silent, the timeout), partial_result() still
gives the handshake's verdict and figures, with the exchange failed.
"""
from __future__ import annotations

import dataclasses
import json
import re

from measure.model import HandshakeRun, MeasureError, StateWork

RESULT_MARK = "TLSFIT-RESULT "
HANDSHAKE_MARK = "TLSFIT-HANDSHAKE "
CONSOLE_TAIL_CHARS = 2000

_RESULT_LINE = re.compile(r"^TLSFIT-RESULT (\{.*\})\s*$", re.MULTILINE)
_HANDSHAKE_LINE = re.compile(r"^TLSFIT-HANDSHAKE (\{.*\})\s*$", re.MULTILINE)
# what the exchange's stage is called when the run was stopped inside it
APP_STOPPED_STAGE = "app"

# mbedtls_ssl_get_version() -> report wording
VERSION_NAMES = {"TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3", "DTLSv1.2": "DTLS 1.2"}

# mbedTLS ciphersuite name prefix -> IANA prefix; the rest is '-' -> '_'.
# Checked against library/ssl_ciphersuites.c by tests/test_ports.py.
SUITE_PREFIXES = (("TLS1-3-", "TLS_"), ("TLS-", "TLS_"))

_FIELDS = ("ok", "err", "stage", "version", "suite", "sent", "recv", "instr",
           "heap_peak", "heap_overhead", "stack_peak", "echo", "states")
# Added later; a line without them (older firmware) still parses, to None.
_OPTIONAL_INT_FIELDS = ("hs_sent", "hs_recv", "app_sent", "app_recv", "alloc_instr", "allocs",
                        "probe_instr", "stack_harness", "verify_flags")


def iana_suite_name(mbedtls_name: str) -> str:
    """'TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256' -> 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
    'TLS1-3-AES-128-GCM-SHA256' -> 'TLS_AES_128_GCM_SHA256'."""
    for mbedtls_prefix, iana_prefix in SUITE_PREFIXES:
        if mbedtls_name.startswith(mbedtls_prefix):
            return iana_prefix + mbedtls_name[len(mbedtls_prefix):].replace("-", "_")
    raise MeasureError(f"unknown mbedTLS ciphersuite name '{mbedtls_name}'")


def _tail(text: str) -> str:
    return text[-CONSOLE_TAIL_CHARS:]


def result_fields(console_text: str, line: re.Pattern[str] = _RESULT_LINE) -> dict:
    """The JSON object of the last TLSFIT-RESULT line, checked for every field."""
    matches = line.findall(console_text.replace("\r", ""))
    if not matches:
        tail = _tail(console_text).strip()
        raise MeasureError("the harness printed no TLSFIT-RESULT line; "
                           + (f"console tail:\n{tail}" if tail else "the console stayed empty"))
    try:
        data = json.loads(matches[-1])
    except json.JSONDecodeError as exc:
        raise MeasureError(f"malformed TLSFIT-RESULT line ({exc}): {matches[-1][:300]}") from exc
    missing = [k for k in _FIELDS if k not in data]
    if missing:
        raise MeasureError(f"TLSFIT-RESULT line lacks {', '.join(missing)}: {matches[-1][:300]}")
    return data


def _optional_int(data: dict, key: str, negative_is_none: bool = True) -> int | None:
    if key not in data or data[key] is None:
        return None
    value = int(data[key])
    return None if negative_is_none and value < 0 else value


def _optional_verdict(data: dict, key: str) -> bool | None:
    """1 -> True, 0 -> False, -1 (no verdict, e.g. app none) or absent -> None."""
    if key not in data:
        return None
    value = int(data[key])
    return None if value < 0 else bool(value)


def parse_result(console_text: str) -> HandshakeRun:
    """The last TLSFIT-RESULT line of the console output, as a HandshakeRun."""
    return _run_from(result_fields(console_text))


def partial_result(console_text: str) -> HandshakeRun | None:
    """A run stopped from outside after the handshake: its TLSFIT-HANDSHAKE line (the
    handshake's verdict and figures) with the application exchange failed, stage "app";
    None when the console has no such line or has a TLSFIT-RESULT line (parse_result)."""
    text = console_text.replace("\r", "")
    if _RESULT_LINE.search(text) or not _HANDSHAKE_LINE.search(text):
        return None
    run = _run_from(result_fields(text, _HANDSHAKE_LINE))
    return dataclasses.replace(run, ok=False, handshake_ok=True, app_ok=False,
                               error_stage=APP_STOPPED_STAGE, app_detail=None,
                               app_bytes_sent=None, app_bytes_received=None)


def _run_from(data: dict) -> HandshakeRun:
    instr = int(data["instr"])
    counted = instr >= 0  # instruction figures only where the port counts them
    version = data["version"] or None
    suite = data["suite"] or None
    return HandshakeRun(
        ok=bool(data["ok"]),
        error_code=int(data["err"]),
        error_stage=data["stage"] or None,
        version=VERSION_NAMES.get(version, version) if version else None,
        ciphersuite=iana_suite_name(suite) if suite else None,
        bytes_sent=int(data["sent"]),
        bytes_received=int(data["recv"]),
        instructions=None if instr < 0 else instr,
        heap_peak=int(data["heap_peak"]),
        heap_overhead_peak=int(data["heap_overhead"]),
        stack_peak=int(data["stack_peak"]),
        # per-state work only where the port counts instructions
        states=() if instr < 0 else tuple(StateWork(state=str(s), instructions=int(n))
                                           for s, n in data["states"]),
        allocator_instructions=_optional_int(data, "alloc_instr") if counted else None,
        allocations=_optional_int(data, "allocs"),
        probe_instructions=_optional_int(data, "probe_instr") if counted else None,
        stack_harness=_optional_int(data, "stack_harness"),
        handshake_ok=_optional_verdict(data, "hs_ok"),
        handshake_bytes_sent=_optional_int(data, "hs_sent"),
        handshake_bytes_received=_optional_int(data, "hs_recv"),
        app=str(data["app"]) if data.get("app") else None,
        app_ok=_optional_verdict(data, "app_ok"),
        app_bytes_sent=_optional_int(data, "app_sent"),
        app_bytes_received=_optional_int(data, "app_recv"),
        app_detail=str(data["app_detail"]) if data.get("app_detail") else None,
        retransmits=_optional_int(data, "retransmits"),
        verify_flags=_optional_int(data, "verify_flags"),
    )

"""Shared test helpers."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from generator.knowledge import knowledge_for
from generator.model import ChainShape, Profile
from generator.profile import suite_facts
from measure.boards import load_board
import progress_report


def pytest_configure(config: pytest.Config) -> None:
    """A progress line per test file instead of dots (tests/progress_report.py)."""
    progress_report.install(config)


def make_profile(host: str, port: int, **changes: object) -> Profile:
    """A TLS 1.2 ECDHE-ECDSA P-256 profile built directly (no YAML), with `changes` applied."""
    base = Profile(
        path=Path("/nonexistent/test.yaml"), name="test", description="", host=host, port=port,
        versions=("1.2",), ciphersuites=("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",),
        groups=("secp256r1",), signature_algorithms=("ecdsa_secp256r1_sha256",),
        max_fragment_length=None, buffers=None, sni=True, alpn=(), resumption="none",
        client_certificate=None, psk=None, ca_files=(),
        chain=ChainShape("secp256r1", (), "secp256r1"), verify="required",
        allow_insecure=False, target="mps2-an386", budget=None, optimize="size")
    profile = dataclasses.replace(base, **changes)
    # the knowledge-base facts load_profile derives, for the suites this profile names
    return dataclasses.replace(profile, suites=suite_facts(profile.ciphersuites, knowledge_for("3.6.6")))


@pytest.fixture(scope="session")
def cache() -> Path:
    """The checkout's build cache, shared by the session and kept between runs (firmware built from
    hand-written configs too): its entries are keyed by content (measure/build.py), so one test's
    library serves every other test with the same config, and a warm cache builds nothing again."""
    return Path(__file__).resolve().parent.parent / "build" / "cache"


@pytest.fixture(scope="module")
def an386():
    return load_board("mps2-an386", Path(__file__).resolve().parent.parent / "ports")

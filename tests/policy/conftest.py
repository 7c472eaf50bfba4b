"""Fixtures of the policy tests: the real opa binary (required in CI) and a server on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tre.errors import PolicyEngineUnavailable
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.policy.opa_server import OpaServer, OpaServerPolicyEngine, find_opa_binary


def in_ci() -> bool:
    """Whether this run is CI (which must have OPA: scripts/install-opa.sh)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_opa_binary() -> Path:
    """The opa binary; skips the test locally when absent, fails it in CI."""
    try:
        return find_opa_binary()
    except PolicyEngineUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI must run the real OPA: {exc}")
        pytest.skip(f"real OPA not installed: {exc}")


@pytest.fixture(scope="session")
def opa_binary() -> Path:
    """The real opa binary."""
    return require_opa_binary()


@pytest.fixture(scope="module")
def opa_server(opa_binary: Path) -> Iterator[OpaServer]:
    """``opa run --server`` with tre's policies on a free loopback port, one per module."""
    with OpaServer(binary=opa_binary) as server:
        yield server


@pytest.fixture(scope="module")
def opa_engine(opa_server: OpaServer) -> Iterator[OpaServerPolicyEngine]:
    """A sync client engine of the module's OPA server."""
    engine = OpaServerPolicyEngine(opa_server.url, timeout_s=5.0)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def embedded_engine() -> EmbeddedPolicyEngine:
    """The embedded engine on tre's policies."""
    return EmbeddedPolicyEngine()

"""The OPA server engines against a real `opa run --server`, and every way asking can fail."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from policy.policy_cases import access, actor, application, permit

from tre.errors import InvalidInput, PolicyEngineUnavailable
from tre.policy import inputs
from tre.policy.bundle import default_policies_dir, load_bundle
from tre.policy.decisions import Decision
from tre.policy.engine import PolicyEngine
from tre.policy.opa_server import (
    AsyncOpaServerPolicyEngine,
    OpaServer,
    OpaServerPolicyEngine,
    find_opa_binary,
    free_port,
    parse_opa_url,
)

GRANTED = Decision(name="data_access", allow=True,
                   reasons=("permit P-1 grants alice lung-ct@v1 in project lung-screening",))


class FixedResultEngine(PolicyEngine):
    """An engine whose raw answer is given: for results no real engine should produce."""

    name = "fixed"

    def __init__(self, result: Any) -> None:
        self.result = result

    def _evaluate(self, package: str, input: Mapping[str, Any]) -> Any:
        return self.result


class BrokenEngine(PolicyEngine):
    """An engine that fails on every evaluation."""

    name = "broken"

    def _evaluate(self, package: str, input: Mapping[str, Any]) -> Any:
        raise RuntimeError("disk on fire")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback TCP server that accepts connections and never answers (a hung OPA)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def _unreachable(url: str, host_port: str) -> Decision:
    return Decision(
        name="data_access", allow=False, error="unreachable",
        reasons=(f"policy engine unreachable at {url}: start OPA (scripts/install-opa.sh, then "
                 f"opa run --server --addr {host_port} policies/) "
                 "or set TRE_POLICY_ENGINE=embedded",),
    )


@pytest.mark.opa
def test_server_answers_every_decision(opa_engine: OpaServerPolicyEngine) -> None:
    olga = actor("olga", "hdab_officer")
    assert opa_engine.decide("data_access", access("alice")) == GRANTED
    assert opa_engine.decide(
        "application_submit", inputs.submit_input(actor("alice", "researcher"), application())
    ).allow
    assert opa_engine.decide(
        "application_withdraw", inputs.submit_input(actor("bob", "researcher"), application())
    ).reasons == ("only the applicant of application A-1 (alice) may withdraw it, not bob",)
    assert opa_engine.decide(
        "application_decide", inputs.decide_input(olga, application(), "approve", "")
    ).reasons == ("a decision to approve needs a reason",)
    assert opa_engine.decide(
        "permit_change", inputs.permit_change_input(olga, permit(), "suspend", "incident 7")
    ).reasons == ("hdab officer olga may suspend permit P-1",)


@pytest.mark.opa
def test_server_denies_empty_input(opa_engine: OpaServerPolicyEngine) -> None:
    decision = opa_engine.decide("data_access", {})
    assert (decision.allow, decision.error) == (False, None)
    assert "no permit for this project" in decision.reasons


@pytest.mark.opa
def test_async_engine_under_concurrency(opa_server: OpaServer) -> None:
    cases = [access("alice"), access("carol"), access(no_permit=True)] * 20

    async def ask() -> list[Decision]:
        engine = AsyncOpaServerPolicyEngine(opa_server.url, timeout_s=5.0)
        try:
            return list(await asyncio.gather(*(engine.adecide("data_access", c) for c in cases)))
        finally:
            await engine.aclose()

    answers = asyncio.run(ask())
    assert [a.allow for a in answers] == [True, False, False] * 20
    assert answers[0] == GRANTED
    assert answers[1].reasons == (
        "observers may not read data: carol is an observer of permit P-1",)


def test_unreachable_server_denies() -> None:
    port = free_port()
    engine = OpaServerPolicyEngine(f"http://127.0.0.1:{port}", timeout_s=1.0)
    assert engine.decide("data_access", access()) == _unreachable(
        f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")
    engine.close()


def test_unreachable_server_denies_async() -> None:
    port = free_port()

    async def ask() -> Decision:
        engine = AsyncOpaServerPolicyEngine(f"http://127.0.0.1:{port}", timeout_s=1.0)
        try:
            return await engine.adecide("data_access", access())
        finally:
            await engine.aclose()

    assert asyncio.run(ask()) == _unreachable(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")


def test_hung_server_times_out_to_deny(silent_server: str) -> None:
    engine = OpaServerPolicyEngine(silent_server, timeout_s=0.2)
    assert engine.decide("data_access", access()) == Decision(
        name="data_access", allow=False, error="timeout",
        reasons=(f"policy engine at {silent_server} did not answer within 0.2s: denied",))
    engine.close()


def test_hung_server_times_out_to_deny_async(silent_server: str) -> None:
    async def ask() -> Decision:
        engine = AsyncOpaServerPolicyEngine(silent_server, timeout_s=0.2)
        try:
            return await engine.adecide("data_access", access())
        finally:
            await engine.aclose()

    decision = asyncio.run(ask())
    assert (decision.allow, decision.error) == (False, "timeout")


def test_unknown_decision_raises() -> None:
    engine = AsyncOpaServerPolicyEngine(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(InvalidInput, match="unknown decision 'egress'"):
        engine.decide("egress", {})
    with pytest.raises(InvalidInput, match="unknown decision 'egress'"):
        asyncio.run(engine.adecide("egress", {}))
    engine.close()


@pytest.mark.parametrize(
    ("result", "error", "reason"),
    [
        (None, "undefined", "policy data_access returned no decision (undefined): denied"),
        ([True], "undefined", "policy data_access returned no decision (undefined): denied"),
        ({"allow": "yes", "reasons": []}, "malformed",
         "policy data_access returned a malformed decision: denied"),
        ({"allow": True}, "malformed", "policy data_access returned a malformed decision: denied"),
        ({"allow": False, "reasons": []}, None, "policy data_access gave no reason: denied"),
    ],
)
def test_undefined_or_malformed_results_deny(result: Any, error: str | None, reason: str) -> None:
    assert FixedResultEngine(result).decide("data_access", {}) == Decision(
        name="data_access", allow=False, reasons=(reason,), error=error)


def test_engine_failure_denies() -> None:
    assert BrokenEngine().decide("data_access", {}) == Decision(
        name="data_access", allow=False, error="RuntimeError",
        reasons=("policy engine broken failed: disk on fire: denied",))


@pytest.mark.opa
def test_undefined_on_a_real_server_denies_then_upload_fixes_it(
    opa_binary: Path, tmp_path: Path
) -> None:
    (tmp_path / "other.rego").write_text("package other\n\nx := 1\n")
    with OpaServer(tmp_path, binary=opa_binary) as server:
        engine = OpaServerPolicyEngine(server.url, timeout_s=5.0)
        before = engine.decide("data_access", access())
        engine.upload_policies(load_bundle(default_policies_dir()))
        after = engine.decide("data_access", access())
        engine.close()
    assert (before.allow, before.error) == (False, "undefined")
    assert after == GRANTED


@pytest.mark.opa
def test_conflicting_policy_answer_denies(opa_binary: Path, tmp_path: Path) -> None:
    (tmp_path / "access.rego").write_text(
        "package tre.data.access\n\n"
        'decision := {"allow": true, "reasons": ["x"]} if input.x\n\n'
        'decision := {"allow": false, "reasons": ["y"]} if input.x\n')
    with OpaServer(tmp_path, binary=opa_binary) as server:
        engine = OpaServerPolicyEngine(server.url, timeout_s=5.0)
        decision = engine.decide("data_access", {"x": True})
        engine.close()
    assert (decision.allow, decision.error) == (False, "HTTPError")
    assert decision.reasons[0].startswith("policy engine opa failed: 500 Server Error")


def test_server_that_exits_is_reported(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package p\n")
    with pytest.raises(PolicyEngineUnavailable, match="opa run exited with code 1"):
        OpaServer(tmp_path, binary=Path("/bin/false")).start()


def test_server_binary_that_cannot_run_is_reported(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package p\n")
    with pytest.raises(PolicyEngineUnavailable, match=r"cannot run .*install-opa\.sh"):
        OpaServer(tmp_path, binary=tmp_path / "p.rego").start()


def test_server_refuses_an_empty_policies_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="holds no"):
        OpaServer(tmp_path, binary=Path("/bin/false")).start()


def test_configured_binary_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRE_OPA_BINARY", str(tmp_path / "opa"))
    with pytest.raises(PolicyEngineUnavailable, match=r"run scripts/install-opa\.sh"):
        find_opa_binary()


def test_configured_binary_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "opa"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("TRE_OPA_BINARY", str(binary))
    assert find_opa_binary() == binary


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("http://127.0.0.1:8181", ("http", "127.0.0.1", 8181)),
        ("http://opa.internal", ("http", "opa.internal", 8181)),
        ("https://opa.internal/", ("https", "opa.internal", 443)),
    ],
)
def test_opa_urls(url: str, parsed: tuple[str, str, int]) -> None:
    assert parse_opa_url(url) == parsed


@pytest.mark.parametrize("url", ["127.0.0.1:8181", "ftp://x", "http://x:99999", "http://x/v1"])
def test_bad_opa_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="OPA URL"):
        OpaServerPolicyEngine(url)

"""A refusal the hub cannot audit is still a refusal, and says both reasons."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from tornado import web

from tre.errors import PolicyDenied, StorageError
from tre.hub import spawner as spawner_module
from tre.hub.spawner import BwrapSpawner

HUB = SimpleNamespace(api_url="http://127.0.0.1:8081/hub/api", base_url="/", public_host="",
                      url="/hub/")


class OfflineSpawner(BwrapSpawner):
    """A BwrapSpawner whose tre context is never reached (the audit write is replaced)."""

    def tre(self) -> Any:
        return SimpleNamespace(node=None)


def refusal(monkeypatch: pytest.MonkeyPatch, failure: Exception | None) -> web.HTTPError:
    recorded: list[dict[str, Any]] = []

    def record(node: object, **event: Any) -> None:
        if failure is not None:
            raise failure
        recorded.append(event)

    monkeypatch.setattr(spawner_module, "record", record)
    spawner = OfflineSpawner(user=SimpleNamespace(name="bob", id=7, url="/user/bob/"), hub=HUB,
                             orm_spawner=SimpleNamespace(name="lung-ai", server=None))
    denied = PolicyDenied("data_access", ["bob is not a member of permit permit-1"])
    answer = asyncio.run(spawner.refused("lung-ai", denied))
    assert recorded == ([] if failure else [
        {"actor": "bob", "action": "workspace.deny", "project": "lung-ai", "outcome": "denied",
         "details": {"reason": str(denied)}}])
    return answer


def test_a_policy_refusal_is_a_403_with_the_policy_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    answer = refusal(monkeypatch, None)
    assert (answer.status_code, answer.log_message) == (
        403, "denied by policy data_access: bob is not a member of permit permit-1")


def test_a_refusal_that_cannot_be_audited_is_a_503_naming_both_reasons(
        monkeypatch: pytest.MonkeyPatch) -> None:
    locked = StorageError("the database sqlite:///tre.db is locked by another process: wait "
                          "for it to finish (or raise TRE_DB_BUSY_TIMEOUT_S) and try again")
    answer = refusal(monkeypatch, locked)
    assert answer.status_code == 503
    assert answer.log_message == (
        "denied by policy data_access: bob is not a member of permit permit-1; and tre could "
        f"not record this refusal in the audit trail ({locked}): try again shortly, and tell "
        "the node's operator if it persists")

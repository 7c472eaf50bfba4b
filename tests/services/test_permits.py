"""Permits in force: suspension, revocation, expiry and the data-access decision."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from factories import Clock, audit_trail, issue_permit, seed_dataset, seed_users
from tre.domain.permits import PermitStatus
from tre.domain.values import Member, Period
from tre.errors import InvalidStateTransition, PolicyDenied
from tre.policy.embedded import EmbeddedPolicyEngine
from tre.services import applications, permits
from tre.services.node import Node
from tre.settings import Settings


@pytest.fixture
def world(node: Node) -> Node:
    seed_users(node)
    seed_dataset(node)
    return node


def _access(node: Node, user: str = "bob", version: str = "v1",
            project: str = "lung-ai") -> bool:
    return permits.check_data_access(node, user, project, "lung-ct", version).allow


def test_members_read_the_pinned_version_only(world: Node) -> None:
    issue_permit(world, members=("bob", "carol:observer"))
    assert _access(world, "alice")
    assert _access(world, "bob")
    assert not _access(world, "carol")  # observer
    assert not _access(world, "oscar")  # not a member
    assert not _access(world, "bob", version="v2")
    assert not _access(world, "bob", project="other")


def test_access_decisions_are_audited_with_reasons(world: Node) -> None:
    permit = issue_permit(world)
    decision = permits.check_data_access(world, "carol", "lung-ai", "lung-ct", "v1")
    assert not decision.allow
    assert decision.reasons == (f"carol is not a member of permit {permit.id}",)
    allowed = permits.check_data_access(world, "bob", "lung-ai", "lung-ct", "v1")
    assert allowed.reasons == (f"permit {permit.id} grants bob lung-ct@v1 in project lung-ai",)
    assert audit_trail(world)[-2:] == [("carol", "data.access", "lung-ct@v1", "denied"),
                                       ("bob", "data.access", "lung-ct@v1", "allowed")]


def test_suspend_reinstate_revoke(world: Node) -> None:
    permit = issue_permit(world)
    permits.change_status(world, "olga", permit.id, "suspend", "audit finding")
    assert not _access(world)
    permits.change_status(world, "olga", permit.id, "reinstate", "resolved")
    assert _access(world)
    permits.change_status(world, "oscar", permit.id, "revoke", "breach")
    assert not _access(world)
    with pytest.raises(InvalidStateTransition, match="from revoked to active"):
        permits.change_status(world, "olga", permit.id, "reinstate", "oops")
    actions = [(a, act, o) for a, act, _, o in audit_trail(world) if act.startswith("permit.")]
    assert actions[-3:] == [("olga", "permit.suspend", "allowed"),
                            ("olga", "permit.reinstate", "allowed"),
                            ("oscar", "permit.revoke", "allowed")]


def test_members_and_researchers_cannot_suspend(world: Node) -> None:
    permit = issue_permit(world, members=("bob", "rita"))
    with pytest.raises(PolicyDenied):
        permits.change_status(world, "bob", permit.id, "suspend", "I want to")
    with pytest.raises(PolicyDenied, match="member"):
        permits.change_status(world, "rita", permit.id, "revoke", "conflict")
    assert permits.get_permit(world, permit.id).status is PermitStatus.ACTIVE


def test_expiry_is_immediate_at_the_end_second(world: Node, clock: Clock) -> None:
    permit = issue_permit(world)
    clock.now = permit.period.end - timedelta(microseconds=1)
    assert _access(world)
    clock.now = permit.period.end
    assert not _access(world)
    assert permits.get_permit(world, permit.id).effective_status(clock.now) \
        is PermitStatus.EXPIRED
    expired = permits.expire_due(world)
    assert [p.id for p in expired] == [permit.id]
    assert permits.get_permit(world, permit.id).status is PermitStatus.EXPIRED
    assert permits.expire_due(world) == []


def test_not_yet_valid_permit_grants_nothing(world: Node, clock: Clock) -> None:
    permit = issue_permit(world)
    clock.now = permit.period.start - timedelta(seconds=1)
    assert not _access(world)


def test_removed_member_loses_access_after_amendment(world: Node) -> None:
    permit = issue_permit(world)
    amendment = applications.amend(world, "alice", permit.id, remove_members=("bob",))
    assert _access(world, "bob")
    applications.approve(world, "olga", amendment.id, applications.Approval("bob left"))
    assert not _access(world, "bob")
    assert _access(world, "alice")


def test_amendment_cannot_extend_a_revoked_permit(world: Node) -> None:
    permit = issue_permit(world)
    amendment = applications.amend(
        world, "alice", permit.id, add_members=(Member.parse("carol"),),
        until=Period(permit.period.start, permit.period.end + timedelta(days=1)))
    permits.change_status(world, "olga", permit.id, "revoke", "breach")
    with pytest.raises(Exception, match="cannot be amended"):
        applications.approve(world, "oscar", amendment.id, applications.Approval("fine"))
    assert permits.get_permit(world, permit.id).status is PermitStatus.REVOKED


class FrozenDataEngine(EmbeddedPolicyEngine):
    """An engine whose policy data never changes after the first permit (a stale engine)."""

    stored = False

    def _store_permit(self, project: str, permit: Mapping[str, Any]) -> None:
        if not self.stored:
            super()._store_permit(project, permit)
            self.stored = True


def test_a_node_never_allows_on_an_older_copy_of_a_permit(world: Node, settings: Settings,
                                                          clock: Clock) -> None:
    permit = issue_permit(world)
    hub = Node(db=world.db, policy=FrozenDataEngine(settings.policies_dir),
               checkpoints=world.checkpoints, clock=clock)
    assert _access(hub)
    permits.change_status(world, "olga", permit.id, "suspend", "audit finding")
    decision = permits.check_data_access(hub, "bob", "lung-ai", "lung-ct", "v1")
    assert not decision.allow
    assert decision.reasons[0].startswith(
        "policy data holds no permit of project lung-ai at revision ")
    assert decision.reasons[0].endswith(" (stale engine data)")


def test_another_node_sees_each_permit_change(world: Node, settings: Settings,
                                              clock: Clock) -> None:
    permit = issue_permit(world)
    hub = Node(db=world.db, policy=EmbeddedPolicyEngine(settings.policies_dir),
               checkpoints=world.checkpoints, clock=clock)
    seen = [_access(hub)]
    for action in ("suspend", "reinstate", "revoke"):
        permits.change_status(world, "olga", permit.id, action, "audit finding")
        seen.append(_access(hub))
    assert seen == [True, False, True, False]

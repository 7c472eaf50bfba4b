"""The application workflow through the real services, policy engine and database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from factories import (
    T0,
    audit_trail,
    create_application_at_status,
    form,
    issue_permit,
    seed_dataset,
    seed_users,
)
from tre.domain.applications import ApplicationStatus
from tre.domain.permits import PermitStatus, PinnedDataset
from tre.domain.roles import ProjectRole
from tre.domain.values import Member, Period
from tre.errors import InvalidInput, InvalidStateTransition, NotFound, PolicyDenied
from tre.services import applications, permits
from tre.services.node import Node


@pytest.fixture
def world(any_node: Node) -> Node:
    seed_users(any_node)
    seed_dataset(any_node)
    return any_node


def test_apply_approve_issues_pinned_permit_and_audits_every_step(world: Node) -> None:
    app = applications.apply(world, "alice", form())
    assert app.status is ApplicationStatus.SUBMITTED
    assert app.members == (Member("alice", ProjectRole.LEAD), Member("bob",
                                                                      ProjectRole.RESEARCHER))
    permit = applications.approve(world, "olga", app.id, applications.Approval(
        "sound protocol", conditions=("publish code",)))
    assert permit.project == "lung-ai"
    assert permit.datasets == (PinnedDataset("lung-ct", "v1"),)
    assert permit.members == app.members
    assert permit.period == app.period
    assert permit.conditions == ("publish code",)
    assert permit.status is PermitStatus.ACTIVE
    assert applications.get_application(world, app.id).status is ApplicationStatus.APPROVED
    trail = audit_trail(world)
    assert trail[-5:] == [
        ("alice", "application.create", app.id, "allowed"),
        ("alice", "application.submit", app.id, "allowed"),
        ("olga", "application.review", app.id, "allowed"),
        ("olga", "application.approve", app.id, "allowed"),
        ("olga", "permit.issue", permit.id, "allowed"),
    ]


def test_officer_cannot_decide_own_application(world: Node) -> None:
    app = applications.apply(world, "rita", form())
    before = audit_trail(world)
    with pytest.raises(PolicyDenied, match="submitted"):
        applications.approve(world, "rita", app.id, applications.Approval("looks fine"))
    assert applications.get_application(world, app.id).status is ApplicationStatus.SUBMITTED
    assert permits.list_permits(world) == []
    assert audit_trail(world) == [*before, ("rita", "application.approve", app.id, "denied")]


def test_officer_who_is_a_member_cannot_decide(world: Node) -> None:
    app = applications.apply(world, "alice", form(members=("rita",)))
    with pytest.raises(PolicyDenied, match="member"):
        applications.reject(world, "rita", app.id, "no")
    assert applications.get_application(world, app.id).status is ApplicationStatus.SUBMITTED


def test_researcher_cannot_decide(world: Node) -> None:
    app = applications.apply(world, "alice", form())
    with pytest.raises(PolicyDenied, match="hdab_officer"):
        applications.approve(world, "carol", app.id, applications.Approval("I like it"))


def test_decision_needs_a_reason(world: Node) -> None:
    app = applications.apply(world, "alice", form())
    with pytest.raises(PolicyDenied, match="reason"):
        applications.reject(world, "olga", app.id, "   ")
    assert applications.get_application(world, app.id).status is ApplicationStatus.SUBMITTED


def test_approving_twice_is_a_state_error_and_issues_one_permit(world: Node) -> None:
    app = create_application_at_status(world, ApplicationStatus.APPROVED)
    before = audit_trail(world)
    with pytest.raises(InvalidStateTransition,
                       match="cannot change application status from approved to approved"):
        applications.approve(world, "oscar", app.id, applications.Approval("again"))
    assert len(permits.list_permits(world)) == 1
    assert audit_trail(world) == before


@pytest.mark.parametrize("status", [ApplicationStatus.REJECTED, ApplicationStatus.WITHDRAWN])
def test_closed_application_cannot_be_approved(world: Node, status: ApplicationStatus) -> None:
    app = create_application_at_status(world, status)
    with pytest.raises(InvalidStateTransition, match=f"from {status} to approved"):
        applications.approve(world, "olga", app.id, applications.Approval("ok"))


def test_only_the_applicant_submits_or_withdraws(world: Node) -> None:
    app = create_application_at_status(world, ApplicationStatus.DRAFT)
    with pytest.raises(PolicyDenied):
        applications.submit(world, "bob", app.id)
    assert applications.submit(world, "alice", app.id).status is ApplicationStatus.SUBMITTED
    with pytest.raises(PolicyDenied):
        applications.withdraw(world, "olga", app.id)
    assert applications.withdraw(world, "alice", app.id).status is ApplicationStatus.WITHDRAWN


def test_data_holder_cannot_apply(world: Node) -> None:
    before = audit_trail(world)
    with pytest.raises(PolicyDenied, match="dan needs the researcher or sme_developer role"):
        applications.apply(world, "dan", form(members=()))
    assert applications.list_applications(world) == []
    after = audit_trail(world)
    assert after[:-1] == before
    assert after[-1][0::3] == ("dan", "denied")
    assert after[-1][1] == "application.submit"


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"datasets": ("brain-mr",)}, NotFound, "unknown dataset 'brain-mr'"),
    ({"datasets": ("lung-ct@v9",)}, NotFound, "has no version 'v9'"),
    ({"members": ("mallory",)}, InvalidInput, "unknown member.*mallory"),
])
def test_bad_application_writes_nothing(world: Node, change: dict[str, tuple[str, ...]],
                                        error: type[Exception], message: str) -> None:
    before = audit_trail(world)
    with pytest.raises(error, match=message):
        applications.apply(world, "alice", form(**change))  # type: ignore[arg-type]
    assert applications.list_applications(world) == []
    assert audit_trail(world) == before


def test_period_in_the_past_is_refused(world: Node) -> None:
    with pytest.raises(InvalidInput, match="ends in the past"):
        applications.apply(world, "alice", form(start=T0 - timedelta(days=30), days=10))
    assert applications.list_applications(world) == []


def test_unknown_actor_is_refused(world: Node) -> None:
    with pytest.raises(NotFound, match=r"unknown user 'eve'.*tre users add eve"):
        applications.apply(world, "eve", form())


def test_second_application_for_a_permitted_project_must_be_an_amendment(world: Node) -> None:
    permit = issue_permit(world)
    with pytest.raises(InvalidInput, match=f"already has permit {permit.id}.*amend"):
        applications.apply(world, "carol", form())


def test_amendment_adds_member_and_extends_after_a_new_decision(world: Node) -> None:
    permit = issue_permit(world)
    new_end = permit.period.end + timedelta(days=90)
    amendment = applications.amend(world, "alice", permit.id, add_members=(Member.parse("carol"),),
                                   until=Period(permit.period.start, new_end))
    assert amendment.status is ApplicationStatus.SUBMITTED
    assert permits.get_permit(world, permit.id).members == permit.members  # not yet
    amended = applications.approve(world, "olga", amendment.id,
                                   applications.Approval("carol joins"))
    assert amended.id == permit.id
    assert [m.user for m in amended.members] == ["alice", "bob", "carol"]
    assert amended.period.end == new_end
    assert audit_trail(world)[-1] == ("olga", "permit.amend", permit.id, "allowed")


def test_officer_may_shorten_but_not_lengthen(world: Node) -> None:
    app = applications.apply(world, "alice", form())
    longer = Period(app.period.start, app.period.end + timedelta(days=1))
    with pytest.raises(InvalidInput, match="never later"):
        applications.approve(world, "olga", app.id, applications.Approval("ok", valid_until=longer))
    shorter = Period(app.period.start, app.period.start + timedelta(days=30))
    permit = applications.approve(world, "olga", app.id,
                                  applications.Approval("ok", valid_until=shorter))
    assert permit.period == shorter

"""Every pair of statuses is either in the transition table or a clear error."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest

from factories import T0, form
from tre.domain.applications import (
    APPLICATION_TRANSITIONS,
    ApplicationStatus,
    DataAccessApplication,
)
from tre.domain.permits import PERMIT_TRANSITIONS, DataPermit, PermitStatus, PinnedDataset
from tre.domain.values import Member
from tre.errors import InvalidInput, InvalidStateTransition

US = timedelta(microseconds=1)


def _application(status: ApplicationStatus) -> DataAccessApplication:
    f = form()
    return DataAccessApplication(
        id="app-1", project=f.project, title=f.title, purpose=f.purpose,
        description=f.description, applicant="alice", organisation=f.organisation,
        members=(Member.parse("alice:lead"), *f.members), datasets=f.datasets,
        compute=f.compute, period=f.period, created_at=T0, status=status)


def _permit(status: PermitStatus) -> DataPermit:
    f = form()
    return DataPermit(
        id="permit-1", project="lung-ai", application="app-1", issued_by="olga", issued_at=T0,
        decision_reason="ok", conditions=(), period=f.period,
        datasets=(PinnedDataset("lung-ct", "v1"),),
        members=(Member.parse("alice:lead"), Member.parse("bob")), compute=f.compute,
        status=status)


@pytest.mark.parametrize(("current", "requested"),
                         list(itertools.product(ApplicationStatus, ApplicationStatus)))
def test_application_transition_matches_table(current: ApplicationStatus,
                                              requested: ApplicationStatus) -> None:
    app = _application(current)
    if requested in APPLICATION_TRANSITIONS[current]:
        assert app.moved_to(requested).status is requested
    else:
        with pytest.raises(InvalidStateTransition) as err:
            app.moved_to(requested)
        assert str(err.value) == (
            f"cannot change application status from {current} to {requested}")


@pytest.mark.parametrize(("current", "requested"),
                         list(itertools.product(PermitStatus, PermitStatus)))
def test_permit_transition_matches_table(current: PermitStatus,
                                         requested: PermitStatus) -> None:
    permit = _permit(current)
    if requested in PERMIT_TRANSITIONS[current]:
        assert permit.moved_to(requested, T0, "why").status is requested
    else:
        with pytest.raises(InvalidStateTransition, match=f"from {current} to {requested}"):
            permit.moved_to(requested, T0, "why")


def test_terminal_statuses_have_no_way_out() -> None:
    for status in (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED,
                   ApplicationStatus.WITHDRAWN):
        assert APPLICATION_TRANSITIONS[status] == frozenset()
    assert PERMIT_TRANSITIONS[PermitStatus.REVOKED] == frozenset()
    assert PERMIT_TRANSITIONS[PermitStatus.EXPIRED] == frozenset()


def test_permit_is_expired_from_its_end_on() -> None:
    permit = _permit(PermitStatus.ACTIVE)
    end = permit.period.end
    assert permit.in_force(end - US)
    assert permit.effective_status(end - US) is PermitStatus.ACTIVE
    assert permit.effective_status(end) is PermitStatus.EXPIRED
    assert not permit.in_force(end)
    assert replace(permit, status=PermitStatus.SUSPENDED).effective_status(end) \
        is PermitStatus.EXPIRED
    assert replace(permit, status=PermitStatus.REVOKED).effective_status(end) \
        is PermitStatus.REVOKED


def test_an_expired_permit_cannot_be_reinstated_even_if_stored_active() -> None:
    permit = _permit(PermitStatus.SUSPENDED)
    with pytest.raises(InvalidStateTransition, match="from expired to active"):
        permit.moved_to(PermitStatus.ACTIVE, permit.period.end, "back")


def test_status_change_needs_a_reason() -> None:
    with pytest.raises(InvalidInput, match="needs a reason"):
        _permit(PermitStatus.ACTIVE).moved_to(PermitStatus.SUSPENDED, T0, "  ")


def test_permit_not_in_force_before_it_starts() -> None:
    permit = _permit(PermitStatus.ACTIVE)
    assert not permit.in_force(permit.period.start - US)
    assert permit.in_force(permit.period.start)

"""Data-access applications: what a researcher asks the HDAB for, and its state machine."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from tre.domain.purposes import Purpose
from tre.domain.roles import ProjectRole
from tre.domain.state_machine import check_transition
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.errors import InvalidInput


class ApplicationStatus(StrEnum):
    """Where an application stands."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


A = ApplicationStatus
APPLICATION_TRANSITIONS: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    A.DRAFT: frozenset({A.SUBMITTED, A.WITHDRAWN}),
    A.SUBMITTED: frozenset({A.UNDER_REVIEW, A.WITHDRAWN}),
    A.UNDER_REVIEW: frozenset({A.APPROVED, A.REJECTED, A.WITHDRAWN}),
    A.APPROVED: frozenset(),
    A.REJECTED: frozenset(),
    A.WITHDRAWN: frozenset(),
}
"""Every allowed change of an application's status; anything else is an error."""

DECIDABLE: frozenset[ApplicationStatus] = frozenset({A.SUBMITTED, A.UNDER_REVIEW})
"""Statuses from which an HDAB officer may decide (submitted passes through under_review)."""


class ApplicationKind(StrEnum):
    """A first application for a project, or an amendment of an existing permit."""

    NEW = "new"
    AMENDMENT = "amendment"


@dataclass(frozen=True, slots=True)
class DataAccessApplication:
    """A request to the HDAB to use datasets for a purpose, by named people, with compute."""

    id: str
    project: str
    title: str
    purpose: Purpose
    description: str
    applicant: str
    organisation: str
    members: tuple[Member, ...]
    datasets: tuple[DatasetRef, ...]
    compute: Compute
    period: Period
    created_at: datetime
    status: ApplicationStatus = ApplicationStatus.DRAFT
    kind: ApplicationKind = ApplicationKind.NEW
    amends_permit: str | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    conditions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise InvalidInput("an application needs a title")
        if not self.datasets:
            raise InvalidInput("an application must request at least one dataset (--dataset ID)")
        seen = [m.user for m in self.members]
        if len(seen) != len(set(seen)):
            raise InvalidInput("a member is listed twice: list each member once")
        if self.applicant not in seen:
            raise InvalidInput("the applicant must be a member of the project")
        if not any(m.role is ProjectRole.LEAD for m in self.members):
            raise InvalidInput("a project needs a lead member")
        if (self.kind is ApplicationKind.AMENDMENT) != (self.amends_permit is not None):
            raise InvalidInput("an amendment names the permit it amends, and only an amendment")

    @property
    def member_names(self) -> frozenset[str]:
        """The user names of all members."""
        return frozenset(m.user for m in self.members)

    def moved_to(self, status: ApplicationStatus) -> DataAccessApplication:
        """This application in ``status``, if the transition table allows it."""
        check_transition("application", APPLICATION_TRANSITIONS, self.status, status)
        return replace(self, status=status)

    def decided(
        self, status: ApplicationStatus, officer: str, reason: str, conditions: tuple[str, ...]
    ) -> DataAccessApplication:
        """This application approved or rejected by ``officer`` with a reason."""
        if not reason.strip():
            raise InvalidInput("a decision needs a reason (--reason TEXT)")
        check_transition("application", APPLICATION_TRANSITIONS, self.status, status)
        return replace(self, status=status, decided_by=officer, decision_reason=reason,
                       conditions=conditions)

"""Bodies of the application and permit endpoints (pydantic), and their answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from tre.api.schemas import Body, NonBlank
from tre.domain.applications import ApplicationKind, ApplicationStatus, DataAccessApplication
from tre.domain.permits import DataPermit, EgressProfile, PermitStatus
from tre.domain.purposes import Purpose
from tre.domain.roles import ProjectRole
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.services.applications import ApplicationForm

Reason = Annotated[NonBlank, Field(max_length=4000, description="Why (kept in the audit trail).")]


class MemberIO(BaseModel):
    """A project member and their project role."""

    user: NonBlank
    role: ProjectRole = ProjectRole.RESEARCHER

    def domain(self) -> Member:
        """The domain's member."""
        return Member(self.user, self.role)


class ComputeIO(BaseModel):
    """Compute requested for (or granted to) the project (limits: the domain's, a 400)."""

    cpus: float = 2.0
    memory_gb: int = 8
    gpus: int = 0
    hours: int = 100

    def domain(self) -> Compute:
        """The domain's compute (InvalidInput, a 400, for values it refuses)."""
        return Compute(self.cpus, self.memory_gb, self.gpus, self.hours)


class ApplicationBody(Body):
    """A data-access application, as an applicant fills it in."""

    project: NonBlank = Field(description="Project name (lower case, digits, dashes).")
    title: NonBlank
    purpose: Purpose = Field(description="The EHDS purpose of secondary use.")
    description: str = ""
    organisation: NonBlank
    members: list[MemberIO] = Field(
        default_factory=list, max_length=200,
        description="Other members; the applicant joins as lead unless listed.")
    datasets: list[NonBlank] = Field(min_length=1, max_length=100,
                                     description="`dataset` or `dataset@version`.")
    compute: ComputeIO = Field(default_factory=ComputeIO)
    start: AwareDatetime
    end: AwareDatetime
    submit: bool = Field(True, description="Submit to the HDAB at once (else a draft).")

    def form(self) -> ApplicationForm:
        """The service's form (InvalidInput, a 400, for values the domain refuses)."""
        return ApplicationForm(
            project=self.project, title=self.title, purpose=self.purpose,
            description=self.description, organisation=self.organisation,
            members=tuple(m.domain() for m in self.members),
            datasets=tuple(DatasetRef.parse(d) for d in self.datasets),
            compute=self.compute.domain(), period=Period(self.start, self.end))


class ApproveBody(Body):
    """An HDAB officer's approval."""

    reason: Reason
    conditions: list[NonBlank] = Field(default_factory=list, max_length=50)
    egress: EgressProfile = EgressProfile.AGGREGATE
    until: AwareDatetime | None = Field(
        None, description="End the permit earlier than requested (never later).")


class AmendmentBody(Body):
    """A member's request to change their permit; it takes effect only on an HDAB approval."""

    add_members: list[MemberIO] = Field(default_factory=list, max_length=200)
    remove_members: list[NonBlank] = Field(default_factory=list, max_length=200)
    until: AwareDatetime | None = Field(
        None, description="A new end of the permit (its start stays).")
    compute: ComputeIO | None = Field(None, description="New compute limits.")
    justification: str = Field("", max_length=4000,
                               description="Why the change is needed (the HDAB reads it).")


class ReasonBody(Body):
    """A decision that needs only its reason (reject, suspend, reinstate, revoke)."""

    reason: Reason


def _compute(compute: Compute) -> ComputeIO:
    return ComputeIO(cpus=compute.cpus, memory_gb=compute.memory_gb, gpus=compute.gpus,
                     hours=compute.hours)


def _members(members: tuple[Member, ...]) -> list[MemberIO]:
    return [MemberIO(user=m.user, role=m.role) for m in members]


class ApplicationOut(BaseModel):
    """An application and where it stands."""

    id: str
    project: str
    kind: ApplicationKind
    amends_permit: str | None
    title: str
    purpose: Purpose
    description: str
    applicant: str
    organisation: str
    members: list[MemberIO]
    datasets: list[str]
    compute: ComputeIO
    start: datetime
    end: datetime
    created_at: datetime
    status: ApplicationStatus
    decided_by: str | None
    decision_reason: str | None
    conditions: list[str]

    @classmethod
    def of(cls, app: DataAccessApplication) -> ApplicationOut:
        """From the domain's application."""
        return cls(id=app.id, project=app.project, kind=app.kind,
                   amends_permit=app.amends_permit, title=app.title, purpose=app.purpose,
                   description=app.description, applicant=app.applicant,
                   organisation=app.organisation, members=_members(app.members),
                   datasets=[str(d) for d in app.datasets], compute=_compute(app.compute),
                   start=app.period.start, end=app.period.end, created_at=app.created_at,
                   status=app.status, decided_by=app.decided_by,
                   decision_reason=app.decision_reason, conditions=list(app.conditions))


class PermitOut(BaseModel):
    """A data permit: what it grants, to whom, until when, and its status now."""

    id: str
    project: str
    status: PermitStatus = Field(description="As it counts now (past its end: expired).")
    status_reason: str | None
    valid_from: datetime
    valid_until: datetime
    datasets: list[str] = Field(description="`dataset@version`, pinned at approval.")
    members: list[MemberIO]
    compute: ComputeIO
    egress: EgressProfile
    conditions: list[str]
    application: str
    issued_by: str
    issued_at: datetime
    decision_reason: str

    @classmethod
    def of(cls, permit: DataPermit, now: datetime) -> PermitOut:
        """From the domain's permit, its status as of ``now``."""
        return cls(id=permit.id, project=permit.project, application=permit.application,
                   issued_by=permit.issued_by, issued_at=permit.issued_at,
                   decision_reason=permit.decision_reason, conditions=list(permit.conditions),
                   valid_from=permit.period.start, valid_until=permit.period.end,
                   datasets=[str(d) for d in permit.datasets],
                   members=_members(permit.members), compute=_compute(permit.compute),
                   egress=permit.egress, status=permit.effective_status(now),
                   status_reason=permit.status_reason)

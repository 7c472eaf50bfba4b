"""Data-access applications and permits: each endpoint a thin call of the services as the caller.

Who may apply, withdraw, decide, suspend or revoke is decided by policy inside the services
(and audited there). Reading is not a policy decision: the API shows an application to its
applicant and members, a permit to its members, and both to HDAB officers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from tre.api.access import Deciding, Seeing, Viewer
from tre.api.application_schemas import (
    AmendmentBody,
    ApplicationBody,
    ApplicationOut,
    ApproveBody,
    PermitOut,
    ReasonBody,
)
from tre.api.deps import State
from tre.api.egress import ERRORS
from tre.api.errors import Forbidden
from tre.domain.applications import ApplicationStatus, DataAccessApplication
from tre.domain.permits import DataPermit
from tre.domain.roles import Role
from tre.domain.values import Period
from tre.services import applications, permits

applications_router = APIRouter(prefix="/applications", tags=["applications"],
                                responses=ERRORS)
permits_router = APIRouter(prefix="/permits", tags=["permits"], responses=ERRORS)


def _officer(who: Viewer) -> bool:
    return Role.HDAB_OFFICER in who.roles


def may_see_application(who: Viewer, app: DataAccessApplication) -> bool:
    """HDAB officers see every application; others their own and those naming them."""
    return _officer(who) or who.name == app.applicant or who.name in app.member_names


def may_see_permit(who: Viewer, permit: DataPermit) -> bool:
    """HDAB officers see every permit; others those naming them (``who.projects``: one permit
    a project)."""
    return _officer(who) or permit.project in who.projects


async def readable_application(application_id: str, api: State,
                               who: Seeing) -> DataAccessApplication:
    """Dependency: the application in the path, if the caller may see it (else 403)."""
    app = await api.run(applications.get_application, api.node, application_id)
    if not may_see_application(who, app):
        raise Forbidden(f"{who.name} may not see application {application_id}: only its "
                        "applicant, its members and HDAB officers can")
    return app


async def readable_permit(permit_id: str, api: State, who: Seeing) -> DataPermit:
    """Dependency: the permit in the path, if the caller may see it (else 403)."""
    permit = await api.run(permits.get_permit, api.node, permit_id)
    if not may_see_permit(who, permit):
        raise Forbidden(f"{who.name} may not see permit {permit_id}: only its members and "
                        "HDAB officers can")
    return permit


PermitAction = Literal["suspend", "reinstate", "revoke"]

ReadableApplication = Annotated[DataAccessApplication, Depends(readable_application)]
ReadablePermit = Annotated[DataPermit, Depends(readable_permit)]


@applications_router.get("", summary="Applications the caller may see, newest first")
async def list_applications(
        api: State, who: Seeing,
        status_: Annotated[ApplicationStatus | None,
                           Query(alias="status", description="Only this status.")] = None,
) -> list[ApplicationOut]:
    """Applicants and members see theirs; HDAB officers see all (the review queue:
    ``?status=submitted``)."""
    found = await api.run(applications.list_applications, api.node, status=status_)
    return [ApplicationOut.of(a) for a in found if may_see_application(who, a)]


@applications_router.post("", status_code=status.HTTP_201_CREATED,
                          summary="Apply for a data permit (and submit it to the HDAB)")
async def apply(api: State, who: Seeing, body: ApplicationBody) -> ApplicationOut:
    """Create the application as the caller, its lead unless another lead is listed; submitted
    at once unless ``submit`` is false (policy ``application_submit``)."""
    app = await api.run(applications.apply, api.node, who.name, body.form(),
                        submit=body.submit)
    return ApplicationOut.of(app)


@applications_router.get("/{application_id}", summary="One application")
def get_application(app: ReadableApplication) -> ApplicationOut:
    """The application, its status and decision."""
    return ApplicationOut.of(app)


@applications_router.post("/{application_id}/submit", summary="Submit a draft to the HDAB")
async def submit(app: ReadableApplication, api: State, who: Seeing) -> ApplicationOut:
    """The applicant submits their draft (policy ``application_submit``)."""
    return ApplicationOut.of(await api.run(applications.submit, api.node, who.name, app.id))


@applications_router.post("/{application_id}/withdraw",
                          summary="Withdraw an application not yet decided")
async def withdraw(app: ReadableApplication, api: State, who: Seeing) -> ApplicationOut:
    """The applicant withdraws (policy ``application_withdraw``)."""
    return ApplicationOut.of(await api.run(applications.withdraw, api.node, who.name, app.id))


@applications_router.post("/{application_id}/approve", status_code=status.HTTP_201_CREATED,
                          summary="Approve: issue (or amend) the permit")
async def approve(who: Deciding, app: ReadableApplication, api: State,
                  body: ApproveBody) -> PermitOut:
    """An HDAB officer who neither applied nor is a member approves with a reason
    (policy ``application_decide``); the permit pins each dataset to a version."""
    until = None if body.until is None else Period(app.period.start, body.until)
    approval = applications.Approval(body.reason, tuple(body.conditions), body.egress, until)
    permit = await api.run(applications.approve, api.node, who.name, app.id, approval)
    return PermitOut.of(permit, api.node.clock())


@applications_router.post("/{application_id}/reject", summary="Reject with a reason")
async def reject(who: Deciding, app: ReadableApplication, api: State,
                 body: ReasonBody) -> ApplicationOut:
    """An HDAB officer rejects (policy ``application_decide``); no permit is issued."""
    return ApplicationOut.of(await api.run(applications.reject, api.node, who.name, app.id,
                                           body.reason))


@permits_router.get("", summary="Permits the caller may see, newest first")
async def list_permits(api: State, who: Seeing) -> list[PermitOut]:
    """Members see the permits naming them; HDAB officers see all."""
    found = await api.run(permits.list_permits, api.node)
    now = api.node.clock()
    return [PermitOut.of(p, now) for p in found if may_see_permit(who, p)]


@permits_router.get("/{permit_id}", summary="One permit")
def get_permit(permit: ReadablePermit, api: State) -> PermitOut:
    """What the permit grants, to whom, until when; its status as it counts now."""
    return PermitOut.of(permit, api.node.clock())


# Declared before /{permit_id}/{action}, which would take "amendments" for an action.
@permits_router.post("/{permit_id}/amendments", status_code=status.HTTP_201_CREATED,
                     summary="Apply to amend a permit: members, end date, compute")
async def amend(permit: ReadablePermit, api: State, who: Seeing,
                body: AmendmentBody) -> ApplicationOut:
    """A member applies to change the permit (policy ``application_submit``); the change is
    made only when an HDAB officer approves the amendment (``/applications/{id}/approve``)."""
    until = None if body.until is None else Period(permit.period.start, body.until)
    amendment = await api.run(
        applications.amend, api.node, who.name, permit.id,
        add_members=tuple(m.domain() for m in body.add_members),
        remove_members=tuple(body.remove_members), until=until,
        compute=None if body.compute is None else body.compute.domain(),
        justification=body.justification)
    return ApplicationOut.of(amendment)


@permits_router.post("/{permit_id}/{action}", summary="Suspend, reinstate or revoke a permit")
async def change_permit(
        who: Deciding, permit: ReadablePermit, api: State, body: ReasonBody,
        action: PermitAction,
) -> PermitOut:
    """An HDAB officer changes the permit's status with a reason (policy ``permit_change``);
    running servers and jobs of a suspended or revoked project are stopped by the enforcer."""
    changed = await api.run(permits.change_status, api.node, who.name, permit.id, action,
                            body.reason)
    return PermitOut.of(changed, api.node.clock())

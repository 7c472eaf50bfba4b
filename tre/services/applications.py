"""Data-access applications: apply, submit, withdraw, and the HDAB decisions that issue permits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tre.audit import log as audit
from tre.db import applications as app_store
from tre.db import datasets as dataset_store
from tre.db import permits as permit_store
from tre.db import projects as project_store
from tre.db import users as user_store
from tre.db.driver import Transaction
from tre.domain.applications import (
    DECIDABLE,
    ApplicationKind,
    ApplicationStatus,
    DataAccessApplication,
)
from tre.domain.permits import DataPermit, EgressProfile
from tre.domain.purposes import Purpose
from tre.domain.roles import ProjectRole
from tre.domain.values import Compute, DatasetRef, Member, Period, check_slug
from tre.errors import InvalidInput, InvalidStateTransition
from tre.policy import inputs
from tre.policy.decisions import Decision
from tre.services.node import Node, refusal


@dataclass(frozen=True, slots=True)
class ApplicationForm:
    """What an applicant fills in."""

    project: str
    title: str
    purpose: Purpose
    description: str
    organisation: str
    members: tuple[Member, ...]
    datasets: tuple[DatasetRef, ...]
    compute: Compute
    period: Period


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def _with_lead(applicant: str, members: tuple[Member, ...]) -> tuple[Member, ...]:
    """The applicant joins as lead unless the form lists them (or another lead) already."""
    if any(m.user == applicant for m in members):
        return members
    role = ProjectRole.RESEARCHER if any(m.role is ProjectRole.LEAD for m in members) \
        else ProjectRole.LEAD
    return (Member(applicant, role), *members)


def _actor(tx: Transaction, name: str) -> dict[str, object]:
    user = user_store.get(tx, name)
    return inputs.actor_input(user.name, (r.value for r in user.roles))


def _check_people_and_data(tx: Transaction, app: DataAccessApplication) -> None:
    # the applicant was looked up already (_actor)
    unknown = user_store.missing(tx, set(app.member_names) - {app.applicant})
    if unknown:
        raise InvalidInput(
            f"unknown member(s) {', '.join(unknown)}: add them with `tre users add NAME --role "
            "researcher` first")
    for ref in app.datasets:
        dataset_store.resolve(tx, ref)


def apply(node: Node, actor: str, form: ApplicationForm, *, submit: bool = True,
          amends_permit: str | None = None) -> DataAccessApplication:
    """Create an application (and by default submit it); nothing is written if it is invalid."""
    check_slug("project", form.project)
    now = node.clock()
    if form.period.end <= now:
        raise InvalidInput(
            f"the requested period ends in the past ({form.period.end.isoformat()}): "
            "give an end date after today")
    request_id = audit.new_request_id()
    with node.driver_unit_of_work() as tx:
        actor_doc = _actor(tx, actor)
        app = DataAccessApplication(
            id=_new_id("app"), project=form.project, title=form.title, purpose=form.purpose,
            description=form.description, applicant=actor, organisation=form.organisation,
            members=_with_lead(actor, form.members), datasets=form.datasets,
            compute=form.compute, period=form.period, created_at=now,
            kind=ApplicationKind.AMENDMENT if amends_permit else ApplicationKind.NEW,
            amends_permit=amends_permit,
        )
        _check_people_and_data(tx, app)
        held = project_store.claims(tx, form.project)
        if amends_permit is None and held.permit is not None:
            raise InvalidInput(
                f"project {form.project!r} already has permit {held.permit}: change it with "
                f"`tre permits amend {held.permit}`")
        if held.sandbox is not None:
            raise InvalidInput(
                f"project {form.project!r} is the name of an SME sandbox (its workspace and "
                "project uid are the sandbox's): apply under another project name")
        if held.open_applications:
            raise InvalidInput(
                f"project {form.project!r} already has an open application "
                f"{held.open_applications[0]}: withdraw it or wait for its decision")
        decision = None
        if submit:
            decision = node.authorise(
                tx, decision="application_submit",
                input=inputs.submit_input(actor_doc, app), actor=actor,
                action="application.submit", object_type="application", object_id=app.id,
                request_id=request_id)
        if decision is None or decision.allow:
            draft = app
            if decision is not None:  # stored once, already submitted; both steps audited
                app = app.moved_to(ApplicationStatus.SUBMITTED)
            app_store.add(tx, app, now)
            audit.record(tx, time=now, actor=actor, action="application.create",
                         object_type="application", object_id=draft.id, outcome="allowed",
                         request_id=request_id,
                         details={"project": app.project, "kind": app.kind.value,
                                  "amends_permit": amends_permit})
            if decision is not None:
                audit.record(tx, time=now, actor=actor, action="application.submit",
                             object_type="application", object_id=app.id, outcome="allowed",
                             request_id=request_id, decision=decision)
    if decision is not None and not decision.allow:
        raise refusal(decision)
    return app


def submit(node: Node, actor: str, app_id: str) -> DataAccessApplication:
    """Submit a draft to the HDAB."""
    return _applicant_move(node, actor, app_id, ApplicationStatus.SUBMITTED,
                           "application_submit", "application.submit")


def withdraw(node: Node, actor: str, app_id: str) -> DataAccessApplication:
    """Withdraw an application that is not decided yet."""
    return _applicant_move(node, actor, app_id, ApplicationStatus.WITHDRAWN,
                           "application_withdraw", "application.withdraw")


def _applicant_move(node: Node, actor: str, app_id: str, status: ApplicationStatus,
                    decision_name: str, action: str) -> DataAccessApplication:
    request_id = audit.new_request_id()
    with node.driver_unit_of_work() as tx:
        app = app_store.get(tx, app_id)
        moved = app.moved_to(status)
        decision = node.authorise(
            tx, decision=decision_name, input=inputs.submit_input(_actor(tx, actor), app),
            actor=actor, action=action, object_type="application", object_id=app.id,
            request_id=request_id)
        if decision.allow:
            now = node.clock()
            app_store.save(tx, moved, now)
            audit.record(tx, time=now, actor=actor, action=action,
                         object_type="application", object_id=app.id, outcome="allowed",
                         request_id=request_id, decision=decision)
    if not decision.allow:
        raise refusal(decision)
    return moved


def start_review(node: Node, actor: str, app_id: str) -> DataAccessApplication:
    """An HDAB officer takes a submitted application into review."""
    request_id = audit.new_request_id()
    with node.driver_unit_of_work() as tx:
        app = app_store.get(tx, app_id)
        moved = app.moved_to(ApplicationStatus.UNDER_REVIEW)
        decision = node.authorise(
            tx, decision="application_decide",
            input=inputs.decide_input(_actor(tx, actor), app, "review", ""),
            actor=actor, action="application.review", object_type="application",
            object_id=app.id, request_id=request_id)
        if decision.allow:
            now = node.clock()
            app_store.save(tx, moved, now)
            audit.record(tx, time=now, actor=actor, action="application.review",
                         object_type="application", object_id=app.id, outcome="allowed",
                         request_id=request_id, decision=decision)
    if not decision.allow:
        raise refusal(decision)
    return moved


@dataclass(frozen=True, slots=True)
class Approval:
    """What an officer decides on approval."""

    reason: str
    conditions: tuple[str, ...] = ()
    egress: EgressProfile = EgressProfile.AGGREGATE
    valid_until: Period | None = None
    """An end earlier than requested, as a whole period (start is the requested start)."""


def approve(node: Node, actor: str, app_id: str, approval: Approval) -> DataPermit:
    """Approve: issue the permit (or amend it), pinning each dataset to a version."""
    request_id = audit.new_request_id()
    with node.driver_unit_of_work() as tx:
        app = app_store.get(tx, app_id)
        _check_decidable(app, ApplicationStatus.APPROVED)
        decision = node.authorise(
            tx, decision="application_decide",
            input=inputs.decide_input(_actor(tx, actor), app, "approve", approval.reason),
            actor=actor, action="application.approve", object_type="application",
            object_id=app.id, request_id=request_id)
        if decision.allow:
            permit = _issue(node, tx, actor, app, approval, decision, request_id)
    if not decision.allow:
        raise refusal(decision)
    return permit


def _check_decidable(app: DataAccessApplication, target: ApplicationStatus) -> None:
    if app.status not in DECIDABLE:
        raise InvalidStateTransition("application", app.status.value, target.value)


def _issue(node: Node, tx: Transaction, actor: str, app: DataAccessApplication,
           approval: Approval, decision: Decision, request_id: str) -> DataPermit:
    now = node.clock()
    if app.status is ApplicationStatus.SUBMITTED:
        app = app.moved_to(ApplicationStatus.UNDER_REVIEW)
        audit.record(tx, time=now, actor=actor, action="application.review",
                     object_type="application", object_id=app.id, outcome="allowed",
                     request_id=request_id)
    period = approval.valid_until or app.period
    if period.end > app.period.end or period.start != app.period.start:
        raise InvalidInput("a permit may end earlier than requested, never later: "
                           "the applicant must apply for an extension")
    if period.end <= now:
        raise InvalidInput(f"the permit would end in the past ({period.end.isoformat()})")
    decided = app.decided(ApplicationStatus.APPROVED, actor, approval.reason,
                          approval.conditions)
    app_store.save(tx, decided, now)
    audit.record(tx, time=now, actor=actor, action="application.approve",
                 object_type="application", object_id=app.id, outcome="allowed",
                 request_id=request_id, decision=decision,
                 details={"reason": approval.reason, "conditions": list(approval.conditions)})
    if app.amends_permit is not None:
        old = permit_store.get(tx, app.amends_permit)
        permit = old.amended(app.members, Period(old.period.start, period.end), app.compute,
                             approval.reason)
        permit_store.save(tx, permit, now)
        action = "permit.amend"
        details: dict[str, object] = {"application": app.id}
    else:
        pinned = tuple(dataset_store.resolve(tx, ref) for ref in app.datasets)
        permit = DataPermit(
            id=_new_id("permit"), project=app.project, application=app.id, issued_by=actor,
            issued_at=now, decision_reason=approval.reason, conditions=approval.conditions,
            period=period, datasets=pinned, members=app.members, compute=app.compute,
            egress=approval.egress)
        permit_store.add(tx, permit, now)
        action = "permit.issue"
        details = {"application": app.id, "datasets": [str(d) for d in pinned]}
    audit.record(tx, time=now, actor=actor, action=action, object_type="permit",
                 object_id=permit.id, outcome="allowed", request_id=request_id,
                 details=details)
    return permit


def reject(node: Node, actor: str, app_id: str, reason: str) -> DataAccessApplication:
    """Reject with a reason; no permit is issued."""
    request_id = audit.new_request_id()
    with node.driver_unit_of_work() as tx:
        app = app_store.get(tx, app_id)
        _check_decidable(app, ApplicationStatus.REJECTED)
        decision = node.authorise(
            tx, decision="application_decide",
            input=inputs.decide_input(_actor(tx, actor), app, "reject", reason),
            actor=actor, action="application.reject", object_type="application",
            object_id=app.id, request_id=request_id)
        if decision.allow:
            now = node.clock()
            if app.status is ApplicationStatus.SUBMITTED:
                app = app.moved_to(ApplicationStatus.UNDER_REVIEW)
            decided = app.decided(ApplicationStatus.REJECTED, actor, reason, ())
            app_store.save(tx, decided, now)
            audit.record(tx, time=now, actor=actor, action="application.reject",
                         object_type="application", object_id=app.id, outcome="allowed",
                         request_id=request_id, decision=decision, details={"reason": reason})
    if not decision.allow:
        raise refusal(decision)
    return decided


def amend(node: Node, actor: str, permit_id: str, *, add_members: tuple[Member, ...] = (),
          remove_members: tuple[str, ...] = (), until: Period | None = None,
          compute: Compute | None = None, justification: str = "") -> DataAccessApplication:
    """Apply to change a permit (members, end date, compute): a new decision is needed."""
    with node.db.reading() as tx:
        permit = permit_store.get(tx, permit_id)
        original = app_store.get(tx, permit.application)
    members = tuple(m for m in permit.members if m.user not in remove_members)
    clash = {m.user for m in members} & {m.user for m in add_members}
    if clash:
        raise InvalidInput(f"{', '.join(sorted(clash))} already in permit {permit_id}")
    period = Period(permit.period.start, until.end) if until else permit.period
    if not add_members and not remove_members and until is None and compute is None:
        raise InvalidInput("an amendment must change something: --add-member, "
                           "--remove-member, --until or compute")
    form = ApplicationForm(
        project=permit.project, title=f"Amendment of {permit_id}: {original.title}",
        purpose=original.purpose, description=justification or original.description,
        organisation=original.organisation, members=members + add_members,
        datasets=tuple(DatasetRef(d.dataset, d.version) for d in permit.datasets),
        compute=compute or permit.compute, period=period)
    if actor not in {m.user for m in form.members}:
        if actor in remove_members:
            raise InvalidInput(f"{actor} cannot remove themselves from permit {permit_id}: "
                               "the applicant of an amendment stays a member; ask another "
                               "member to apply for it")
        raise InvalidInput(f"{actor} is not a member of permit {permit_id}: only members amend")
    return apply(node, actor, form, amends_permit=permit_id)


def list_applications(node: Node, *, status: ApplicationStatus | None = None,
                      user: str | None = None) -> list[DataAccessApplication]:
    """Applications, newest first."""
    with node.db.reading() as tx:
        return app_store.list_all(tx, status=status, user=user)


def get_application(node: Node, app_id: str) -> DataAccessApplication:
    """One application."""
    with node.db.reading() as tx:
        return app_store.get(tx, app_id)

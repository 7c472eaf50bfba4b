"""Store and load data-access applications."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from tre.db.codec import (
    compute_from_json,
    compute_to_json,
    members_from_json,
    members_to_json,
    refs_from_json,
    refs_to_json,
)
from tre.db.driver import Transaction
from tre.db.prepared import Prepared
from tre.db.schema import ApplicationRow
from tre.domain.applications import (
    ApplicationKind,
    ApplicationStatus,
    DataAccessApplication,
)
from tre.domain.purposes import Purpose
from tre.domain.values import Period
from tre.errors import NotFound

_TABLE = cast(Table, ApplicationRow.__table__)
# Every request runs these: compiled once, run on the driver (tre.db.prepared).
_INSERT = Prepared(insert(_TABLE), columns=_TABLE.c.keys())
_SAVE = Prepared(update(_TABLE).where(_TABLE.c.id == bindparam("app_id"))
                 .values(status=bindparam("b_status"), decided_by=bindparam("b_decided_by"),
                         decision_reason=bindparam("b_reason"),
                         conditions=bindparam("b_conditions"),
                         updated_at=bindparam("b_updated_at")))
_GET = Prepared(select(_TABLE).where(_TABLE.c.id == bindparam("app_id")))


def _to_domain(row: Any) -> DataAccessApplication:
    return DataAccessApplication(
        id=row.id, project=row.project, title=row.title, purpose=Purpose(row.purpose),
        description=row.description, applicant=row.applicant, organisation=row.organisation,
        members=members_from_json(row.members), datasets=refs_from_json(row.datasets),
        compute=compute_from_json(row.compute),
        period=Period(row.period_start, row.period_end), created_at=row.created_at,
        status=ApplicationStatus(row.status), kind=ApplicationKind(row.kind),
        amends_permit=row.amends_permit, decided_by=row.decided_by,
        decision_reason=row.decision_reason, conditions=tuple(row.conditions),
    )


def add(session: Transaction, app: DataAccessApplication, now: datetime) -> None:
    """Insert a new application."""
    _INSERT.execute(session, dict(
        id=app.id, project=app.project, kind=app.kind.value, amends_permit=app.amends_permit,
        title=app.title, purpose=app.purpose.value, description=app.description,
        applicant=app.applicant, organisation=app.organisation,
        members=members_to_json(app.members), datasets=refs_to_json(app.datasets),
        compute=compute_to_json(app.compute), period_start=app.period.start,
        period_end=app.period.end, status=app.status.value, created_at=app.created_at,
        updated_at=now, decided_by=app.decided_by, decision_reason=app.decision_reason,
        conditions=list(app.conditions),
    ))


def save(session: Transaction, app: DataAccessApplication, now: datetime) -> None:
    """Write the mutable fields (status and decision) of an existing application."""
    done = _SAVE.execute(session, {
        "app_id": app.id, "b_status": app.status.value, "b_decided_by": app.decided_by,
        "b_reason": app.decision_reason, "b_conditions": list(app.conditions),
        "b_updated_at": now})
    if done != 1:
        raise NotFound(f"no application {app.id}")


def get(session: Transaction, app_id: str) -> DataAccessApplication:
    """The application ``app_id``, or NotFound saying how to list them."""
    row = _GET.first(session, {"app_id": app_id})
    if row is None:
        raise NotFound(f"no application {app_id!r}: `tre permits list --applications` lists them")
    return _to_domain(row)


def list_all(
    session: Session, *, status: ApplicationStatus | None = None, user: str | None = None
) -> list[DataAccessApplication]:
    """Applications, newest first, optionally by status or applicant."""
    query = select(_TABLE).order_by(ApplicationRow.created_at.desc(), ApplicationRow.id)
    if status is not None:
        query = query.where(ApplicationRow.status == status.value)
    if user is not None:
        query = query.where(ApplicationRow.applicant == user)
    return [_to_domain(r) for r in session.execute(query)]


OPEN = (ApplicationStatus.DRAFT, ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW)
"""Statuses of an application not yet decided or withdrawn (it reserves its project name)."""

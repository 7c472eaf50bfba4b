"""Store and load data permits."""

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
    pinned_from_json,
    refs_to_json,
)
from tre.db.driver import Transaction
from tre.db.prepared import Prepared
from tre.db.schema import PermitRow
from tre.domain.permits import DataPermit, EgressProfile, PermitStatus
from tre.domain.values import Period
from tre.errors import NotFound

_TABLE = cast(Table, PermitRow.__table__)
# Statements compiled once, run on the driver (see tre.db.applications).
_INSERT = Prepared(insert(_TABLE), columns=_TABLE.c.keys())
_GET = Prepared(select(_TABLE).where(_TABLE.c.id == bindparam("permit_id")))
_FOR_PROJECT = Prepared(select(_TABLE).where(_TABLE.c.project == bindparam("project")))
_SAVE = Prepared(
    update(_TABLE).where(_TABLE.c.id == bindparam("permit_id"))
    .values(status=bindparam("b_status"), status_reason=bindparam("b_status_reason"),
            members=bindparam("b_members"), valid_from=bindparam("b_valid_from"),
            valid_until=bindparam("b_valid_until"), compute=bindparam("b_compute"),
            updated_at=bindparam("b_updated_at")))


def _to_domain(row: Any) -> DataPermit:
    return DataPermit(
        id=row.id, project=row.project, application=row.application, issued_by=row.issued_by,
        issued_at=row.issued_at, decision_reason=row.decision_reason,
        conditions=tuple(row.conditions), period=Period(row.valid_from, row.valid_until),
        datasets=pinned_from_json(row.datasets), members=members_from_json(row.members),
        compute=compute_from_json(row.compute), egress=EgressProfile(row.egress),
        status=PermitStatus(row.status), status_reason=row.status_reason,
    )


def add(session: Transaction, permit: DataPermit, now: datetime) -> None:
    """Insert a newly issued permit."""
    _INSERT.execute(session, dict(
        id=permit.id, project=permit.project, application=permit.application,
        issued_by=permit.issued_by, issued_at=permit.issued_at,
        decision_reason=permit.decision_reason, conditions=list(permit.conditions),
        valid_from=permit.period.start, valid_until=permit.period.end,
        datasets=refs_to_json(permit.datasets), members=members_to_json(permit.members),
        compute=compute_to_json(permit.compute), egress=permit.egress.value,
        status=permit.status.value, status_reason=permit.status_reason, updated_at=now,
    ))


def save(session: Transaction, permit: DataPermit, now: datetime) -> None:
    """Write the mutable fields (status, members, period, compute) of a permit."""
    done = _SAVE.execute(session, {
        "permit_id": permit.id, "b_status": permit.status.value,
        "b_status_reason": permit.status_reason, "b_members": members_to_json(permit.members),
        "b_valid_from": permit.period.start, "b_valid_until": permit.period.end,
        "b_compute": compute_to_json(permit.compute), "b_updated_at": now})
    if done != 1:
        raise NotFound(f"no permit {permit.id}")


def get(session: Transaction, permit_id: str) -> DataPermit:
    """The permit ``permit_id``, or NotFound saying how to list them."""
    row = _GET.first(session, {"permit_id": permit_id})
    if row is None:
        raise NotFound(f"no permit {permit_id!r}: `tre permits list` lists them")
    return _to_domain(row)


def for_project(session: Transaction, project: str) -> DataPermit | None:
    """The permit of ``project``, if one was issued."""
    row = _FOR_PROJECT.first(session, {"project": project})
    return None if row is None else _to_domain(row)


def list_all(session: Session, *, user: str | None = None) -> list[DataPermit]:
    """Permits, newest first; with ``user``, only those naming them."""
    rows = session.execute(select(_TABLE).order_by(PermitRow.issued_at.desc(), PermitRow.id))
    permits = [_to_domain(r) for r in rows]
    if user is not None:
        permits = [p for p in permits if any(m.user == user for m in p.members)]
    return permits


def due_to_expire(session: Session, now: datetime) -> list[DataPermit]:
    """Permits still stored as active or suspended whose period has ended."""
    query = select(_TABLE).where(
        PermitRow.valid_until <= now,
        PermitRow.status.in_([PermitStatus.ACTIVE.value, PermitStatus.SUSPENDED.value]))
    return [_to_domain(r) for r in session.execute(query)]

"""Factories that put the world in a given state (instead of a soup of fixtures)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tre.db.datasets import Dataset
from tre.domain.applications import ApplicationStatus, DataAccessApplication
from tre.domain.permits import DataPermit
from tre.domain.purposes import Purpose
from tre.domain.roles import Role
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.services import applications, catalogue, users
from tre.services.node import Node

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A settable clock (callable like ``datetime.now``)."""

    now: datetime = field(default=T0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move time forward and return the new now."""
        self.now += timedelta(**delta)
        return self.now


DEFAULT_USERS: dict[str, list[Role]] = {
    "alice": [Role.RESEARCHER],
    "bob": [Role.RESEARCHER],
    "carol": [Role.RESEARCHER],
    "olga": [Role.HDAB_OFFICER],
    "oscar": [Role.HDAB_OFFICER],
    "rita": [Role.RESEARCHER, Role.HDAB_OFFICER],
    "dan": [Role.DATA_HOLDER],
}


def seed_users(node: Node) -> None:
    """Researchers alice, bob, carol; officers olga, oscar; rita is both; dan holds data."""
    for name, roles in DEFAULT_USERS.items():
        users.add_user(node, "host:test", name, roles)


def seed_dataset(node: Node, dataset: str = "lung-ct", version: str = "v1") -> None:
    """A dataset with one published version."""
    catalogue.register_version(
        node, "dan", Dataset(dataset, "Lung CT", "", "Hospital A", False, node.clock()),
        version, f"/srv/tre/datasets/{dataset}/{version}")


def form(project: str = "lung-ai", *, members: tuple[str, ...] = ("bob",),
         datasets: tuple[str, ...] = ("lung-ct",), days: int = 365,
         start: datetime | None = None) -> applications.ApplicationForm:
    """An application form with sensible defaults."""
    begin = start or T0
    return applications.ApplicationForm(
        project=project, title="Lung nodule detection", purpose=Purpose.SCIENTIFIC_RESEARCH,
        description="Train and validate a nodule detector.", organisation="Uni X",
        members=tuple(Member.parse(m) for m in members),
        datasets=tuple(DatasetRef.parse(d) for d in datasets),
        compute=Compute(4, 16, 1, 200), period=Period(begin, begin + timedelta(days=days)))


def create_application_at_status(node: Node, status: ApplicationStatus, *,
                                 applicant: str = "alice", officer: str = "olga",
                                 project: str = "lung-ai") -> DataAccessApplication:
    """An application by ``applicant`` brought to ``status`` through the real services."""
    app = applications.apply(node, applicant, form(project),
                             submit=status is not ApplicationStatus.DRAFT)
    if status in (ApplicationStatus.DRAFT, ApplicationStatus.SUBMITTED):
        return app
    if status is ApplicationStatus.WITHDRAWN:
        return applications.withdraw(node, applicant, app.id)
    app = applications.start_review(node, officer, app.id)
    if status is ApplicationStatus.UNDER_REVIEW:
        return app
    if status is ApplicationStatus.REJECTED:
        return applications.reject(node, officer, app.id, "not enough detail")
    applications.approve(node, officer, app.id, applications.Approval("sound protocol"))
    return replace(app, status=ApplicationStatus.APPROVED)


def issue_permit(node: Node, *, applicant: str = "alice", officer: str = "olga",
                 project: str = "lung-ai", members: tuple[str, ...] = ("bob",)) -> DataPermit:
    """A freshly issued permit for ``project``."""
    app = applications.apply(node, applicant, form(project, members=members))
    return applications.approve(node, officer, app.id, applications.Approval("sound protocol"))


def audit_details(node: Node, action: str) -> dict[str, Any]:
    """The details of the newest audit event of ``action``."""
    import json

    from sqlalchemy import select

    from tre.db.schema import AuditEventRow

    with node.db.read_engine.connect() as conn:
        details = conn.execute(select(AuditEventRow.details)
                               .where(AuditEventRow.action == action)
                               .order_by(AuditEventRow.seq.desc()).limit(1)).scalar_one()
    found: dict[str, Any] = json.loads(details)
    return found


def audit_trail(node: Node) -> list[tuple[str, str, str, str]]:
    """Every audit event as (actor, action, object_id, outcome), oldest first."""
    from sqlalchemy import select

    from tre.db.schema import AuditEventRow

    with node.db.read_engine.connect() as conn:
        rows = conn.execute(select(AuditEventRow.actor, AuditEventRow.action,
                                   AuditEventRow.object_id, AuditEventRow.outcome)
                            .order_by(AuditEventRow.seq))
        return [(r.actor, r.action, r.object_id, r.outcome) for r in rows]

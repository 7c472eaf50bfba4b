"""Domain objects and the policy inputs tre builds from them (tre.policy.inputs), for the tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tre.domain.applications import ApplicationStatus, DataAccessApplication
from tre.domain.permits import DataPermit, PermitStatus, PinnedDataset
from tre.domain.purposes import Purpose
from tre.domain.roles import ProjectRole
from tre.domain.values import Compute, DatasetRef, Member, Period
from tre.policy import inputs

VALID_FROM = datetime(2026, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)

MEMBERS = (
    Member("alice", ProjectRole.LEAD),
    Member("bob", ProjectRole.RESEARCHER),
    Member("carol", ProjectRole.OBSERVER),
)


def application(**changes: Any) -> DataAccessApplication:
    """Application A-1 of alice (lead) with bob and carol, submitted."""
    app = DataAccessApplication(
        id="A-1", project="lung-screening", title="Lung nodule detection",
        purpose=Purpose.SCIENTIFIC_RESEARCH, description="Train a nodule detector.",
        applicant="alice", organisation="Uni X", members=MEMBERS,
        datasets=(DatasetRef("lung-ct", "v1"),), compute=Compute(),
        period=Period(VALID_FROM, VALID_UNTIL), created_at=VALID_FROM - timedelta(days=30),
        status=ApplicationStatus.SUBMITTED,
    )
    return replace(app, **changes)


def permit(**changes: Any) -> DataPermit:
    """Permit P-1 of project lung-screening granting lung-ct@v1 for 2026."""
    granted = DataPermit(
        id="P-1", project="lung-screening", application="A-1", issued_by="olga",
        issued_at=VALID_FROM, decision_reason="meets the purpose", conditions=(),
        period=Period(VALID_FROM, VALID_UNTIL), datasets=(PinnedDataset("lung-ct", "v1"),),
        members=MEMBERS, compute=Compute(), status=PermitStatus.ACTIVE,
    )
    return replace(granted, **changes)


def actor(name: str, *roles: str) -> dict[str, Any]:
    """The actor input of ``name`` with node ``roles``."""
    return inputs.actor_input(name, roles)


def access(user: str = "alice", *, version: str = "v1", now: datetime = NOW,
           granted: DataPermit | None = None, no_permit: bool = False,
           project: str = "lung-screening") -> dict[str, Any]:
    """The data_access input for ``user`` reading lung-ct@``version`` at ``now``."""
    return inputs.data_access_input(user, project, "lung-ct", version, now,
                                    None if no_permit else (granted or permit()))

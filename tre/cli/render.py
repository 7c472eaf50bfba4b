"""JSON views of applications, permits and users for `--json` output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tre.db.users import User
from tre.domain.applications import DataAccessApplication
from tre.domain.permits import DataPermit


def _compute(c: Any) -> dict[str, Any]:
    return {"cpus": c.cpus, "memory_gb": c.memory_gb, "gpus": c.gpus, "hours": c.hours}


def application_json(app: DataAccessApplication) -> dict[str, Any]:
    """An application as JSON."""
    return {
        "id": app.id, "project": app.project, "kind": app.kind.value,
        "amends_permit": app.amends_permit, "title": app.title, "purpose": app.purpose.value,
        "description": app.description, "applicant": app.applicant,
        "organisation": app.organisation,
        "members": [{"user": m.user, "role": m.role.value} for m in app.members],
        "datasets": [str(d) for d in app.datasets], "compute": _compute(app.compute),
        "period": {"from": app.period.start.isoformat(), "until": app.period.end.isoformat()},
        "status": app.status.value, "created_at": app.created_at.isoformat(),
        "decided_by": app.decided_by, "decision_reason": app.decision_reason,
        "conditions": list(app.conditions),
    }


def permit_json(permit: DataPermit, now: datetime) -> dict[str, Any]:
    """A permit as JSON; ``status`` is the effective status at ``now``."""
    return {
        "id": permit.id, "project": permit.project, "application": permit.application,
        "status": permit.effective_status(now).value, "stored_status": permit.status.value,
        "status_reason": permit.status_reason, "issued_by": permit.issued_by,
        "issued_at": permit.issued_at.isoformat(), "decision_reason": permit.decision_reason,
        "conditions": list(permit.conditions),
        "valid_from": permit.period.start.isoformat(),
        "valid_until": permit.period.end.isoformat(),
        "datasets": [str(d) for d in permit.datasets],
        "members": [{"user": m.user, "role": m.role.value} for m in permit.members],
        "compute": _compute(permit.compute), "egress": permit.egress.value,
    }


def user_json(user: User) -> dict[str, Any]:
    """A user as JSON."""
    return {"name": user.name, "display_name": user.display_name,
            "roles": sorted(r.value for r in user.roles)}

"""Build the JSON input of each policy decision from domain objects (the policy contract).

The Rego in ``policies/`` reads exactly these shapes; docs/policies.md documents them. Times are
Unix seconds (numbers), so every engine compares them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tre.domain.applications import DataAccessApplication
from tre.domain.permits import DataPermit
from tre.domain.values import Member


def epoch(moment: datetime) -> float:
    """Unix seconds of an aware datetime."""
    return moment.timestamp()


def actor_input(name: str, roles: Iterable[str]) -> dict[str, Any]:
    """``{"name": ..., "roles": [...]}``."""
    return {"name": name, "roles": sorted(roles)}


def _members(members: Iterable[Member]) -> list[dict[str, str]]:
    return [{"user": m.user, "role": m.role.value} for m in members]


def application_input(app: DataAccessApplication) -> dict[str, Any]:
    """The parts of an application policy looks at."""
    return {
        "id": app.id,
        "project": app.project,
        "applicant": app.applicant,
        "members": _members(app.members),
        "status": app.status.value,
        "kind": app.kind.value,
    }


def permit_input(permit: DataPermit) -> dict[str, Any]:
    """The parts of a permit policy looks at (stored status; expiry is judged from times)."""
    return {
        "id": permit.id,
        "project": permit.project,
        "status": permit.status.value,
        "valid_from": epoch(permit.period.start),
        "valid_until": epoch(permit.period.end),
        "members": _members(permit.members),
        "datasets": [{"dataset": d.dataset, "version": d.version} for d in permit.datasets],
    }


def submit_input(actor: dict[str, Any], app: DataAccessApplication) -> dict[str, Any]:
    """Input of ``application_submit`` and ``application_withdraw``."""
    return {"actor": actor, "application": application_input(app)}


def decide_input(
    actor: dict[str, Any], app: DataAccessApplication, outcome: str, reason: str
) -> dict[str, Any]:
    """Input of ``application_decide``; outcome is review, approve or reject."""
    return {
        "actor": actor,
        "application": application_input(app),
        "decision": {"outcome": outcome, "reason": reason},
    }


def permit_change_input(
    actor: dict[str, Any], permit: DataPermit, action: str, reason: str
) -> dict[str, Any]:
    """Input of ``permit_change``; action is suspend, reinstate or revoke."""
    return {
        "actor": actor,
        "permit": permit_input(permit),
        "change": {"action": action, "reason": reason},
    }


def data_access_input(
    user: str,
    project: str,
    dataset: str,
    version: str,
    now: datetime,
    permit: DataPermit | None,
) -> dict[str, Any]:
    """Input of ``data_access``: may ``user`` use dataset@version in ``project`` at ``now``."""
    out: dict[str, Any] = {
        "user": user,
        "project": project,
        "dataset": dataset,
        "version": version,
        "now": epoch(now),
    }
    if permit is not None:
        out["permit"] = permit_input(permit)
    return out

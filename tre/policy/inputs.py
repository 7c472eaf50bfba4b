"""Build the JSON input of each policy decision from domain objects (the policy contract).

The Rego in ``policies/`` reads exactly these shapes; docs/policies.md documents them. Times are
Unix seconds (numbers), so every engine compares them the same way.
"""

from __future__ import annotations

import hashlib
import json
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


def permit_revision(document: dict[str, Any]) -> str:
    """A digest of a permit document: equal revisions mean equal permits, in any process."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def permit_data(permit: DataPermit) -> dict[str, Any]:
    """The permit as engines hold it in ``data.permits[<project>]``: its input plus revision."""
    document = permit_input(permit)
    document["revision"] = permit_revision(document)
    return document


STALE_DATA = "(stale engine data)"
"""Ends the ``data_access`` deny reason given when the engine holds another revision."""


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


def _access(user: str, project: str, dataset: str, version: str,
            now: datetime) -> dict[str, Any]:
    return {"user": user, "project": project, "dataset": dataset, "version": version,
            "now": epoch(now)}


def data_access_input(
    user: str,
    project: str,
    dataset: str,
    version: str,
    now: datetime,
    permit: DataPermit | None,
) -> dict[str, Any]:
    """Input of ``data_access``: may ``user`` use dataset@version in ``project`` at ``now``."""
    out = _access(user, project, dataset, version, now)
    if permit is not None:
        out["permit"] = permit_input(permit)
    return out


def data_access_query(
    user: str,
    project: str,
    dataset: str,
    version: str,
    now: datetime,
    permit_revision: str | None,
) -> dict[str, Any]:
    """Input of ``data_access`` when the engine holds the permit as data (:func:`permit_data`).

    Five scalars, plus the revision of the permit the caller read (None: the project has none);
    the policy judges the engine's copy only at exactly that revision.
    """
    out = _access(user, project, dataset, version, now)
    if permit_revision is not None:
        out["permit_revision"] = permit_revision
    return out

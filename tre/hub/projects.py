"""Which projects a user may start a workspace in, and the audit events of hub workspaces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tre.audit import log as audit
from tre.db import permits as permit_store
from tre.db import sandboxes as sandbox_store
from tre.domain.sandboxes import SandboxStatus
from tre.services.node import Node

SPAWN = "workspace.spawn"
STOP = "workspace.stop"
DENY = "workspace.deny"


@dataclass(frozen=True, slots=True)
class ProjectChoice:
    """A project shown in the spawn form."""

    project: str
    permit: str
    """The id of the permit, or of the sandbox, that lets the project start."""
    datasets: tuple[str, ...]
    kind: str = "permit"
    """``permit`` or ``sandbox`` (synthetic data, no permit)."""


def startable_projects(node: Node, user: str) -> list[ProjectChoice]:
    """Projects whose permit is in force now and names ``user`` with a role that reads data,
    and the active sandboxes ``user`` is in (policy still judges each at spawn)."""
    with node.db.reading() as session:
        permits = permit_store.list_all(session, user=user)
        sandboxes = sandbox_store.list_all(session, user=user)
    now = node.clock()
    choices = [ProjectChoice(p.project, p.id, tuple(str(d) for d in p.datasets))
               for p in permits if p.in_force(now) and p.may_use_data(user)]
    choices += [ProjectChoice(s.name, s.id, tuple(str(d) for d in s.datasets), "sandbox")
                for s in sandboxes if s.status is SandboxStatus.ACTIVE]
    return sorted(choices, key=lambda c: c.project)


def record(node: Node, *, actor: str, action: str, project: str, outcome: str,
           details: Mapping[str, Any]) -> None:
    """One audit event about a hub workspace of ``project``."""
    with node.unit_of_work() as session:
        audit.record(session, time=node.clock(), actor=actor, action=action,
                     object_type="project", object_id=project, outcome=outcome,
                     request_id=audit.new_request_id(), details=dict(details))

"""Data permits: suspend, reinstate, revoke, expire, and the data-access decision under them."""

from __future__ import annotations

from datetime import datetime

from tre.audit import log as audit
from tre.db import permits as permit_store
from tre.db import users as user_store
from tre.domain.permits import DataPermit, PermitStatus
from tre.errors import InvalidInput
from tre.policy import inputs
from tre.policy.decisions import Decision
from tre.policy.engine import PolicyEngine
from tre.services.node import Node, refusal

_ACTIONS: dict[str, PermitStatus] = {
    "suspend": PermitStatus.SUSPENDED,
    "reinstate": PermitStatus.ACTIVE,
    "revoke": PermitStatus.REVOKED,
}


def change_status(node: Node, actor: str, permit_id: str, action: str,
                  reason: str) -> DataPermit:
    """Suspend, reinstate or revoke a permit (an HDAB officer, with a reason)."""
    if action not in _ACTIONS:
        raise InvalidInput(f"unknown permit action {action!r}: use suspend, reinstate or revoke")
    request_id = audit.new_request_id()
    with node.driver_unit_of_work() as tx:
        now = node.clock()
        permit = permit_store.get(tx, permit_id)
        moved = permit.moved_to(_ACTIONS[action], now, reason)
        user = user_store.get(tx, actor)
        decision = node.authorise(
            tx, decision="permit_change",
            input=inputs.permit_change_input(
                inputs.actor_input(user.name, (r.value for r in user.roles)), permit, action,
                reason),
            actor=actor, action=f"permit.{action}", object_type="permit", object_id=permit.id,
            request_id=request_id)
        if decision.allow:
            permit_store.save(tx, moved, now)
            audit.record(tx, time=now, actor=actor, action=f"permit.{action}",
                         object_type="permit", object_id=permit.id, outcome="allowed",
                         request_id=request_id, decision=decision, details={"reason": reason})
    if not decision.allow:
        raise refusal(decision)
    return moved


def expire_due(node: Node, actor: str = "system") -> list[DataPermit]:
    """Record ``expired`` on every permit past its end (they already count as expired)."""
    with node.unit_of_work() as tx:
        now = node.clock()
        expired = []
        for permit in permit_store.due_to_expire(tx, now):
            moved = permit.expired(now)
            permit_store.save(tx, moved, now)
            audit.record(tx, time=now, actor=actor, action="permit.expire",
                         object_type="permit", object_id=permit.id, outcome="allowed",
                         request_id=audit.new_request_id(),
                         details={"valid_until": permit.period.end.isoformat()})
            expired.append(moved)
    return expired


def check_data_access(node: Node, user: str, project: str, dataset: str,
                      version: str) -> Decision:
    """May ``user`` use dataset@version in ``project`` now? Audited either way."""
    with node.driver_unit_of_work() as tx:
        now = node.clock()
        permit = permit_store.for_project(tx, project)
        decision = decide_data_access(node.policy, user, project, dataset, version, now, permit)
        audit.record(tx, time=now, actor=user, action="data.access",
                     object_type="dataset", object_id=f"{dataset}@{version}",
                     outcome="allowed" if decision.allow else "denied",
                     request_id=audit.new_request_id(), decision=decision,
                     details={"project": project})
    return decision


def decide_data_access(policy: PolicyEngine, user: str, project: str, dataset: str,
                       version: str, now: datetime, permit: DataPermit | None) -> Decision:
    """Ask ``data_access`` about ``permit`` (as read in the caller's transaction).

    The engine holds the permit as policy data (put when its revision is new to it) and is
    asked with five scalars and that revision, so it never judges another copy. If the
    engine's data moved on meanwhile (another thread or process put another revision), the
    permit is put again and the question asked once more.
    """
    if permit is None:
        return policy.decide("data_access", inputs.data_access_query(
            user, project, dataset, version, now, None))
    held = inputs.permit_data(permit)
    query = inputs.data_access_query(user, project, dataset, version, now, held["revision"])
    policy.put_permit(project, held)
    decision = policy.decide("data_access", query)
    if not decision.allow and any(r.endswith(inputs.STALE_DATA) for r in decision.reasons):
        policy.forget_permit(project)
        policy.put_permit(project, held)
        decision = policy.decide("data_access", query)
    return decision


def get_permit(node: Node, permit_id: str) -> DataPermit:
    """One permit."""
    with node.db.reading() as tx:
        return permit_store.get(tx, permit_id)


def list_permits(node: Node, *, user: str | None = None) -> list[DataPermit]:
    """Permits, newest first (only those naming ``user`` if given)."""
    with node.db.reading() as tx:
        return permit_store.list_all(tx, user=user)

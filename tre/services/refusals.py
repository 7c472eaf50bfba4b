"""Audit what a front door (the REST API) refused by a rule of its own, before any service ran."""

from __future__ import annotations

from tre.audit import log as audit
from tre.db.schema import AUDIT_OBJECT_ID_LENGTH
from tre.services.node import Node


def record(node: Node, actor: str, action: str, target: str, reason: str) -> None:
    """One ``denied`` event for ``actor``'s attempt at ``action`` on ``target`` (a path; cut to
    an object id's length, and kept whole up to 2000 characters in the details)."""
    with node.unit_of_work() as session:
        audit.record(session, time=node.clock(), actor=actor, action=action,
                     object_type="api", object_id=target[:AUDIT_OBJECT_ID_LENGTH], outcome="denied",
                     request_id=audit.new_request_id(),
                     details={"target": target[:2000], "reason": reason})

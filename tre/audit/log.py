"""Append audit events inside the caller's transaction, chained to the current head."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from tre.audit.chain import AuditEvent, canonical_json, hash_of
from tre.db.schema import AuditEventRow, AuditHeadRow
from tre.policy.decisions import Decision

_HEAD_KEY = "tre.audit.head"
_START_KEY = "tre.audit.start"


def record(
    session: Session,
    *,
    time: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    outcome: str,
    request_id: str,
    decision: Decision | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in ``session``'s transaction; it commits or rolls back with the change.

    The first event of a transaction locks the head row, so concurrent writers (processes, or
    PostgreSQL connections) append one after another and the chain never forks.
    """
    head = session.info.get(_HEAD_KEY)
    if head is None:
        session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1)
                        .values(seq=AuditHeadRow.seq))
        row = session.execute(select(AuditHeadRow.seq, AuditHeadRow.hash)
                              .where(AuditHeadRow.id == 1)).one()
        head = (int(row.seq), str(row.hash))
        session.info[_START_KEY] = head[0]
    prev_seq, prev_hash = head
    unhashed = AuditEvent(
        seq=prev_seq + 1,
        id=str(uuid.uuid4()),
        time=time.isoformat(timespec="microseconds"),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        decision=canonical_json(decision.as_json() if decision else None),
        request_id=request_id,
        details=canonical_json(dict(details or {})),
        prev_hash=prev_hash,
        hash="",
    )
    event = replace(unhashed, hash=hash_of(unhashed))
    session.execute(insert(AuditEventRow).values(**asdict(event)))
    session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1)
                    .values(seq=event.seq, hash=event.hash))
    session.info[_HEAD_KEY] = (event.seq, event.hash)
    return event

def pending_head(session: Session) -> tuple[int, int, str] | None:
    """``(seq before, seq after, hash)`` if this transaction appended events, else None."""
    head = session.info.get(_HEAD_KEY)
    if head is None:
        return None
    return int(session.info[_START_KEY]), int(head[0]), str(head[1])


def new_request_id() -> str:
    """An id tying together the events of one request."""
    return uuid.uuid4().hex

"""Append audit events inside the caller's transaction, chained to the current head.

The first event of a transaction locks and reads the head row; each event is then chained and
hashed at once (so :func:`record` returns it complete) but written when the transaction commits:
one multi-row INSERT and one head update per transaction, from a ``before_commit`` hook, instead
of two statements per event. A transaction that rolls back writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from time import time_ns
from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session

from tre.audit.chain import AuditEvent, canonical_json, event_hash
from tre.db.driver import DriverTransaction, Transaction
from tre.db.prepared import Prepared
from tre.db.schema import AuditEventRow, AuditHeadRow, Base
from tre.errors import StorageError
from tre.policy.decisions import Decision

_HEAD_KEY = "tre.audit.head"
_START_KEY = "tre.audit.start"
_PENDING_KEY = "tre.audit.pending"

_EVENTS = Base.metadata.tables[AuditEventRow.__tablename__]
_HEAD = Base.metadata.tables[AuditHeadRow.__tablename__]
# Run by every transaction that writes: compiled once, run on the driver (tre.db.prepared).
_LOCK_HEAD = Prepared(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)
                      .with_for_update())  # PostgreSQL: a row lock; SQLite: BEGIN IMMEDIATE
_INSERT_EVENTS = Prepared(insert(_EVENTS), columns=_EVENTS.c.keys())
_MOVE_HEAD = Prepared(update(_HEAD).where(_HEAD.c.id == 1)
                      .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))
_NO_DECISION = canonical_json(None)
_NO_DETAILS = canonical_json({})


def record(
    session: Transaction,
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

    The first event of a transaction locks the head row (SQLite: the transaction already holds
    the write lock, see tre.db.database), so concurrent writers (processes, or PostgreSQL
    connections) append one after another and the chain never forks. Not for use inside a
    ``begin_nested()`` savepoint that may roll back: its events would still be written.
    """
    head = session.info.get(_HEAD_KEY)
    if head is None:
        row = _LOCK_HEAD.first(session)
        if row is None:
            raise StorageError("the audit head row is missing: run `tre init`")
        head = (int(row.seq), str(row.hash))
        session.info[_START_KEY] = head[0]
        session.info[_PENDING_KEY] = []
        if isinstance(session, DriverTransaction):  # a Session runs the listener below
            session.before_commit(_write_pending)
    prev_seq, prev_hash = head
    seq = prev_seq + 1
    id_ = _uuid7()
    stamp = time.isoformat(timespec="microseconds")
    decision_json = canonical_json(decision.as_json()) if decision else _NO_DECISION
    details_json = canonical_json(dict(details)) if details else _NO_DETAILS
    digest = event_hash(prev_hash, seq, id_, stamp, actor, action, object_type, object_id,
                        outcome, decision_json, request_id, details_json)
    event_ = AuditEvent(seq=seq, id=id_, time=stamp, actor=actor, action=action,
                        object_type=object_type, object_id=object_id, outcome=outcome,
                        decision=decision_json, request_id=request_id, details=details_json,
                        prev_hash=prev_hash, hash=digest)
    session.info[_PENDING_KEY].append({
        "seq": seq, "id": id_, "time": stamp, "actor": actor, "action": action,
        "object_type": object_type, "object_id": object_id, "outcome": outcome,
        "decision": decision_json, "request_id": request_id, "details": details_json,
        "prev_hash": prev_hash, "hash": digest})
    session.info[_HEAD_KEY] = (seq, digest)
    return event_


@event.listens_for(Session, "before_commit")
def _write_pending(session: Transaction) -> None:
    """Write the transaction's events and move the head, just before it commits."""
    pending = session.info.get(_PENDING_KEY)
    if pending:
        _INSERT_EVENTS.execute_many(session, pending)
        seq, digest = session.info[_HEAD_KEY]
        _MOVE_HEAD.execute(session, {"new_seq": seq, "new_hash": digest})
        pending.clear()


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_head(session: Session) -> None:
    """The lock is gone with the transaction: a later one must lock and read the head again."""
    for key in (_HEAD_KEY, _START_KEY, _PENDING_KEY):
        session.info.pop(key, None)


def pending_head(session: Transaction) -> tuple[int, int, str] | None:
    """``(seq before, seq after, hash)`` if this transaction appended events, else None."""
    head = session.info.get(_HEAD_KEY)
    if head is None:
        return None
    return int(session.info[_START_KEY]), int(head[0]), str(head[1])


def new_request_id() -> str:
    """An id tying together the events of one request (a random UUID as 32 hex digits)."""
    return _uuid4_bytes().hex()


def _uuid4_bytes() -> bytes:
    """A random (version 4) UUID's 16 bytes: ``uuid.uuid4()`` without building its object."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return bytes(raw)


def _uuid7() -> str:
    """A time-ordered (version 7, RFC 9562) UUID in its usual 8-4-4-4-12 form.

    48 bits of Unix milliseconds, then 74 random bits: event ids sort by time, so the unique
    index on them grows at its end (one page written per commit, not one per event).
    """
    raw = bytearray((time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = raw[6] & 0x0F | 0x70  # version 7
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 9562 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

"""The node: database, policy engine, audit checkpoints and clock, built once and passed in."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tre.audit import log as audit
from tre.audit.checkpoints import CheckpointWriter
from tre.db.database import Database
from tre.errors import PolicyDenied, PolicyEngineUnavailable, TREError
from tre.policy.decisions import Decision
from tre.policy.engine import PolicyEngine


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class Node:
    """Everything a service needs; one per process."""

    db: Database
    policy: PolicyEngine
    checkpoints: CheckpointWriter
    clock: Callable[[], datetime] = field(default=utc_now)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction; after it commits, the new audit head is signed."""
        with self.db.transaction() as session:
            yield session
            head = audit.pending_head(session)
        if head is not None:
            before, seq, digest = head
            self.checkpoints.record(seq, digest, previous_seq=before)

    def authorise(
        self,
        session: Session,
        *,
        decision: str,
        input: Mapping[str, Any],
        actor: str,
        action: str,
        object_type: str,
        object_id: str,
        request_id: str,
    ) -> Decision:
        """Ask policy; a deny is audited in ``session`` (commit it, then raise :func:`refusal`)."""
        answer = self.policy.decide(decision, input)
        if not answer.allow:
            audit.record(session, time=self.clock(), actor=actor, action=action,
                         object_type=object_type, object_id=object_id, outcome="denied",
                         request_id=request_id, decision=answer)
        return answer

    def close(self) -> None:
        """Release the database pool and the policy engine."""
        self.policy.close()
        self.db.dispose()


def refusal(answer: Decision) -> TREError:
    """The error to raise for a deny: engine failures say so, policy denies give reasons."""
    if answer.error == "unreachable":
        return PolicyEngineUnavailable("; ".join(answer.reasons))
    return PolicyDenied(answer.name, answer.reasons)

"""The node: database, policy engine, audit checkpoints and clock, built once and passed in."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from tre.audit import log as audit
from tre.audit.checkpoints import CheckpointWriter
from tre.db.database import Database
from tre.db.driver import DriverTransaction, Transaction
from tre.errors import PolicyDenied, PolicyEngineUnavailable, TREError
from tre.policy.decisions import Decision
from tre.policy.engine import PolicyEngine

T = TypeVar("T", Session, DriverTransaction)


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
        with self._signed(self.db.transaction()) as session:
            yield session

    @contextmanager
    def driver_unit_of_work(self) -> Iterator[DriverTransaction]:
        """As :meth:`unit_of_work`, without the ORM: for services whose stores are prepared."""
        with self._signed(self.db.driver_transaction()) as work:
            yield work

    @contextmanager
    def _signed(self, transaction: AbstractContextManager[T]) -> Iterator[T]:
        with transaction as work:
            yield work
            head = audit.pending_head(work)
        if head is not None:
            before, seq, digest = head
            self.checkpoints.record(seq, digest, previous_seq=before)

    def authorise(
        self,
        session: Transaction,
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

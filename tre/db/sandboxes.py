"""Store and load SME sandboxes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from tre.db.codec import compute_from_json, compute_to_json, pinned_from_json, refs_to_json
from tre.db.driver import Transaction
from tre.db.prepared import Prepared
from tre.db.sandbox_schema import SandboxRow
from tre.domain.sandboxes import Sandbox, SandboxStatus
from tre.errors import NotFound


def _to_domain(row: Any) -> Sandbox:
    return Sandbox(id=row.id, name=row.name, owner=row.owner, members=tuple(row.members),
                   datasets=pinned_from_json(row.datasets),
                   compute=compute_from_json(row.compute), created_at=row.created_at,
                   status=SandboxStatus(row.status), status_reason=row.status_reason)


def add(session: Session, sandbox: Sandbox) -> None:
    """Insert a new sandbox."""
    session.add(SandboxRow(
        id=sandbox.id, name=sandbox.name, owner=sandbox.owner, members=list(sandbox.members),
        datasets=refs_to_json(sandbox.datasets), compute=compute_to_json(sandbox.compute),
        status=sandbox.status.value, status_reason=sandbox.status_reason,
        created_at=sandbox.created_at, updated_at=sandbox.created_at))
    session.flush()


def save_status(session: Session, sandbox: Sandbox, now: datetime) -> None:
    """Write a sandbox's status and its reason."""
    row = session.get(SandboxRow, sandbox.id)
    if row is None:
        raise NotFound(f"no sandbox {sandbox.id}")
    row.status, row.status_reason, row.updated_at = (
        sandbox.status.value, sandbox.status_reason, now)
    session.flush()


# Every workspace start and every running job's permit watch ask it: compiled once.
_FIND = Prepared(select(SandboxRow.__table__).where(SandboxRow.name == bindparam("name")))


def find(session: Transaction, name: str) -> Sandbox | None:
    """The sandbox called ``name``, if there is one."""
    row = _FIND.first(session, {"name": name})
    return None if row is None else _to_domain(row)


def get(session: Transaction, name: str) -> Sandbox:
    """The sandbox called ``name``, or NotFound saying how to list them."""
    found = find(session, name)
    if found is None:
        raise NotFound(f"no sandbox {name!r}: `tre sandboxes list` lists them")
    return found


def list_all(session: Session, *, user: str | None = None) -> list[Sandbox]:
    """Sandboxes by name; with ``user``, only those they own or are a member of."""
    sandboxes = [_to_domain(r) for r in session.scalars(select(SandboxRow)
                                                       .order_by(SandboxRow.name))]
    if user is not None:
        sandboxes = [s for s in sandboxes if user in s.users]
    return sandboxes
